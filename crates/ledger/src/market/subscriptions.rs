//! Subscriptions (`migrations/0014_subscriptions.sql`): what the market asks of the `Subscriptions` contract and
//! where each subscription stands by the chain's events.
//!
//! The market never decides that a subscription is paid: it queues the operator's actions (an open with period 0's
//! charge, the keeper's renewals, cancels, pauses, resumes) and reads the outcome from `subscription_events`
//! (`subscription_state`, at the chain's time). A charge in flight holds its price back from the balance
//! (`subscription_reservations`) so a balance purchase cannot spend it meanwhile; its outcome releases it.
//!
//! Every queueing is keyed: an open by the subscription id, a charge by (subscription, period, refused attempts so
//! far), an operation by (subscription, kind, times that kind already happened on chain). Two processes, or a
//! retried request, queue one action, never two.

use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use sqlx::{Postgres, Transaction, postgres::PgRow};
use uuid::Uuid;

use super::{BalanceAccount, CredentialId, ParticipantId, PlanId, ServiceId};
use crate::{Ledger, Result, RouteKind, decode::Fields, encode::int, index::MAIN_INDEXER};

/// A subscription to open: the contract's terms (its id their hash) and what the plan covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSubscription {
    /// The on-chain id (`Subscriptions.subscriptionIdOf(terms)`).
    pub id: B256,
    /// The subscriber's balance: chain, vault, token, agent.
    pub account: BalanceAccount,
    /// The `Subscriptions` contract.
    pub contract: Address,
    /// The plan.
    pub plan_id: PlanId,
    /// The subscribing agent.
    pub participant_id: ParticipantId,
    /// The provider's wallet.
    pub provider: Address,
    /// Paid per period (the plan's price plus the fee), atomic units.
    pub price: U256,
    /// The fee in `price`.
    pub fee: U256,
    /// Seconds per period.
    pub period: u64,
    /// Unix seconds: period 0 is due from then.
    pub start: u64,
    /// Seconds a refused charge may be retried after it is due.
    pub grace: u64,
    /// The terms' salt.
    pub salt: B256,
    /// The services covered.
    pub service_ids: Vec<ServiceId>,
    /// Requests per period without paying.
    pub max_requests: Option<u32>,
    /// The ABI-encoded `Subscriptions.Operation` that opens it.
    pub open: Bytes,
}

/// Where a subscription stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionView {
    /// The id, subscriber's balance and terms as opened.
    pub id: B256,
    /// The subscriber's balance.
    pub account: BalanceAccount,
    /// The plan.
    pub plan_id: PlanId,
    /// The subscriber.
    pub participant_id: ParticipantId,
    /// The plan's provider.
    pub provider_id: ParticipantId,
    /// The provider's wallet.
    pub provider: Address,
    /// Paid per period.
    pub price: U256,
    /// The fee in it.
    pub fee: U256,
    /// Seconds per period.
    pub period: u64,
    /// Unix seconds.
    pub start: u64,
    /// Seconds.
    pub grace: u64,
    /// Services covered.
    pub service_ids: Vec<ServiceId>,
    /// Requests per period without paying.
    pub max_requests: Option<u32>,
    /// `pending`, `failed`, `active`, `past_due`, `paused`, `cancelled` or `expired` (see the migration).
    pub status: String,
    /// Periods paid.
    pub periods_charged: u64,
    /// Unix seconds the paid periods end.
    pub paid_through: u64,
    /// Unix seconds the next period lapses unpaid.
    pub lapse_at: u64,
    /// Refused charges of the next period.
    pub attempts: u64,
    /// Requests used in the current paid period.
    pub used: u32,
    /// The chain's time the status was read at.
    pub chain_now: u64,
    /// Unix seconds.
    pub created_at: i64,
}

/// What [`Ledger::subscribe`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscribeDecision {
    /// Queued, with period 0's price held back from the balance.
    Queued(B256),
    /// The agent already has a live subscription to the plan.
    AlreadySubscribed(B256),
    /// The balance is short.
    Insufficient {
        /// What could be spent.
        available: U256,
    },
    /// A withdrawal request stands.
    WithdrawalPending,
    /// The plan is no longer the one these terms were made from: deleted, or its price, services or requests
    /// changed since it was read.
    PlanChanged,
}

