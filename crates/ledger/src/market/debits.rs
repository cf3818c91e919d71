//! Balance debits decided in batches: [`Ledger::debit_balances`] decides many debits in one call of
//! `balance_debit_batch` (`migrations/0015_balance_batch.sql`), and [`DebitQueue`] gathers the debits that handlers
//! ask for into such batches.
//!
//! Why batches: a debit is durable before it is answered, and one agent's debits are decided one at a time (its
//! `balance_accounts` row is locked until the decision commits). Decided one per transaction, an agent's purchases
//! queue behind each other's commit (a WAL flush, about a millisecond here) and round trips. A batch is one
//! statement in autocommit: one round trip and one flush for every debit queued meanwhile, for any number of agents,
//! with the rules applied request by request inside it exactly as before. Correctness does not depend on the queue:
//! the row lock serializes batches of one agent from any number of writers and processes.

use std::{
    collections::hash_map::DefaultHasher,
    hash::{Hash, Hasher},
    sync::Arc,
};

use alloy::primitives::Address;
use sqlx::PgConnection;
use tokio::sync::{mpsc, oneshot};
use tracing::{trace, warn};
use uuid::Uuid;

use super::balances::{DebitDecision, DebitRequest, debit_from_row, debit_id};
use crate::{Error, Ledger, Result, RouteKind, VaultDebit, decode::Fields, encode::int, index::MAIN_INDEXER};

/// How many times a batch PostgreSQL aborted as a deadlock victim (or a serialization failure) is tried again: the
/// function locks in key order, but a trigger elsewhere (a vault batch's refusals) may lock agents' rows in another.
pub(super) const RETRIES: usize = 3;
/// Orders a writer's channel holds before handlers wait to enqueue.
const QUEUE_DEPTH: usize = 4_096;

impl Ledger {
    /// Decides `request` alone (a batch of one, see [`Ledger::debit_balances`]), without checking the listing.
    pub async fn debit_balance(&self, request: &DebitRequest) -> Result<DebitDecision> {
        self.debit_balance_alone(request, false).await
    }

    /// Decides `requests` in one statement and one commit, in order: each as if decided alone after the ones before
    /// it (a repeat of an earlier request's key in the same batch answers that request's debit). With
    /// `at_listed_price`, a request whose service is no longer sold at its amount is [`DebitDecision::ServiceChanged`]
    /// (for a caller deciding from a cached copy of the listing). One decision per request, in the same order.
    pub async fn debit_balances(&self, requests: &[DebitRequest], at_listed_price: bool) -> Result<Vec<DebitDecision>> {
        if requests.is_empty() {
            return Ok(Vec::new());
        }
        let mut attempt = 0;
        loop {
            match self.debit_batch(requests, at_listed_price).await {
                Err(Error::Query(sqlx::Error::Database(e)))
                    if attempt < RETRIES && matches!(e.code().as_deref(), Some("40P01" | "40001")) =>
                {
                    attempt += 1;
                    warn!(error = %e, attempt, "a batch of balance debits was aborted: deciding it again");
                }
                decided => return decided,
            }
        }
    }

    async fn debit_batch(&self, requests: &[DebitRequest], at_listed_price: bool) -> Result<Vec<DebitDecision>> {
        let mut conn = self.pool.acquire().await?;
        let decisions = decide_debits(&mut conn, requests, at_listed_price).await?;
        self.announce_debits(requests, &decisions);
        Ok(decisions)
    }

    /// Tells the batcher that the accepted ones among `decisions` (committed) may be posted.
    pub(super) fn announce_debits(&self, requests: &[DebitRequest], decisions: &[DebitDecision]) {
        let mut queued: Vec<(u64, Address)> = Vec::new();
        for (request, decision) in requests.iter().zip(decisions) {
            let route = (request.account.chain_id, request.account.token);
            if matches!(decision, DebitDecision::Accepted(_)) && !queued.contains(&route) {
                queued.push(route);
            }
        }
        for (chain_id, token) in queued {
            let _ = self.queued.send((chain_id, token, RouteKind::VaultDebit));
        }
    }
}

