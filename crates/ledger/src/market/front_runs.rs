//! Front-run deposits (`migrations/0023_front_run_deposits.sql`): an agent's x402 deposit whose authorization someone
//! else submitted straight to the token, so its USDC reached the vault as surplus while the deposit failed. Each is
//! paired with the chain's evidence of its transfer and booked to its payer (`BalanceVault.depositManyTransferred`,
//! [`crate::Action::Booking`]), so the agent's money is never left unbooked waiting for an operator.
//!
//! The pairing is what makes this safe to automate: a deposit is booked only against a confirmed `Transfer(payer ->
//! vault, amount)` that no `Deposited` of the payer in its transaction explains and that no other deposit was paired
//! with, so a payer is only ever credited money it sent and each transfer is credited once.

use alloy::{
    primitives::{Address, B256, U256, keccak256},
    sol_types::SolValue,
};
use clearing_x402::Reason;

use super::BalanceAccount;
use crate::{ActionId, Ledger, Result, RouteKind, VaultBooking, decode::Fields, encode::int, index::MAIN_INDEXER};

/// Blocks before the indexer's height at which a transfer paired with a newly noted deposit may be: a front-runner
/// acts on a payment in flight, so an hour of 1-second blocks is generous on every chain Clearing runs on.
const PAIRING_WINDOW_BLOCKS: i64 = 3_600;

/// A front-run deposit booked: paired with its transfer and queued for the vault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrontRunBooking {
    /// Who signed the authorization, credited.
    pub payer: Address,
    /// The authorization's nonce.
    pub nonce: B256,
    /// Its value.
    pub amount: U256,
    /// The transaction that moved the money to the vault (the front-runner's).
    pub transfer_tx: B256,
    /// The queued booking.
    pub action: ActionId,
}