/// An operation on a subscription the agent asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperationKind {
    /// Stop for good at the paid period's end.
    Cancel,
    /// Stop renewals.
    Pause,
    /// Renew again.
    Resume,
}

impl OperationKind {
    /// Its wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Cancel => "cancel",
            Self::Pause => "pause",
            Self::Resume => "resume",
        }
    }

    /// The statuses it applies to, as the contract checks them.
    const fn allowed_statuses(self) -> &'static [&'static str] {
        match self {
            Self::Cancel => &["active", "past_due", "paused"],
            Self::Pause => &["active", "past_due"],
            Self::Resume => &["paused"],
        }
    }

    /// The chain event it produces.
    const fn event(self) -> &'static str {
        match self {
            Self::Cancel => "cancelled",
            Self::Pause => "paused",
            Self::Resume => "resumed",
        }
    }
}

/// What [`Ledger::operate_subscription`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperationDecision {
    /// Queued for the chain (or already queued by an earlier request).
    Queued,
    /// The subscription's status does not allow it.
    NotNow {
        /// Its status.
        status: String,
    },
}

/// A period the keeper should charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueCharge {
    /// The subscription.
    pub subscription: B256,
    /// The `Subscriptions` contract.
    pub contract: Address,
    /// The subscriber's balance.
    pub account: BalanceAccount,
    /// The period to charge.
    pub period: u64,
    /// Its price.
    pub price: U256,
    /// Refused attempts of it so far.
    pub attempts: u64,
    /// Its grace has ended: the charge only writes the expiry.
    pub lapsed: bool,
}

/// What [`Ledger::queue_charge`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChargeQueued {
    /// Queued with its price held back.
    Reserved,
    /// Queued without a hold: the balance cannot pay it and no debit is in flight, so the chain will refuse it
    /// (past due) or it only writes the expiry.
    Unreserved,
    /// Not queued now: the balance is short while debits are in flight, which the charge could take money from.
    Deferred,
    /// Already queued.
    AlreadyQueued,
}

/// A request served under a subscription without payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoveredUse {
    /// The subscription.
    pub subscription: B256,
    /// The paid period it counts in.
    pub period: u64,
    /// Requests used in that period, this one included.
    pub used: u32,
    /// The cap.
    pub max_requests: Option<u32>,
}

const VIEW_COLUMNS: &str = "s.id, s.chain_id, s.vault, s.token, s.subscriber, s.plan_id, s.participant_id,
    p.provider_id, s.provider, s.price::text AS price, s.fee::text AS fee, s.period, s.start, s.grace, s.service_ids,
    s.max_requests, st.status, st.charged, st.paid_through, st.lapse_at, st.attempts,
    coalesce((SELECT u.used FROM subscription_usage u WHERE u.subscription_id = s.id AND u.period = st.charged - 1), 0)
        AS used,
    chain_now(s.chain_id) AS chain_now, extract(epoch FROM s.created_at)::bigint AS created";

fn select_views(filter: &str) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(format!(
        "SELECT {VIEW_COLUMNS} FROM market_subscriptions s JOIN market_plans p ON p.id = s.plan_id,
             LATERAL subscription_state(s, chain_now(s.chain_id)) st {filter}"
    ))
}

fn view_from_row(row: &PgRow) -> Result<SubscriptionView> {
    let f = Fields::of("market_subscriptions", row);
    let service_ids: Vec<Uuid> = f.get("service_ids")?;
    let max_requests: Option<i32> = f.get("max_requests")?;
    Ok(SubscriptionView {
        id: f.b256("id")?,
        account: BalanceAccount {
            chain_id: f.u64("chain_id")?,
            vault: f.address("vault")?,
            token: f.address("token")?,
            account: f.address("subscriber")?,
        },
        plan_id: PlanId(f.get("plan_id")?),
        participant_id: ParticipantId(f.get("participant_id")?),
        provider_id: ParticipantId(f.get("provider_id")?),
        provider: f.address("provider")?,
        price: f.number("price")?,
        fee: f.number("fee")?,
        period: f.u64("period")?,
        start: f.u64("start")?,
        grace: f.u64("grace")?,
        service_ids: service_ids.into_iter().map(ServiceId).collect(),
        max_requests: max_requests.and_then(|m| u32::try_from(m).ok()),
        status: f.get("status")?,
        periods_charged: f.u64("charged")?,
        paid_through: f.u64("paid_through")?,
        lapse_at: f.u64("lapse_at")?,
        attempts: f.u64("attempts")?,
        used: u32::try_from(f.get::<i32>("used")?).unwrap_or(0),
        chain_now: f.u64("chain_now")?,
        created_at: f.get("created")?,
    })
}

