//! Escrow actions: the lifecycle steps and claims the operator's key sends, queued like settlements and carried by
//! the same batches (routes `escrow_step` and `escrow_claim`, one `settlement_batches` row per transaction).
//!
//! ```text
//! pending ──claim_action_batch──▶ submitted ──resolve_action_batch──▶ settled (applied) | failed
//!    ▲                                │
//!    └──────────requeue_batch─────────┘
//! ```
//!
//! A job's step of one kind is queued once while it is pending, submitted or applied (a failed one may be queued
//! again), so a retried request or a second process never sends the same release twice. A claim is queued once per
//! request, with at most one in flight per account.

use alloy::{
    primitives::{Address, B256, Bytes, U256},
    sol_types::SolValue,
};
use clearing_x402::Reason;
use sqlx::{Postgres, Transaction, postgres::PgRow};

use crate::{
    BatchClaim, BatchId, Error, ItemResolution, JobId, Ledger, Mined, Result, RouteKind, SettlementStatus,
    batch_items::together,
    decode::Fields,
    encode::int,
    settlements::{insert_batch, lock_open_batch, mark_mined, notify_actions},
};

/// What an escrow job step does (`Escrow.StepKind`, and the payer-signed forms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepKind {
    /// `markCompleted` with the operator's authority.
    Complete,
    /// `release` once the review window has passed (anyone's right).
    Release,
    /// `releaseWithSig`: the payer's EIP-712 release.
    ReleaseWithSig,
    /// `disputeWithSig`: the payer's EIP-712 dispute.
    DisputeWithSig,
    /// The operator's refund of a job still funded (the provider reported failure).
    Refund,
    /// `resolveWithSig`: the arbiter's EIP-712 split of a disputed job, the provider side's share in bps.
    ResolveWithSig {
        /// The provider side's share of the amount, bps (at most 10,000).
        provider_bps: u16,
    },
}

/// One escrow action to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A lifecycle step of one job.
    Step {
        /// What it does.
        kind: StepKind,
        /// The job.
        job_id: JobId,
        /// The job's ABI-encoded `JobTerms`, as `stepMany` passes them.
        terms: Bytes,
        /// The signer's signature and its deadline (unix seconds), for the signed kinds (the payer's, or the
        /// arbiter's for a resolution).
        signed: Option<(Bytes, U256)>,
    },
    /// Pays `account` its whole claimable balance of the asset, to itself.
    Claim {
        /// Whose balance.
        account: Address,
    },
    /// Pays `account` its whole claimable balance in the balance vault, to itself (`BalanceVault.claimMany`; the
    /// row's contract is the vault).
    VaultClaim {
        /// Whose balance.
        account: Address,
    },
    /// A deposit whose authorization someone else submitted straight to the token, booked to its payer from the
    /// vault's surplus with `BalanceVault.depositManyTransferred` (the row's contract is the vault). Queued only by
    /// [`Ledger::recover_front_runs`](crate::Ledger::recover_front_runs), once per authorization.
    Booking(VaultBooking),
    /// A purchase whose authorization someone else submitted straight to the token, its money given back: credited
    /// to its own payer with no fee by `Escrow.creditManyTransferred` (the row's contract is the escrow), then claimed.
    /// Queued only by [`Ledger::recover_front_runs`](crate::Ledger::recover_front_runs), once per authorization.
    Return(EscrowReturn),
    /// A balance debit the market accepted, posted with `BalanceVault.debitMany` (the row's contract is the vault).
    /// Queued only with the purchase that accepted it ([`Ledger::debit_balance`](crate::Ledger::debit_balance)).
    Debit(VaultDebit),
    /// A subscription renewal, posted with `Subscriptions.chargeMany`; queued only by
    /// [`Ledger::queue_charge`](crate::Ledger::queue_charge), which holds its price back from the balance.
    Charge {
        /// The subscription.
        subscription: B256,
        /// Unique per (subscription, period, attempt): the once-per-key index keeps a retried queueing single.
        key: B256,
    },
    /// One of the operator's `Subscriptions.operateMany` items (open with period 0's charge, cancel, pause, resume);
    /// queued only by the subscription functions of the market's ledger.
    Operation {
        /// The subscription.
        subscription: B256,
        /// Unique per (subscription, kind, occurrence).
        key: B256,
        /// The ABI-encoded `Subscriptions.Operation`.
        encoded: Bytes,
    },
}

