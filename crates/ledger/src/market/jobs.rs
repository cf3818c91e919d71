//! Marketplace jobs: a purchase keyed by the payment that bought it, the provider's word about it, and what the
//! chain says its money did (read from the indexer's projections at confirmation depth, never stored here).
//!
//! The reactor's side ([`Reaction`]) reads the confirmed chain events of known jobs after a per-chain cursor, and
//! advances the cursor in the same transaction as whatever it enqueued for them (webhook events, escrow actions), so
//! every event is handled exactly once however many processes run it.

use alloy::primitives::{Address, B256, Bytes, U256};
use sqlx::{Postgres, Row as _, Transaction, postgres::PgRow};
use uuid::Uuid;

use super::{ParticipantId, ServiceId, ServiceType, front_runs::NOT_A_RETURN};
use crate::{
    ActionId, Error, JobId, Ledger, PaymentKey, Result, RouteKind, SettlementStatus, decode::Fields, encode::int,
    index::MAIN_INDEXER,
};

/// What the provider said about a job: its word, recorded as such.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderStatus {
    /// Nothing yet.
    None,
    /// Working on it.
    InProgress,
    /// Delivered (with deliverables).
    Completed,
    /// Cannot deliver: the payer is refunded.
    Failed,
}

impl ProviderStatus {
    /// Its wire and SQL name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }

    fn from_sql(s: &str) -> Option<Self> {
        Some(match s {
            "none" => Self::None,
            "in_progress" => Self::InProgress,
            "completed" => Self::Completed,
            "failed" => Self::Failed,
            _ => return None,
        })
    }
}

/// A purchase to record before its payment is settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// Its public id.
    pub id: Uuid,
    /// The service bought.
    pub service_id: ServiceId,
    /// The service's provider.
    pub provider_id: ParticipantId,
    /// The service's tier when bought.
    pub service_type: ServiceType,
    /// The chain.
    pub chain_id: u64,
    /// The token paid in.
    pub asset: Address,
    /// The paying wallet (the authorization's `from`).
    pub payer: Address,
    /// The authorization's nonce.
    pub nonce: B256,
    /// The escrow.
    pub escrow: Address,
    /// The escrow job's id and ABI-encoded terms, for an escrow job; `None` for a direct credit.
    pub escrow_job: Option<(JobId, Bytes)>,
    /// Atomic units the payer pays.
    pub amount: U256,
    /// Atomic units of it that are the platform's.
    pub fee: U256,
    /// The brief, as validated against the service's input schema.
    pub brief: serde_json::Value,
}

/// The newest confirmed escrow event of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscrowState {
    /// `funded`, `completed`, `disputed`, `released`, `refunded` or `resolved`.
    pub status: String,
    /// Its transaction.
    pub tx_hash: B256,
    /// Its block.
    pub block_number: u64,
    /// For a completed job: when its review window ends (unix seconds).
    pub review_ends_at: Option<u64>,
}

/// A job with what the queue and the chain say of its money.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// The purchase as recorded.
    pub new: NewJob,
    /// The provider's word.
    pub provider_status: ProviderStatus,
    /// The provider's deliverables.
    pub deliverables: Option<serde_json::Value>,
    /// The provider's note (progress or failure).
    pub provider_note: Option<String>,
    /// The payer's dispute reason.
    pub dispute_reason: Option<String>,
    /// The payment's queue status, if queued.
    pub settlement: Option<SettlementStatus>,
    /// The transaction that carried the payment, once one was sent.
    pub funding_tx: Option<B256>,
    /// The newest confirmed escrow event (an escrow job).
    pub escrow: Option<EscrowState>,
    /// The confirmed credit's transaction (a direct credit).
    pub credited_tx: Option<B256>,
    /// A job paid from a prepaid balance: its debit and where the hold on it stands.
    pub balance: Option<BalanceHold>,
    /// When it was recorded (unix seconds).
    pub created_at: i64,
}

/// Why a balance-paid job's hold ended without paying the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefundCause {
    /// The provider reported failure.
    ProviderFailed,
    /// The hold's deadline passed before the provider delivered.
    DeadlinePassed,
}

