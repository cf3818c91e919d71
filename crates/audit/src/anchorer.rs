//! The anchorer: every N records or T seconds, the Merkle root of the next contiguous range goes to
//! `AnchorRegistry.anchor`, sent from the anchorer's own key (never the relayer's: the batcher owns its nonces).
//!
//! Idempotent by construction: before anything is sent, every anchor the registry holds beyond the ledger's is
//! read back and recorded under its index (a crash between sending and recording loses nothing), and the next
//! range starts at the registry's `nextSeq`, which the contract enforces, so no range is ever anchored twice.

use std::time::Duration;

use alloy::{
    primitives::{Address, B256},
    providers::Provider,
    rpc::types::Filter,
    sol_types::SolEvent,
};
use clearing_chain::{ChainProvider, contracts::AnchorRegistry};
use clearing_ledger::{AuditAnchor, Ledger, Unanchored};
use tracing::{error, info, warn};

use crate::{Error, MerkleTree, Result};

/// When to anchor and how much.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnchorPolicy {
    /// Anchor as soon as this many records wait (N).
    pub every_records: u64,
    /// Anchor whatever waits once the oldest has waited this long (T).
    pub every: Duration,
    /// Most records per anchor.
    pub max_records: u64,
}

impl Default for AnchorPolicy {
    fn default() -> Self {
        Self { every_records: 100, every: Duration::from_secs(60), max_records: 10_000 }
    }
}

impl AnchorPolicy {
    /// How many of the waiting records to anchor now, if any: all of them (up to `max_records`) once there are
    /// `every_records`, or once the oldest has waited `every`.
    pub fn due(&self, waiting: &Unanchored) -> Option<u64> {
        let due = waiting.count > 0 && (waiting.count >= self.every_records || waiting.oldest_age >= self.every);
        due.then(|| waiting.count.min(self.max_records.max(1)))
    }
}

/// Anchors ranges of one chain's records in one registry.
#[derive(Debug, Clone)]
pub struct Anchorer {
    ledger: Ledger,
    provider: ChainProvider,
    registry: Address,
    chain_id: u64,
    policy: AnchorPolicy,
}

impl Anchorer {
    /// An anchorer that sends through `provider` (which must sign as the registry's anchorer).
    pub fn new(
        ledger: Ledger,
        provider: ChainProvider,
        registry: Address,
        chain_id: u64,
        policy: AnchorPolicy,
    ) -> Self {
        Self { ledger, provider, registry, chain_id, policy }
    }

    /// Records every anchor the registry holds beyond the ledger's, then anchors the next range if it is due;
    /// returns the new anchor, if one was made.
    pub async fn run_once(&self) -> Result<Option<AuditAnchor>> {
        self.recover().await?;
        let waiting = self.ledger.audit_unanchored(self.chain_id).await?;
        let Some(count) = self.policy.due(&waiting) else { return Ok(None) };
        let registry = AnchorRegistry::new(self.registry, &self.provider);
        let next_seq = registry.nextSeq().call().await?;
        if next_seq != waiting.first_seq {
            return Err(Error::NextSeqMismatch {
                registry: self.registry,
                on_chain: next_seq,
                recorded: waiting.first_seq,
            });
        }
        let (first_seq, last_seq) = (waiting.first_seq, waiting.first_seq + count - 1);
        let root = self.root_of(first_seq, last_seq).await?;
        let pending = registry.anchor(first_seq, last_seq, root).send().await?;
        let tx = *pending.tx_hash();
        info!(first_seq, last_seq, %root, %tx, "anchor sent");
        let receipt = pending.get_receipt().await.map_err(|source| clearing_chain::Error::Receipt { tx, source })?;
        if !receipt.status() {
            return Err(Error::AnchorReverted { tx: receipt.transaction_hash });
        }
        let anchored = receipt
            .inner
            .logs()
            .iter()
            .filter(|log| log.address() == self.registry)
            .find_map(|log| AnchorRegistry::Anchored::decode_log_data(&log.inner.data).ok())
            .ok_or(Error::NoAnchoredLog { tx: receipt.transaction_hash, registry: self.registry })?;
        let anchor = AuditAnchor {
            chain_id: self.chain_id,
            index: anchored.index.saturating_to(),
            registry: self.registry,
            root,
            first_seq,
            last_seq,
            tx_hash: receipt.transaction_hash,
            block_number: receipt.block_number.unwrap_or_default(),
            root_matches: true,
        };
        self.ledger.record_audit_anchor(&anchor).await?;
        info!(index = anchor.index, first_seq, last_seq, %root, tx = %anchor.tx_hash, "anchored");
        Ok(Some(anchor))
    }