/// One `BalanceVault.TransferredDeposit`: the vault books an authorization at most once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VaultBooking {
    /// The authorization's `from`, credited.
    pub payer: Address,
    /// The authorization's `value`.
    pub amount: U256,
    /// The authorization's nonce.
    pub nonce: B256,
}

impl VaultBooking {
    /// Its ABI encoding, `BalanceVault.TransferredDeposit`'s.
    pub(crate) fn abi_encode(&self) -> Vec<u8> {
        (self.payer, self.amount, self.nonce).abi_encode()
    }

    fn abi_decode(bytes: &[u8]) -> Option<Self> {
        let (payer, amount, nonce) = <(Address, U256, B256)>::abi_decode(bytes).ok()?;
        Some(Self { payer, amount, nonce })
    }
}

/// A front-run escrow payment to give back: `Escrow.creditManyTransferred`'s item, credited to the payer itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EscrowReturn {
    /// The authorization's `from`, credited.
    pub payer: Address,
    /// The authorization's `value`.
    pub amount: U256,
    /// The authorization's nonce.
    pub nonce: B256,
}

impl EscrowReturn {
    /// Its stored form: (payer, amount, nonce), ABI-encoded.
    pub(crate) fn abi_encode(&self) -> Vec<u8> {
        (self.payer, self.amount, self.nonce).abi_encode()
    }

    fn abi_decode(bytes: &[u8]) -> Option<Self> {
        let (payer, amount, nonce) = <(Address, U256, B256)>::abi_decode(bytes).ok()?;
        Some(Self { payer, amount, nonce })
    }
}

/// One `BalanceVault.Debit`: the vault applies an id at most once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VaultDebit {
    /// The debit's on-chain id.
    pub id: B256,
    /// The agent whose balance pays.
    pub payer: Address,
    /// Credited `amount - fee`.
    pub provider: Address,
    /// Atomic units taken from the balance.
    pub amount: U256,
    /// Atomic units credited to the fee recipient, out of `amount`.
    pub fee: U256,
}

impl VaultDebit {
    /// Its ABI encoding, `BalanceVault.Debit`'s (a static struct encodes as the tuple of its fields).
    pub(crate) fn abi_encode(&self) -> Vec<u8> {
        (self.id, self.payer, self.provider, self.amount, self.fee).abi_encode()
    }

    fn abi_decode(bytes: &[u8]) -> Option<Self> {
        let (id, payer, provider, amount, fee) = <(B256, Address, Address, U256, U256)>::abi_decode(bytes).ok()?;
        Some(Self { id, payer, provider, amount, fee })
    }
}

/// An escrow action to queue, with where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAction {
    /// The chain.
    pub chain_id: u64,
    /// The escrow.
    pub escrow: Address,
    /// The token of the job, or of the claim.
    pub asset: Address,
    /// What to do.
    pub action: Action,
}

/// An escrow action row's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ActionId(pub i64);

impl std::fmt::Display for ActionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A queued escrow action and where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscrowAction {
    /// Row id.
    pub id: ActionId,
    /// The action as queued.
    pub action: NewAction,
    /// Where it stands (`Settled` means applied: its success event is in a mined receipt).
    pub status: SettlementStatus,
    /// The batch it is (or was last resolved) in.
    pub batch_id: Option<BatchId>,
    /// The batch's newest broadcast hash, or the mined one once resolved.
    pub tx_hash: Option<B256>,
    /// The reason of a failure.
    pub failure_reason: Option<Reason>,
    /// The revert data of a failure.
    pub revert_reason: Option<Bytes>,
}