impl RefundCause {
    /// Its wire and SQL name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ProviderFailed => "provider_failed",
            Self::DeadlinePassed => "deadline_passed",
        }
    }

    fn from_sql(s: &str) -> Option<Self> {
        Some(match s {
            "provider_failed" => Self::ProviderFailed,
            "deadline_passed" => Self::DeadlinePassed,
            _ => return None,
        })
    }
}

/// The money of a job paid from a prepaid balance (`migrations/0018_balance_jobs.sql`): a balance debit whose action
/// is held until the provider delivers, then posted to the vault like any other debit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceHold {
    /// The balance debit's public id.
    pub debit: Uuid,
    /// The action that posts it.
    pub action_id: ActionId,
    /// Where the action stands: pending (held, or released and queued), submitted, settled, failed.
    pub status: SettlementStatus,
    /// While held: when the hold ends unless the provider delivers (unix seconds).
    pub held_until: Option<i64>,
    /// Why the hold ended unpaid, if it did (a failed action without a cause is the vault's refusal).
    pub refunded_because: Option<RefundCause>,
    /// The vault's `Debited` event, once confirmed: the provider is paid.
    pub debited_tx: Option<B256>,
}

const JOB_COLUMNS: &str = "j.id, j.service_id, j.provider_id, j.service_type, j.chain_id, j.asset, j.payer, j.nonce,
    j.escrow, j.route::text AS route, j.job_id, j.terms, j.amount::text AS amount, j.fee::text AS fee, j.brief,
    j.provider_status, j.deliverables, j.provider_note, j.dispute_reason, extract(epoch FROM j.created_at)::bigint AS created,
    s.status::text AS settlement_status, b.tx_hash AS funding_tx,
    ev.status::text AS escrow_status, ev.tx_hash AS escrow_tx, ev.block_number AS escrow_block,
    ev.review_ends_at::text AS review_ends_at, cr.tx_hash AS credited_tx,
    j.debit, j.refunded_because, ba.id AS hold_action, ba.status::text AS hold_status,
    extract(epoch FROM ba.held_until)::bigint AS held_until, vd.tx_hash AS debited_tx";

/// The filter of [`select_jobs`] for the job of one payment key (chain, asset, payer, nonce).
const BY_PAYMENT: &str = "WHERE j.chain_id = $1 AND j.asset = $2 AND j.payer = $3 AND j.nonce = $4";

/// Every job select: the job, its queue row and batch, its newest confirmed escrow event and its confirmed credit; for
/// a balance-paid job, its debit's action and the vault's confirmed `Debited` event.
pub(super) fn select_jobs(filter: &'static str) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(format!(
        "SELECT {JOB_COLUMNS}
         FROM market_jobs j
         CROSS JOIN LATERAL (
             SELECT coalesce(max(confirmed_block), -1) AS height FROM indexer_checkpoints
             WHERE indexer = '{MAIN_INDEXER}' AND chain_id = j.chain_id) c
         LEFT JOIN settlements s ON s.chain_id = j.chain_id AND s.asset = j.asset AND s.payer = j.payer AND s.nonce = j.nonce
         LEFT JOIN settlement_batches b ON b.id = s.batch_id
         LEFT JOIN LATERAL (
             SELECT e.status, e.tx_hash, e.block_number, e.review_ends_at FROM escrow_job_events e
             WHERE e.chain_id = j.chain_id AND e.escrow = j.escrow AND e.job_id = j.job_id AND e.block_number <= c.height
             ORDER BY e.block_number DESC, e.log_index DESC LIMIT 1) ev ON true
         LEFT JOIN LATERAL (
             SELECT r.tx_hash FROM escrow_credits r
             WHERE r.chain_id = j.chain_id AND r.escrow = j.escrow AND r.payer = j.payer AND r.nonce = j.nonce
               AND r.block_number <= c.height AND {NOT_A_RETURN}
             LIMIT 1) cr ON true
         LEFT JOIN balance_debits bd ON bd.id = j.debit
         LEFT JOIN escrow_actions ba ON ba.id = bd.action_id
         LEFT JOIN LATERAL (
             SELECT v.tx_hash FROM vault_events v
             WHERE v.chain_id = bd.chain_id AND v.vault = bd.vault AND v.reference = bd.debit_id AND v.kind = 'debited'
               AND v.block_number <= c.height
             LIMIT 1) vd ON true
         {filter}"
    ))
}

