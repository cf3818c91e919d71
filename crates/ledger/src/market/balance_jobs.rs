//! Jobs paid from a prepaid balance (`migrations/0018_balance_jobs.sql`): an `automated_service` bought with a
//! balance credential. There is no escrow, so the money is held here: the purchase's debit is decided by the same
//! `balance_debit_batch` call as every balance debit (caps, repeats, credential, balance), in a transaction that also
//! holds its action (the batcher never posts a held action), records the job and enqueues its dispatch, so a purchase
//! never exists without its hold nor a hold without its job.
//!
//! The hold ends once, by a conditional update of the action's row: the provider's delivery releases it (the vault's
//! `debitMany` then pays the provider, and the job is verified when the indexer confirms `Debited`); the provider's
//! failure or the deadline fails it, and the 0013 trigger gives the amount back to the balance. Whichever commits
//! first wins; the other finds nothing held and changes nothing.

use alloy::primitives::Address;
use sqlx::{Postgres, Row as _, Transaction};
use uuid::Uuid;

use super::{
    DebitDecision, DebitRequest, Job, NewJob, ParticipantId,
    debits::{RETRIES, decide_debits},
    jobs::{job_from_row, select_jobs},
};
use crate::{Error, Ledger, NewWebhookEvent, Result, RouteKind, encode::int, enqueue_webhook_in};

/// A balance-paid job to buy.
#[derive(Debug, Clone, PartialEq)]
pub struct BalanceJobPurchase {
    /// The debit, decided as any balance debit.
    pub debit: DebitRequest,
    /// The job to record if it is accepted: its `escrow` is the vault, its `nonce` is replaced by the debit's
    /// on-chain id, and it has no escrow job.
    pub job: NewJob,
    /// How long the money is held for the provider to deliver, seconds.
    pub hold_secs: u64,
    /// The webhook events announcing the job (its `job_dispatch`), enqueued with it.
    pub dispatch: Vec<NewWebhookEvent>,
}

/// What [`Ledger::buy_job_from_balance`] decided.
#[derive(Debug, Clone, PartialEq)]
pub enum BalanceJobDecision {
    /// Accepted now: the job, its money held.
    Bought(Job),
    /// A repeat of an idempotency key that bought this job: nothing new was spent.
    Repeat(Job),
    /// The key already paid for something else (a debit with no job, or another service's): nothing was spent.
    KeyReused(Uuid),
    /// The service is no longer sold as the purchase read it (repriced, paused, removed): nothing was spent.
    ServiceChanged,
    /// Refused as a debit would be (balance, withdrawal, cap, credential); never `Accepted` or `Repeat`.
    Refused(DebitDecision),
}

/// A hold the deadline sweep ended: the job refunded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndedHold {
    /// The job.
    pub job: Uuid,
    /// Its provider.
    pub provider_id: ParticipantId,
    /// Its payer's participant, when the paying wallet registered one.
    pub payer_id: Option<ParticipantId>,
    /// The amount given back to the balance, atomic units.
    pub amount: alloy::primitives::U256,
}

impl Ledger {
    /// Buys `purchase` from the balance: the debit decided, held, and the job recorded with its dispatch enqueued, in
    /// one transaction (see the module doc).
    pub async fn buy_job_from_balance(&self, purchase: &BalanceJobPurchase) -> Result<BalanceJobDecision> {
        let mut attempt = 0;
        loop {
            match self.buy_job_once(purchase).await {
                Err(Error::Query(sqlx::Error::Database(e)))
                    if attempt < RETRIES && matches!(e.code().as_deref(), Some("40P01" | "40001")) =>
                {
                    attempt += 1;
                    tracing::warn!(error = %e, attempt, "a balance job purchase was aborted: deciding it again");
                }
                decided => return decided,
            }
        }
    }

