//! The settlement queue: one row per accepted EIP-3009 authorization, batches of them per relayer transaction.
//!
//! State machine of a settlement (each arrow is one database transaction):
//!
//! ```text
//! pending ──claim_batch──▶ submitted ──resolve_batch──▶ settled | failed
//!    │  ▲                      │
//!    │  └────requeue_batch─────┘   (its transaction can never land, was never sent, or reverted whole)
//!    └──expire_pending──▶ expired   (validBefore passed while queued; never broadcast)
//! ```
//!
//! A batch is claimed (nonce reserved), then each signed transaction is recorded before it is sent, then it is
//! either resolved from a mined receipt or abandoned (its items requeued; those of a batch that reverted whole are
//! each claimed alone afterwards, `batch_items`). Every resolution notifies
//! [`RESOLVED_CHANNEL`] with the settlement id in the same transaction.
//!
//! `rows` reads a settlement row; `answers` hands out each settled payment's one `success` answer.

mod answers;
mod rows;

use alloy::primitives::{Address, B256, Bytes, TxHash, U256};
use clearing_x402::{Network, Reason, X402Version};
use sqlx::{Postgres, Row, Transaction};

use self::rows::{booking, fetch_by_ids, route_fee, route_provider, select_settlements, settlement_from_row};
use crate::{
    Error, EscrowAction, Ledger, Result, Route, RouteKind,
    batch_items::{Queued, batch_items},
    decode::Fields,
    encode::int,
};

/// The PostgreSQL notification channel a settlement's id is sent on when it reaches a final status.
pub const RESOLVED_CHANNEL: &str = "settlement_resolved";

/// The PostgreSQL notification channel an escrow action's id is sent on when it reaches a final status.
pub const ACTION_RESOLVED_CHANNEL: &str = "escrow_action_resolved";

/// The on-chain identity of a payment: the token's authorization-state entry it consumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PaymentKey {
    /// The chain the token lives on.
    pub chain_id: u64,
    /// The EIP-3009 token.
    pub asset: Address,
    /// The authorizer (`from`).
    pub payer: Address,
    /// The authorization's 32-byte nonce.
    pub nonce: B256,
}

/// A settlement row's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SettlementId(pub i64);

impl std::fmt::Display for SettlementId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A settlement batch's id (one relayer nonce).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BatchId(pub i64);

impl std::fmt::Display for BatchId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A payment to queue, as verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSettlement {
    /// Its on-chain identity.
    pub key: PaymentKey,
    /// The payee (`to`).
    pub pay_to: Address,
    /// Atomic units.
    pub value: U256,
    /// Unix seconds; the token requires `block.timestamp > valid_after`.
    pub valid_after: U256,
    /// Unix seconds; the token requires `block.timestamp < valid_before`.
    pub valid_before: U256,
    /// The payer's signature bytes.
    pub signature: Bytes,
    /// The x402 protocol version the payment arrived with.
    pub x402_version: X402Version,
    /// The network the payment arrived on, however it was named (stored as CAIP-2).
    pub network: Network,
    /// What the authorization pays for on chain.
    pub route: Route,
}

impl NewSettlement {
    /// Whether `other` is the same signed payment: the same key, terms and signature bytes, so the token would
    /// execute the identical `transferWithAuthorization`. The x402 version and network name are how a payment was
    /// presented, not what it is. The route is what it is: the same authorization booked as a job and sent as a
    /// plain transfer are different payments. Only the same payment may join a queued row and share its outcome.
    pub fn is_same_payment(&self, other: &Self) -> bool {
        self.key == other.key
            && self.route == other.route
            && self.pay_to == other.pay_to
            && self.value == other.value
            && self.valid_after == other.valid_after
            && self.valid_before == other.valid_before
            && self.signature == other.signature
    }
}

