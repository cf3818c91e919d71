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
    /// A transaction could not be built or signed.
    #[error("signing a transaction failed: {0}")]
    Sign(Box<alloy::network::TransactionBuilderError<alloy::network::Ethereum>>),
    /// A batch reverted as a whole when simulated to measure its gas.
    #[error("simulating a batch for the contract at {contract} failed: {reason}")]
    Simulation {
        /// The contract called (the `BatchSettler` or the `Escrow`).
        contract: Address,
        /// The node's message, as given.
        reason: String,
    },
    /// A batch needs more gas than one transaction may ask for ([`crate::MAX_BATCH_GAS`]): no limit fits it, so
    /// its items must go in smaller batches.
    #[error("the batch needs a gas limit of {gas}, above the {max} a transaction may ask for")]
    TooHeavy {
        /// The limit it would need.
        gas: u64,
        /// [`crate::MAX_BATCH_GAS`].
        max: u64,
    },
    /// An escrow route was asked of a relayer that has no escrow ([`crate::Relayer::with_escrow`]).
    #[error("this relayer has no escrow configured")]
    NoEscrow,
    /// A vault route was asked of a relayer that has no balance vault ([`crate::Relayer::with_vault`]).
    #[error("this relayer has no balance vault configured")]
    NoVault,
    /// A subscription route was asked of a relayer that has no subscription contract
    /// ([`crate::Relayer::with_subscriptions`]).
    #[error("this relayer has no subscription contract configured")]
    NoSubscriptions,
    /// A batch receipt lacks what every mined batch receipt has.
    #[error("receipt of {tx} is malformed: {what}")]
    MalformedReceipt {
        /// The transaction.
        tx: TxHash,
        /// What is missing or undecodable.
        what: &'static str,
    },
    /// A batch receipt reports a different number of items than were sent.
    #[error("receipt of {tx} reports {got} items, expected {expected}")]
    ItemCountMismatch {
        /// The transaction.
        tx: TxHash,
        /// Items sent.
        expected: usize,
        /// Item events found.
        got: usize,
    },
    /// An item event names another payment than the item sent at its position.
    #[error("receipt of {tx}: item {index} is payer {} nonce {}, expected payer {} nonce {}", got.0, got.1, expected.0, expected.1)]
    ItemMismatch {
        /// The transaction.
        tx: TxHash,
        /// Position of the item.
        index: usize,
        /// (payer, nonce) sent.
        expected: Box<(Address, alloy::primitives::B256)>,
        /// (payer, nonce) in the event.
        got: Box<(Address, alloy::primitives::B256)>,
    },
    /// The closing `BatchSettled` names another token than the batch's.
    #[error("receipt of {tx} settled token {got}, expected {expected}")]
    TokenMismatch {
        /// The transaction.
        tx: TxHash,
        /// The batch's token.
        expected: Address,
        /// The token in `BatchSettled`.
        got: Address,
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
