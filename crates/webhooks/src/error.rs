/// Errors from the webhooks crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration value is out of range.
    #[error("invalid [webhooks] configuration: {field} {requirement}")]
    InvalidConfig {
        /// The key.
        field: &'static str,
        /// What it must be.
        requirement: &'static str,
    },
    /// The HTTP client could not be built.
    #[error("building the webhook HTTP client failed: {0}")]
    Client(#[source] reqwest::Error),
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