/// Where a settlement stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SettlementStatus {
    /// Accepted, waiting for a batch.
    Pending,
    /// In a batch whose transaction may have been broadcast; outcome not yet known.
    Submitted,
    /// Its `PaymentSettled` event is in a mined receipt.
    Settled,
    /// Settled and indexed at confirmation depth (the indexer's word).
    Confirmed,
    /// Its `PaymentFailed` event is in a mined receipt, or it was refused before broadcast.
    Failed,
    /// Its validBefore passed while queued; never broadcast.
    Expired,
}

impl SettlementStatus {
    const fn as_sql(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Submitted => "submitted",
            Self::Settled => "settled",
            Self::Confirmed => "confirmed",
            Self::Failed => "failed",
            Self::Expired => "expired",
        }
    }

    pub(crate) fn from_sql(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "submitted" => Self::Submitted,
            "settled" => Self::Settled,
            "confirmed" => Self::Confirmed,
            "failed" => Self::Failed,
            "expired" => Self::Expired,
            _ => return None,
        })
    }

    /// Whether the status is an outcome that never changes again (confirmation aside).
    pub const fn is_final(self) -> bool {
        matches!(self, Self::Settled | Self::Confirmed | Self::Failed | Self::Expired)
    }
}

/// A queued payment and where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    /// Row id.
    pub id: SettlementId,
    /// The payment as queued.
    pub payment: NewSettlement,
    /// Where it stands.
    pub status: SettlementStatus,
    /// The batch it is (or was last resolved) in.
    pub batch_id: Option<BatchId>,
    /// The batch's newest broadcast hash, or the mined one once resolved.
    pub tx_hash: Option<TxHash>,
    /// The x402 reason code of a failure or expiry.
    pub failure_reason: Option<Reason>,
    /// The token's revert data of a failure, when the chain gave any.
    pub revert_reason: Option<Bytes>,
    /// Whether a caller was already answered success for it.
    pub success_reported: bool,
}

/// EIP-1559 fees of one signed transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxFees {
    /// `maxFeePerGas`, wei.
    pub max_fee_per_gas: u128,
    /// `maxPriorityFeePerGas`, wei.
    pub max_priority_fee_per_gas: u128,
}

/// One signed transaction of a batch, recorded before it is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchTransaction {
    /// Its hash.
    pub tx_hash: TxHash,
    /// The signed EIP-2718 bytes, re-sent as they are after a restart.
    pub raw_tx: Bytes,
    /// Its gas limit.
    pub gas_limit: u64,
    /// Its fees.
    pub fees: TxFees,
}

/// A batch that is neither mined nor abandoned, with everything needed to finish it after a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Its id.
    pub id: BatchId,
    /// The chain.
    pub chain_id: u64,
    /// The token of every item.
    pub asset: Address,
    /// The route of every item, which names the contract and call the batch is.
    pub route: RouteKind,
    /// The relayer account sending it.
    pub relayer: Address,
    /// The relayer nonce its transactions use.
    pub tx_nonce: u64,
    /// Every transaction recorded for it, oldest first (empty if the process stopped before signing).
    pub transactions: Vec<BatchTransaction>,
    /// Its payments in batch order (ascending id, the order they are sent in); empty for an action route.
    pub items: Vec<Settlement>,
    /// Its escrow actions in batch order, for the action routes; empty otherwise.
    pub actions: Vec<EscrowAction>,
}

/// Where a batch's transaction was mined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mined {
    /// The transaction that landed (one of the batch's recorded hashes).
    pub tx_hash: TxHash,
    /// Its block.
    pub block_number: u64,
    /// Its block's hash.
    pub block_hash: B256,
}

/// The outcome of one item, from its own event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemResolution {
    /// `PaymentSettled`.
    Settled,
    /// `PaymentFailed`, with the x402 reason code and the token's revert data.
    Failed {
        /// The x402 reason code.
        reason: Reason,
        /// The token's revert data (possibly empty).
        revert: Bytes,
    },
}