impl Ledger {
    /// Records a purchase unless its payment already bought one; returns the job and whether it was inserted. A
    /// repeat of the same payment gets the job it bought, whatever else the repeat says.
    pub async fn insert_job(&self, new: &NewJob) -> Result<(Job, bool)> {
        let (route, job_id, terms) = match &new.escrow_job {
            Some((job_id, terms)) => (RouteKind::EscrowJob, Some(job_id.0.to_vec()), Some(terms.to_vec())),
            None => (RouteKind::EscrowCredit, None, None),
        };
        let inserted = sqlx::query(
            "INSERT INTO market_jobs (id, service_id, provider_id, service_type, chain_id, asset, payer, nonce, escrow,
                                      route, job_id, terms, amount, fee, brief)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::settlement_route, $11, $12, $13::numeric, $14::numeric, $15)
             ON CONFLICT ON CONSTRAINT market_jobs_payment_key DO NOTHING
             RETURNING id",
        )
        .bind(new.id)
        .bind(new.service_id.0)
        .bind(new.provider_id.0)
        .bind(new.service_type.as_str())
        .bind(int(new.chain_id))
        .bind(new.asset.as_slice())
        .bind(new.payer.as_slice())
        .bind(new.nonce.as_slice())
        .bind(new.escrow.as_slice())
        .bind(route.as_sql())
        .bind(&job_id)
        .bind(&terms)
        .bind(new.amount.to_string())
        .bind(new.fee.to_string())
        .bind(&new.brief)
        .fetch_optional(&self.pool)
        .await?;
        let row = sqlx::query(select_jobs(BY_PAYMENT))
            .bind(int(new.chain_id))
            .bind(new.asset.as_slice())
            .bind(new.payer.as_slice())
            .bind(new.nonce.as_slice())
            .fetch_one(&self.pool)
            .await?;
        Ok((job_from_row(&row)?, inserted.is_some()))
    }

    /// The job the payment `key` bought, if any.
    pub async fn job_by_payment(&self, key: &PaymentKey) -> Result<Option<Job>> {
        let row = sqlx::query(select_jobs(BY_PAYMENT))
            .bind(int(key.chain_id))
            .bind(key.asset.as_slice())
            .bind(key.payer.as_slice())
            .bind(key.nonce.as_slice())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// The job with public id `id`.
    pub async fn job(&self, id: Uuid) -> Result<Option<Job>> {
        let row = sqlx::query(select_jobs("WHERE j.id = $1")).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// Records the provider's word on job `id` if it currently says `from` (so two concurrent updates cannot both
    /// pass the caller's transition check); `None` when it no longer does.
    pub async fn set_provider_status(
        &self,
        id: Uuid,
        from: ProviderStatus,
        to: ProviderStatus,
        deliverables: Option<&serde_json::Value>,
        note: Option<&str>,
    ) -> Result<Option<Job>> {
        let updated = sqlx::query(
            "UPDATE market_jobs SET provider_status = $3, deliverables = coalesce($4, deliverables),
                                    provider_note = coalesce($5, provider_note), provider_updated_at = now(),
                                    updated_at = now()
             WHERE id = $1 AND provider_status = $2 RETURNING id",
        )
        .bind(id)
        .bind(from.as_str())
        .bind(to.as_str())
        .bind(deliverables)
        .bind(note)
        .fetch_optional(&self.pool)
        .await?;
        if updated.is_none() {
            return Ok(None);
        }
        self.job(id).await
    }

    /// Records the payer's dispute reason on job `id`: the first one given stays while a dispute of the job may still
    /// be sent, queued, in flight or applied; once every dispute step sent has failed (a deadline passed, say), a new
    /// signed dispute brings its own. False when another reason stays.
    pub async fn set_dispute_reason(&self, id: Uuid, reason: &str) -> Result<bool> {
        let updated = sqlx::query(
            "UPDATE market_jobs j SET dispute_reason = $2, updated_at = now()
             WHERE j.id = $1
               AND (j.dispute_reason IS NULL OR j.dispute_reason = $2 OR (
                   -- Every dispute sent has failed (none live, one at least: a reason recorded for a step not yet
                   -- queued still stays, so two requests racing cannot swap it).
                   NOT EXISTS (SELECT 1 FROM escrow_actions a
                               WHERE a.chain_id = j.chain_id AND a.escrow = j.escrow AND a.job_id = j.job_id
                                 AND a.kind = 'dispute_with_sig' AND a.status <> 'failed')
                   AND EXISTS (SELECT 1 FROM escrow_actions a
                               WHERE a.chain_id = j.chain_id AND a.escrow = j.escrow AND a.job_id = j.job_id
                                 AND a.kind = 'dispute_with_sig' AND a.status = 'failed')))",
        )
        .bind(id)
        .bind(reason)
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected() == 1)
    }

    /// Escrow jobs on `chain_id` whose confirmed completion's review window has ended by the chain's clock (the
    /// newest indexed block's timestamp: the escrow checks `block.timestamp`, not ours) and that have no release
    /// queued, sent or applied: the keeper releases them (the clock is the authority).
    pub async fn jobs_due_for_release(&self, chain_id: u64, limit: u32) -> Result<Vec<Job>> {
        let rows = sqlx::query(select_jobs(
            "WHERE j.chain_id = $1 AND ev.status = 'completed'
               AND ev.review_ends_at <= (SELECT b.timestamp FROM chain_blocks b WHERE b.chain_id = $1
                                         ORDER BY b.number DESC LIMIT 1)
               AND NOT EXISTS (SELECT 1 FROM escrow_actions a
                               WHERE a.chain_id = j.chain_id AND a.escrow = j.escrow AND a.job_id = j.job_id
                                 AND a.kind IN ('release', 'release_with_sig') AND a.status <> 'failed')
             ORDER BY ev.block_number LIMIT $2",
        ))
        .bind(int(chain_id))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(job_from_row).collect()
    }

    /// Jobs of a provider, newest first.
    pub async fn provider_jobs(&self, provider_id: ParticipantId, limit: u32, offset: u32) -> Result<Vec<Job>> {
        let rows = sqlx::query(select_jobs("WHERE j.provider_id = $1 ORDER BY j.created_at DESC LIMIT $2 OFFSET $3"))
            .bind(provider_id.0)
            .bind(i64::from(limit))
            .bind(i64::from(offset))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(job_from_row).collect()
    }

    /// Jobs paid by `payer`, newest first.
    pub async fn payer_jobs(&self, payer: Address, limit: u32, offset: u32) -> Result<Vec<Job>> {
        let rows = sqlx::query(select_jobs("WHERE j.payer = $1 ORDER BY j.created_at DESC LIMIT $2 OFFSET $3"))
            .bind(payer.as_slice())
            .bind(i64::from(limit))
            .bind(i64::from(offset))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(job_from_row).collect()
    }
}

