//! Prepaid balances (`migrations/0013_balances.sql`): what an agent may spend, the debits the market accepts against
//! it, the credentials that spend it, and its history.
//!
//! A balance is `confirmed - spent`: `confirmed` is what the chain says (deposits at confirmation depth, less
//! withdrawals and subscription charges as soon as they are indexed: money arriving counts late, money leaving early,
//! from `vault_events`), `spent` what the market's accepted debits and the subscription charges in flight hold (kept
//! in `balance_accounts` by triggers: a debit the vault refused is given back, a charge's hold ends with its
//! outcome). Debits are decided in batches by one PL/pgSQL call (`migrations/0015_balance_batch.sql`, see
//! [`super::debits`]): it locks each agent's `balance_accounts` row (so one agent's debits are decided one batch at a
//! time, and two processes cannot both spend the same money), finds repeats by idempotency key, checks the
//! credential, the balance and the daily cap, and queues each accepted debit for `BalanceVault.debitMany`. No chain
//! call: the vault applies it later, at most once per id.

use alloy::primitives::{Address, B256, U256, keccak256};
use sqlx::postgres::PgRow;
use uuid::Uuid;

use super::{ParticipantId, ServiceId};
use crate::{ActionId, Ledger, Result, SettlementStatus, VaultDebit, decode::Fields, encode::int, index::MAIN_INDEXER};

/// An agent's balance of one token in one vault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BalanceAccount {
    /// The chain.
    pub chain_id: u64,
    /// The vault.
    pub vault: Address,
    /// The token.
    pub token: Address,
    /// The agent.
    pub account: Address,
}

/// Where a balance stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Balance {
    /// Deposits confirmed on chain, atomic units, ever.
    pub deposited: U256,
    /// Withdrawals confirmed on chain, ever.
    pub withdrawn: U256,
    /// Subscription charges confirmed on chain, ever.
    pub charged: U256,
    /// Every debit the market accepted and the vault has not refused, ever, plus the subscription charges in flight
    /// (held back until the chain answers them).
    pub spent: U256,
    /// The part of `spent` the vault has not applied yet (queued or in a batch not yet mined).
    pub pending_debits: U256,
    /// Subscription renewals due whose charges are not queued yet, held back because anyone may send them (each
    /// only when the balance covers it: one it cannot pay moves no money).
    pub renewals_due: U256,
    /// What a purchase may spend now: deposited - withdrawn - charged - spent - renewals_due (zero when that is
    /// negative, which a withdrawal paid before the debits it raced were refused makes for a while).
    pub available: U256,
    /// A withdrawal request the chain confirmed and the agent has not withdrawn or cancelled: (its balance when
    /// requested, the unix second it unlocks). No debit is accepted while one stands.
    pub withdrawal: Option<(U256, u64)>,
}

/// A balance credential's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CredentialId(pub Uuid);

/// A scoped, capped token that spends its owner's balance (`X-BALANCE-AUTH`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceCredential {
    /// Its id.
    pub id: CredentialId,
    /// Whose balance it spends.
    pub participant_id: ParticipantId,
    /// The owner's label.
    pub name: String,
    /// Largest debit, atomic units.
    pub max_per_request: Option<U256>,
    /// Largest total per UTC day, atomic units.
    pub max_per_day: Option<U256>,
    /// The only services it buys; `None` for any.
    pub services: Option<Vec<ServiceId>>,
    /// Unix seconds after which it is refused.
    pub expires_at: Option<i64>,
    /// Unix seconds it was revoked.
    pub revoked_at: Option<i64>,
    /// Unix seconds it was made.
    pub created_at: i64,
}

/// A credential to store; the token itself is the caller's, shown once, only its hash kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCredential {
    /// Its id.
    pub id: CredentialId,
    /// Whose balance it spends.
    pub participant_id: ParticipantId,
    /// SHA-256 of the token.
    pub token_hash: [u8; 32],
    /// The owner's label.
    pub name: String,
    /// Largest debit.
    pub max_per_request: Option<U256>,
    /// Largest total per UTC day.
    pub max_per_day: Option<U256>,
    /// The only services it buys.
    pub services: Option<Vec<ServiceId>>,
    /// Unix seconds after which it is refused.
    pub expires_at: Option<i64>,
}

