//! Offline verification of one record: its proof, the on-chain root, and the log it records, with no database.

use alloy::sol_types::SolEvent;
use alloy::{
    primitives::{Address, B256, U256},
    providers::Provider,
    rpc::types::Filter,
};
use clearing_chain::{ChainProvider, Deployment, contracts::AnchorRegistry};
use clearing_ledger::{ChainLog, RecordKind};

use crate::{Record, RecordProof, RecordSources, merkle::process_proof, rebuild::chain_log};

/// Blocks per `eth_getLogs` call when looking back for an escrow job's `JobFunded`.
const LOOK_BACK_BLOCKS: u64 = 10_000;
/// How far back a job's `JobFunded` is looked for when no deployment block is known (about 23 days of Base).
const LOOK_BACK_LIMIT: u64 = 1_000_000;

/// Why a record failed verification; each names the check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The record's fields do not hash to the leaf given.
    #[error("leaf mismatch: the record's fields hash to {computed}, the file says {given}")]
    LeafMismatch {
        /// The leaf of the record's fields.
        computed: B256,
        /// The leaf in the file.
        given: B256,
    },
    /// The proof does not lead from the leaf to the anchor's root, or the record lies outside its range.
    #[error("proof: {0}")]
    Proof(String),
    /// The registry holds no such anchor, or a different root or range under its index.
    #[error("root not on chain: {0}")]
    RootNotOnChain(String),
    /// The registry is not the one expected, not an AnchorRegistry, or on another chain.
    #[error("wrong registry: {0}")]
    WrongRegistry(String),
    /// The RPC endpoint could not be read.
    #[error("rpc: {0}")]
    Rpc(String),
    /// The chain holds no log that is this record: no such transaction or log, a log of another contract or token,
    /// or one whose fields differ from the record's (named).
    #[error("record not on chain: {0}")]
    RecordNotOnChain(String),
    /// The record's or its anchor's block is not yet as deep as asked ([`VerifyTarget::confirmations`]).
    #[error("not confirmed: {0}")]
    NotConfirmed(String),
}

impl VerifyError {
    /// A distinct process exit code per check: 2 leaf, 3 proof, 4 root, 5 registry, 6 rpc, 7 record, 9 depth.
    pub const fn exit_code(&self) -> i32 {
        match self {
            Self::LeafMismatch { .. } => 2,
            Self::Proof(_) => 3,
            Self::RootNotOnChain(_) => 4,
            Self::WrongRegistry(_) => 5,
            Self::Rpc(_) => 6,
            Self::RecordNotOnChain(_) => 7,
            Self::NotConfirmed(_) => 9,
        }
    }
}

/// What a record must be anchored in and come from. Parts left unknown are taken from the file, and
/// [`Verified::deployment_checked`] says so.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerifyTarget {
    /// The AnchorRegistry the record must be anchored in; the file's otherwise.
    pub registry: Option<Address>,
    /// The deployment's record contracts and settlement token: the record's log must be one of theirs, in that
    /// token. Unknown, the file's `emitter` and `token` are taken at their word (anyone can deploy a contract that
    /// emits a look-alike log).
    pub sources: Option<RecordSources>,
    /// The deployment block: how far back an escrow payout's `JobFunded` is looked for (0 when unknown).
    pub from_block: u64,
    /// Blocks the record's and its anchor's blocks must have above them at the RPC's head (0: the head will do).
    pub confirmations: u64,
}

impl VerifyTarget {
    /// Everything known: `deployment`'s registry and contracts, with `token` its settlement token.
    pub fn deployment(deployment: &Deployment, token: Address) -> Self {
        Self {
            registry: Some(deployment.anchor_registry),
            sources: Some(RecordSources {
                chain_id: deployment.chain_id,
                batch_settler: deployment.batch_settler,
                escrow: deployment.escrow,
                balance_vault: deployment.balance_vault,
                token,
            }),
            from_block: deployment.start_block,
            confirmations: 0,
        }
    }
}

/// A record that passed every check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// Whether its log was checked to come from the deployment's contracts, in its settlement token
    /// ([`VerifyTarget::sources`]), rather than from the contract and token the file names (no deployment known, or a
    /// vault record of a deployment known without its vault).
    pub deployment_checked: bool,
}