pub(super) fn job_from_row(row: &PgRow) -> Result<Job> {
    let f = Fields::of("market_jobs", row);
    let route = f.parsed("route", "a job route", |s: &String| RouteKind::from_sql(s))?;
    let escrow_job = match route {
        RouteKind::EscrowJob => Some((JobId(f.b256("job_id")?), Bytes::from(f.get::<Vec<u8>>("terms")?))),
        _ => None,
    };
    let escrow = match f.get::<Option<String>>("escrow_status")? {
        Some(status) => Some(EscrowState {
            status,
            tx_hash: f.b256("escrow_tx")?,
            block_number: f.u64("escrow_block")?,
            review_ends_at: f
                .get::<Option<String>>("review_ends_at")?
                .map(|_| f.number("review_ends_at"))
                .transpose()?,
        }),
        None => None,
    };
    Ok(Job {
        new: NewJob {
            id: f.get("id")?,
            service_id: ServiceId(f.get("service_id")?),
            provider_id: ParticipantId(f.get("provider_id")?),
            service_type: f.parsed("service_type", "a service type", |s: &String| ServiceType::parse(s))?,
            chain_id: f.u64("chain_id")?,
            asset: f.address("asset")?,
            payer: f.address("payer")?,
            nonce: f.b256("nonce")?,
            escrow: f.address("escrow")?,
            escrow_job,
            amount: f.number("amount")?,
            fee: f.number("fee")?,
            brief: f.get("brief")?,
        },
        provider_status: f.parsed("provider_status", "a provider status", |s: &String| ProviderStatus::from_sql(s))?,
        deliverables: f.get("deliverables")?,
        provider_note: f.get("provider_note")?,
        dispute_reason: f.get("dispute_reason")?,
        settlement: f
            .get::<Option<String>>("settlement_status")?
            .map(|s| {
                SettlementStatus::from_sql(&s).ok_or(Error::Corrupt {
                    table: "settlements",
                    column: "status",
                    value: s.clone(),
                    expected: "a settlement status",
                })
            })
            .transpose()?,
        funding_tx: f.opt_b256("funding_tx")?,
        escrow,
        credited_tx: f.opt_b256("credited_tx")?,
        balance: match f.get::<Option<Uuid>>("debit")? {
            Some(debit) => Some(BalanceHold {
                debit,
                action_id: ActionId(f.get("hold_action")?),
                status: f.parsed("hold_status", "an action status", |s: &String| SettlementStatus::from_sql(s))?,
                held_until: f.get("held_until")?,
                refunded_because: f
                    .get::<Option<String>>("refunded_because")?
                    .map(|s| {
                        RefundCause::from_sql(&s).ok_or(Error::Corrupt {
                            table: "market_jobs",
                            column: "refunded_because",
                            value: s.clone(),
                            expected: "a refund cause",
                        })
                    })
                    .transpose()?,
                debited_tx: f.opt_b256("debited_tx")?,
            }),
            None => None,
        },
        created_at: row.try_get("created")?,
    })
}