/// Why a batch is given up with its items requeued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbandonReason {
    /// Nothing was ever broadcast (signing or gas estimation failed); the nonce is free again.
    NeverSent,
    /// The relayer nonce was consumed by a transaction that is none of the batch's.
    NonceConsumedElsewhere,
    /// The transaction was mined but reverted as a whole, so no item moved.
    Reverted,
    /// Never sent: the batch needs more gas than a transaction may ask for.
    TooHeavy,
}

impl AbandonReason {
    const fn as_sql(self) -> &'static str {
        match self {
            Self::NeverSent => "never_sent",
            Self::NonceConsumedElsewhere => "nonce_consumed_elsewhere",
            Self::Reverted => "reverted",
            Self::TooHeavy => "too_heavy",
        }
    }
}

impl Ledger {
    /// Queues `new` unless its authorization is already queued; returns the row and whether it was inserted.
    ///
    /// A duplicate returns the existing row untouched: its status says what the caller should answer.
    pub async fn enqueue_settlement(&self, new: &NewSettlement) -> Result<(Settlement, bool)> {
        let inserted = sqlx::query(
            "INSERT INTO settlements
                (chain_id, asset, payer, nonce, pay_to, value, valid_after, valid_before, signature, x402_version,
                 network, route, provider, fee, arbiter, funding_deadline, completion_deadline, review_window)
             VALUES ($1, $2, $3, $4, $5, $6::numeric, $7::numeric, $8::numeric, $9, $10, $11, $12::settlement_route,
                     $13, $14::numeric, $15, $16::numeric, $17::numeric, $18::numeric)
             ON CONFLICT ON CONSTRAINT settlements_authorization_key DO NOTHING
             RETURNING id",
        )
        .bind(int(new.key.chain_id))
        .bind(new.key.asset.as_slice())
        .bind(new.key.payer.as_slice())
        .bind(new.key.nonce.as_slice())
        .bind(new.pay_to.as_slice())
        .bind(new.value.to_string())
        .bind(new.valid_after.to_string())
        .bind(new.valid_before.to_string())
        .bind(new.signature.as_ref())
        .bind(i16::from(new.x402_version.number()))
        .bind(new.network.to_string())
        .bind(new.route.kind().as_sql())
        .bind(route_provider(&new.route).map(|a| a.to_vec()))
        .bind(route_fee(&new.route).map(|fee| fee.to_string()))
        .bind(booking(&new.route).map(|b| b.arbiter.to_vec()))
        .bind(booking(&new.route).map(|b| b.funding_deadline.to_string()))
        .bind(booking(&new.route).map(|b| b.completion_deadline.to_string()))
        .bind(booking(&new.route).map(|b| b.review_window.to_string()))
        .fetch_optional(&self.pool)
        .await?;
        if let Some(row) = inserted {
            // Committed: a batcher in this process may claim a full batch before its timer. (No listener is fine.)
            let _ = self.queued.send((new.key.chain_id, new.key.asset, new.route.kind()));
            // Just inserted: the row is `new` as it stands, pending, in no batch (a batcher may claim it at any
            // moment, which a waiter learns from the resolution).
            let id: i64 = row.try_get("id")?;
            let settlement = Settlement {
                id: SettlementId(id),
                payment: new.clone(),
                status: SettlementStatus::Pending,
                batch_id: None,
                tx_hash: None,
                failure_reason: None,
                revert_reason: None,
                success_reported: false,
            };
            return Ok((settlement, true));
        }
        let settlement = self.settlement(&new.key).await?.ok_or(Error::Query(sqlx::Error::RowNotFound))?;
        Ok((settlement, false))
    }