/// What [`lock_balance`] reads once the row is locked: the balance available (confirmed less spent) and whether a
/// withdrawal request stands, `$1` to `$4` the account.
pub(super) fn available_sql() -> String {
    format!(
        "WITH events AS (
             SELECT kind, amount, block_number, log_index FROM vault_events
             WHERE chain_id = $1 AND vault = $2 AND token = $3 AND account = $4
               -- Not its debits (vault_events_balance, 0015): as many rows as deposits, withdrawals and charges.
               AND kind IN ('deposited', 'withdrawn', 'charged', 'withdrawal_requested', 'withdrawal_cancelled')
               AND (kind <> 'deposited' OR block_number <= (SELECT coalesce(max(confirmed_block), -1)
                                                            FROM indexer_checkpoints
                                                            WHERE indexer = '{MAIN_INDEXER}' AND chain_id = $1)))
         SELECT greatest((SELECT coalesce(sum(CASE kind WHEN 'deposited' THEN amount ELSE -amount END), 0) FROM events
                          WHERE kind IN ('deposited', 'withdrawn', 'charged')) - a.spent, 0)::text AS available,
             coalesce((SELECT kind = 'withdrawal_requested' FROM events
                       WHERE kind IN ('withdrawal_requested', 'withdrawal_cancelled', 'withdrawn')
                       ORDER BY block_number DESC, log_index DESC LIMIT 1), false) AS exiting
         FROM balance_accounts a
         WHERE a.chain_id = $1 AND a.vault = $2 AND a.token = $3 AND a.account = $4"
    )
}

/// Locks `account`'s row (made if absent) and reads what it may spend and whether a withdrawal request stands, as a
/// balance purchase does: less the renewals due but not yet queued when `less_renewals_due` (the keeper, queueing
/// those very renewals, reads the balance without them).
async fn lock_balance(
    tx: &mut Transaction<'static, Postgres>,
    account: &BalanceAccount,
    less_renewals_due: bool,
) -> Result<(U256, bool)> {
    sqlx::query(
        "INSERT INTO balance_accounts (chain_id, vault, token, account) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(int(account.chain_id))
    .bind(account.vault.as_slice())
    .bind(account.token.as_slice())
    .bind(account.account.as_slice())
    .execute(&mut **tx)
    .await?;
    // Locked in a statement of its own, then read in the next (a new snapshot): a statement that waits for the lock
    // sees the row as the holder committed it but everything else as it was when it began, so the indexer's commit of
    // a charge (its event, and the release of its hold from `spent`) would be read half, the charge counted as money.
    sqlx::query(
        "SELECT 1 FROM balance_accounts WHERE chain_id = $1 AND vault = $2 AND token = $3 AND account = $4 FOR UPDATE",
    )
    .bind(int(account.chain_id))
    .bind(account.vault.as_slice())
    .bind(account.token.as_slice())
    .bind(account.account.as_slice())
    .execute(&mut **tx)
    .await?;
    let row = sqlx::query(sqlx::AssertSqlSafe(available_sql()))
        .bind(int(account.chain_id))
        .bind(account.vault.as_slice())
        .bind(account.token.as_slice())
        .bind(account.account.as_slice())
        .fetch_one(&mut **tx)
        .await?;
    let f = Fields::of("balance_accounts", &row);
    let (available, exiting): (U256, bool) = (f.number("available")?, f.get("exiting")?);
    if !less_renewals_due || available.is_zero() {
        return Ok((available, exiting));
    }
    let held: String = sqlx::query_scalar("SELECT balance_renewals_due($1, $2, $3, $4, $5::text::numeric)::text")
        .bind(int(account.chain_id))
        .bind(account.vault.as_slice())
        .bind(account.token.as_slice())
        .bind(account.account.as_slice())
        .bind(available.to_string())
        .fetch_one(&mut **tx)
        .await?;
    let held = crate::decode::number("balance_accounts", "renewals_due", &held)?;
    Ok((available.saturating_sub(held), exiting))
}

/// Whether a balance debit of `account` is queued, held for a balance-paid job, or on its way to the vault. A held one
/// counts: its amount is out of the balance here but still in the vault, where a charge sent without a hold would
/// take it, and the provider's debit would then be refused.
async fn debits_in_flight(tx: &mut Transaction<'static, Postgres>, account: &BalanceAccount) -> Result<bool> {
    let sql = format!("SELECT EXISTS ({})", super::balances::open_debits("$4"));
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(int(account.chain_id))
        .bind(account.vault.as_slice())
        .bind(account.token.as_slice())
        .bind(account.account.as_slice())
        .fetch_one(&mut **tx)
        .await?)
}

