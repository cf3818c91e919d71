//! Clearing's PostgreSQL ledger.
//!
//! This crate owns the connection pool, the migrations in `migrations/` (one schema for the whole engine) and
//! the typed queries over it. It is the only crate that holds SQL: other crates call the methods of [`Ledger`]
//! with typed primitives and get domain values and domain errors back, never rows or SQL strings.
//!
//! The settlement queue ([`Ledger::enqueue_settlement`], [`Ledger::claim_batch`], [`Ledger::record_broadcast`],
//! [`Ledger::resolve_batch`], ...) changes state one database transaction at a time, keyed by the payment's
//! on-chain identity ([`PaymentKey`]); resolutions are announced on [`RESOLVED_CHANNEL`] ([`ResolutionListener`]),
//! to every process. Newly queued settlements are announced only inside the process that queued them
//! ([`QueueListener`], through every clone of one [`Ledger`]): a `NOTIFY` in each insert would serialize every
//! insert's commit, flush included, behind PostgreSQL's notification lock.
//!
//! One module per domain's tables: `settlements` (the facilitator's queue), [`index`] (the indexer's chain data and
//! projections), `audit` (sequenced records and anchors), [`market`] (the marketplace's participants, services,
//! catalog and jobs), `webhooks` (participants' endpoints, the outbox of events to deliver to them and the log of
//! attempts; other modules enqueue inside their own transactions with [`enqueue_webhook_in`]); a new domain's tables
//! get a module of their own. Rows are read back in one place, `decode`, which refuses a stored value no domain value fits
//! ([`Error::Corrupt`]) rather than put a default in its place; protocol values cross as `clearing-x402`'s types.

mod actions;
mod audit;
mod batch_items;
mod decode;
mod earnings;
mod encode;
mod error;
mod escrow;
pub mod index;
mod listener;
pub mod market;
mod route;
mod scratch;
mod settlements;
mod webhooks;

use std::time::Duration;

use alloy::primitives::Address;
use sqlx::{
    PgPool,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
};
use tokio::sync::{broadcast, watch};
use tracing::info;

pub use actions::{Action, ActionId, EscrowAction, EscrowReturn, NewAction, StepKind, VaultBooking, VaultDebit};
pub use audit::{AuditAnchor, AuditHead, AuditRecord, ChainLog, LogPosition, RecordKind, Unanchored};
pub use earnings::{BalanceEntry, Earnings, VaultEarnings};
pub use error::{Error, Result};
pub use escrow::JobId;
pub use index::{
    BlockRef, Checkpoint, INDEXED_CHANNEL, IndexTx, IndexerLease, MAIN_INDEXER, MinedBlock, Projections, RawLog,
    TableDigest,
};
pub use listener::{QueueListener, ResolutionListener};
pub use route::{JobBooking, Route, RouteKind};
pub use scratch::ScratchDatabase;
pub use settlements::{
    ACTION_RESOLVED_CHANNEL, AbandonReason, Batch, BatchClaim, BatchId, BatchTransaction, ItemResolution, Mined,
    NewSettlement, PaymentKey, RESOLVED_CHANNEL, Settlement, SettlementId, SettlementStatus, TxFees,
};
pub use webhooks::{
    AttemptResponse, ClaimToken, ClaimedWebhook, DeliveryId, DeliveryPage, DisabledReason, EnqueuedWebhook,
    LastAttempt, NewWebhookEvent, NextStep, Redelivery, WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent,
    WebhookEventId, WebhookHistoryEntry, WebhookHistoryEvent, WebhookHistoryPage, WebhookHistoryQuery, WebhookListener,
    WebhookSecret, WebhookStatus, enqueue_webhook_in,
};

/// The engine's migrations, embedded at compile time from `migrations/`.
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations");

/// Announcements of queued settlements a [`QueueListener`] may fall behind by; one that falls further only misses
/// some (the batcher then claims on its timer).
const QUEUED_ANNOUNCEMENTS: usize = 4_096;