/// A confirmed chain event of a known job, or a claim of a known participant's balance, for the reactor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobChainEvent {
    /// Its log's block.
    pub block_number: u64,
    /// Its log's index.
    pub log_index: u64,
    /// Its transaction.
    pub tx_hash: B256,
    /// `funded`, `completed`, `disputed`, `released`, `refunded`, `resolved`, `credited`, `debited` (a balance-paid
    /// job's debit applied by the vault) or `claimed`; for a
    /// subscription, `subscription_` and its event (`charged`, `past_due`, `expired`, `cancelled`, `paused`,
    /// `resumed`).
    pub kind: String,
    /// The job (none for a claim).
    pub job: Option<Uuid>,
    /// The provider participant (the job's, or the claimer).
    pub provider_id: ParticipantId,
    /// The payer's participant, when the paying wallet registered one.
    pub payer_id: Option<ParticipantId>,
    /// The amount the event moved for the provider (released, resolved, credited, claimed), atomic units.
    pub provider_amount: Option<U256>,
    /// The amount back to the payer (refunded, resolved).
    pub payer_amount: Option<U256>,
    /// A subscription event's subscription (its subscriber is `payer_id`, its plan's provider `provider_id`).
    pub subscription: Option<B256>,
    /// A subscription event's period (charged, past due, expired).
    pub period: Option<u64>,
}

/// One reactor transaction over a chain's confirmed job events: holds the cursor row locked until
/// [`Reaction::commit`], so concurrent reactors (other processes) wait rather than handle an event twice.
#[derive(Debug)]
pub struct Reaction {
    tx: Transaction<'static, Postgres>,
    chain_id: u64,
    /// The last (block, log) handled.
    pub cursor: (u64, u64),
    /// The indexer's confirmed height: events above it are not read.
    pub confirmed: Option<u64>,
}

