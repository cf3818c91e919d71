//! The chain indexer: the only writer of chain-derived state.
//!
//! It follows `BatchSettler`, `Escrow` and `AnchorRegistry` (and the token's `Transfer`/`AuthorizationUsed` logs
//! touching the escrow and configured accounts) from a start block to the head: ranges fetched concurrently with
//! adaptive sizes and retried with backoff, written in order, one database transaction per range holding the raw
//! logs, the projections, the outbox rows and the checkpoint, under a fenced single-writer lease. It checks every
//! range's parent hash and rolls back to the common ancestor in one transaction on a fork; confirmation happens
//! at a per-chain depth ([`config`]). [`rebuild`] rebuilds every projection from chain data into a fresh schema
//! and compares. It holds no SQL (that is `clearing-ledger`'s) and sends no transactions.

/// `[indexer]` configuration and the per-chain confirmation defaults.
pub mod config;
mod decode;
mod error;
mod indexer;
mod rebuild;
mod rpc;

pub use config::{IndexerConfig, Targets, default_confirmations};
pub use error::{Error, Result};
pub use indexer::{BeforeCheckpoint, Indexer};
pub use rebuild::{REBUILD_INDEXER, RebuildReport, TableComparison, rebuild};