impl Ledger {
    /// Notes that `account`'s x402 deposit `nonce` of `amount` was refused because its nonce was used: if someone
    /// else submitted it to the token, [`Ledger::book_front_run_deposits`] finds its transfer and books it. Once per
    /// authorization.
    pub async fn note_front_run_deposit(&self, account: &BalanceAccount, nonce: B256, amount: U256) -> Result<()> {
        sqlx::query(
            "INSERT INTO vault_front_runs (chain_id, vault, token, payer, nonce, amount, from_block)
             VALUES ($1, $2, $3, $4, $5, $6::numeric,
                     (SELECT coalesce(max(block_number), 0) FROM indexer_checkpoints
                      WHERE indexer = $7 AND chain_id = $1) - $8)
             ON CONFLICT DO NOTHING",
        )
        .bind(int(account.chain_id))
        .bind(account.vault.as_slice())
        .bind(account.token.as_slice())
        .bind(account.account.as_slice())
        .bind(nonce.as_slice())
        .bind(amount.to_string())
        .bind(MAIN_INDEXER)
        .bind(PAIRING_WINDOW_BLOCKS)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Books up to `limit` front-run deposits into `vault` in `token` on `chain_id`: notes the deposits whose
    /// settlement failed on a used nonce (in the last day), pairs each noted one with a confirmed transfer of its
    /// money into the vault that nothing else explains, and queues its booking, all in one transaction. One process
    /// at a time (an advisory lock), so two never pair one transfer.
    pub async fn book_front_run_deposits(
        &self,
        chain_id: u64,
        vault: Address,
        token: Address,
        limit: u32,
    ) -> Result<Vec<FrontRunBooking>> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('vault_front_runs'), $1::int)")
            .bind(i32::try_from(chain_id % (1 << 31)).unwrap_or_default())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO vault_front_runs (chain_id, vault, token, payer, nonce, amount, from_block)
             SELECT s.chain_id, s.pay_to, s.asset, s.payer, s.nonce, s.value,
                    (SELECT coalesce(max(block_number), 0) FROM indexer_checkpoints
                     WHERE indexer = $4 AND chain_id = $1) - $5
             FROM settlements s
             WHERE s.chain_id = $1 AND s.asset = $3 AND s.route = 'vault_deposit' AND s.status = 'failed'
               AND s.updated_at > now() - interval '1 day' AND s.pay_to = $2 AND s.failure_reason = $6
             ON CONFLICT DO NOTHING",
        )
        .bind(int(chain_id))
        .bind(vault.as_slice())
        .bind(token.as_slice())
        .bind(MAIN_INDEXER)
        .bind(PAIRING_WINDOW_BLOCKS)
        .bind(Reason::NonceAlreadyUsed.as_str())
        .execute(&mut *tx)
        .await?;
        let noted = sqlx::query(
            "SELECT id, payer, nonce, amount::text AS amount, from_block FROM vault_front_runs
             WHERE chain_id = $1 AND vault = $2 AND token = $3 AND action_id IS NULL
               AND created_at > now() - interval '1 day'
             ORDER BY id LIMIT $4",
        )
        .bind(int(chain_id))
        .bind(vault.as_slice())
        .bind(token.as_slice())
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        let transfer = keccak256(b"Transfer(address,address,uint256)");
        let mut booked = Vec::new();
        for row in &noted {
            let f = Fields::of("vault_front_runs", row);
            let id: i64 = f.get("id")?;
            let from_block: i64 = f.get("from_block")?;
            let booking =
                VaultBooking { payer: f.address("payer")?, amount: f.number("amount")?, nonce: f.b256("nonce")? };
            // Oldest first: the money the front-runner moved is the earliest transfer nothing else accounts for.
            let transfers = sqlx::query(
                "SELECT l.block_hash, l.log_index, l.tx_hash, l.data FROM chain_logs l
                 WHERE l.chain_id = $1 AND l.address = $2 AND l.topics[1] = $3 AND l.topics[2] = $4 AND l.topics[3] = $5
                   AND l.block_number BETWEEN $6 AND (SELECT coalesce(max(confirmed_block), -1) FROM indexer_checkpoints
                                                      WHERE indexer = $7 AND chain_id = $1)
                   AND NOT EXISTS (
                       SELECT 1 FROM vault_events e
                       WHERE e.chain_id = l.chain_id AND e.vault = $8 AND e.token = l.address AND e.account = $9
                         AND e.block_number = l.block_number AND e.tx_hash = l.tx_hash AND e.kind = 'deposited')
                   AND NOT EXISTS (
                       SELECT 1 FROM vault_front_runs p
                       WHERE p.chain_id = l.chain_id AND p.transfer_block = l.block_hash
                         AND p.transfer_log_index = l.log_index)
                 ORDER BY l.block_number, l.log_index",
            )
            .bind(int(chain_id))
            .bind(token.as_slice())
            .bind(transfer.as_slice())
            .bind(B256::left_padding_from(booking.payer.as_slice()).as_slice())
            .bind(B256::left_padding_from(vault.as_slice()).as_slice())
            .bind(from_block)
            .bind(MAIN_INDEXER)
            .bind(vault.as_slice())
            .bind(booking.payer.as_slice())
            .fetch_all(&mut *tx)
            .await?;
            let amount = booking.amount.to_be_bytes::<32>();
            let Some(paired) = transfers
                .iter()
                .find(|t| Fields::of("chain_logs", t).get::<Vec<u8>>("data").is_ok_and(|d| d == amount))
            else {
                continue;
            };
            let p = Fields::of("chain_logs", paired);
            let (block, log_index, transfer_tx): (Vec<u8>, i64, B256) =
                (p.get("block_hash")?, p.get("log_index")?, p.b256("tx_hash")?);
            let action: i64 = sqlx::query_scalar(
                "INSERT INTO escrow_actions (chain_id, escrow, asset, kind, job_id, terms)
                 VALUES ($1, $2, $3, 'vault_book', $4, $5)
                 RETURNING id",
            )
            .bind(int(chain_id))
            .bind(vault.as_slice())
            .bind(token.as_slice())
            .bind(keccak256((booking.payer, booking.nonce).abi_encode()).as_slice())
            .bind(booking.abi_encode())
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE vault_front_runs SET transfer_block = $2, transfer_log_index = $3, transfer_tx = $4,
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
            booked.push(FrontRunBooking {
                payer: booking.payer,
                nonce: booking.nonce,
                amount: booking.amount,
                transfer_tx,
                action: ActionId(action),
            });
        }
        tx.commit().await?;
        if !booked.is_empty() {
            let _ = self.queued.send((chain_id, token, RouteKind::VaultBook));
        }
        Ok(booked)
    }
}