impl Ledger {
    /// Begins a reaction on `chain_id`: locks (creating at `start` if absent) its cursor and reads the confirmed
    /// height.
    pub async fn begin_reaction(&self, chain_id: u64) -> Result<Reaction> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO market_reactor_cursors (chain_id, block_number, log_index) VALUES ($1, -1, -1)
             ON CONFLICT DO NOTHING",
        )
        .bind(int(chain_id))
        .execute(&mut *tx)
        .await?;
        let row =
            sqlx::query("SELECT block_number, log_index FROM market_reactor_cursors WHERE chain_id = $1 FOR UPDATE")
                .bind(int(chain_id))
                .fetch_one(&mut *tx)
                .await?;
        let (block, log): (i64, i64) = (row.try_get("block_number")?, row.try_get("log_index")?);
        let confirmed: Option<i64> =
            sqlx::query_scalar("SELECT confirmed_block FROM indexer_checkpoints WHERE chain_id = $1 AND indexer = $2")
                .bind(int(chain_id))
                .bind(MAIN_INDEXER)
                .fetch_optional(&mut *tx)
                .await?
                .flatten();
        // Genesis has no logs, so "before everything" may start at (0, 0).
        let mut cursor = (u64::try_from(block).unwrap_or(0), u64::try_from(log).unwrap_or(0));
        let confirmed = confirmed.and_then(|c| u64::try_from(c).ok());
        if let Some(height) = confirmed
            && cursor.0 > height
        {
            // A reorg deeper than the confirmation depth moved the confirmed height back below events already
            // handled: handle whatever the new chain confirms above it (a repeat is at least once, never lost).
            cursor = (height, u64::MAX >> 1);
        }
        Ok(Reaction { tx, chain_id, cursor, confirmed })
    }
}