/// A debit the market is asked to accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebitRequest {
    /// The balance it spends.
    pub account: BalanceAccount,
    /// Credited `amount - fee`.
    pub provider: Address,
    /// Atomic units.
    pub amount: U256,
    /// The fee recipient's part of `amount`.
    pub fee: U256,
    /// The credential spending it.
    pub credential: CredentialId,
    /// Its daily cap, checked and counted in the same transaction.
    pub max_per_day: Option<U256>,
    /// The client's key, or one derived from the request; `also_matches` is a second key a repeat may carry (the
    /// previous window of a derived key).
    pub idempotency_key: String,
    /// A second key that finds a repeat.
    pub also_matches: Option<String>,
    /// The service it buys; `None` for a product (its purchase names the debit).
    pub service_id: Option<ServiceId>,
}

/// A debit the market accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceDebit {
    /// Its public id.
    pub id: Uuid,
    /// The debit as the vault will apply it.
    pub debit: VaultDebit,
    /// The action that posts it.
    pub action_id: ActionId,
    /// Where the action stands (`settled`: applied on chain; `failed`: refused, the amount given back).
    pub status: SettlementStatus,
    /// The applying transaction, once mined.
    pub tx_hash: Option<B256>,
    /// Why the vault refused it.
    pub failure_reason: Option<String>,
    /// The key it was accepted under.
    pub idempotency_key: String,
    /// What it bought.
    pub service_id: Option<ServiceId>,
    /// Unix seconds.
    pub created_at: i64,
}

/// What [`Ledger::debit_balance`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DebitDecision {
    /// Accepted now and queued for the vault.
    Accepted(BalanceDebit),
    /// A repeat of a debit accepted earlier under the same key: nothing new was spent.
    Repeat(BalanceDebit),
    /// The balance is short: `available` of `amount`.
    Insufficient {
        /// What could be spent.
        available: U256,
    },
    /// A withdrawal request stands; it unlocks at this unix second.
    WithdrawalPending {
        /// Unix seconds.
        unlock_at: u64,
    },
    /// The credential's daily cap would be passed: it spent `spent` today of `cap`.
    OverDailyCap {
        /// Spent today.
        spent: U256,
        /// The cap.
        cap: U256,
    },
    /// The credential was revoked (or is no longer stored): decided under its row's lock, so no debit under it
    /// commits after its revoke did, whatever copy of it the caller holds.
    CredentialRevoked,
    /// The credential expired at this unix second.
    CredentialExpired {
        /// Unix seconds.
        at: i64,
    },
    /// Asked to check the listing ([`Ledger::debit_balances`]' `at_listed_price`): the service is no longer sold at
    /// the debit's amount (repriced, made inactive, deleted, or no longer a fixed-price data_api), so the caller's
    /// copy of it is stale. Nothing was spent.
    ServiceChanged,
}

/// A balance's history entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryEntry {
    /// A confirmed vault event (deposit, charge, withdrawal request, cancellation, withdrawal).
    Chain {
        /// `deposited`, `charged`, `withdrawal_requested`, `withdrawal_cancelled`, `withdrawn`.
        kind: String,
        /// Atomic units.
        amount: U256,
        /// Its transaction.
        tx_hash: B256,
        /// Its block.
        block_number: u64,
        /// The deposit's nonce or the charge's subscription id.
        reference: Option<B256>,
    },
    /// A debit the market accepted.
    Debit(BalanceDebit),
}

/// The on-chain id of a debit: the vault, the payer and the market's id of it, so no two debits share one.
pub(super) fn debit_id(account: &BalanceAccount, id: Uuid) -> B256 {
    let mut preimage = Vec::with_capacity(8 + 20 + 20 + 16);
    preimage.extend_from_slice(&account.chain_id.to_be_bytes());
    preimage.extend_from_slice(account.vault.as_slice());
    preimage.extend_from_slice(account.account.as_slice());
    preimage.extend_from_slice(id.as_bytes());
    keccak256(preimage)
}

/// Binds a [`BalanceAccount`] as `$1` to `$4` (chain, vault, token, account) of any query.
macro_rules! bind_account {
    ($query:expr, $account:expr) => {
        $query
            .bind(int($account.chain_id))
            .bind($account.vault.as_slice())
            .bind($account.token.as_slice())
            .bind($account.account.as_slice())
    };
}

