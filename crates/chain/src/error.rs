use alloy::{
    contract,
    primitives::{Address, TxHash},
    transports::TransportError,
};

/// Errors from talking to the chain.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The RPC endpoint failed or refused a request.
    #[error("rpc request failed: {0}")]
    Rpc(#[from] TransportError),
    /// A contract call or deployment failed.
    #[error("contract call failed: {0}")]
    Contract(#[from] contract::Error),
    /// A transaction was mined but reverted.
    #[error("transaction {tx} reverted")]
    Reverted {
        /// The reverted transaction.
        tx: TxHash,
    },
    /// A receipt never arrived.
    #[error("no receipt for transaction {tx}: {source}")]
    Receipt {
        /// The transaction waited on.
        tx: TxHash,
        /// Why the wait ended.
        source: alloy::providers::PendingTransactionError,
    },
    /// A deployment produced no code at the expected address.
    #[error("{contract} deployed at {address} has no code")]
    NoCode {
        /// Which contract.
        contract: &'static str,
        /// Where it should be.
        address: Address,
    },
    /// A node's answer could not be decoded.
    #[error("could not decode {what}: {reason}")]
    Decode {
        /// What was being decoded.
        what: &'static str,
        /// The decoder's complaint.
        reason: String,
    },
    /// The RPC URL could not be parsed.
    #[error("invalid rpc url {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What was wrong with it.
        reason: String,
    },
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