    /// The settlement of one authorization, if queued.
    pub async fn settlement(&self, key: &PaymentKey) -> Result<Option<Settlement>> {
        let row =
            sqlx::query(select_settlements("WHERE s.chain_id = $1 AND s.asset = $2 AND s.payer = $3 AND s.nonce = $4"))
                .bind(int(key.chain_id))
                .bind(key.asset.as_slice())
                .bind(key.payer.as_slice())
                .bind(key.nonce.as_slice())
                .fetch_optional(&self.pool)
                .await?;
        row.as_ref().map(settlement_from_row).transpose()
    }

    /// The settlement with row id `id`.
    pub async fn settlement_by_id(&self, id: SettlementId) -> Result<Option<Settlement>> {
        let row = sqlx::query(select_settlements("WHERE s.id = $1")).bind(id.0).fetch_optional(&self.pool).await?;
        row.as_ref().map(settlement_from_row).transpose()
    }

    /// Marks every pending settlement of `chain_id` whose validBefore is at or before `cutoff` (unix seconds)
    /// `expired` with the x402 `reason`, notifies their waiters and returns them.
    pub async fn expire_pending(&self, chain_id: u64, cutoff: u64, reason: Reason) -> Result<Vec<Settlement>> {
        let mut tx = self.pool.begin().await?;
        let ids: Vec<i64> = sqlx::query_scalar(
            "UPDATE settlements SET status = 'expired', failure_reason = $3, updated_at = now()
             WHERE chain_id = $1 AND status = 'pending' AND valid_before <= $2::numeric
             RETURNING id",
        )
        .bind(int(chain_id))
        .bind(cutoff.to_string())
        .bind(reason.as_str())
        .fetch_all(&mut *tx)
        .await?;
        notify(&mut tx, &ids).await?;
        let expired = fetch_by_ids(&mut tx, &ids).await?;
        tx.commit().await?;
        Ok(expired)
    }

    /// Claims up to `limit` pending settlements of (`chain_id`, `asset`), oldest first, into a new batch sent by
    /// `relayer` at `tx_nonce`; `None` (and no batch) when none is ready.
    ///
    /// Ready means valid in the window the transaction could land in: validBefore after `cutoff` and validAfter
    /// before `now` (unix seconds). Rows locked by a concurrent claimer are skipped, never waited for.
    pub async fn claim_batch(&self, claim: &BatchClaim) -> Result<Option<(BatchId, Vec<Settlement>)>> {
        let mut tx = self.pool.begin().await?;
        let rows: Vec<(i64, i32, bool)> = sqlx::query_as(
            "SELECT id, octet_length(signature), alone FROM settlements
             WHERE chain_id = $1 AND asset = $2 AND route = $6::settlement_route AND status = 'pending'
               AND valid_before > $3::numeric AND valid_after < $4::numeric
             ORDER BY id LIMIT $5 FOR UPDATE SKIP LOCKED",
        )
        .bind(int(claim.chain_id))
        .bind(claim.asset.as_slice())
        .bind(claim.cutoff.to_string())
        .bind(claim.now.to_string())
        .bind(i64::from(claim.limit))
        .bind(claim.route.as_sql())
        .fetch_all(&mut *tx)
        .await?;
        let queued: Vec<_> =
            rows.into_iter().map(|(id, signature_len, alone)| Queued { id, signature_len, alone }).collect();
        let ids = batch_items(&queued);
        if ids.is_empty() {
            return Ok(None);
        }
        let BatchId(batch) = insert_batch(&mut tx, claim).await?;
        sqlx::query(
            "UPDATE settlements SET status = 'submitted', batch_id = $2, updated_at = now() WHERE id = ANY($1)",
        )
        .bind(&ids)
        .bind(batch)
        .execute(&mut *tx)
        .await?;
        let items = fetch_by_ids(&mut tx, &ids).await?;
        tx.commit().await?;
        Ok(Some((BatchId(batch), items)))
    }

