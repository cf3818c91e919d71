//! `audit rebuild`: every anchored root recomputed from chain events alone.
//!
//! Reads every record log (and every `JobFunded`) of BatchSettler and Escrow from the deployment block, numbers
//! the records in chain order as the sequencer does, and checks each `Anchored` root of the registry against the
//! root of its range; and that those logs are every anchor the registry holds (its `anchorCount()` at the same
//! head), so a lagging RPC or a wrong address cannot make a report that checked nothing.

use std::collections::HashMap;

use alloy::{
    primitives::{Address, B256},
    providers::Provider,
    rpc::types::{Filter, Log},
    sol_types::SolEvent,
};
use clearing_chain::{ChainProvider, contracts::AnchorRegistry};
use clearing_ledger::ChainLog;

use crate::{Error, MerkleTree, Record, RecordSources, Result};

/// Blocks per `eth_getLogs` call.
const LOG_CHUNK_BLOCKS: u64 = 10_000;

/// What to rebuild.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RebuildTarget {
    /// The AnchorRegistry.
    pub registry: Address,
    /// The BatchSettler.
    pub batch_settler: Address,
    /// The Escrow.
    pub escrow: Address,
    /// The BalanceVault, if deployed.
    pub balance_vault: Option<Address>,
    /// The deployment block: no record precedes it.
    pub from_block: u64,
    /// The settlement token: logs of any other are no records ([`RecordSources::token`]).
    pub token: Address,
    /// Blocks below the RPC's head to read at (0: the head).
    pub confirmations: u64,
}

/// The verdict on one anchor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorCheck {
    /// The anchor's index.
    pub index: u64,
    /// First sequence number covered.
    pub first_seq: u64,
    /// Last sequence number covered.
    pub last_seq: u64,
    /// The root on chain.
    pub anchored_root: B256,
    /// The root of the records rebuilt from chain events, or `None` if the chain holds fewer records.
    pub computed_root: Option<B256>,
    /// The anchoring transaction.
    pub tx_hash: B256,
}

impl AnchorCheck {
    /// Whether the anchored root is the rebuilt one.
    pub fn ok(&self) -> bool {
        self.computed_root == Some(self.anchored_root)
    }
}

/// What the chain says.
#[derive(Debug, Clone)]
pub struct Rebuilt {
    /// Every record, by sequence number.
    pub records: Vec<Record>,
    /// Every anchor, by index, with its verdict.
    pub anchors: Vec<AnchorCheck>,
    /// The block everything was read at.
    pub head: u64,
    /// How many anchors the registry itself holds at `head` (`anchorCount()`): the `Anchored` logs the RPC
    /// returned must be exactly these, indexes `0..registry_anchors`.
    pub registry_anchors: u64,
}

impl Rebuilt {
    /// Whether the `Anchored` logs are every anchor the registry holds, once each, in order: a lagging or lying RPC
    /// that leaves logs out (or a wrong `--from-block`) shows here rather than as fewer anchors checked.
    pub fn complete(&self) -> bool {
        self.anchors.len() as u64 == self.registry_anchors
            && self.anchors.iter().enumerate().all(|(n, anchor)| anchor.index == n as u64)
    }
}

/// Rebuilds every record and checks every anchor of `target` on the chain behind `provider`.
pub async fn rebuild(provider: &ChainProvider, target: &RebuildTarget) -> Result<Rebuilt> {
    let chain_id = provider.get_chain_id().await?;
    let head = provider.get_block_number().await?.saturating_sub(target.confirmations);
    // Everything at one head: the logs up to it and the registry's own count at it.
    if provider.get_code_at(target.registry).block_id(head.into()).await?.is_empty() {
        return Err(Error::NoRegistry { registry: target.registry, block: head });
    }
    let registry = AnchorRegistry::new(target.registry, provider);
    let registry_anchors: u64 = registry.anchorCount().block(head.into()).call().await?.saturating_to();
    let sources = RecordSources {
        chain_id,
        batch_settler: target.batch_settler,
        escrow: target.escrow,
        balance_vault: target.balance_vault,
        token: target.token,
    };

    let mut topics = RecordSources::RECORD_TOPICS.to_vec();
    topics.push(RecordSources::JOB_FUNDED_TOPIC);
    let record_filter = Filter::new().address(sources.emitters()).event_signature(topics);
    let logs = logs_in_chunks(provider, record_filter, target.from_block, head).await?;

    let mut funded: HashMap<B256, ChainLog> = HashMap::new();
    let mut records = Vec::new();
    for log in logs {
        let Some(log) = chain_log(chain_id, log) else { continue };
        if log.address == target.escrow && log.topics.first() == Some(&RecordSources::JOB_FUNDED_TOPIC) {
            if let Some(job_id) = log.topics.get(1) {
                funded.entry(*job_id).or_insert(log);
            }
            continue;
        }
        let job = sources.job_id(&log).and_then(|job_id| funded.get(&job_id));
        if let Some(record) = sources.decode(records.len() as u64, &log, job)? {
            records.push(record);
        }
    }

    let anchor_filter =
        Filter::new().address(target.registry).event_signature(AnchorRegistry::Anchored::SIGNATURE_HASH);
    let mut anchors = Vec::new();
    for log in logs_in_chunks(provider, anchor_filter, target.from_block, head).await? {
        let Ok(event) = AnchorRegistry::Anchored::decode_log_data(&log.inner.data) else { continue };
        let (first, last) = (event.firstSeq, event.lastSeq);
        let computed_root = usize::try_from(last)
            .ok()
            .and_then(|last| records.get(first as usize..=last))
            .and_then(|range| MerkleTree::new(&range.iter().map(Record::leaf).collect::<Vec<_>>()))
            .map(|tree| tree.root());
        anchors.push(AnchorCheck {
            index: event.index.saturating_to(),
            first_seq: first,
            last_seq: last,
            anchored_root: event.root,
            computed_root,
            tx_hash: log.transaction_hash.unwrap_or_default(),
        });
    }
    Ok(Rebuilt { records, anchors, head, registry_anchors })
}

async fn logs_in_chunks(provider: &ChainProvider, filter: Filter, from: u64, to: u64) -> Result<Vec<Log>> {
    let mut logs = Vec::new();
    let mut start = from;
    while start <= to {
        let end = to.min(start + LOG_CHUNK_BLOCKS - 1);
        logs.extend(provider.get_logs(&filter.clone().from_block(start).to_block(end)).await?);
        start = end + 1;
    }
    logs.retain(|log| !log.removed);
    logs.sort_by_key(|log| (log.block_number, log.log_index));
    Ok(logs)
}

/// A mined RPC log as the ledger stores it (`None` for a pending one).
pub(crate) fn chain_log(chain_id: u64, log: Log) -> Option<ChainLog> {
    Some(ChainLog {
        chain_id,
        block_number: log.block_number?,
        block_hash: log.block_hash?,
        log_index: log.log_index?,
        tx_hash: log.transaction_hash?,
        tx_index: log.transaction_index?,
        address: log.address(),
        topics: log.topics().to_vec(),
        data: log.inner.data.data.clone(),
    })
}