impl StepKind {
    const fn as_sql(self) -> &'static str {
        match self {
            Self::Complete => "complete",
            Self::Release => "release",
            Self::ReleaseWithSig => "release_with_sig",
            Self::DisputeWithSig => "dispute_with_sig",
            Self::Refund => "refund",
            Self::ResolveWithSig { .. } => "resolve_with_sig",
        }
    }

    fn from_sql(s: &str, provider_bps: Option<u16>) -> Option<Self> {
        Some(match (s, provider_bps) {
            ("complete", None) => Self::Complete,
            ("release", None) => Self::Release,
            ("release_with_sig", None) => Self::ReleaseWithSig,
            ("dispute_with_sig", None) => Self::DisputeWithSig,
            ("refund", None) => Self::Refund,
            ("resolve_with_sig", Some(provider_bps)) => Self::ResolveWithSig { provider_bps },
            _ => return None,
        })
    }

    /// The provider share of a resolution.
    const fn provider_bps(self) -> Option<u16> {
        match self {
            Self::ResolveWithSig { provider_bps } => Some(provider_bps),
            _ => None,
        }
    }
}

impl Action {
    /// The route whose batches carry it.
    pub const fn route(&self) -> RouteKind {
        match self {
            Self::Step { .. } => RouteKind::EscrowStep,
            Self::Claim { .. } => RouteKind::EscrowClaim,
            Self::VaultClaim { .. } => RouteKind::VaultClaim,
            Self::Booking(_) => RouteKind::VaultBook,
            Self::Return(_) => RouteKind::EscrowReturn,
            Self::Debit(_) => RouteKind::VaultDebit,
            Self::Charge { .. } => RouteKind::SubscriptionCharge,
            Self::Operation { .. } => RouteKind::SubscriptionOperation,
        }
    }

    const fn kind_sql(&self) -> &'static str {
        match self {
            Self::Step { kind, .. } => kind.as_sql(),
            Self::Claim { .. } => "claim",
            Self::VaultClaim { .. } => "vault_claim",
            Self::Booking(_) => "vault_book",
            Self::Return(_) => "escrow_return",
            Self::Debit(_) => "vault_debit",
            Self::Charge { .. } => "subscription_charge",
            Self::Operation { .. } => "subscription_operation",
        }
    }
}

const ACTION_COLUMNS: &str = "a.id, a.chain_id, a.escrow, a.asset, a.kind::text AS kind, a.job_id, a.terms,
    a.signature, a.deadline::text AS deadline, a.provider_bps, a.account, a.status::text AS status, a.batch_id,
    b.tx_hash,
    a.failure_reason, a.revert_reason";

fn select_actions(filter: &'static str) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(format!(
        "SELECT {ACTION_COLUMNS} FROM escrow_actions a LEFT JOIN settlement_batches b ON b.id = a.batch_id {filter}"
    ))
}