    /// Records a signed transaction of `batch` before it is sent; it becomes the batch's newest hash.
    pub async fn record_broadcast(&self, batch: BatchId, transaction: &BatchTransaction) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        lock_open_batch(&mut tx, batch).await?;
        sqlx::query(
            "INSERT INTO settlement_batch_transactions
                (tx_hash, batch_id, max_fee_per_gas, max_priority_fee_per_gas, raw_tx, gas_limit)
             VALUES ($1, $2, $3::numeric, $4::numeric, $5, $6)",
        )
        .bind(transaction.tx_hash.as_slice())
        .bind(batch.0)
        .bind(transaction.fees.max_fee_per_gas.to_string())
        .bind(transaction.fees.max_priority_fee_per_gas.to_string())
        .bind(transaction.raw_tx.as_ref())
        .bind(int(transaction.gas_limit))
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE settlement_batches SET tx_hash = $2 WHERE id = $1")
            .bind(batch.0)
            .bind(transaction.tx_hash.as_slice())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Resolves every submitted item of `batch` from the mined receipt, in one transaction, and notifies their
    /// waiters. `outcomes` must name each submitted item of the batch exactly once.
    pub async fn resolve_batch(
        &self,
        batch: BatchId,
        mined: &Mined,
        outcomes: &[(SettlementId, ItemResolution)],
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
                    statuses.push(SettlementStatus::Settled.as_sql());
                    reasons.push(None);
                    reverts.push(None);
                }
                ItemResolution::Failed { reason, revert } => {
                    statuses.push(SettlementStatus::Failed.as_sql());
                    reasons.push(Some(reason.as_str()));
                    reverts.push(Some(revert.to_vec()));
                }
            }
        }
        let updated: Vec<i64> = sqlx::query_scalar(
            "UPDATE settlements s
             SET status = u.status::settlement_status, failure_reason = u.reason, revert_reason = u.revert,
                 updated_at = now()
             FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bytea[]) AS u(id, status, reason, revert)
             WHERE s.id = u.id AND s.batch_id = $5 AND s.status = 'submitted'
             RETURNING s.id",
        )
        .bind(&ids)
        .bind(&statuses)
        .bind(&reasons)
        .bind(&reverts)
        .bind(batch.0)
        .fetch_all(&mut *tx)
        .await?;
        let submitted: i64 =
            sqlx::query_scalar("SELECT count(*) FROM settlements WHERE batch_id = $1 AND status = 'submitted'")
                .bind(batch.0)
                .fetch_one(&mut *tx)
                .await?;
        // Outcomes of items not submitted (left resolved when a reorg reopened the batch) change nothing;
        // every outcome must still name one of the batch's.
        let of_batch: i64 = sqlx::query_scalar("SELECT count(*) FROM settlements WHERE id = ANY($1) AND batch_id = $2")
            .bind(&ids)
            .bind(batch.0)
            .fetch_one(&mut *tx)
            .await?;
        if submitted != 0 || usize::try_from(of_batch).ok() != Some(outcomes.len()) {
            let expected = updated.len() + usize::try_from(submitted).unwrap_or(usize::MAX);
            return Err(Error::OutcomeMismatch { batch, expected, got: updated.len() });
        }
        notify(&mut tx, &updated).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Gives `batch` up: its submitted items go back to `pending` (to be claimed into a later batch). `mined` is
    /// where a reverted transaction landed, for [`AbandonReason::Reverted`].
    pub async fn requeue_batch(&self, batch: BatchId, reason: AbandonReason, mined: Option<&Mined>) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        lock_open_batch(&mut tx, batch).await?;
        if let Some(mined) = mined {
            mark_mined(&mut tx, batch, mined).await?;
        }
        sqlx::query("UPDATE settlement_batches SET abandoned_at = now(), abandon_reason = $2 WHERE id = $1")
            .bind(batch.0)
            .bind(reason.as_sql())
            .execute(&mut *tx)
            .await?;
        // A batch reverts as a whole only for want of gas before an item, and one too heavy for any transaction was
        // never sent: their items then go alone (migration 0029).
        let alone = matches!(reason, AbandonReason::Reverted | AbandonReason::TooHeavy);
        sqlx::query(
            "UPDATE settlements SET status = 'pending', batch_id = NULL, alone = alone OR $2, updated_at = now()
             WHERE batch_id = $1 AND status = 'submitted'",
        )
        .bind(batch.0)
        .bind(alone)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE escrow_actions SET status = 'pending', batch_id = NULL, alone = alone OR $2, updated_at = now()
             WHERE batch_id = $1 AND status = 'submitted'",
        )
        .bind(batch.0)
        .bind(alone)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The ids of [`Ledger::unresolved_batches`], without their items and transactions.
    pub async fn unresolved_batch_ids(&self, chain_id: u64, relayer: Address) -> Result<Vec<BatchId>> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM settlement_batches
             WHERE chain_id = $1 AND relayer = $2 AND block_number IS NULL AND abandoned_at IS NULL
             ORDER BY tx_nonce",
        )
        .bind(int(chain_id))
        .bind(relayer.as_slice())
        .fetch_all(&self.pool)
        .await?;
        Ok(ids.into_iter().map(BatchId).collect())
    }

    /// Every batch of `relayer` on `chain_id` neither mined nor abandoned, lowest nonce first.
    pub async fn unresolved_batches(&self, chain_id: u64, relayer: Address) -> Result<Vec<Batch>> {
        let rows = sqlx::query(
            "SELECT id, asset, route::text AS route, tx_nonce::text AS tx_nonce FROM settlement_batches
             WHERE chain_id = $1 AND relayer = $2 AND block_number IS NULL AND abandoned_at IS NULL
             ORDER BY tx_nonce",
        )
        .bind(int(chain_id))
        .bind(relayer.as_slice())
        .fetch_all(&self.pool)
        .await?;
        let mut batches = Vec::with_capacity(rows.len());
        for row in rows {
            let f = Fields::of("settlement_batches", &row);
            let id = BatchId(f.get("id")?);
            batches.push(Batch {
                id,
                chain_id,
                asset: f.address("asset")?,
                route: f.parsed("route", "a settlement route", |s: &String| RouteKind::from_sql(s))?,
                relayer,
                tx_nonce: f.number("tx_nonce")?,
                transactions: self.batch_transactions(id).await?,
                items: self.batch_items(id).await?,
                actions: self.batch_actions(id).await?,
            });
        }
        Ok(batches)
    }

    async fn batch_transactions(&self, batch: BatchId) -> Result<Vec<BatchTransaction>> {
        let rows = sqlx::query(
            "SELECT tx_hash, raw_tx, gas_limit, max_fee_per_gas::text AS max_fee_per_gas,
                    max_priority_fee_per_gas::text AS max_priority_fee_per_gas
             FROM settlement_batch_transactions WHERE batch_id = $1 ORDER BY broadcast_at, tx_hash",
        )
        .bind(batch.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let f = Fields::of("settlement_batch_transactions", row);
                Ok(BatchTransaction {
                    tx_hash: f.b256("tx_hash")?,
                    raw_tx: f.get::<Vec<u8>>("raw_tx")?.into(),
                    gas_limit: f.u64("gas_limit")?,
                    fees: TxFees {
                        max_fee_per_gas: f.number("max_fee_per_gas")?,
                        max_priority_fee_per_gas: f.number("max_priority_fee_per_gas")?,
                    },
                })
            })
            .collect()
    }

    async fn batch_items(&self, batch: BatchId) -> Result<Vec<Settlement>> {
        // Every item the batch's transaction carries, whatever its status: a batch reopened after a reorg may hold
        // one left resolved (the call must still match the recorded transaction); only the submitted are resolved.
        let rows = sqlx::query(select_settlements("WHERE s.batch_id = $1 ORDER BY s.id"))
            .bind(batch.0)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(settlement_from_row).collect()
    }
}