/// Decides `requests` by one call of `balance_debit_batch` on `conn` (autocommit, or inside the caller's
/// transaction, whose commit then makes the accepted debits durable together with whatever else it wrote).
pub(super) async fn decide_debits(
    conn: &mut PgConnection,
    requests: &[DebitRequest],
    at_listed_price: bool,
) -> Result<Vec<DebitDecision>> {
    let n = requests.len();
    let mut columns = Columns::with_capacity(n);
    for request in requests {
        columns.push(request);
    }
    let rows = sqlx::query(
        "SELECT * FROM balance_debit_batch($1, $2, $3, $4, $5, $6::text[]::numeric[], $7::text[]::numeric[], $8,
                                           $9::text[]::numeric[], $10, $11, $12, $13, $14, $15, $16, $17)",
    )
    .bind(columns.chain_id)
    .bind(columns.vault)
    .bind(columns.token)
    .bind(columns.payer)
    .bind(columns.provider)
    .bind(columns.amount)
    .bind(columns.fee)
    .bind(columns.credential)
    .bind(columns.cap)
    .bind(columns.key)
    .bind(columns.also)
    .bind(columns.service)
    .bind(columns.id)
    .bind(columns.debit_id)
    .bind(columns.terms)
    .bind(at_listed_price)
    .bind(MAIN_INDEXER)
    .fetch_all(&mut *conn)
    .await?;
    if rows.len() != n {
        return Err(Error::Corrupt {
            table: "balance_debit_batch",
            column: "n",
            value: format!("{} decisions", rows.len()),
            expected: "one decision per request",
        });
    }
    rows.iter().map(decision_from_row).collect()
}

/// The batch as the function's parallel arrays.
struct Columns {
    chain_id: Vec<i64>,
    vault: Vec<Vec<u8>>,
    token: Vec<Vec<u8>>,
    payer: Vec<Vec<u8>>,
    provider: Vec<Vec<u8>>,
    amount: Vec<String>,
    fee: Vec<String>,
    credential: Vec<Uuid>,
    cap: Vec<Option<String>>,
    key: Vec<String>,
    also: Vec<Option<String>>,
    service: Vec<Option<Uuid>>,
    id: Vec<Uuid>,
    debit_id: Vec<Vec<u8>>,
    terms: Vec<Vec<u8>>,
}

impl Columns {
    fn with_capacity(n: usize) -> Self {
        Self {
            chain_id: Vec::with_capacity(n),
            vault: Vec::with_capacity(n),
            token: Vec::with_capacity(n),
            payer: Vec::with_capacity(n),
            provider: Vec::with_capacity(n),
            amount: Vec::with_capacity(n),
            fee: Vec::with_capacity(n),
            credential: Vec::with_capacity(n),
            cap: Vec::with_capacity(n),
            key: Vec::with_capacity(n),
            also: Vec::with_capacity(n),
            service: Vec::with_capacity(n),
            id: Vec::with_capacity(n),
            debit_id: Vec::with_capacity(n),
            terms: Vec::with_capacity(n),
        }
    }

    /// Adds `request`, with the ids its debit gets if it is accepted (made for every request: cheaper than a second
    /// round trip for the accepted ones).
    fn push(&mut self, request: &DebitRequest) {
        let account = &request.account;
        let id = Uuid::new_v4();
        let debit = VaultDebit {
            id: debit_id(account, id),
            payer: account.account,
            provider: request.provider,
            amount: request.amount,
            fee: request.fee,
        };
        self.chain_id.push(int(account.chain_id));
        self.vault.push(account.vault.to_vec());
        self.token.push(account.token.to_vec());
        self.payer.push(account.account.to_vec());
        self.provider.push(request.provider.to_vec());
        self.amount.push(request.amount.to_string());
        self.fee.push(request.fee.to_string());
        self.credential.push(request.credential.0);
        self.cap.push(request.max_per_day.map(|cap| cap.to_string()));
        self.key.push(request.idempotency_key.clone());
        self.also.push(request.also_matches.clone());
        self.service.push(request.service_id.map(|id| id.0));
        self.id.push(id);
        self.debit_id.push(debit.id.to_vec());
        self.terms.push(debit.abi_encode());
    }
}

fn decision_from_row(row: &sqlx::postgres::PgRow) -> Result<DebitDecision> {
    let f = Fields::of("balance_debit_batch", row);
    let decision: String = f.get("decision")?;
    Ok(match decision.as_str() {
        "accepted" => DebitDecision::Accepted(debit_from_row(row)?),
        "repeat" => DebitDecision::Repeat(debit_from_row(row)?),
        "insufficient" => DebitDecision::Insufficient { available: f.number("available")? },
        "withdrawal_pending" => DebitDecision::WithdrawalPending { unlock_at: f.u64("unlock_at")? },
        "over_daily_cap" => DebitDecision::OverDailyCap { spent: f.number("day_spent")?, cap: f.number("cap")? },
        "revoked" => DebitDecision::CredentialRevoked,
        "expired" => DebitDecision::CredentialExpired { at: f.get("expired_at")? },
        "service_changed" => DebitDecision::ServiceChanged,
        _ => {
            return Err(Error::Corrupt {
                table: "balance_debit_batch",
                column: "decision",
                value: decision,
                expected: "a debit decision",
            });
        }
    })
}