impl Ledger {
    /// Queues `new` unless the same step of the job is already live or applied (or, for a claim, a claim of the
    /// account is in flight); returns the row and whether it was inserted.
    pub async fn enqueue_action(&self, new: &NewAction) -> Result<(EscrowAction, bool)> {
        let (job_id, terms, signature, deadline, provider_bps, account) = match &new.action {
            Action::Step { kind, job_id, terms, signed } => (
                Some(job_id.0.to_vec()),
                Some(terms.to_vec()),
                signed.as_ref().map(|(signature, _)| signature.to_vec()),
                signed.as_ref().map(|(_, deadline)| deadline.to_string()),
                kind.provider_bps().map(i32::from),
                None,
            ),
            Action::Claim { account } | Action::VaultClaim { account } => {
                (None, None, None, None, None, Some(account.to_vec()))
            }
            // A debit is queued with the purchase that accepted it, in its transaction, never on its own.
            Action::Debit(_) => return Err(Error::DebitOutsidePurchase),
            // A booking is queued with the transfer it is paired to, in one transaction.
            Action::Booking(_) | Action::Return(_) => return Err(Error::BookingOutsideLedger),
            // Subscription actions are queued with what they hold back or record, in one transaction.
            Action::Charge { .. } | Action::Operation { .. } => return Err(Error::SubscriptionActionOutsideLedger),
        };
        let inserted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO escrow_actions
                 (chain_id, escrow, asset, kind, job_id, terms, signature, deadline, provider_bps, account)
             VALUES ($1, $2, $3, $4::escrow_action_kind, $5, $6, $7, $8::numeric, $9, $10)
             ON CONFLICT DO NOTHING
             RETURNING id",
        )
        .bind(int(new.chain_id))
        .bind(new.escrow.as_slice())
        .bind(new.asset.as_slice())
        .bind(new.action.kind_sql())
        .bind(&job_id)
        .bind(&terms)
        .bind(&signature)
        .bind(&deadline)
        .bind(provider_bps)
        .bind(&account)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(id) = inserted {
            let _ = self.queued.send((new.chain_id, new.asset, new.action.route()));
            let row = self.action(ActionId(id)).await?.ok_or(Error::Query(sqlx::Error::RowNotFound))?;
            return Ok((row, true));
        }
        let row = sqlx::query(select_actions(
            "WHERE a.chain_id = $1 AND a.escrow = $2 AND a.kind = $3::escrow_action_kind AND a.status <> 'failed'
               AND (a.job_id = $4 OR (a.kind::text IN ('claim', 'vault_claim') AND a.asset = $5 AND a.account = $6
                                      AND a.status IN ('pending', 'submitted')))
             ORDER BY a.id DESC LIMIT 1",
        ))
        .bind(int(new.chain_id))
        .bind(new.escrow.as_slice())
        .bind(new.action.kind_sql())
        .bind(&job_id)
        .bind(new.asset.as_slice())
        .bind(&account)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(Error::Query(sqlx::Error::RowNotFound))?;
        Ok((action_from_row(&row)?, false))
    }

    /// The action with row id `id`.
    pub async fn action(&self, id: ActionId) -> Result<Option<EscrowAction>> {
        let row = sqlx::query(select_actions("WHERE a.id = $1")).bind(id.0).fetch_optional(&self.pool).await?;
        row.as_ref().map(action_from_row).transpose()
    }

    /// The steps queued for `job_id`, oldest first.
    pub async fn job_actions(&self, chain_id: u64, escrow: Address, job_id: JobId) -> Result<Vec<EscrowAction>> {
        let rows =
            sqlx::query(select_actions("WHERE a.chain_id = $1 AND a.escrow = $2 AND a.job_id = $3 ORDER BY a.id"))
                .bind(int(chain_id))
                .bind(escrow.as_slice())
                .bind(job_id.0.as_slice())
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(action_from_row).collect()
    }

    /// Claims up to `limit` pending actions of (`chain_id`, `asset`) on `claim.route` (a step or claim route),
    /// oldest first, into a new batch at `tx_nonce`; `None` when none is pending. A held debit (a balance-paid job
    /// not yet delivered, `migrations/0018_balance_jobs.sql`) is never claimed: its money waits for the provider.
    pub async fn claim_action_batch(&self, claim: &BatchClaim) -> Result<Option<(BatchId, Vec<EscrowAction>)>> {
        let mut tx = self.pool.begin().await?;
        let kinds: &[&str] = match claim.route {
            RouteKind::EscrowClaim => &["claim"],
            RouteKind::VaultDebit => &["vault_debit"],
            RouteKind::VaultClaim => &["vault_claim"],
            RouteKind::VaultBook => &["vault_book"],
            RouteKind::EscrowReturn => &["escrow_return"],
            RouteKind::SubscriptionCharge => &["subscription_charge"],
            RouteKind::SubscriptionOperation => &["subscription_operation"],
            _ => &["complete", "release", "release_with_sig", "dispute_with_sig", "refund", "resolve_with_sig"],
        };
        let rows: Vec<(i64, bool)> = sqlx::query_as(
            "SELECT id, alone FROM escrow_actions
             WHERE chain_id = $1 AND asset = $2 AND status = 'pending' AND held_until IS NULL AND kind::text = ANY($3)
             ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED",
        )
        .bind(int(claim.chain_id))
        .bind(claim.asset.as_slice())
        .bind(kinds)
        .bind(i64::from(claim.limit))
        .fetch_all(&mut *tx)
        .await?;
        let ids = together(&rows);
        if ids.is_empty() {
            return Ok(None);
        }
        let batch = insert_batch(&mut tx, claim).await?;
        sqlx::query(
            "UPDATE escrow_actions SET status = 'submitted', batch_id = $2, updated_at = now() WHERE id = ANY($1)",
        )
        .bind(&ids)
        .bind(batch.0)
        .execute(&mut *tx)
        .await?;
        let items = actions_by_ids(&mut tx, &ids).await?;
        tx.commit().await?;
        Ok(Some((batch, items)))
    }

    /// Resolves every submitted action of `batch` from the mined receipt, in one transaction.
    pub async fn resolve_action_batch(
        &self,
        batch: BatchId,
        mined: &Mined,
        outcomes: &[(ActionId, ItemResolution)],
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        lock_open_batch(&mut tx, batch).await?;
        mark_mined(&mut tx, batch, mined).await?;
        let mut ids = Vec::with_capacity(outcomes.len());
        let mut statuses = Vec::with_capacity(outcomes.len());
        let mut reasons = Vec::with_capacity(outcomes.len());
        let mut reverts = Vec::with_capacity(outcomes.len());
        for (id, outcome) in outcomes {
            ids.push(id.0);
            match outcome {
                ItemResolution::Settled => {
                    statuses.push("settled");
                    reasons.push(None);
                    reverts.push(None);
                }
                ItemResolution::Failed { reason, revert } => {
                    statuses.push("failed");
                    reasons.push(Some(reason.as_str()));
                    reverts.push(Some(revert.to_vec()));
                }
            }
        }
        // A refused vault debit gives its amount back through a trigger that locks its agent's rows: take them in
        // key order first, as the debit batches do.
        let refused: Vec<i64> = outcomes
            .iter()
            .filter(|(_, outcome)| matches!(outcome, ItemResolution::Failed { .. }))
            .map(|(id, _)| id.0)
            .collect();
        crate::market::debits::lock_debit_payers(&mut tx, &refused).await?;
        let updated: Vec<i64> = sqlx::query_scalar(
            "UPDATE escrow_actions a
             SET status = u.status::settlement_status, failure_reason = u.reason, revert_reason = u.revert,
                 updated_at = now()
             FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bytea[]) AS u(id, status, reason, revert)
             WHERE a.id = u.id AND a.batch_id = $5 AND a.status = 'submitted'
             RETURNING a.id",
        )
        .bind(&ids)
        .bind(&statuses)
        .bind(&reasons)
        .bind(&reverts)
        .bind(batch.0)
        .fetch_all(&mut *tx)
        .await?;
        let submitted: i64 =
            sqlx::query_scalar("SELECT count(*) FROM escrow_actions WHERE batch_id = $1 AND status = 'submitted'")
                .bind(batch.0)
                .fetch_one(&mut *tx)
                .await?;
        // Outcomes of actions not submitted (left resolved when a reorg reopened the batch) change nothing;
        // every outcome must still name one of the batch's.
        let of_batch: i64 =
            sqlx::query_scalar("SELECT count(*) FROM escrow_actions WHERE id = ANY($1) AND batch_id = $2")
                .bind(&ids)
                .bind(batch.0)
                .fetch_one(&mut *tx)
                .await?;
        if submitted != 0 || usize::try_from(of_batch).ok() != Some(outcomes.len()) {
            let expected = updated.len() + usize::try_from(submitted).unwrap_or(usize::MAX);
            return Err(Error::OutcomeMismatch { batch, expected, got: updated.len() });
        }
        notify_actions(&mut tx, &updated).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The actions of `batch`, in batch order.
    pub(crate) async fn batch_actions(&self, batch: BatchId) -> Result<Vec<EscrowAction>> {
        // Every action the batch's transaction carries, whatever its status (see `Ledger::batch_items`).
        let rows = sqlx::query(select_actions("WHERE a.batch_id = $1 ORDER BY a.id"))
            .bind(batch.0)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(action_from_row).collect()
    }
}