/// Checks `file` against the chain behind `provider`: the leaf from the record's fields, the proof to the
/// anchor's root, the registry (`target`'s if known, which the file's must equal), the root and range stored on
/// chain under the anchor's index (finally through the registry's own `verify`), and then that the record is what the
/// chain logged: its transaction's log decoded as `clearing audit rebuild` decodes it gives every field of the record.
/// An anchored record proves only that the anchorer anchored it; the last check proves it happened.
pub async fn verify_record(
    provider: &ChainProvider,
    file: &RecordProof,
    target: &VerifyTarget,
) -> Result<Verified, VerifyError> {
    let expected_registry = target.registry;
    let computed = file.record.leaf();
    if computed != file.leaf {
        return Err(VerifyError::LeafMismatch { computed, given: file.leaf });
    }
    let anchor = &file.anchor;
    let root = process_proof(file.leaf, &file.proof);
    if root != anchor.root {
        return Err(VerifyError::Proof(format!("the proof leads to {root}, the anchor's root is {}", anchor.root)));
    }
    if !(anchor.first_seq..=anchor.last_seq).contains(&file.record.seq) {
        return Err(VerifyError::Proof(format!(
            "record {} lies outside the anchor's range {}..={}",
            file.record.seq, anchor.first_seq, anchor.last_seq
        )));
    }

    if let Some(expected) = expected_registry
        && expected != anchor.registry
    {
        return Err(VerifyError::WrongRegistry(format!("expected {expected}, the file names {}", anchor.registry)));
    }
    let chain_id = provider.get_chain_id().await.map_err(|e| VerifyError::Rpc(e.to_string()))?;
    if chain_id != file.record.chain_id {
        return Err(VerifyError::WrongRegistry(format!(
            "the record is of chain {}, the RPC endpoint serves chain {chain_id}",
            file.record.chain_id
        )));
    }
    let head = provider.get_block_number().await.map_err(|e| VerifyError::Rpc(e.to_string()))?;
    let newest = file.record.block_number.max(anchor.block_number);
    if head < newest.saturating_add(target.confirmations) {
        return Err(VerifyError::NotConfirmed(format!(
            "block {newest} has {} blocks above it at the head ({head}), {} asked",
            head.saturating_sub(newest),
            target.confirmations
        )));
    }
    let code = provider.get_code_at(anchor.registry).await.map_err(|e| VerifyError::Rpc(e.to_string()))?;
    let registry = AnchorRegistry::new(anchor.registry, provider);
    let count = match registry.anchorCount().call().await {
        Ok(count) if !code.is_empty() => count,
        _ => return Err(VerifyError::WrongRegistry(format!("no AnchorRegistry at {}", anchor.registry))),
    };
    if U256::from(anchor.index) >= count {
        return Err(VerifyError::RootNotOnChain(format!(
            "registry {} holds {count} anchors, no index {}",
            anchor.registry, anchor.index
        )));
    }
    let stored =
        registry.anchors(U256::from(anchor.index)).call().await.map_err(|e| VerifyError::Rpc(e.to_string()))?;
    if stored.root != anchor.root || stored.firstSeq != anchor.first_seq || stored.lastSeq != anchor.last_seq {
        return Err(VerifyError::RootNotOnChain(format!(
            "anchor {} on chain is root {} over {}..={}, the file says root {} over {}..={}",
            anchor.index, stored.root, stored.firstSeq, stored.lastSeq, anchor.root, anchor.first_seq, anchor.last_seq
        )));
    }
    // The block's `Anchored` logs, not the transaction's receipt: a node without a transaction index for old blocks
    // still serves them (as for the record's own log below).
    let anchored = Filter::new()
        .address(anchor.registry)
        .event_signature(AnchorRegistry::Anchored::SIGNATURE_HASH)
        .from_block(anchor.block_number)
        .to_block(anchor.block_number);
    let logs = provider.get_logs(&anchored).await.map_err(|e| VerifyError::Rpc(e.to_string()))?;
    let anchored_here = logs.iter().any(|log| {
        log.transaction_hash == Some(anchor.tx_hash)
            && !log.removed
            && AnchorRegistry::Anchored::decode_log_data(&log.inner.data)
                .is_ok_and(|e| e.index == U256::from(anchor.index) && e.root == anchor.root)
    });
    if !anchored_here {
        return Err(VerifyError::RootNotOnChain(format!(
            "transaction {} in block {} did not anchor index {}",
            anchor.tx_hash, anchor.block_number, anchor.index
        )));
    }
    let verified = registry
        .verify(U256::from(anchor.index), file.leaf, file.proof.clone())
        .call()
        .await
        .map_err(|e| VerifyError::Rpc(e.to_string()))?;
    if !verified {
        return Err(VerifyError::RootNotOnChain(format!("AnchorRegistry.verify({}) returned false", anchor.index)));
    }
    let deployment_checked = check_logged(provider, &file.record, target).await?;
    Ok(Verified { deployment_checked })
}

