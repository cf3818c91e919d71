//! Offline verification of one record: its proof and the on-chain root, with no database.

use alloy::sol_types::SolEvent;
use alloy::{
    primitives::{Address, B256, U256},
    providers::Provider,
};
use clearing_chain::{ChainProvider, contracts::AnchorRegistry};

use crate::{RecordProof, merkle::process_proof};

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
}

impl VerifyError {
    /// A distinct process exit code per check: 2 leaf, 3 proof, 4 root, 5 registry, 6 rpc.
    pub const fn exit_code(&self) -> i32 {
        match self {
            Self::LeafMismatch { .. } => 2,
            Self::Proof(_) => 3,
            Self::RootNotOnChain(_) => 4,
            Self::WrongRegistry(_) => 5,
            Self::Rpc(_) => 6,
        }
    }
}

/// Checks `file` against the chain behind `provider`: the leaf from the record's fields, the proof to the
/// anchor's root, the registry (`expected_registry` if given, which the file's must equal), and the root and range
/// stored on chain under the anchor's index, finally through the registry's own `verify`.
pub async fn verify_record(
    provider: &ChainProvider,
    file: &RecordProof,
    expected_registry: Option<Address>,
) -> Result<(), VerifyError> {
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
    let receipt = provider
        .get_transaction_receipt(anchor.tx_hash)
        .await
        .map_err(|e| VerifyError::Rpc(e.to_string()))?
        .ok_or_else(|| VerifyError::RootNotOnChain(format!("no transaction {} on chain", anchor.tx_hash)))?;
    let anchored_here = receipt.block_number == Some(anchor.block_number)
        && receipt.inner.logs().iter().any(|log| {
            log.address() == anchor.registry
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
    Ok(())
}