async fn insert_action(
    tx: &mut Transaction<'static, Postgres>,
    account: &BalanceAccount,
    contract: Address,
    kind: &str,
    key: B256,
    terms: &[u8],
) -> Result<Option<i64>> {
    Ok(sqlx::query_scalar(
        "INSERT INTO escrow_actions (chain_id, escrow, asset, kind, job_id, terms)
         VALUES ($1, $2, $3, $4::escrow_action_kind, $5, $6) ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(int(account.chain_id))
    .bind(contract.as_slice())
    .bind(account.token.as_slice())
    .bind(kind)
    .bind(key.as_slice())
    .bind(terms)
    .fetch_optional(&mut **tx)
    .await?)
}

async fn reserve(
    tx: &mut Transaction<'static, Postgres>,
    action_id: i64,
    account: &BalanceAccount,
    subscription: B256,
    period: u64,
    amount: U256,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO subscription_reservations (action_id, chain_id, vault, token, account, subscription_id, period,
                                               amount)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8::numeric)",
    )
    .bind(action_id)
    .bind(int(account.chain_id))
    .bind(account.vault.as_slice())
    .bind(account.token.as_slice())
    .bind(account.account.as_slice())
    .bind(subscription.as_slice())
    .bind(int(period))
    .bind(amount.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The once-per-key index's key of an action on `subscription`.
fn action_key(subscription: B256, what: &str, n: u64) -> B256 {
    let mut preimage = Vec::with_capacity(32 + what.len() + 8);
    preimage.extend_from_slice(subscription.as_slice());
    preimage.extend_from_slice(what.as_bytes());
    preimage.extend_from_slice(&n.to_be_bytes());
    keccak256(preimage)
}

impl Ledger {
    /// The chain's time: the newest indexed block's timestamp (0 before any is indexed).
    pub async fn chain_now(&self, chain_id: u64) -> Result<u64> {
        let now: i64 = sqlx::query_scalar("SELECT chain_now($1)").bind(int(chain_id)).fetch_one(&self.pool).await?;
        Ok(u64::try_from(now).unwrap_or(0))
    }

    /// How many periods numbered `period` the chain has charged on `chain_id` (indexed), over all subscriptions.
    pub async fn periods_charged(&self, chain_id: u64, period: u64) -> Result<u64> {
        let count: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM subscription_events WHERE chain_id = $1 AND kind = 'charged' AND period = $2",
        )
        .bind(int(chain_id))
        .bind(int(period))
        .fetch_one(&self.pool)
        .await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// Opens `new` for its agent in one transaction: refused when the agent already has a live subscription to the
    /// plan, the balance cannot pay period 0 or a withdrawal request stands; otherwise the open (with period 0's
    /// charge) is queued for `operateMany` and the price held back from the balance until the chain answers.
    pub async fn subscribe(&self, new: &NewSubscription) -> Result<SubscribeDecision> {
        let mut tx = self.pool.begin().await?;
        // One agent's subscribes and purchases are decided one at a time: the same row lock.
        let (available, exiting) = lock_balance(&mut tx, &new.account, true).await?;
        let live: Option<Vec<u8>> = sqlx::query_scalar(
            "SELECT s.id FROM market_subscriptions s, LATERAL subscription_state(s, chain_now(s.chain_id)) st
             WHERE s.participant_id = $1 AND s.plan_id = $2 AND st.status IN ('pending', 'active', 'past_due', 'paused')
             LIMIT 1",
        )
        .bind(new.participant_id.0)
        .bind(new.plan_id.0)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(id) = live {
            return Ok(SubscribeDecision::AlreadySubscribed(B256::try_from(id.as_slice()).unwrap_or_default()));
        }
        if exiting {
            return Ok(SubscribeDecision::WithdrawalPending);
        }
        // The plan as it was read for these terms, held (FOR SHARE) until this commits: a provider's change committed
        // meanwhile (a higher price, fewer requests, a delete) refuses the subscribe rather than charge the agent for
        // terms it never saw, and one made after waits for it.
        let ids: Vec<Uuid> = new.service_ids.iter().map(|s| s.0).collect();
        let unchanged: Option<Uuid> = sqlx::query_scalar(
            "SELECT id FROM market_plans
             WHERE id = $1 AND deleted_at IS NULL AND price = $2::numeric AND service_ids = $3
               AND max_requests IS NOT DISTINCT FROM $4
             FOR SHARE",
        )
        .bind(new.plan_id.0)
        .bind(new.price.saturating_sub(new.fee).to_string())
        .bind(&ids)
        .bind(new.max_requests.map(|m| i32::try_from(m).unwrap_or(i32::MAX)))
        .fetch_optional(&mut *tx)
        .await?;
        if unchanged.is_none() {
            return Ok(SubscribeDecision::PlanChanged);
        }
        if available < new.price {
            return Ok(SubscribeDecision::Insufficient { available });
        }
        let key = action_key(new.id, "open", 0);
        let Some(action_id) =
            insert_action(&mut tx, &new.account, new.contract, "subscription_operation", key, &new.open).await?
        else {
            // The same terms were opened before (an id is a hash of them, salt included).
            return Ok(SubscribeDecision::AlreadySubscribed(new.id));
        };
        sqlx::query(
            "INSERT INTO market_subscriptions (id, chain_id, contract, vault, token, plan_id, participant_id,
                                               subscriber, provider, price, fee, period, start, grace, salt,
                                               service_ids, max_requests, open_action_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::numeric, $11::numeric, $12, $13, $14, $15, $16, $17,
                     $18)",
        )
        .bind(new.id.as_slice())
        .bind(int(new.account.chain_id))
        .bind(new.contract.as_slice())
        .bind(new.account.vault.as_slice())
        .bind(new.account.token.as_slice())
        .bind(new.plan_id.0)
        .bind(new.participant_id.0)
        .bind(new.account.account.as_slice())
        .bind(new.provider.as_slice())
        .bind(new.price.to_string())
        .bind(new.fee.to_string())
        .bind(int(new.period))
        .bind(int(new.start))
        .bind(int(new.grace))
        .bind(new.salt.as_slice())
        .bind(&ids)
        .bind(new.max_requests.map(|m| i32::try_from(m).unwrap_or(i32::MAX)))
        .bind(action_id)
        .execute(&mut *tx)
        .await?;
        reserve(&mut tx, action_id, &new.account, new.id, 0, new.price).await?;
        tx.commit().await?;
        let _ = self.queued.send((new.account.chain_id, new.account.token, RouteKind::SubscriptionOperation));
        Ok(SubscribeDecision::Queued(new.id))
    }

    /// The subscription `id`.
    pub async fn subscription(&self, id: B256) -> Result<Option<SubscriptionView>> {
        let row = sqlx::query(select_views("WHERE s.id = $1")).bind(id.as_slice()).fetch_optional(&self.pool).await?;
        row.as_ref().map(view_from_row).transpose()
    }

    /// An agent's subscriptions (or a provider's subscribers', with `as_provider`), newest first, optionally of one
    /// status.
    pub async fn subscriptions_of(
        &self,
        participant: ParticipantId,
        as_provider: bool,
        status: Option<&str>,
        limit: u32,
    ) -> Result<Vec<SubscriptionView>> {
        let who = if as_provider { "p.provider_id" } else { "s.participant_id" };
        let rows = sqlx::query(select_views(&format!(
            "WHERE {who} = $1 AND ($2::text IS NULL OR st.status = $2) ORDER BY s.created_at DESC LIMIT $3"
        )))
        .bind(participant.0)
        .bind(status)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(view_from_row).collect()
    }

    /// Queues `kind` on the agent's subscription `id` if its status allows it (`encoded` is the
    /// `Subscriptions.Operation`). A second request before the chain has answered the first queues nothing new.
    pub async fn operate_subscription(
        &self,
        view: &SubscriptionView,
        contract: Address,
        kind: OperationKind,
        encoded: &[u8],
    ) -> Result<OperationDecision> {
        if !kind.allowed_statuses().contains(&view.status.as_str()) {
            return Ok(OperationDecision::NotNow { status: view.status.clone() });
        }
        let mut tx = self.pool.begin().await?;
        let done: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM subscription_events WHERE chain_id = $1 AND subscription_id = $2 AND kind = $3",
        )
        .bind(int(view.account.chain_id))
        .bind(view.id.as_slice())
        .bind(kind.event())
        .fetch_one(&mut *tx)
        .await?;
        let key = action_key(view.id, kind.as_str(), u64::try_from(done).unwrap_or(0));
        insert_action(&mut tx, &view.account, contract, "subscription_operation", key, encoded).await?;
        tx.commit().await?;
        let _ = self.queued.send((view.account.chain_id, view.account.token, RouteKind::SubscriptionOperation));
        Ok(OperationDecision::Queued)
    }

    /// Up to `limit` periods due on `chain_id` for the keeper, at the chain's time: a live subscription's next period
    /// once due with no charge or operation of it in flight, first at once, then retried after a quarter of the
    /// grace per refusal (three retries) or as soon as a deposit lands after the last refusal; and, once the grace
    /// has ended, one last charge that writes the expiry.
    pub async fn due_charges(&self, chain_id: u64, limit: u32) -> Result<Vec<DueCharge>> {
        let rows = sqlx::query(
            "SELECT s.id, s.contract, s.chain_id, s.vault, s.token, s.subscriber, s.price::text AS price, st.charged,
                    st.attempts, chain_now(s.chain_id) >= st.lapse_at AS lapsed
             FROM market_subscriptions s, LATERAL subscription_state(s, chain_now(s.chain_id)) st
             WHERE s.chain_id = $1
               AND (st.status IN ('active', 'past_due') OR (st.status = 'expired' AND NOT EXISTS (
                        SELECT 1 FROM subscription_events e WHERE e.chain_id = s.chain_id
                          AND e.subscription_id = s.id AND e.kind IN ('expired', 'cancelled')))
                    OR (st.status = 'paused' AND chain_now(s.chain_id) >= st.lapse_at))
               AND chain_now(s.chain_id) >= st.paid_through
               -- Nothing of it in flight: a charge (by escrow_actions_subscription_charges), or an operation.
               AND NOT EXISTS (SELECT 1 FROM escrow_actions a
                               WHERE a.kind = 'subscription_charge' AND a.terms = s.id
                                 AND a.status IN ('pending', 'submitted')
                                 AND a.chain_id = s.chain_id AND a.escrow = s.contract)
               AND NOT EXISTS (SELECT 1 FROM escrow_actions a
                               WHERE a.chain_id = s.chain_id AND a.escrow = s.contract
                                 AND a.status IN ('pending', 'submitted')
                                 AND a.kind::text = 'subscription_operation'
                                 AND substring(a.terms FROM 33 FOR 32) = s.id)
               -- A charge applied in a block the indexer has not reached: its outcome (charged, past due, expired)
               -- is not in the state yet, and queueing it again would only find it queued.
               AND NOT EXISTS (SELECT 1 FROM escrow_actions a JOIN settlement_batches b ON b.id = a.batch_id
                               WHERE a.kind = 'subscription_charge' AND a.terms = s.id AND a.status = 'settled'
                                 AND a.chain_id = s.chain_id AND a.escrow = s.contract
                                 AND b.block_number > (SELECT coalesce(max(c.block_number), -1)
                                                       FROM indexer_checkpoints c
                                                       WHERE c.chain_id = s.chain_id AND c.indexer = $3))
               AND (st.attempts = 0 OR chain_now(s.chain_id) >= st.lapse_at
                    OR (st.attempts <= 3
                        AND chain_now(s.chain_id) >= st.paid_through + st.attempts * (s.grace / 4))
                    -- A deposit since the last refusal: retry at once.
                    OR EXISTS (SELECT 1 FROM vault_events v
                               WHERE v.chain_id = s.chain_id AND v.vault = s.vault AND v.token = s.token
                                 AND v.account = s.subscriber AND v.kind = 'deposited'
                                 AND v.block_number > (SELECT max(e.block_number) FROM subscription_events e
                                                       WHERE e.chain_id = s.chain_id AND e.subscription_id = s.id
                                                         AND e.kind = 'past_due' AND e.period = st.charged)))
             ORDER BY st.paid_through LIMIT $2",
        )
        .bind(int(chain_id))
        .bind(i64::from(limit))
        .bind(MAIN_INDEXER)
        .fetch_all(&self.pool)
        .await?;
        let mut due = Vec::with_capacity(rows.len());
        for row in &rows {
            let f = Fields::of("market_subscriptions", row);
            due.push(DueCharge {
                subscription: f.b256("id")?,
                contract: f.address("contract")?,
                account: BalanceAccount {
                    chain_id: f.u64("chain_id")?,
                    vault: f.address("vault")?,
                    token: f.address("token")?,
                    account: f.address("subscriber")?,
                },
                period: f.u64("charged")?,
                price: f.number("price")?,
                attempts: f.u64("attempts")?,
                lapsed: f.get("lapsed")?,
            });
        }
        Ok(due)
    }

    /// Queues `due` for `chargeMany` (see [`ChargeQueued`]): with its price held back when the balance covers it;
    /// without a hold when it cannot and no debit of the agent is in flight (the chain will mark it past due); not
    /// at all while debits are in flight that the charge could take money from (they land within seconds, or, held
    /// for a balance-paid job, when its provider delivers or its hold ends).
    pub async fn queue_charge(&self, due: &DueCharge) -> Result<ChargeQueued> {
        let mut queued = self.queue_charges(std::slice::from_ref(due)).await?;
        queued.pop().ok_or(crate::Error::Query(sqlx::Error::RowNotFound))
    }

    /// Queues every one of `due` as [`Ledger::queue_charge`] does, in one transaction (one commit for the lot): each
    /// agent's balance is locked once, in key order as the debit batches lock them, and its charges are decided in
    /// the order given, each seeing the holds of the ones before. One decision per charge, in the same order.
    pub async fn queue_charges(&self, due: &[DueCharge]) -> Result<Vec<ChargeQueued>> {
        let mut attempt = 0;
        loop {
            match self.queue_charges_once(due).await {
                Err(crate::Error::Query(sqlx::Error::Database(e)))
                    if attempt < 3 && matches!(e.code().as_deref(), Some("40P01" | "40001")) =>
                {
                    attempt += 1;
                    tracing::warn!(error = %e, attempt, "queueing subscription charges was aborted: trying again");
                }
                queued => return queued,
            }
        }
    }

    async fn queue_charges_once(&self, due: &[DueCharge]) -> Result<Vec<ChargeQueued>> {
        let key = |a: &BalanceAccount| (a.chain_id, a.vault, a.token, a.account);
        let mut order: Vec<usize> = (0..due.len()).collect();
        // Stable: an agent's charges keep their order (the oldest due first).
        order.sort_by_key(|&i| key(&due[i].account));
        let mut decided = vec![ChargeQueued::AlreadyQueued; due.len()];
        // Per agent: what is left to hold, and (once asked) whether a debit of it is in flight.
        let mut balances: std::collections::HashMap<BalanceAccount, (U256, Option<bool>)> =
            std::collections::HashMap::new();
        let mut routes: Vec<(u64, Address)> = Vec::new();
        let mut tx = self.pool.begin().await?;
        for i in order {
            let due = &due[i];
            let balance = match balances.entry(due.account) {
                std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
                std::collections::hash_map::Entry::Vacant(entry) => {
                    entry.insert((lock_balance(&mut tx, &due.account, false).await?.0, None))
                }
            };
            let reserved = !due.lapsed && balance.0 >= due.price;
            if !reserved && !due.lapsed {
                let in_flight = match balance.1 {
                    Some(in_flight) => in_flight,
                    None => *balance.1.insert(debits_in_flight(&mut tx, &due.account).await?),
                };
                if in_flight {
                    decided[i] = ChargeQueued::Deferred;
                    continue;
                }
            }
            let what = if due.lapsed { "expire" } else { "charge" };
            let key = action_key(due.subscription, what, (due.period << 8) | due.attempts.min(255));
            let Some(action_id) = insert_action(
                &mut tx,
                &due.account,
                due.contract,
                "subscription_charge",
                key,
                due.subscription.as_slice(),
            )
            .await?
            else {
                continue;
            };
            if reserved {
                reserve(&mut tx, action_id, &due.account, due.subscription, due.period, due.price).await?;
                balance.0 -= due.price;
            }
            decided[i] = if reserved { ChargeQueued::Reserved } else { ChargeQueued::Unreserved };
            let route = (due.account.chain_id, due.account.token);
            if !routes.contains(&route) {
                routes.push(route);
            }
        }
        tx.commit().await?;
        for (chain_id, token) in routes {
            let _ = self.queued.send((chain_id, token, RouteKind::SubscriptionCharge));
        }
        Ok(decided)
    }

    /// Every service any subscription of `participant` names, live or not: a superset of what can cover its requests
    /// (a request to a service outside it needs no look at the subscriptions).
    pub async fn subscribed_services(&self, participant: ParticipantId) -> Result<Vec<ServiceId>> {
        let ids: Vec<Uuid> = sqlx::query_scalar(
            "SELECT DISTINCT u.id FROM market_subscriptions s, unnest(s.service_ids) AS u(id)
             WHERE s.participant_id = $1",
        )
        .bind(participant.0)
        .fetch_all(&self.pool)
        .await?;
        Ok(ids.into_iter().map(ServiceId).collect())
    }

    /// Counts one request of `participant` to `service` against a subscription that covers it now (paid through
    /// later than the chain's time) and has requests left in its period; `None` when none does. Counted in one
    /// statement per subscription, so concurrent requests never pass the cap. A request made with one of the
    /// participant's balance credentials names it as `credential`, and is counted only while it is neither revoked
    /// nor expired in the same statement: the market's copy of a credential may be older than its revocation.
    pub async fn use_subscription(
        &self,
        participant: ParticipantId,
        service: ServiceId,
        credential: Option<CredentialId>,
    ) -> Result<Option<CoveredUse>> {
        let rows = sqlx::query(
            "SELECT s.id, st.charged - 1 AS period, s.max_requests
             FROM market_subscriptions s, LATERAL subscription_state(s, chain_now(s.chain_id)) st
             WHERE s.participant_id = $1 AND $2 = ANY(s.service_ids) AND st.charged > 0
               AND st.status NOT IN ('pending', 'failed', 'expired') AND chain_now(s.chain_id) < st.paid_through
             ORDER BY st.paid_through, s.created_at",
        )
        .bind(participant.0)
        .bind(service.0)
        .fetch_all(&self.pool)
        .await?;
        for row in &rows {
            let f = Fields::of("market_subscriptions", row);
            let (id, period): (B256, u64) = (f.b256("id")?, f.u64("period")?);
            let max: Option<i32> = f.get("max_requests")?;
            let used: Option<i32> = sqlx::query_scalar(
                "INSERT INTO subscription_usage AS u (subscription_id, period, used)
                 SELECT $1, $2, 1
                 WHERE ($3::int IS NULL OR $3 >= 1)
                   AND ($4::uuid IS NULL OR EXISTS (
                       SELECT 1 FROM balance_credentials c
                       WHERE c.id = $4 AND c.participant_id = $5 AND c.revoked_at IS NULL
                         AND (c.expires_at IS NULL OR c.expires_at > now())))
                 ON CONFLICT (subscription_id, period) DO UPDATE SET used = u.used + 1
                 WHERE $3::int IS NULL OR u.used < $3
                 RETURNING used",
            )
            .bind(id.as_slice())
            .bind(int(period))
            .bind(max)
            .bind(credential.map(|c| c.0))
            .bind(participant.0)
            .fetch_optional(&self.pool)
            .await?;
            if let Some(used) = used {
                return Ok(Some(CoveredUse {
                    subscription: id,
                    period,
                    used: u32::try_from(used).unwrap_or(0),
                    max_requests: max.and_then(|m| u32::try_from(m).ok()),
                }));
            }
        }
        Ok(None)
    }
}