/// Locks the balance rows of the agents whose debits are `actions` (vault debit action ids; others are ignored), then
/// those debits' credential days, each in key order as a debit batch locks them, before anything fails those
/// debits: the trigger that gives a failed debit's amount back then finds its rows already held, so a sweep or a
/// vault refusal never waits on a batch in a cycle (each would otherwise lock agents in the order of its actions).
pub(crate) async fn lock_debit_payers(conn: &mut PgConnection, actions: &[i64]) -> Result<()> {
    if actions.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "SELECT 1 FROM balance_accounts b
         WHERE (b.chain_id, b.vault, b.token, b.account) IN (
             SELECT d.chain_id, d.vault, d.token, d.payer FROM balance_debits d WHERE d.action_id = ANY($1))
         ORDER BY b.chain_id, b.vault, b.token, b.account FOR UPDATE",
    )
    .bind(actions)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "SELECT 1 FROM balance_credential_days c
         WHERE (c.credential_id, c.day) IN (
             SELECT d.credential_id, (d.created_at AT TIME ZONE 'UTC')::date FROM balance_debits d
             WHERE d.action_id = ANY($1))
         ORDER BY c.credential_id, c.day FOR UPDATE",
    )
    .bind(actions)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Gathers the debits handlers ask for into batches ([`Ledger::debit_balances`]): each of its writers takes
/// everything queued for it (up to a batch's limit) while its last batch was being decided, decides it in one call,
/// and answers each handler. An agent's debits always go to the same writer (by a hash of its account), so while one
/// of its batches holds the agent's row the next gathers behind it instead of queueing on the lock; writers decide
/// different agents' batches at once, and PostgreSQL flushes their commits together.
#[derive(Debug, Clone)]
pub struct DebitQueue {
    writers: Arc<[mpsc::Sender<Order>]>,
}

#[derive(Debug)]
struct Order {
    request: DebitRequest,
    answer: oneshot::Sender<Result<DebitDecision>>,
}

impl DebitQueue {
    /// Starts `writers` writers (at least one) on the current Tokio runtime, each deciding up to `max_batch` debits
    /// at once (each holds one of the ledger's connections while it decides), checking the listing if
    /// `at_listed_price` (see [`Ledger::debit_balances`]). They stop when the last clone of the queue is dropped.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime.
    pub fn spawn(ledger: &Ledger, writers: usize, max_batch: usize, at_listed_price: bool) -> Self {
        let writers = (0..writers.max(1))
            .map(|_| {
                let (queue, orders) = mpsc::channel(QUEUE_DEPTH);
                tokio::spawn(write(ledger.clone(), orders, max_batch.max(1), at_listed_price));
                queue
            })
            .collect();
        Self { writers }
    }

    /// Decides `request` in the next batch of its agent's writer.
    pub async fn debit(&self, request: DebitRequest) -> Result<DebitDecision> {
        let mut hasher = DefaultHasher::new();
        request.account.hash(&mut hasher);
        let writer = &self.writers[(hasher.finish() % self.writers.len() as u64) as usize];
        let (answer, answered) = oneshot::channel();
        writer.send(Order { request, answer }).await.map_err(|_| Error::DebitWriterStopped)?;
        answered.await.map_err(|_| Error::DebitWriterStopped)?
    }
}

/// One writer: batches until its queue closes.
async fn write(ledger: Ledger, mut orders: mpsc::Receiver<Order>, max_batch: usize, at_listed_price: bool) {
    let mut batch = Vec::with_capacity(max_batch);
    while orders.recv_many(&mut batch, max_batch).await > 0 {
        let (requests, answers): (Vec<DebitRequest>, Vec<_>) = batch.drain(..).map(|o| (o.request, o.answer)).unzip();
        let started = std::time::Instant::now();
        let decided = ledger.debit_balances(&requests, at_listed_price).await;
        trace!(debits = requests.len(), micros = started.elapsed().as_micros() as u64, "decided a batch of debits");
        match decided {
            Ok(decisions) => {
                for (answer, decision) in answers.into_iter().zip(decisions) {
                    let _ = answer.send(Ok(decision));
                }
            }
            Err(e) if requests.len() == 1 => {
                if let Some(answer) = answers.into_iter().next() {
                    let _ = answer.send(Err(e));
                }
            }
            Err(e) => {
                // Rolled back as a whole: each is decided again alone, so one request's failure stays its own (a
                // debit that did commit before an answer was lost is then found as a repeat of its key).
                warn!(error = %e, debits = requests.len(), "a batch of balance debits failed: deciding each alone");
                for (request, answer) in requests.iter().zip(answers) {
                    let _ = answer.send(ledger.debit_balance_alone(request, at_listed_price).await);
                }
            }
        }
    }
}

impl Ledger {
    async fn debit_balance_alone(&self, request: &DebitRequest, at_listed_price: bool) -> Result<DebitDecision> {
        let mut decisions = self.debit_balances(std::slice::from_ref(request), at_listed_price).await?;
        decisions.pop().ok_or(Error::Query(sqlx::Error::RowNotFound))
    }
}
