//! A record with its Merkle proof and its anchor: what `GET /audit/records/{seq}` returns and what
//! `clearing audit verify` checks.

use alloy::primitives::{Address, B256, TxHash};
use clearing_ledger::{AuditAnchor, Ledger};
use serde::{Deserialize, Serialize};

use crate::{Error, MerkleTree, Record, Result};

/// The anchor that covers a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnchorRef {
    /// The AnchorRegistry contract.
    pub registry: Address,
    /// The anchor's index in it.
    pub index: u64,
    /// The root anchored.
    pub root: B256,
    /// First sequence number covered.
    pub first_seq: u64,
    /// Last sequence number covered (inclusive).
    pub last_seq: u64,
    /// The anchoring transaction.
    pub tx_hash: TxHash,
    /// Its block.
    pub block_number: u64,
}

impl From<&AuditAnchor> for AnchorRef {
    fn from(a: &AuditAnchor) -> Self {
        Self {
            registry: a.registry,
            index: a.index,
            root: a.root,
            first_seq: a.first_seq,
            last_seq: a.last_seq,
            tx_hash: a.tx_hash,
            block_number: a.block_number,
        }
    }
}

/// A record, its leaf, its proof (siblings from the leaf up, OZ sorted pairs) and its anchor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordProof {
    /// The record.
    pub record: Record,
    /// `keccak256(bytes.concat(keccak256(abi.encode(record))))`.
    pub leaf: B256,
    /// The Merkle proof of `leaf` under `anchor.root`.
    pub proof: Vec<B256>,
    /// The anchor whose range covers the record.
    pub anchor: AnchorRef,
}

/// Where a record stands in the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordStatus {
    /// No record has this sequence number yet.
    Unknown,
    /// Sequenced; no anchor covers it yet.
    NotAnchored(Box<Record>),
    /// Anchored, with its proof.
    Anchored(Box<RecordProof>),
}

/// Looks record `seq` of `chain_id` up and, when anchored, builds its proof from the anchor's records.
pub async fn record_proof(ledger: &Ledger, chain_id: u64, seq: u64) -> Result<RecordStatus> {
    let Some(stored) = ledger.audit_record(chain_id, seq).await? else { return Ok(RecordStatus::Unknown) };
    let record = Record::from(&stored);
    let Some(anchor) = ledger.audit_anchor_covering(chain_id, seq).await? else {
        return Ok(RecordStatus::NotAnchored(Box::new(record)));
    };
    let records = ledger.audit_records(chain_id, anchor.first_seq, anchor.last_seq).await?;
    let missing = || Error::MissingRecords {
        chain_id,
        first_seq: anchor.first_seq,
        last_seq: anchor.last_seq,
        found: records.len(),
    };
    let leaves: Vec<B256> = records.iter().map(|r| r.leaf).collect();
    let tree = MerkleTree::new(&leaves).ok_or_else(missing)?;
    let leaf = record.leaf();
    let proof = tree.proof(leaf).ok_or_else(missing)?;
    Ok(RecordStatus::Anchored(Box::new(RecordProof { record, leaf, proof, anchor: AnchorRef::from(&anchor) })))
}