/// [`Ledger::balance`]'s query, `$1` to `$4` the account. What it reads is bounded by the account's deposits,
/// withdrawals and charges (`vault_events_balance`) and its debits in flight (`escrow_actions_open_debits`, by the
/// payer word of their terms), never by the debits it has made.
pub(super) fn balance_sql() -> String {
    format!(
        "WITH events AS (
             SELECT kind, amount, unlock_at, block_number, log_index FROM vault_events
             WHERE chain_id = $1 AND vault = $2 AND token = $3 AND account = $4
               AND kind IN ('deposited', 'withdrawn', 'charged', 'withdrawal_requested', 'withdrawal_cancelled')
               AND (kind <> 'deposited' OR block_number <= {})),
         exit AS (
             SELECT kind, amount, unlock_at FROM events
             WHERE kind IN ('withdrawal_requested', 'withdrawal_cancelled', 'withdrawn')
             ORDER BY block_number DESC, log_index DESC LIMIT 1),
         totals AS (
             SELECT
                 (SELECT coalesce(sum(amount), 0) FROM events WHERE kind = 'deposited') AS deposited,
                 (SELECT coalesce(sum(amount), 0) FROM events WHERE kind = 'withdrawn') AS withdrawn,
                 (SELECT coalesce(sum(amount), 0) FROM events WHERE kind = 'charged') AS charged,
                 (SELECT coalesce(max(spent), 0) FROM balance_accounts
                  WHERE chain_id = $1 AND vault = $2 AND token = $3 AND account = $4) AS spent)
         SELECT t.deposited::text AS deposited, t.withdrawn::text AS withdrawn, t.charged::text AS charged,
             t.spent::text AS spent,
             balance_renewals_due($1, $2, $3, $4, greatest(t.deposited - t.withdrawn - t.charged - t.spent, 0))::text
                 AS renewals_due,
             (SELECT coalesce(sum(d.amount), 0)::text FROM ({}) a, LATERAL (
                  SELECT d.amount FROM balance_debits d WHERE d.action_id = a.id LIMIT 1) d) AS pending_debits,
             (SELECT amount::text FROM exit WHERE kind = 'withdrawal_requested') AS requested,
             (SELECT unlock_at FROM exit WHERE kind = 'withdrawal_requested') AS unlock_at
         FROM totals t",
        confirmed_height(),
        open_debits("$4"),
    )
}

/// How [`history_sql`] is planned, in its transaction: the agent's debits walked in `balance_debits_payer`'s order up
/// to the page's end. Without statistics (autovacuum off) the planner guesses an agent has few debits and would
/// rather fetch them all through a bitmap, or the whole table, and sort them.
pub(super) const HISTORY_PLANNER: [&str; 2] = ["SET LOCAL enable_bitmapscan = off", "SET LOCAL enable_seqscan = off"];

/// [`Ledger::balance_history`]'s query: `$1` to `$4` the account, `$5` and `$6` the page's limit and offset.
///
/// One statement: the page of the union, each debit read whole by a join (never a query per entry). Ordered by the
/// exact time (a debit's microseconds, not whole seconds: debits of one second would otherwise come back in any
/// order), then by position: the event's in its block, the debit's action id (one batch's share a time). Each side
/// is cut to the page's end in that same order first, the debits through `balance_debits_payer` alone (the rest of
/// the account compared in a form no index serves, see 0031): a page reads as many debits as it reaches, not every
/// debit the agent made, and joins only its own.
pub(super) fn history_sql() -> String {
    format!(
        "SELECT h.source, h.e_kind, h.e_amount, h.e_tx, h.e_block, h.e_reference, {DEBIT_COLUMNS}
         FROM (
             -- The page itself, then each of its debits read whole.
             (SELECT 'chain' AS source, e.kind AS e_kind, e.amount::text AS e_amount, e.tx_hash AS e_tx,
                     e.block_number AS e_block, e.reference AS e_reference, NULL::uuid AS debit,
                     k.timestamp::numeric AS at, e.log_index AS seq
              FROM vault_events e LEFT JOIN chain_blocks k ON k.chain_id = e.chain_id AND k.number = e.block_number
              WHERE e.chain_id = $1 AND e.vault = $2 AND e.token = $3 AND e.account = $4
                AND e.kind IN ('deposited', 'charged', 'withdrawal_requested', 'withdrawal_cancelled', 'withdrawn')
                AND e.block_number <= {}
              ORDER BY k.timestamp DESC NULLS LAST, e.block_number DESC, e.log_index DESC LIMIT $5 + $6)
             UNION ALL
             (SELECT 'debit', NULL, NULL, NULL, NULL, NULL, x.id, extract(epoch FROM x.created_at), x.action_id
              FROM balance_debits x
              WHERE x.payer = $4 AND (x.chain_id, x.vault, x.token) IS NOT DISTINCT FROM ($1, $2, $3)
              ORDER BY x.created_at DESC, x.action_id DESC LIMIT $5 + $6)
             ORDER BY at DESC NULLS LAST, e_block DESC NULLS LAST, seq DESC LIMIT $5 OFFSET $6) h
         LEFT JOIN balance_debits d ON d.id = h.debit
         LEFT JOIN escrow_actions a ON a.id = d.action_id
         LEFT JOIN settlement_batches b ON b.id = a.batch_id
         ORDER BY h.at DESC NULLS LAST, h.e_block DESC NULLS LAST, h.seq DESC",
        confirmed_height()
    )
}

