//! The audit trail of Clearing's settlements.
//!
//! This crate owns the canonical settlement record and its leaf ([`Record`], docs/AUDIT.md), Merkle trees in
//! OpenZeppelin's StandardMerkleTree layout ([`MerkleTree`]), the [`Sequencer`] that numbers confirmed record logs
//! from `chain_logs` without gaps, the [`Anchorer`] that anchors ranges in `AnchorRegistry` with its own key, the
//! proof of one record ([`record_proof`], served by [`http::router`]), and the checks that need only an RPC
//! endpoint: [`verify_record`] and [`rebuild`]; [`AuditConfig`] is the configuration's `[audit]` section. It writes
//! no chain-derived data of its own (the indexer does) and holds no SQL (the ledger does).

mod anchorer;
mod config;
mod error;
mod merkle;
mod proof;
mod rebuild;
mod record;
mod sequencer;
mod service;
mod verify;

pub mod http;

pub use anchorer::{AnchorPolicy, Anchorer};
pub use clearing_ledger::RecordKind;
pub use config::AuditConfig;
pub use error::{Error, Result};
pub use merkle::{MerkleTree, hash_pair, process_proof};
pub use proof::{AnchorRef, RecordProof, RecordStatus, record_proof};
pub use rebuild::{AnchorCheck, RebuildTarget, Rebuilt, rebuild};
pub use record::{Record, RecordSources, SettlementRecord};
pub use sequencer::Sequencer;
pub use service::AuditService;
pub use verify::{Verified, VerifyError, VerifyTarget, verify_record};