/// That `record` is a log of its block, decoded as a rebuild decodes it (an escrow payout with its job's
/// `JobFunded`), by the deployment's contracts if known, else by the contract of its kind the file names. The log is
/// read with `eth_getLogs` over the record's block, not through its transaction's receipt: a node that keeps no
/// transaction index for old blocks (geth's default keeps about 54 days of Base) still serves it. Returns whether the
/// deployment's contracts were the ones checked.
async fn check_logged(provider: &ChainProvider, record: &Record, target: &VerifyTarget) -> Result<bool, VerifyError> {
    let absent = VerifyError::RecordNotOnChain;
    let (sources, deployment_checked) = match target.sources {
        // A deployment configured without its vault: a vault record's emitter is the file's word.
        Some(sources) if sources.balance_vault.is_none() && is_vault_record(record.kind) => {
            let named = named_by(record);
            (RecordSources { balance_vault: named.balance_vault, chain_id: record.chain_id, ..sources }, false)
        }
        Some(sources) => (RecordSources { chain_id: record.chain_id, ..sources }, true),
        None => (named_by(record), false),
    };
    let block = record.block_number;
    let emitters: Vec<Address> = sources.emitters().into_iter().filter(|a| !a.is_zero()).collect();
    let filter = Filter::new().address(emitters.clone()).from_block(block).to_block(block);
    let logs = provider.get_logs(&filter).await.map_err(|e| VerifyError::Rpc(e.to_string()))?;
    let log = logs
        .into_iter()
        .filter(|log| !log.removed)
        .find(|log| log.log_index == Some(record.log_index))
        .and_then(|log| chain_log(record.chain_id, log))
        .ok_or_else(|| absent(format!("block {block} holds no log {} of {}", record.log_index, list(&emitters))))?;
    if log.block_number != block || log.tx_hash != record.tx_hash {
        return Err(absent(format!(
            "log {} of block {} is in transaction {}, the record says {}",
            log.log_index, log.block_number, log.tx_hash, record.tx_hash
        )));
    }
    let funded = match sources.job_id(&log) {
        Some(job_id) => {
            // Knowing no deployment block, look back at most LOOK_BACK_LIMIT blocks rather than to genesis.
            let from = if target.from_block > 0 { target.from_block } else { block.saturating_sub(LOOK_BACK_LIMIT) };
            job_funded(provider, record.chain_id, sources.escrow, job_id, from, block).await?
        }
        None => None,
    };
    let logged = match sources.decode(record.seq, &log, funded.as_ref()) {
        Ok(Some(logged)) => logged,
        Ok(None) => {
            return Err(absent(format!("log {} of transaction {} moves another token", log.log_index, log.tx_hash)));
        }
        Err(e) => return Err(absent(e.to_string())),
    };
    let differ = differing_fields(&logged, record);
    if differ.is_empty() {
        Ok(deployment_checked)
    } else {
        Err(absent(format!(
            "log {} of transaction {} differs from the record in {}",
            record.log_index,
            record.tx_hash,
            differ.join(", ")
        )))
    }
}

fn is_vault_record(kind: RecordKind) -> bool {
    matches!(kind, RecordKind::BalanceDebit | RecordKind::SubscriptionCharge)
}

fn list(addresses: &[Address]) -> String {
    addresses.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// The sources the record names: its emitter as the contract of its kind, its token as the settlement token.
fn named_by(record: &Record) -> RecordSources {
    let mut sources = RecordSources {
        chain_id: record.chain_id,
        batch_settler: Address::ZERO,
        escrow: Address::ZERO,
        balance_vault: None,
        token: record.token,
    };
    match record.kind {
        RecordKind::Payment => sources.batch_settler = record.emitter,
        RecordKind::BalanceDebit | RecordKind::SubscriptionCharge => sources.balance_vault = Some(record.emitter),
        RecordKind::EscrowRelease
        | RecordKind::EscrowRefund
        | RecordKind::EscrowResolution
        | RecordKind::EscrowCredit => {
            sources.escrow = record.emitter;
        }
    }
    sources
}

/// Job `job_id`'s `JobFunded` log, looked for back from block `to` to `from` (the escrow funds a job id once).
async fn job_funded(
    provider: &ChainProvider,
    chain_id: u64,
    escrow: Address,
    job_id: B256,
    from: u64,
    to: u64,
) -> Result<Option<ChainLog>, VerifyError> {
    if from > to {
        return Ok(None);
    }
    let filter = Filter::new().address(escrow).event_signature(RecordSources::JOB_FUNDED_TOPIC).topic1(job_id);
    let mut end = to;
    loop {
        let start = end.saturating_sub(LOOK_BACK_BLOCKS - 1).max(from);
        let logs = provider
            .get_logs(&filter.clone().from_block(start).to_block(end))
            .await
            .map_err(|e| VerifyError::Rpc(e.to_string()))?;
        let first = logs.into_iter().filter(|log| !log.removed).min_by_key(|log| (log.block_number, log.log_index));
        if let Some(log) = first.and_then(|log| chain_log(chain_id, log)) {
            return Ok(Some(log));
        }
        if start <= from {
            return Ok(None);
        }
        end = start - 1;
    }
}

/// The names of the fields in which `logged` and `record` differ.
fn differing_fields(logged: &Record, record: &Record) -> Vec<&'static str> {
    let mut differ = Vec::new();
    let mut compare = |name, same: bool| {
        if !same {
            differ.push(name);
        }
    };
    compare("kind", logged.kind == record.kind);
    compare("emitter", logged.emitter == record.emitter);
    compare("token", logged.token == record.token);
    compare("payer", logged.payer == record.payer);
    compare("payee", logged.payee == record.payee);
    compare("payee_amount", logged.payee_amount == record.payee_amount);
    compare("payer_amount", logged.payer_amount == record.payer_amount);
    compare("fee_amount", logged.fee_amount == record.fee_amount);
    compare("reference", logged.reference == record.reference);
    // seq, chain, transaction, block and log index are the record's own by construction.
    debug_assert!(differ.is_empty() == (logged == record));
    differ
}