    async fn buy_job_once(&self, purchase: &BalanceJobPurchase) -> Result<BalanceJobDecision> {
        let mut tx = self.pool.begin().await?;
        // Rule 1 of the batch for this kind of service: still listed as bought. Locked FOR SHARE, so an edit of the
        // listing waits for this purchase (or this purchase sees it).
        let listed: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM market_services s
             WHERE s.id = $1 AND s.deleted_at IS NULL AND s.status = 'active' AND s.pricing_model = 'fixed'
               AND s.service_type = 'automated_service' AND s.price = $2::numeric
             FOR SHARE",
        )
        .bind(purchase.debit.service_id.map(|id| id.0))
        .bind(purchase.debit.amount.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        if listed.is_none() {
            return Ok(BalanceJobDecision::ServiceChanged);
        }
        let mut decided = decide_debits(&mut tx, std::slice::from_ref(&purchase.debit), false).await?;
        let decision = decided.pop().ok_or(Error::Query(sqlx::Error::RowNotFound))?;
        let debit = match decision {
            DebitDecision::Accepted(debit) => debit,
            DebitDecision::Repeat(debit) => {
                // Nothing was written but the rows a first debit makes at zero: let them go with the transaction.
                drop(tx);
                return Ok(match self.job_of_debit(debit.id).await? {
                    Some(job) if job.new.service_id == purchase.job.service_id => BalanceJobDecision::Repeat(job),
                    _ => BalanceJobDecision::KeyReused(debit.id),
                });
            }
            refused => return Ok(BalanceJobDecision::Refused(refused)),
        };
        let held = sqlx::query(
            "UPDATE escrow_actions SET held_until = now() + $2::float8 * interval '1 second', updated_at = now()
             WHERE id = $1 AND status = 'pending'",
        )
        .bind(debit.action_id.0)
        .bind(i64::try_from(purchase.hold_secs).unwrap_or(i64::MAX / 1_000_000))
        .execute(&mut *tx)
        .await?;
        if held.rows_affected() != 1 {
            return Err(Error::Corrupt {
                table: "escrow_actions",
                column: "status",
                value: format!("action {} not pending", debit.action_id),
                expected: "the debit accepted in this transaction, pending",
            });
        }
        let job = &purchase.job;
        sqlx::query(
            "INSERT INTO market_jobs (id, service_id, provider_id, service_type, chain_id, asset, payer, nonce, escrow,
                                      route, amount, fee, brief, debit)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'vault_debit', $10::numeric, $11::numeric, $12, $13)",
        )
        .bind(job.id)
        .bind(job.service_id.0)
        .bind(job.provider_id.0)
        .bind(job.service_type.as_str())
        .bind(int(job.chain_id))
        .bind(job.asset.as_slice())
        .bind(debit.debit.payer.as_slice())
        .bind(debit.debit.id.as_slice())
        .bind(job.escrow.as_slice())
        .bind(debit.debit.amount.to_string())
        .bind(debit.debit.fee.to_string())
        .bind(&job.brief)
        .bind(debit.id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE balance_debits SET job_id = $2 WHERE id = $1")
            .bind(debit.id)
            .bind(job.id)
            .execute(&mut *tx)
            .await?;
        for event in &purchase.dispatch {
            enqueue_webhook_in(&mut tx, event).await?;
        }
        tx.commit().await?;
        self.announce_webhooks();
        let job = self.job(job.id).await?.ok_or(Error::Query(sqlx::Error::RowNotFound))?;
        Ok(BalanceJobDecision::Bought(job))
    }

    /// The job balance debit `debit` paid for, if any.
    pub async fn job_of_debit(&self, debit: Uuid) -> Result<Option<Job>> {
        let row = sqlx::query(select_jobs("WHERE j.debit = $1")).bind(debit).fetch_optional(&self.pool).await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// The provider delivered balance-paid job `id`: records its word and releases the hold (the batcher may post
    /// the debit), in one transaction; `None` when the job's money is no longer held (released, refunded, expired).
    pub async fn complete_balance_job(
        &self,
        id: Uuid,
        deliverables: &serde_json::Value,
        note: Option<&str>,
    ) -> Result<Option<Job>> {
        let mut tx = self.pool.begin().await?;
        let Some((chain_id, token)) = end_hold(&mut tx, id, false).await? else { return Ok(None) };
        sqlx::query(
            "UPDATE market_jobs SET provider_status = 'completed', deliverables = $2,
                                    provider_note = coalesce($3, provider_note), provider_updated_at = now(),
                                    updated_at = now()
             WHERE id = $1",
        )
        .bind(id)
        .bind(deliverables)
        .bind(note)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        // Committed: the batcher may post it.
        let _ = self.queued.send((chain_id, token, RouteKind::VaultDebit));
        self.job(id).await
    }

    /// The provider cannot deliver balance-paid job `id`: records its word, fails the held debit (its amount goes
    /// back to the balance) and enqueues `refunded` (the `job_refunded` events), in one transaction; `None` when the
    /// job's money is no longer held.
    pub async fn fail_balance_job(
        &self,
        id: Uuid,
        note: Option<&str>,
        refunded: &[NewWebhookEvent],
    ) -> Result<Option<Job>> {
        let mut tx = self.pool.begin().await?;
        if end_hold(&mut tx, id, true).await?.is_none() {
            return Ok(None);
        }
        sqlx::query(
            "UPDATE market_jobs SET provider_status = 'failed', refunded_because = 'provider_failed',
                                    provider_note = coalesce($2, provider_note), provider_updated_at = now(),
                                    updated_at = now()
             WHERE id = $1",
        )
        .bind(id)
        .bind(note)
        .execute(&mut *tx)
        .await?;
        for event in refunded {
            enqueue_webhook_in(&mut tx, event).await?;
        }
        tx.commit().await?;
        self.announce_webhooks();
        self.job(id).await
    }

    /// Ends up to `limit` holds whose deadline has passed: each held debit fails (its amount goes back to the
    /// balance), its job is refunded (`deadline_passed`), and `announce(hold)`'s events are enqueued, all in one
    /// transaction. Holds another process is ending are skipped, so any number of processes may sweep at once.
    pub async fn expire_balance_holds(
        &self,
        limit: u32,
        announce: impl Fn(&EndedHold) -> Vec<NewWebhookEvent>,
    ) -> Result<Vec<EndedHold>> {
        let mut tx = self.pool.begin().await?;
        let due: Vec<i64> = sqlx::query_scalar(
            "SELECT a.id FROM escrow_actions a
             WHERE a.held_until IS NOT NULL AND a.held_until <= now()
             ORDER BY a.held_until LIMIT $1 FOR UPDATE SKIP LOCKED",
        )
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        if due.is_empty() {
            return Ok(Vec::new());
        }
        // The agents in key order before the failures' trigger takes them in deadline order.
        super::debits::lock_debit_payers(&mut tx, &due).await?;
        let rows = sqlx::query(
            "WITH ended AS (
                 UPDATE escrow_actions a SET status = 'failed', held_until = NULL, updated_at = now()
                 FROM unnest($1::bigint[]) AS due(id)
                 WHERE a.id = due.id AND a.status = 'pending' AND a.held_until IS NOT NULL
                 RETURNING a.id)
             UPDATE market_jobs j SET refunded_because = 'deadline_passed', updated_at = now()
             FROM ended e, LATERAL (SELECT d.id, d.amount FROM balance_debits d WHERE d.action_id = e.id LIMIT 1) d
             WHERE j.debit = d.id
             RETURNING j.id, j.provider_id, d.amount::text AS amount,
                       (SELECT p.id FROM market_participants p WHERE p.wallet = j.payer) AS payer_id",
        )
        .bind(&due)
        .fetch_all(&mut *tx)
        .await?;
        let mut ended = Vec::with_capacity(rows.len());
        for row in &rows {
            let f = crate::decode::Fields::of("market_jobs", row);
            let hold = EndedHold {
                job: row.try_get("id")?,
                provider_id: ParticipantId(row.try_get("provider_id")?),
                payer_id: row.try_get::<Option<Uuid>, _>("payer_id")?.map(ParticipantId),
                amount: f.number("amount")?,
            };
            for event in announce(&hold) {
                enqueue_webhook_in(&mut tx, &event).await?;
            }
            ended.push(hold);
        }
        tx.commit().await?;
        if !ended.is_empty() {
            self.announce_webhooks();
        }
        Ok(ended)
    }
}

/// Ends the hold on job `id`'s debit if it is still held: released (`fail` false: the batcher may claim it; only
/// before the hold's deadline) or failed (the trigger gives the amount back). One conditional update of the action's row, so of two racing ends
/// (completed and failed, two replicas, the sweep) exactly one finds it held. The action's (chain, token), or `None`.
async fn end_hold(tx: &mut Transaction<'static, Postgres>, id: Uuid, fail: bool) -> Result<Option<(u64, Address)>> {
    let row = sqlx::query(
        "UPDATE escrow_actions a
         SET held_until = NULL, status = CASE WHEN $2 THEN 'failed'::settlement_status ELSE a.status END,
             updated_at = now()
         FROM market_jobs j JOIN balance_debits d ON d.id = j.debit
         WHERE j.id = $1 AND a.id = d.action_id AND a.status = 'pending' AND a.held_until IS NOT NULL
           -- A delivery after the deadline pays nothing: the hold is the sweep's to refund.
           AND ($2 OR a.held_until > now())
         RETURNING a.chain_id, a.asset",
    )
    .bind(id)
    .bind(fail)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let f = crate::decode::Fields::of("escrow_actions", &row);
    Ok(Some((f.u64("chain_id")?, f.address("asset")?)))
}
