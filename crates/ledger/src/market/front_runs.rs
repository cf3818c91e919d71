//! Front-run payments (`migrations/0023_front_run_payments.sql`): an agent's x402 payment into the vault or the
//! escrow whose authorization someone else submitted straight to the token, so its USDC arrived as surplus while the
//! market's deposit or purchase failed. Each is paired with the chain's evidence of its transfer and recovered with
//! nobody's hand: a deposit is booked to its payer (`BalanceVault.depositManyTransferred`, [`crate::Action::Booking`]);
//! a purchase, answered as not bought, is given back (`Escrow.creditManyTransferred` to the payer itself,
//! [`crate::Action::Return`], then a claim to its wallet).
//!
//! The pairing is what makes this safe to automate: a payment is recovered only against a confirmed `Transfer(payer ->
//! payTo, amount)` that no event of the payer in its transaction explains and that no other payment was paired with,
//! so a payer only ever gets back money it sent, and each transfer once.

use alloy::{
    primitives::{Address, B256, U256, keccak256},
    sol_types::SolValue,
};
use clearing_x402::Reason;

use crate::{
    ActionId, EscrowReturn, Ledger, Result, RouteKind, VaultBooking, decode::Fields, encode::int, index::MAIN_INDEXER,
};

/// Blocks before the indexer's height at which a transfer paired with a newly noted payment may be: a front-runner
/// acts on a payment in flight, so an hour of 1-second blocks is generous on every chain Clearing runs on.
const PAIRING_WINDOW_BLOCKS: i64 = 3_600;

/// An SQL condition on an `escrow_credits` row `r`: it is not a front-run purchase's money given back (credited to
/// its own payer with no fee, from a paired note), which pays for nothing and must not read as the purchase's credit.
pub(crate) const NOT_A_RETURN: &str = "NOT (r.provider = r.payer AND r.fee_amount = 0 AND EXISTS (
        SELECT 1 FROM front_run_payments f
        WHERE f.chain_id = r.chain_id AND f.recipient = r.escrow AND f.token = r.token AND f.payer = r.payer
          AND f.nonce = r.nonce AND f.action_id IS NOT NULL))";

/// Where a front-run payment was paid, which says how it is recovered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrontRunRecipient {
    /// The balance vault: the deposit is booked to its payer.
    Vault(Address),
    /// The escrow: the purchase's money goes back to its payer.
    Escrow(Address),
}

impl FrontRunRecipient {
    /// The contract's address.
    pub const fn address(self) -> Address {
        match self {
            Self::Vault(address) | Self::Escrow(address) => address,
        }
    }

    /// Whether an event of the payer (`$8`) booking the amount (`$9`) in the transfer's transaction (`l`) accounts
    /// for it: the contract took it in as the payer's (a deposit, a job, a credit).
    const fn explained(self) -> &'static str {
        match self {
            Self::Vault(_) => {
                "EXISTS (SELECT 1 FROM vault_events e
                         WHERE e.chain_id = l.chain_id AND e.vault = $7 AND e.token = l.address AND e.account = $8
                           AND e.block_number = l.block_number AND e.tx_hash = l.tx_hash AND e.kind = 'deposited'
                           AND e.amount = $9::numeric)"
            }
            Self::Escrow(_) => {
                "(EXISTS (SELECT 1 FROM escrow_jobs e
                          WHERE e.chain_id = l.chain_id AND e.escrow = $7 AND e.payer = $8 AND e.token = l.address
                            AND e.block_number = l.block_number AND e.tx_hash = l.tx_hash AND e.amount = $9::numeric)
                  OR EXISTS (SELECT 1 FROM escrow_credits e
                             WHERE e.chain_id = l.chain_id AND e.escrow = $7 AND e.payer = $8 AND e.token = l.address
                               AND e.block_number = l.block_number AND e.tx_hash = l.tx_hash
                               AND e.provider_amount + e.fee_amount = $9::numeric))"
            }
        }
    }

    /// Whether the contract itself took the noted payment (`f`) in, its nonce used by one of its own entries: then it
    /// was never front-run (a replay of a payment that settled, sent to another purchase), and the note is dropped.
    const fn consumed(self) -> &'static str {
        match self {
            Self::Vault(_) => {
                "EXISTS (SELECT 1 FROM vault_events e
                         WHERE e.chain_id = f.chain_id AND e.vault = f.recipient AND e.reference = f.nonce
                           AND e.kind = 'deposited' AND e.account = f.payer AND e.token = f.token)"
            }
            Self::Escrow(_) => {
                "(EXISTS (SELECT 1 FROM escrow_credits e
                          WHERE e.chain_id = f.chain_id AND e.escrow = f.recipient AND e.payer = f.payer
                            AND e.nonce = f.nonce AND e.token = f.token)
                  OR EXISTS (SELECT 1 FROM escrow_jobs e
                             WHERE e.chain_id = f.chain_id AND e.escrow = f.recipient AND e.payer = f.payer
                               AND e.token = f.token AND (e.salt = f.nonce OR e.job_id = f.nonce)))"
            }
        }
    }
}

