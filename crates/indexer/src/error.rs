use alloy::{primitives::B256, transports::TransportError};

/// Errors from the indexer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The ledger failed (including [`clearing_ledger::Error::Fenced`]: another writer took over).
    #[error(transparent)]
    Ledger(#[from] clearing_ledger::Error),
    /// A JSON-RPC call kept failing after every retry.
    #[error("{method} failed after {attempts} attempts: {source}")]
    Rpc {
        /// The JSON-RPC method.
        method: &'static str,
        /// How many times it was tried.
        attempts: u32,
        /// The last error.
        source: TransportError,
    },
    /// The node does not know a block it reported (it is behind a load balancer, or the block was just reorged).
    #[error("the node has no block {number}")]
    MissingBlock {
        /// Height asked for.
        number: u64,
    },
    /// A log without its position (a pending log), which the indexer never stores.
    #[error("a log of block {block:?} lacks its {field}")]
    IncompleteLog {
        /// Its block, if given.
        block: Option<u64>,
        /// The missing field.
        field: &'static str,
    },
    /// The fork point is older than every remembered block: the reorg is deeper than the window.
    #[error(
        "chain {chain_id}: no remembered block at or below {checkpoint} is canonical (window of {window} blocks); \
             the reorg is deeper than the window: rebuild the index"
    )]
    ReorgTooDeep {
        /// The chain.
        chain_id: u64,
        /// The checkpoint when the fork was found.
        checkpoint: u64,
        /// The configured window.
        window: u64,
    },
    /// The node's chain id is not the deployment's.
    #[error("the node serves chain {got}, the deployment is on chain {expected}")]
    WrongChain {
        /// The deployment's chain.
        expected: u64,
        /// The node's.
        got: u64,
    },
    /// The rebuild found the chain moved under the checkpoint it was asked to match.
    #[error("checkpoint block {number} was {expected}, the rebuild reached {got}")]
    RebuildDiverged {
        /// The block.
        number: u64,
        /// The live index's hash.
        expected: B256,
        /// The rebuild's hash.
        got: B256,
    },
}

impl Error {
    /// Whether following again later can succeed (the node or the database may recover); a fenced or locked
    /// writer, a database error that would repeat (a constraint, a schema mismatch), a too-deep reorg and a wrong
    /// chain need an operator.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Ledger(e) => e.is_transient(),
            Self::Rpc { .. } | Self::MissingBlock { .. } | Self::IncompleteLog { .. } => true,
            Self::ReorgTooDeep { .. } | Self::WrongChain { .. } | Self::RebuildDiverged { .. } => false,
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
