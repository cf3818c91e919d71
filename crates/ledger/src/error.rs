/// Errors from the ledger.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A balance debit given to `enqueue_action`: it is queued only in the purchase that accepts it.
    #[error("a balance debit is queued only with the purchase that accepts it")]
    DebitOutsidePurchase,
    /// A subscription charge or operation given to `enqueue_action`: they are queued by the subscription functions.
    #[error("a subscription action is queued only by the ledger's subscription functions")]
    SubscriptionActionOutsideLedger,
    /// A front-run payment's booking or return given to `enqueue_action`: it is queued with the transfer it is
    /// paired to.
    #[error("a front-run payment's recovery is queued only with the transfer it is paired to")]
    BookingOutsideLedger,
    /// A [`crate::market::DebitQueue`]'s writer stopped (its runtime is shutting down) before it answered.
    #[error("the balance debit writer stopped before answering")]
    DebitWriterStopped,
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
    /// A schema name other than lowercase letters, digits and underscores (or `public`, which is never dropped).
    #[error("invalid schema name {0:?}")]
    InvalidSchema(String),
    /// A scratch database name or prefix other than lowercase letters, digits and underscores, or too long to
    /// leave room for a unique suffix.
    #[error(
        "invalid scratch database name {0:?}: lowercase letters, digits and underscores (a prefix: at most 31 bytes)"
    )]
    InvalidScratchName(String),
    /// Every name generated for a scratch database was taken.
    #[error("no free scratch database name with prefix {prefix:?} after {attempts} attempts")]
    NoScratchName {
        /// The prefix asked for.
        prefix: String,
        /// How many names were tried.
        attempts: usize,
    },
    /// A query failed.
    #[error("database query failed: {0}")]
    Query(#[from] sqlx::Error),
    /// A stored value could not be read back as its domain type. The schema's checks should make this impossible,
    /// so it needs an operator: no default ever stands in for it.
    #[error("{table}.{column} holds {value}, not {expected}")]
    Corrupt {
        /// The table or view.
        table: &'static str,
        /// The column.
        column: &'static str,
        /// What it held, as text.
        value: String,
        /// What it should have held.
        expected: &'static str,
    },
    /// Another live batch of this relayer already uses the transaction nonce.
    #[error("relayer {relayer} on chain {chain_id} already has a live batch at nonce {tx_nonce}")]
    NonceInUse {
        /// The chain.
        chain_id: u64,
        /// The relayer account.
        relayer: alloy::primitives::Address,
        /// The nonce asked for.
        tx_nonce: u64,
    },
    /// The batch does not exist.
    #[error("no settlement batch {0}")]
    NoSuchBatch(crate::BatchId),
    /// The batch was already mined or abandoned, so it cannot change again.
    #[error("settlement batch {0} is already resolved or abandoned")]
    BatchClosed(crate::BatchId),
    /// A resolution named a transaction hash never recorded for the batch.
    #[error("settlement batch {batch}: transaction {tx} was never recorded for it")]
    UnknownTransaction {
        /// The batch.
        batch: crate::BatchId,
        /// The hash given.
        tx: alloy::primitives::TxHash,
    },
    /// A resolution did not cover every submitted item of the batch.
    #[error("settlement batch {batch}: expected outcomes for {expected} submitted items, got {got}")]
    OutcomeMismatch {
        /// The batch.
        batch: crate::BatchId,
        /// How many items the batch holds in `submitted`.
        expected: usize,
        /// How many outcomes matched them.
        got: usize,
    },
    /// The audit head moved since the caller read it (another sequencer appended first).
    #[error("audit sequence of chain {chain_id}: expected the next record to be {expected}, the head says {got}")]
    SequenceConflict {
        /// The chain.
        chain_id: u64,
        /// The next sequence number the caller numbered from.
        expected: u64,
        /// The head's next sequence number.
        got: u64,
    },
    /// Records handed to an append were not numbered consecutively from the head.
    #[error("audit sequence of chain {chain_id}: expected record {expected}, got record {got}")]
    SequenceGap {
        /// The chain.
        chain_id: u64,
        /// The sequence number due.
        expected: u64,
        /// The one given.
        got: u64,
    },
    /// Another process holds the indexer's advisory lock: there is a single writer per chain and indexer.
    #[error("indexer {indexer} of chain {chain_id} is already running elsewhere (advisory lock held)")]
    IndexerLocked {
        /// The chain.
        chain_id: u64,
        /// The indexer's name.
        indexer: String,
    },
    /// A write found another writer's fencing epoch: this writer lost its lock and must stop.
    #[error("indexer {indexer} of chain {chain_id} is fenced: expected writer epoch {expected}, found {found}")]
    Fenced {
        /// The chain.
        chain_id: u64,
        /// The indexer's name.
        indexer: String,
        /// The epoch this writer set when it took the lock.
        expected: i64,
        /// The epoch in the checkpoint row.
        found: i64,
    },
    /// A batch was not built on the stored checkpoint (a stale pipeline or a concurrent rollback).
    #[error(
        "chain {chain_id}: batch expects checkpoint {expected_number} {expected_hash}, found {found_number} {found_hash}"
    )]
    CheckpointMoved {
        /// The chain.
        chain_id: u64,
        /// The block the batch was built on.
        expected_number: u64,
        /// Its hash.
        expected_hash: alloy::primitives::B256,
        /// The stored checkpoint's block.
        found_number: u64,
        /// Its hash.
        found_hash: alloy::primitives::B256,
    },
    /// A webhook event to enqueue breaks the outbox's rules (its type is not a dotted identifier of at most 100
    /// characters, or its ordering key is empty or longer than 200).
    #[error("invalid webhook event: {field} {value:?} ({requirement})")]
    InvalidWebhookEvent {
        /// `event_type` or `ordering_key`.
        field: &'static str,
        /// What was given.
        value: String,
        /// What it must be.
        requirement: &'static str,
    },
    /// An ordered webhook event was enqueued in a transaction above READ COMMITTED: its predecessor check would read
    /// a snapshot older than the key's lock, and the event could wait forever.
    #[error("webhook events must be enqueued in a READ COMMITTED transaction, not {isolation}")]
    WebhookIsolation {
        /// The transaction's isolation level.
        isolation: String,
    },
    /// No webhook event of that participant has that id.
    #[error("participant {participant} has no webhook event {event}")]
    NoSuchWebhookEvent {
        /// The participant asked for.
        participant: crate::market::ParticipantId,
        /// The event asked for.
        event: crate::WebhookEventId,
    },
    /// The participant has no webhook endpoint, or it is disabled (enable it first).
    #[error("participant {participant} has no enabled webhook endpoint")]
    WebhookEndpointDisabled {
        /// The participant.
        participant: crate::market::ParticipantId,
    },
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Whether trying again later can succeed: the database was unreachable or dropped the connection, a
    /// transaction lost a serialization or deadlock race, the server ran short of resources or is restarting, or a
    /// writer raced another (`CheckpointMoved`, `SequenceConflict`). A constraint or data error, a schema that does
    /// not match the code, a corrupt value or a lost writer lease needs an operator: retrying would repeat it.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. } | Self::CheckpointMoved { .. } | Self::SequenceConflict { .. } => true,
            Self::Query(e) => sqlx_transient(e),
            _ => false,
        }
    }
}

fn sqlx_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => true,
        // SQLSTATE classes: 08 connection exception, 40 transaction rollback, 53 insufficient resources, 57 operator
        // intervention (shutdown, cancel), 58 system error.
        sqlx::Error::Database(db) => {
            db.code().is_some_and(|code| ["08", "40", "53", "57", "58"].iter().any(|class| code.starts_with(class)))
        }
        _ => false,
    }
}