/// How long to wait for a connection before reporting the database unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A handle on the ledger database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Ledger {
    pool: PgPool,
    /// (chain id, asset, route) of each settlement this process queued, for its [`QueueListener`]s.
    queued: broadcast::Sender<(u64, Address, RouteKind)>,
    /// Bumped after this process commits a webhook event, for its [`WebhookListener`]s (other processes poll).
    webhooks: watch::Sender<u64>,
}

impl Ledger {
    /// Connects to `database_url` with a pool of at most `max_connections`.
    pub async fn connect(database_url: &str, max_connections: u32) -> Result<Self> {
        let options: PgConnectOptions =
            database_url.parse().map_err(|source| Error::InvalidUrl { source: Box::new(source) })?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|source| Error::Unreachable { source: Box::new(source) })?;
        Ok(Self::from_pool(pool))
    }

    /// Creates the database named in `database_url` unless it exists; returns whether it was created.
    pub async fn create_database_if_missing(database_url: &str) -> Result<bool> {
        use sqlx::migrate::MigrateDatabase;
        let unreachable = |source| Error::Unreachable { source: Box::new(source) };
        if sqlx::Postgres::database_exists(database_url).await.map_err(unreachable)? {
            return Ok(false);
        }
        sqlx::Postgres::create_database(database_url).await.map_err(unreachable)?;
        info!("created database");
        Ok(true)
    }

    /// Drops the database named in `database_url` if it exists (for tests and throwaway environments).
    pub async fn drop_database_if_exists(database_url: &str) -> Result<()> {
        use sqlx::migrate::MigrateDatabase;
        let unreachable = |source| Error::Unreachable { source: Box::new(source) };
        if sqlx::Postgres::database_exists(database_url).await.map_err(unreachable)? {
            sqlx::Postgres::force_drop_database(database_url).await.map_err(unreachable)?;
        }
        Ok(())
    }

    /// The same database with `schema` first on the search path (created if missing): a fresh, separate copy of
    /// every table once migrated, for rebuilding projections beside the live ones.
    pub async fn in_schema(&self, schema: &str, max_connections: u32) -> Result<Self> {
        let valid =
            !schema.is_empty() && schema.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            return Err(Error::InvalidSchema(schema.to_owned()));
        }
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA IF NOT EXISTS {schema}"))).execute(&self.pool).await?;
        let options = self.pool.connect_options().as_ref().clone().options([("search_path", schema)]);
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|source| Error::Unreachable { source: Box::new(source) })?;
        // A separate copy of the tables: its queue announces to its own listeners.
        Ok(Self::from_pool(pool))
    }

    /// Drops `schema` and everything in it (a rebuild's scratch copy).
    pub async fn drop_schema(&self, schema: &str) -> Result<()> {
        let valid =
            !schema.is_empty() && schema.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid || schema == "public" {
            return Err(Error::InvalidSchema(schema.to_owned()));
        }
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))).execute(&self.pool).await?;
        Ok(())
    }

    /// Wraps an existing pool (tests get one per database from `#[sqlx::test]`).
    pub fn from_pool(pool: PgPool) -> Self {
        Self { pool, queued: broadcast::Sender::new(QUEUED_ANNOUNCEMENTS), webhooks: watch::Sender::new(0) }
    }

    /// Applies every migration not yet applied; a no-op on an up-to-date database.
    pub async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.pool).await?;
        info!(version = self.schema_version().await?, "ledger schema up to date");
        Ok(())
    }

    /// The newest applied migration's version, or 0 on an empty database.
    pub async fn schema_version(&self) -> Result<i64> {
        let version: Option<i64> =
            sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success").fetch_one(&self.pool).await?;
        Ok(version.unwrap_or(0))
    }

    /// Runs `SELECT 1`: whether the database answers a query. Unbounded in time (a stopped server never replies):
    /// callers that must answer promptly wrap it in their own timeout.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// The newest migration this build embeds.
    pub fn latest_migration() -> i64 {
        MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