impl Reaction {
    /// Up to `limit` confirmed events after the cursor, in chain order.
    pub async fn events(&mut self, limit: u32) -> Result<Vec<JobChainEvent>> {
        let Some(confirmed) = self.confirmed else { return Ok(Vec::new()) };
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT * FROM (
                 SELECT e.block_number, e.log_index, e.tx_hash, e.status::text AS kind, j.id AS job, j.provider_id,
                        e.provider_amount::text AS provider_amount, e.payer_amount::text AS payer_amount,
                        (SELECT p.id FROM market_participants p WHERE p.wallet = j.payer) AS payer_id,
                        NULL::bytea AS subscription, NULL::bigint AS period
                 FROM escrow_job_events e
                 JOIN market_jobs j ON j.chain_id = e.chain_id AND j.escrow = e.escrow AND j.job_id = e.job_id
                 WHERE e.chain_id = $1 AND (e.block_number, e.log_index) > ($2, $3) AND e.block_number <= $4
               UNION ALL
                 SELECT r.block_number, r.log_index, r.tx_hash, 'credited', j.id, j.provider_id,
                        r.provider_amount::text, NULL,
                        (SELECT p.id FROM market_participants p WHERE p.wallet = j.payer), NULL, NULL
                 FROM escrow_credits r
                 JOIN market_jobs j ON j.chain_id = r.chain_id AND j.asset = r.token AND j.payer = r.payer
                                   AND j.nonce = r.nonce
                 WHERE r.chain_id = $1 AND (r.block_number, r.log_index) > ($2, $3) AND r.block_number <= $4
                   AND {NOT_A_RETURN}
               UNION ALL
                 -- A balance-paid job's debit applied by the vault: the provider is paid. Probed per event (LATERAL,
                 -- LIMIT 1) through the debit's on-chain id, whatever the statistics.
                 SELECT v.block_number, v.log_index, v.tx_hash, 'debited', bj.id, bj.provider_id,
                        (v.amount - v.fee)::text, NULL,
                        (SELECT p.id FROM market_participants p WHERE p.wallet = bj.payer), NULL, NULL
                 FROM vault_events v
                 JOIN LATERAL (
                     SELECT j.id, j.provider_id, j.payer FROM balance_debits d JOIN market_jobs j ON j.debit = d.id
                     WHERE d.chain_id = v.chain_id AND d.vault = v.vault AND d.debit_id = v.reference LIMIT 1) bj ON true
                 WHERE v.chain_id = $1 AND v.kind = 'debited' AND (v.block_number, v.log_index) > ($2, $3)
                   AND v.block_number <= $4
               UNION ALL
                 SELECT c.block_number, c.log_index, l.tx_hash, 'claimed', NULL, p.id, (-c.delta)::text, NULL, NULL,
                        NULL, NULL
                 FROM escrow_balance_changes c
                 JOIN chain_logs l ON l.chain_id = c.chain_id AND l.block_number = c.block_number
                                  AND l.log_index = c.log_index
                 JOIN market_participants p ON p.wallet = c.account
                 WHERE c.chain_id = $1 AND c.claimed_to IS NOT NULL AND (c.block_number, c.log_index) > ($2, $3)
                   AND c.block_number <= $4
               UNION ALL
                 SELECT e.block_number, e.log_index, e.tx_hash, 'subscription_' || e.kind, NULL, pl.provider_id,
                        (s.price - s.fee)::text, NULL, s.participant_id, e.subscription_id, e.period
                 FROM subscription_events e
                 JOIN market_subscriptions s ON s.chain_id = e.chain_id AND s.id = e.subscription_id
                 JOIN market_plans pl ON pl.id = s.plan_id
                 WHERE e.chain_id = $1 AND e.kind <> 'subscribed' AND (e.block_number, e.log_index) > ($2, $3)
                   AND e.block_number <= $4
             ) ev ORDER BY block_number, log_index LIMIT $5"
        )))
        .bind(int(self.chain_id))
        .bind(int(self.cursor.0))
        .bind(int(self.cursor.1))
        .bind(int(confirmed))
        .bind(i64::from(limit))
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter()
            .map(|row| {
                let f = Fields::of("job events", row);
                Ok(JobChainEvent {
                    block_number: f.u64("block_number")?,
                    log_index: f.u64("log_index")?,
                    tx_hash: f.b256("tx_hash")?,
                    kind: f.get("kind")?,
                    job: f.get("job")?,
                    provider_id: ParticipantId(f.get("provider_id")?),
                    payer_id: f.get::<Option<Uuid>>("payer_id")?.map(ParticipantId),
                    provider_amount: f
                        .get::<Option<String>>("provider_amount")?
                        .map(|_| f.number("provider_amount"))
                        .transpose()?,
                    payer_amount: f
                        .get::<Option<String>>("payer_amount")?
                        .map(|_| f.number("payer_amount"))
                        .transpose()?,
                    subscription: f.opt_b256("subscription")?,
                    period: f.opt_u64("period")?,
                })
            })
            .collect()
    }

    /// Marks job `id` dispatched at `block` (its funding announced).
    pub async fn mark_dispatched(&mut self, id: Uuid, block: u64) -> Result<()> {
        sqlx::query("UPDATE market_jobs SET dispatched_block = $2, updated_at = now() WHERE id = $1")
            .bind(id)
            .bind(int(block))
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Jobs announced dispatched whose confirmed funding is gone (a reorg deeper than the confirmation depth):
    /// clears their dispatch and returns them, for a `job_retracted` each.
    pub async fn take_retracted(&mut self) -> Result<Vec<(Uuid, ParticipantId)>> {
        let confirmed = self.confirmed.map_or(-1, int);
        let rows = sqlx::query(
            "UPDATE market_jobs j SET dispatched_block = NULL, updated_at = now()
             WHERE j.chain_id = $1 AND j.dispatched_block IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM escrow_job_events e
                               WHERE e.chain_id = j.chain_id AND e.escrow = j.escrow AND e.job_id = j.job_id
                                 AND e.status = 'funded' AND e.block_number <= $2)
               AND NOT EXISTS (SELECT 1 FROM escrow_credits r
                               WHERE r.chain_id = j.chain_id AND r.escrow = j.escrow AND r.payer = j.payer
                                 AND r.nonce = j.nonce AND r.block_number <= $2)
             RETURNING j.id, j.provider_id",
        )
        .bind(int(self.chain_id))
        .bind(confirmed)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(|row| Ok((row.try_get("id")?, ParticipantId(row.try_get("provider_id")?)))).collect()
    }

    /// Enqueues `event` in the reaction's transaction: it is delivered only if the reaction commits, and exactly
    /// once per reaction however many processes react.
    pub async fn enqueue_webhook(&mut self, event: &crate::NewWebhookEvent) -> Result<()> {
        crate::enqueue_webhook_in(&mut self.tx, event).await?;
        Ok(())
    }

    /// Moves the cursor to `to` (the last event handled) and commits everything done in the reaction.
    pub async fn commit(mut self, to: (u64, u64)) -> Result<()> {
        sqlx::query("UPDATE market_reactor_cursors SET block_number = $2, log_index = $3 WHERE chain_id = $1")
            .bind(int(self.chain_id))
            .bind(int(to.0))
            .bind(int(to.1))
            .execute(&mut *self.tx)
            .await?;
        self.tx.commit().await?;
        Ok(())
    }
}
