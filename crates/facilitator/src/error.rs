/// Errors from the facilitator's settle pipeline (business outcomes are [`crate::SettleOutcome`]s, not errors).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The ledger failed.
    #[error(transparent)]
    Ledger(#[from] clearing_ledger::Error),
    /// The chain failed.
    #[error(transparent)]
    Chain(#[from] clearing_chain::Error),
    /// The ledger holds a settlement in a state the pipeline never writes.
    #[error("settlement {id}: {what}")]
    Inconsistent {
        /// The settlement.
        id: clearing_ledger::SettlementId,
        /// What is wrong.
        what: &'static str,
    },
    /// A configuration value is out of range.
    #[error("invalid settle config: {field} {requirement}")]
    InvalidConfig {
        /// The field.
        field: &'static str,
        /// What it must be.
        requirement: &'static str,
    },
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
