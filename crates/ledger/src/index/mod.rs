//! The indexer's tables: raw chain data (`chain_blocks`, `chain_logs`), its checkpoint and confirmed height, the
//! projections derived from the logs, the outbox, and the confirmation (or retraction) of the facilitator's queue
//! items from indexed `PaymentSettled` logs.
//!
//! One writer per (chain, indexer): [`Ledger::acquire_indexer`](crate::Ledger::acquire_indexer) takes a session
//! advisory lock on a connection of its own and bumps the checkpoint's `writer_epoch`; every [`IndexTx`] checks that
//! epoch under `FOR UPDATE` before it writes (fencing), and checks that the batch was built on the stored
//! checkpoint. A batch's logs, projections, outbox rows and checkpoint are one transaction; the `chain_indexed`
//! notification is queued in it and so is delivered only after the commit.
//!
//! Projection rows are keyed like the log they come from, (chain id, block number, log index), and are only ever
//! inserted or deleted, so [`IndexTx::rollback_to`] is a `DELETE` above the common ancestor in each table.
//!
//! - `rows`: the row types, as the indexer hands them over and as they are read back;
//! - `lease`: the single-writer lease and the checkpoint;
//! - `transaction`: one fenced write (a batch of blocks, a checkpoint move, a rollback);
//! - `inserts`: the bulk `UNNEST` inserts of one batch, one per table;
//! - `reads`: the block window, the projections' digests and the escrow views.

mod inserts;
mod lease;
mod reads;
mod rows;
mod transaction;

pub use lease::{Checkpoint, IndexerLease, MAIN_INDEXER};
pub use reads::{MinedBlock, TableDigest};
pub use rows::{
    Anchor, BalanceChange, BlockRef, CreditParty, EscrowCredit, EscrowJob, FundFailure, JobEvent, JobStatus,
    LogPosition, PaymentOutcome, Projections, RawLog, SettlerPayment, SubscriptionEvent, SubscriptionEventKind,
    VaultEvent, VaultEventKind,
};
pub use transaction::{INDEXED_CHANNEL, IndexTx};
