/// Errors from the ledger.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database URL could not be parsed.
    #[error("invalid database url: {source}")]
    InvalidUrl {
        /// The parser's complaint.
        source: Box<sqlx::Error>,
    },
    /// No connection could be made to the database.
    #[error("database unreachable: {source}")]
    Unreachable {
        /// The driver's error.
        source: Box<sqlx::Error>,
    },
    /// A migration failed to apply.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("database query failed: {0}")]
    Query(#[from] sqlx::Error),
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