/// A front-run payment paired with its transfer, and its recovery queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrontRunRecovery {
    /// Where it was paid.
    pub recipient: FrontRunRecipient,
    /// Who signed the authorization, credited.
    pub payer: Address,
    /// The authorization's nonce.
    pub nonce: B256,
    /// Its value.
    pub amount: U256,
    /// The transaction that moved the money to the vault or the escrow (the front-runner's).
    pub transfer_tx: B256,
    /// The queued booking or return.
    pub action: ActionId,
}

impl Ledger {
    /// Notes that `payer`'s x402 payment `nonce` of `amount` to `recipient` was refused because its nonce was used:
    /// if someone else submitted it to the token, [`Ledger::recover_front_runs`] finds its transfer and recovers it.
    /// Once per authorization.
    pub async fn note_front_run(
        &self,
        chain_id: u64,
        recipient: FrontRunRecipient,
        token: Address,
        payer: Address,
        nonce: B256,
        amount: U256,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO front_run_payments (chain_id, recipient, token, payer, nonce, amount, from_block)
             VALUES ($1, $2, $3, $4, $5, $6::numeric,
                     (SELECT coalesce(max(block_number), 0) FROM indexer_checkpoints
                      WHERE indexer = $7 AND chain_id = $1) - $8)
             ON CONFLICT DO NOTHING",
        )
        .bind(int(chain_id))
        .bind(recipient.address().as_slice())
        .bind(token.as_slice())
        .bind(payer.as_slice())
        .bind(nonce.as_slice())
        .bind(amount.to_string())
        .bind(MAIN_INDEXER)
        .bind(PAIRING_WINDOW_BLOCKS)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Recovers up to `limit` front-run payments to `recipient` in `token` on `chain_id`, in one transaction: notes
    /// the payments whose settlement failed on a used nonce (in the last day), pairs each noted one with a confirmed
    /// transfer of its money that nothing else explains, and queues its recovery; for the escrow, also queues the
    /// claim that pays each returned purchase to its payer once its credit applied. One process at a time (an
    /// advisory lock), so two never pair one transfer.
    pub async fn recover_front_runs(
        &self,
        chain_id: u64,
        recipient: FrontRunRecipient,
        token: Address,
        limit: u32,
    ) -> Result<Vec<FrontRunRecovery>> {
        let to = recipient.address();
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('front_run_payments'), hashtext($1))")
            .bind(format!("{chain_id}:{to}"))
            .execute(&mut *tx)
            .await?;
        // The transfer came before the batch that found the nonce used: the window ends at that batch's block.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO front_run_payments (chain_id, recipient, token, payer, nonce, amount, from_block)
             SELECT s.chain_id, s.pay_to, s.asset, s.payer, s.nonce, s.value,
                    coalesce(b.block_number, (SELECT coalesce(max(block_number), 0) FROM indexer_checkpoints
                                              WHERE indexer = $4 AND chain_id = $1)) - $5
             FROM settlements s LEFT JOIN settlement_batches b ON b.id = s.batch_id
             WHERE s.chain_id = $1 AND s.asset = $3 AND s.pay_to = $2 AND s.status = 'failed'
               AND s.failure_reason = '{}' AND s.updated_at > now() - interval '1 day'
             ON CONFLICT (chain_id, recipient, token, payer, nonce) DO UPDATE
                 SET from_block = least(front_run_payments.from_block, EXCLUDED.from_block)
                 WHERE front_run_payments.action_id IS NULL AND EXCLUDED.from_block < front_run_payments.from_block",
            Reason::NonceAlreadyUsed.as_str()
        )))
        .bind(int(chain_id))
        .bind(to.as_slice())
        .bind(token.as_slice())
        .bind(MAIN_INDEXER)
        .bind(PAIRING_WINDOW_BLOCKS)
        .execute(&mut *tx)
        .await?;
        // Notes that can no longer be paired go: a day old, or a nonce the contract itself used.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM front_run_payments f
             WHERE f.chain_id = $1 AND f.recipient = $2 AND f.token = $3 AND f.action_id IS NULL
               AND (f.created_at <= now() - interval '1 day' OR {})",
            recipient.consumed()
        )))
        .bind(int(chain_id))
        .bind(to.as_slice())
        .bind(token.as_slice())
        .execute(&mut *tx)
        .await?;
        // The least recently tried first, so notes that never pair cannot keep one that does waiting.
        let noted = sqlx::query(
            "WITH picked AS (
                 UPDATE front_run_payments SET tried_at = now()
                 WHERE id IN (SELECT id FROM front_run_payments
                              WHERE chain_id = $1 AND recipient = $2 AND token = $3 AND action_id IS NULL
                              ORDER BY tried_at NULLS FIRST, id LIMIT $4)
                 RETURNING id, payer, nonce, amount::text AS amount, from_block)
             SELECT * FROM picked ORDER BY id",
        )
        .bind(int(chain_id))
        .bind(to.as_slice())
        .bind(token.as_slice())
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        let transfer = keccak256(b"Transfer(address,address,uint256)");
        let transfers = format!(
            "SELECT l.block_hash, l.log_index, l.tx_hash, l.data FROM chain_logs l
             WHERE l.chain_id = $1 AND l.address = $2 AND l.topics[1] = '\\x{}'::bytea
               AND l.topics[2] = $3 AND l.topics[3] = $4
               AND l.block_number BETWEEN $5 AND (SELECT coalesce(max(confirmed_block), -1) FROM indexer_checkpoints
                                                  WHERE indexer = $6 AND chain_id = $1)
               AND NOT {}
               AND NOT EXISTS (
                   SELECT 1 FROM front_run_payments p
                   WHERE p.chain_id = l.chain_id AND p.transfer_block = l.block_hash
                     AND p.transfer_log_index = l.log_index)
             ORDER BY l.block_number, l.log_index",
            alloy::primitives::hex::encode(transfer),
            recipient.explained()
        );
        let mut recovered = Vec::new();
        for row in &noted {
            let f = Fields::of("front_run_payments", row);
            let id: i64 = f.get("id")?;
            let from_block: i64 = f.get("from_block")?;
            let (payer, amount, nonce): (Address, U256, B256) =
                (f.address("payer")?, f.number("amount")?, f.b256("nonce")?);
            // Oldest first: the money the front-runner moved is the earliest transfer nothing else accounts for. The
            // scan reads only this payer's transfers into the contract (chain_logs_transfers), however wide the range.
            let candidates = sqlx::query(sqlx::AssertSqlSafe(transfers.clone()))
                .bind(int(chain_id))
                .bind(token.as_slice())
                .bind(B256::left_padding_from(payer.as_slice()).as_slice())
                .bind(B256::left_padding_from(to.as_slice()).as_slice())
                .bind(from_block)
                .bind(MAIN_INDEXER)
                .bind(to.as_slice())
                .bind(payer.as_slice())
                .bind(amount.to_string())
                .fetch_all(&mut *tx)
                .await?;
            let value = amount.to_be_bytes::<32>();
            let Some(paired) = candidates
                .iter()
                .find(|t| Fields::of("chain_logs", t).get::<Vec<u8>>("data").is_ok_and(|data| data == value))
            else {
                continue;
            };
            let p = Fields::of("chain_logs", paired);
            let (block, log_index, transfer_tx): (Vec<u8>, i64, B256) =
                (p.get("block_hash")?, p.get("log_index")?, p.b256("tx_hash")?);
            let (kind, terms) = match recipient {
                FrontRunRecipient::Vault(_) => ("vault_book", VaultBooking { payer, amount, nonce }.abi_encode()),
                FrontRunRecipient::Escrow(_) => ("escrow_return", EscrowReturn { payer, amount, nonce }.abi_encode()),
            };
            let action: i64 = sqlx::query_scalar(
                "INSERT INTO escrow_actions (chain_id, escrow, asset, kind, job_id, terms)
                 VALUES ($1, $2, $3, $4::escrow_action_kind, $5, $6)
                 RETURNING id",
            )
            .bind(int(chain_id))
            .bind(to.as_slice())
            .bind(token.as_slice())
            .bind(kind)
            .bind(keccak256((token, payer, nonce).abi_encode()).as_slice())
            .bind(terms)
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE front_run_payments SET transfer_block = $2, transfer_log_index = $3, transfer_tx = $4,
                     action_id = $5
                 WHERE id = $1",
            )
            .bind(id)
            .bind(&block)
            .bind(log_index)
            .bind(transfer_tx.as_slice())
            .bind(action)
            .execute(&mut *tx)
            .await?;
            recovered.push(FrontRunRecovery { recipient, payer, nonce, amount, transfer_tx, action: ActionId(action) });
        }
        let claims = match recipient {
            FrontRunRecipient::Escrow(_) => claim_returns(&mut tx, chain_id, to, token, limit).await?,
            FrontRunRecipient::Vault(_) => 0,
        };
        tx.commit().await?;
        if !recovered.is_empty() {
            let route = match recipient {
                FrontRunRecipient::Vault(_) => RouteKind::VaultBook,
                FrontRunRecipient::Escrow(_) => RouteKind::EscrowReturn,
            };
            let _ = self.queued.send((chain_id, token, route));
        }
        if claims > 0 {
            let _ = self.queued.send((chain_id, token, RouteKind::EscrowClaim));
        }
        Ok(recovered)
    }
}