async fn actions_by_ids(tx: &mut Transaction<'static, Postgres>, ids: &[i64]) -> Result<Vec<EscrowAction>> {
    let rows = sqlx::query(select_actions("WHERE a.id = ANY($1) ORDER BY a.id")).bind(ids).fetch_all(&mut **tx).await?;
    rows.iter().map(action_from_row).collect()
}

fn action_from_row(row: &PgRow) -> Result<EscrowAction> {
    let f = Fields::of("escrow_actions", row);
    let kind: String = f.get("kind")?;
    let action = if kind == "claim" {
        Action::Claim { account: f.address("account")? }
    } else if kind == "vault_claim" {
        Action::VaultClaim { account: f.address("account")? }
    } else if kind == "subscription_charge" {
        let subscription =
            f.parsed("terms", "a 32-byte subscription id", |terms: &Vec<u8>| B256::try_from(terms.as_slice()).ok())?;
        Action::Charge { subscription, key: f.b256("job_id")? }
    } else if kind == "subscription_operation" {
        let encoded: Vec<u8> = f.get("terms")?;
        // The operation's id is its second word (after the kind).
        let subscription = encoded.get(32..64).map(B256::from_slice).unwrap_or_default();
        Action::Operation { subscription, key: f.b256("job_id")?, encoded: encoded.into() }
    } else if kind == "vault_book" {
        Action::Booking(f.parsed("terms", "an ABI-encoded BalanceVault.TransferredDeposit", |terms: &Vec<u8>| {
            VaultBooking::abi_decode(terms)
        })?)
    } else if kind == "escrow_return" {
        Action::Return(
            f.parsed("terms", "an ABI-encoded escrow return", |terms: &Vec<u8>| EscrowReturn::abi_decode(terms))?,
        )
    } else if kind == "vault_debit" {
        Action::Debit(
            f.parsed("terms", "an ABI-encoded BalanceVault.Debit", |terms: &Vec<u8>| VaultDebit::abi_decode(terms))?,
        )
    } else {
        let provider_bps: Option<i32> = f.get("provider_bps")?;
        let provider_bps = provider_bps.map(u16::try_from).transpose().ok().flatten();
        let kind = f.parsed("kind", "an escrow action kind", |_: &String| StepKind::from_sql(&kind, provider_bps))?;
        let signature: Option<Vec<u8>> = f.get("signature")?;
        let deadline: Option<String> = f.get("deadline")?;
        let signed = match (signature, deadline) {
            (Some(signature), Some(_)) => Some((Bytes::from(signature), f.number("deadline")?)),
            _ => None,
        };
        Action::Step { kind, job_id: JobId(f.b256("job_id")?), terms: f.get::<Vec<u8>>("terms")?.into(), signed }
    };
    Ok(EscrowAction {
        id: ActionId(f.get("id")?),
        action: NewAction {
            chain_id: f.u64("chain_id")?,
            escrow: f.address("escrow")?,
            asset: f.address("asset")?,
            action,
        },
        status: f.parsed("status", "an action status", |s: &String| SettlementStatus::from_sql(s))?,
        batch_id: f.get::<Option<i64>>("batch_id")?.map(BatchId),
        tx_hash: f.opt_b256("tx_hash")?,
        failure_reason: f.opt_reason("failure_reason")?,
        revert_reason: f.get::<Option<Vec<u8>>>("revert_reason")?.map(Bytes::from),
    })
}
