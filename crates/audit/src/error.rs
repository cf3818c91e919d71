use alloy::primitives::{Address, B256, TxHash};

/// Errors of the audit trail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The ledger failed.
    #[error(transparent)]
    Ledger(#[from] clearing_ledger::Error),
    /// The chain could not be read or written.
    #[error(transparent)]
    Chain(#[from] clearing_chain::Error),
    /// A JSON-RPC call failed.
    #[error("rpc: {0}")]
    Rpc(#[from] alloy::transports::TransportError),
    /// A contract call failed.
    #[error("contract call: {0}")]
    Contract(#[from] alloy::contract::Error),
    /// A record log could not be decoded.
    #[error("log {log_index} of transaction {tx}: {what}")]
    MalformedLog {
        /// The transaction.
        tx: TxHash,
        /// The log's index in its block.
        log_index: u64,
        /// What was wrong.
        what: &'static str,
    },
    /// An escrow payout names a job whose `JobFunded` log is not among the confirmed logs.
    #[error("escrow payout in transaction {tx}: no JobFunded log for job {job_id}")]
    UnknownJob {
        /// The job id.
        job_id: B256,
        /// The payout's transaction.
        tx: TxHash,
    },
    /// The registry's next sequence number is not where the ledger's anchors end.
    #[error("registry {registry}: nextSeq is {on_chain}, the ledger's anchors end before {recorded}")]
    NextSeqMismatch {
        /// The registry.
        registry: Address,
        /// `nextSeq()` on chain.
        on_chain: u64,
        /// The first sequence number not covered by a recorded anchor.
        recorded: u64,
    },
    /// The registry address holds no code at the block read (a wrong address, or the wrong chain).
    #[error("registry {registry} holds no code at block {block}: not an AnchorRegistry on this chain")]
    NoRegistry {
        /// The registry.
        registry: Address,
        /// The block read.
        block: u64,
    },
    /// The anchoring transaction was mined but reverted.
    #[error("anchor transaction {tx} reverted")]
    AnchorReverted {
        /// The transaction.
        tx: TxHash,
    },
    /// A mined anchoring transaction has no `Anchored` log.
    #[error("anchor transaction {tx} has no Anchored log from {registry}")]
    NoAnchoredLog {
        /// The transaction.
        tx: TxHash,
        /// The registry.
        registry: Address,
    },
    /// Records to anchor are missing from the ledger.
    #[error("records {first_seq}..={last_seq} of chain {chain_id}: only {found} are in the ledger")]
    MissingRecords {
        /// The chain.
        chain_id: u64,
        /// First sequence number asked for.
        first_seq: u64,
        /// Last sequence number asked for.
        last_seq: u64,
        /// How many were found.
        found: usize,
    },
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