/// Queues the claim of each returned purchase whose credit applied and that has none yet: it pays the payer's whole
/// claimable balance to the payer. An account's claim already in flight may run before the credit, so a return waits
/// for a claim of its own (the next round tries again); how many were queued.
async fn claim_returns(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    chain_id: u64,
    escrow: Address,
    token: Address,
    limit: u32,
) -> Result<u64> {
    let claimed = sqlx::query(
        "WITH due AS (
             SELECT f.id, f.payer FROM front_run_payments f JOIN escrow_actions a ON a.id = f.action_id
             WHERE f.chain_id = $1 AND f.recipient = $2 AND f.token = $3 AND f.claim_action_id IS NULL
               AND a.kind::text = 'escrow_return' AND a.status IN ('settled', 'confirmed')
             ORDER BY f.id LIMIT $4),
         claims AS (
             INSERT INTO escrow_actions (chain_id, escrow, asset, kind, account)
             SELECT DISTINCT $1::bigint, $2::bytea, $3::bytea, 'claim'::escrow_action_kind, d.payer FROM due d
             ON CONFLICT DO NOTHING
             RETURNING id, account)
         UPDATE front_run_payments f SET claim_action_id = c.id
         FROM due d JOIN claims c ON c.account = d.payer
         WHERE f.id = d.id",
    )
    .bind(int(chain_id))
    .bind(escrow.as_slice())
    .bind(token.as_slice())
    .bind(i64::from(limit))
    .execute(&mut **tx)
    .await?;
    Ok(claimed.rows_affected())
}
