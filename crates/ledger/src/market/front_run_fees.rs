//! Payments to the market's own fee routes that someone else's transaction carried
//! (`migrations/0024_front_run_fee_payments.sql`): the token moved the payer's `value` to `payTo` as signed, so the
//! request it was sent with is served, once per authorization.

use alloy::primitives::{Address, B256, U256};

use crate::{Ledger, Result, encode::int};

/// A fee payment someone else's transaction carried, as the token's logs show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarriedFee {
    /// The chain.
    pub chain_id: u64,
    /// The token.
    pub token: Address,
    /// The authorization's `from`.
    pub payer: Address,
    /// Its EIP-3009 nonce.
    pub nonce: B256,
    /// Its `to`: the market's fee recipient.
    pub pay_to: Address,
    /// Its `value`.
    pub amount: U256,
    /// The transaction that carried it, and its block.
    pub tx_hash: B256,
    /// The block.
    pub block_number: u64,
    /// The route it pays for.
    pub resource: String,
}

impl Ledger {
    /// Counts `fee` as paid for the request now presenting it: `true` for exactly one caller per authorization,
    /// `false` when it was counted before, or when this facilitator's own queue holds or settled it (a repeat of a
    /// payment the queue answers).
    pub async fn count_carried_fee(&self, fee: &CarriedFee) -> Result<bool> {
        let counted = sqlx::query(
            "INSERT INTO front_run_fee_payments
                    (chain_id, token, payer, nonce, pay_to, amount, tx_hash, block_number, resource)
             SELECT $1, $2, $3, $4, $5, $6::numeric, $7, $8, $9
              WHERE NOT EXISTS (SELECT 1 FROM settlements s
                                 WHERE s.chain_id = $1 AND s.asset = $2 AND s.payer = $3 AND s.nonce = $4
                                   AND s.status NOT IN ('failed', 'expired'))
             ON CONFLICT DO NOTHING",
        )
        .bind(int(fee.chain_id))
        .bind(fee.token.as_slice())
        .bind(fee.payer.as_slice())
        .bind(fee.nonce.as_slice())
        .bind(fee.pay_to.as_slice())
        .bind(fee.amount.to_string())
        .bind(fee.tx_hash.as_slice())
        .bind(int(fee.block_number))
        .bind(&fee.resource)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(counted == 1)
    }
}