/// What [`Ledger::claim_batch`] claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchClaim {
    /// The chain.
    pub chain_id: u64,
    /// The token.
    pub asset: Address,
    /// The route of every item.
    pub route: RouteKind,
    /// The relayer account that will send the batch.
    pub relayer: Address,
    /// The relayer nonce reserved for it.
    pub tx_nonce: u64,
    /// At most this many items.
    pub limit: u32,
    /// Only items whose validBefore is after this (unix seconds).
    pub cutoff: u64,
    /// Only items whose validAfter is before this (unix seconds).
    pub now: u64,
}

/// Inserts the batch row `claim` describes, at its relayer nonce.
pub(crate) async fn insert_batch(tx: &mut Transaction<'static, Postgres>, claim: &BatchClaim) -> Result<BatchId> {
    let batch: i64 = sqlx::query_scalar(
        "INSERT INTO settlement_batches (chain_id, asset, relayer, tx_nonce, route)
         VALUES ($1, $2, $3, $4::numeric, $5::settlement_route)
         RETURNING id",
    )
    .bind(int(claim.chain_id))
    .bind(claim.asset.as_slice())
    .bind(claim.relayer.as_slice())
    .bind(claim.tx_nonce.to_string())
    .bind(claim.route.as_sql())
    .fetch_one(&mut **tx)
    .await
    .map_err(|e| match e.as_database_error().and_then(|d| d.constraint()) {
        Some("settlement_batches_live_nonce") => {
            Error::NonceInUse { chain_id: claim.chain_id, relayer: claim.relayer, tx_nonce: claim.tx_nonce }
        }
        _ => Error::Query(e),
    })?;
    Ok(BatchId(batch))
}