    /// Records the registry's anchors that the ledger lacks (sent before a crash, or by someone else holding
    /// the anchorer key), each with whether its root matches the records; returns how many.
    ///
    /// An anchor is recorded once its receipt arrives, so a reorg can take it off the chain (the registry then holds
    /// fewer) or move it to another block. Either way the ledger's anchors from there on are forgotten, their records
    /// unanchored, and the registry's are recorded afresh (a node merely behind the chain looks the same; what is
    /// forgotten then is recorded again once it catches up, and an anchor sent meanwhile reverts on `nextSeq`).
    pub async fn recover(&self) -> Result<u64> {
        let registry = AnchorRegistry::new(self.registry, &self.provider);
        let on_chain: u64 = registry.anchorCount().call().await?.saturating_to();
        let mut recorded = self.ledger.audit_anchor_count(self.chain_id).await?;
        if recorded > on_chain {
            warn!(registry = %self.registry, on_chain, recorded, "anchors recorded beyond the registry's: forgotten");
            self.ledger.forget_audit_anchors_from(self.chain_id, on_chain).await?;
            recorded = on_chain;
        }
        if let Some(last) = recorded.checked_sub(1)
            && let Some(ours) = self.ledger.audit_anchor(self.chain_id, last).await?
        {
            let theirs = registry.anchors(alloy::primitives::U256::from(last)).call().await?;
            let same = (theirs.root, theirs.firstSeq, theirs.lastSeq, theirs.blockNumber)
                == (ours.root, ours.first_seq, ours.last_seq, ours.block_number);
            if !same {
                warn!(index = last, block = ours.block_number, "the last anchor moved on chain: recorded again");
                self.ledger.forget_audit_anchors_from(self.chain_id, last).await?;
                recorded = last;
            }
        }
        for index in recorded..on_chain {
            let anchor = registry.anchors(alloy::primitives::U256::from(index)).call().await?;
            let filter = Filter::new()
                .address(self.registry)
                .event_signature(AnchorRegistry::Anchored::SIGNATURE_HASH)
                .topic1(B256::from(alloy::primitives::U256::from(index)))
                .from_block(anchor.blockNumber)
                .to_block(anchor.blockNumber);
            let log = self.provider.get_logs(&filter).await?.into_iter().next();
            let tx_hash = log.and_then(|log| log.transaction_hash).unwrap_or_default();
            let root_matches = match self.root_of(anchor.firstSeq, anchor.lastSeq).await {
                Ok(ours) => ours == anchor.root,
                Err(Error::MissingRecords { .. }) => false,
                Err(e) => return Err(e),
            };
            let recovered = AuditAnchor {
                chain_id: self.chain_id,
                index,
                registry: self.registry,
                root: anchor.root,
                first_seq: anchor.firstSeq,
                last_seq: anchor.lastSeq,
                tx_hash,
                block_number: anchor.blockNumber,
                root_matches,
            };
            self.ledger.record_audit_anchor(&recovered).await?;
            if root_matches {
                info!(index, first_seq = anchor.firstSeq, last_seq = anchor.lastSeq, tx = %tx_hash, "recovered anchor");
            } else {
                error!(
                    index,
                    first_seq = anchor.firstSeq,
                    last_seq = anchor.lastSeq,
                    root = %anchor.root,
                    tx = %tx_hash,
                    "anchor on chain does not match the records"
                );
            }
        }
        Ok(on_chain - recorded)
    }

    /// The Merkle root of the records `first_seq..=last_seq`.
    async fn root_of(&self, first_seq: u64, last_seq: u64) -> Result<B256> {
        let records = self.ledger.audit_records(self.chain_id, first_seq, last_seq).await?;
        let expected = last_seq - first_seq + 1;
        if records.len() as u64 != expected {
            return Err(Error::MissingRecords { chain_id: self.chain_id, first_seq, last_seq, found: records.len() });
        }
        let leaves: Vec<B256> = records.iter().map(|r| r.leaf).collect();
        MerkleTree::new(&leaves).map(|tree| tree.root()).ok_or(Error::MissingRecords {
            chain_id: self.chain_id,
            first_seq,
            last_seq,
            found: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(count: u64, age_secs: u64) -> Unanchored {
        Unanchored { first_seq: 5, count, oldest_age: Duration::from_secs(age_secs) }
    }

    #[test]
    fn anchors_every_n_records_or_t_seconds() {
        let policy = AnchorPolicy { every_records: 10, every: Duration::from_secs(30), max_records: 25 };
        assert_eq!(policy.due(&waiting(0, 1_000)), None, "nothing waits");
        assert_eq!(policy.due(&waiting(9, 29)), None, "fewer than N, younger than T");
        assert_eq!(policy.due(&waiting(10, 0)), Some(10), "N reached");
        assert_eq!(policy.due(&waiting(3, 30)), Some(3), "T reached");
        assert_eq!(policy.due(&waiting(60, 0)), Some(25), "capped at max_records");
    }
}