/// The ids of the vault debits in flight (queued, held, or in a batch not yet resolved) of the account `$1` to `$3`
/// and payer `payer` (an SQL expression), as a subquery: through `escrow_actions_open_debits` (the payer is the second
/// word of the debit's terms, an address its last 20 bytes), so as many rows as the payer has debits in flight.
pub(crate) fn open_debits(payer: &'static str) -> String {
    format!(
        "SELECT a.id FROM escrow_actions a
         WHERE a.chain_id = $1 AND a.escrow = $2 AND a.asset = $3 AND substring(a.terms FROM 45 FOR 20) = {payer}
           AND a.kind = 'vault_debit' AND a.status IN ('pending', 'submitted')"
    )
}

/// The confirmed height of the main indexer on the account's chain (`$1`), as an SQL expression.
fn confirmed_height() -> String {
    format!(
        "(SELECT coalesce(max(confirmed_block), -1) FROM indexer_checkpoints
          WHERE indexer = '{MAIN_INDEXER}' AND chain_id = $1)"
    )
}

const DEBIT_COLUMNS: &str = "d.id, d.debit_id, d.payer, d.provider, d.amount::text AS amount, d.fee::text AS fee,
    d.action_id, a.status::text AS status, b.tx_hash, a.failure_reason, d.idempotency_key, d.service_id,
    extract(epoch FROM d.created_at)::bigint AS created";

fn select_debits(filter: &str) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(format!(
        "SELECT {DEBIT_COLUMNS} FROM balance_debits d JOIN escrow_actions a ON a.id = d.action_id
         LEFT JOIN settlement_batches b ON b.id = a.batch_id {filter}"
    ))
}

impl Ledger {
    /// Where `account`'s balance stands.
    pub async fn balance(&self, account: &BalanceAccount) -> Result<Balance> {
        let sql = balance_sql();
        let row = bind_account!(sqlx::query(sqlx::AssertSqlSafe(sql)), account).fetch_one(&self.pool).await?;
        let f = Fields::of("vault_events", &row);
        let (deposited, withdrawn, charged, spent): (U256, U256, U256, U256) =
            (f.number("deposited")?, f.number("withdrawn")?, f.number("charged")?, f.number("spent")?);
        let renewals_due: U256 = f.number("renewals_due")?;
        let requested: Option<String> = f.get("requested")?;
        let withdrawal = match requested {
            Some(requested) => Some((
                crate::decode::number("vault_events", "amount", &requested)?,
                f.opt_u64("unlock_at")?.unwrap_or_default(),
            )),
            None => None,
        };
        Ok(Balance {
            deposited,
            withdrawn,
            charged,
            spent,
            pending_debits: f.number("pending_debits")?,
            renewals_due,
            available: deposited
                .saturating_sub(withdrawn)
                .saturating_sub(charged)
                .saturating_sub(spent)
                .saturating_sub(renewals_due),
            withdrawal,
        })
    }

    /// `account`'s history, newest first: its confirmed vault events and the debits the market accepted.
    pub async fn balance_history(
        &self,
        account: &BalanceAccount,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<HistoryEntry>> {
        let mut tx = self.pool.begin().await?;
        for setting in HISTORY_PLANNER {
            sqlx::query(setting).execute(&mut *tx).await?;
        }
        let rows = bind_account!(sqlx::query(sqlx::AssertSqlSafe(history_sql())), account)
            .bind(i64::from(limit))
            .bind(i64::from(offset))
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        let mut entries = Vec::with_capacity(rows.len());
        for row in &rows {
            let f = Fields::of("vault_events", row);
            let source: String = f.get("source")?;
            if source == "debit" {
                entries.push(HistoryEntry::Debit(debit_from_row(row)?));
            } else {
                entries.push(HistoryEntry::Chain {
                    kind: f.get("e_kind")?,
                    amount: f.number("e_amount")?,
                    tx_hash: f.b256("e_tx")?,
                    block_number: f.u64("e_block")?,
                    reference: f.opt_b256("e_reference")?,
                });
            }
        }
        Ok(entries)
    }

    /// The debit with public id `id`.
    pub async fn balance_debit(&self, id: Uuid) -> Result<Option<BalanceDebit>> {
        let row = sqlx::query(select_debits("WHERE d.id = $1")).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(debit_from_row).transpose()
    }

    /// Stores a credential.
    pub async fn insert_credential(&self, new: &NewCredential) -> Result<BalanceCredential> {
        let services: Option<Vec<Uuid>> = new.services.as_ref().map(|s| s.iter().map(|id| id.0).collect());
        let row = sqlx::query(
            "INSERT INTO balance_credentials (id, participant_id, token_hash, name, max_per_request, max_per_day,
                                              services, expires_at)
             VALUES ($1, $2, $3, $4, $5::numeric, $6::numeric, $7, to_timestamp($8))
             RETURNING *, extract(epoch FROM expires_at)::bigint AS expires, NULL::bigint AS revoked,
                       extract(epoch FROM created_at)::bigint AS created, max_per_request::text AS per_request,
                       max_per_day::text AS per_day",
        )
        .bind(new.id.0)
        .bind(new.participant_id.0)
        .bind(new.token_hash.as_slice())
        .bind(&new.name)
        .bind(new.max_per_request.map(|v| v.to_string()))
        .bind(new.max_per_day.map(|v| v.to_string()))
        .bind(&services)
        .bind(new.expires_at.map(|t| t as f64))
        .fetch_one(&self.pool)
        .await?;
        credential_from_row(&row)
    }