pub(crate) async fn lock_open_batch(tx: &mut Transaction<'static, Postgres>, batch: BatchId) -> Result<()> {
    let row = sqlx::query(
        "SELECT block_number IS NULL AND abandoned_at IS NULL AS open FROM settlement_batches WHERE id = $1
         FOR UPDATE",
    )
    .bind(batch.0)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(Error::NoSuchBatch(batch))?;
    if row.try_get::<bool, _>("open")? { Ok(()) } else { Err(Error::BatchClosed(batch)) }
}

pub(crate) async fn mark_mined(tx: &mut Transaction<'static, Postgres>, batch: BatchId, mined: &Mined) -> Result<()> {
    let known = sqlx::query("SELECT 1 FROM settlement_batch_transactions WHERE batch_id = $1 AND tx_hash = $2")
        .bind(batch.0)
        .bind(mined.tx_hash.as_slice())
        .fetch_optional(&mut **tx)
        .await?;
    if known.is_none() {
        return Err(Error::UnknownTransaction { batch, tx: mined.tx_hash });
    }
    sqlx::query(
        "UPDATE settlement_batches SET tx_hash = $2, block_number = $3, block_hash = $4, mined_at = now()
         WHERE id = $1",
    )
    .bind(batch.0)
    .bind(mined.tx_hash.as_slice())
    .bind(int(mined.block_number))
    .bind(mined.block_hash.as_slice())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Announces resolved escrow actions on [`ACTION_RESOLVED_CHANNEL`].
pub(crate) async fn notify_actions(tx: &mut Transaction<'static, Postgres>, ids: &[i64]) -> Result<()> {
    if !ids.is_empty() {
        sqlx::query("SELECT pg_notify($2, id::text) FROM unnest($1::bigint[]) AS id")
            .bind(ids)
            .bind(ACTION_RESOLVED_CHANNEL)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

pub(crate) async fn notify(tx: &mut Transaction<'static, Postgres>, ids: &[i64]) -> Result<()> {
    if !ids.is_empty() {
        sqlx::query("SELECT pg_notify($2, id::text) FROM unnest($1::bigint[]) AS id")
            .bind(ids)
            .bind(RESOLVED_CHANNEL)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}