    /// The credential whose token hashes to `hash`, revoked or expired ones included (the caller says why it
    /// refuses them).
    pub async fn credential_by_hash(&self, hash: &[u8; 32]) -> Result<Option<BalanceCredential>> {
        let row =
            sqlx::query(credential_select("token_hash = $1")).bind(hash.as_slice()).fetch_optional(&self.pool).await?;
        row.as_ref().map(credential_from_row).transpose()
    }

    /// `participant`'s credentials, newest first.
    pub async fn credentials(&self, participant: ParticipantId) -> Result<Vec<BalanceCredential>> {
        let rows = sqlx::query(credential_select("participant_id = $1 ORDER BY created_at DESC"))
            .bind(participant.0)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(credential_from_row).collect()
    }

    /// Revokes `participant`'s credential `id` at once; `false` if it has none such (or it was revoked already).
    pub async fn revoke_credential(&self, participant: ParticipantId, id: CredentialId) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE balance_credentials SET revoked_at = now()
             WHERE id = $1 AND participant_id = $2 AND revoked_at IS NULL",
        )
        .bind(id.0)
        .bind(participant.0)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

fn credential_select(filter: &str) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(format!(
        "SELECT *, extract(epoch FROM expires_at)::bigint AS expires, extract(epoch FROM revoked_at)::bigint AS revoked,
                extract(epoch FROM created_at)::bigint AS created, max_per_request::text AS per_request,
                max_per_day::text AS per_day
         FROM balance_credentials WHERE {filter}"
    ))
}

pub(super) fn debit_from_row(row: &PgRow) -> Result<BalanceDebit> {
    let f = Fields::of("balance_debits", row);
    Ok(BalanceDebit {
        id: f.get("id")?,
        debit: VaultDebit {
            id: f.b256("debit_id")?,
            payer: f.address("payer")?,
            provider: f.address("provider")?,
            amount: f.number("amount")?,
            fee: f.number("fee")?,
        },
        action_id: ActionId(f.get("action_id")?),
        status: f.parsed("status", "an action status", |s: &String| SettlementStatus::from_sql(s))?,
        tx_hash: f.opt_b256("tx_hash")?,
        failure_reason: f.get("failure_reason")?,
        idempotency_key: f.get("idempotency_key")?,
        service_id: f.get::<Option<Uuid>>("service_id")?.map(ServiceId),
        created_at: f.get("created")?,
    })
}

fn credential_from_row(row: &PgRow) -> Result<BalanceCredential> {
    let f = Fields::of("balance_credentials", row);
    let services: Option<Vec<Uuid>> = f.get("services")?;
    let per_request: Option<String> = f.get("per_request")?;
    let per_day: Option<String> = f.get("per_day")?;
    let number = |column, text: Option<String>| {
        text.map(|t| crate::decode::number::<U256>("balance_credentials", column, &t)).transpose()
    };
    Ok(BalanceCredential {
        id: CredentialId(f.get("id")?),
        participant_id: ParticipantId(f.get("participant_id")?),
        name: f.get("name")?,
        max_per_request: number("max_per_request", per_request)?,
        max_per_day: number("max_per_day", per_day)?,
        services: services.map(|s| s.into_iter().map(ServiceId).collect()),
        expires_at: f.get("expires")?,
        revoked_at: f.get("revoked")?,
        created_at: f.get("created")?,
    })
}
