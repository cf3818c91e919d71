//! Products bought from a prepaid balance: the debit and the purchase in one transaction
//! (`migrations/0017_product_balance.sql`).
//!
//! The debit is decided by the same `balance_debit_batch` as a service's (a batch of one, inside this transaction),
//! so every balance rule holds as it does there: the credential's revoke and expiry, the idempotency key, a standing
//! withdrawal request, the balance and the daily cap. The purchase is then inserted in the same transaction; if the
//! wallet holds a live purchase of the product (bought with x402, or from the balance in another request), the insert
//! is nothing and the whole transaction rolls back, debit included: nothing is charged for a 409.

use alloy::primitives::U256;
use sqlx::Row;
use uuid::Uuid;

use super::{
    balances::{BalanceDebit, DebitDecision, DebitRequest},
    debits::decide_debits,
    products::{NewProductPurchase, PURCHASE_SELECT, ProductId, ProductPurchase, purchase_from_row},
};
use crate::{Error, Ledger, Result, encode::int};

/// How many times a purchase PostgreSQL aborted as a deadlock victim is tried again (see `debits::RETRIES`).
const RETRIES: usize = 3;

/// What buying a product from a balance came to.
#[derive(Debug, Clone)]
pub enum BalanceSale {
    /// Bought now: the debit accepted and the purchase recorded, together.
    Bought(ProductPurchase),
    /// A repeat of the idempotency key that bought this product: the purchase it made; nothing new was spent.
    Repeat(ProductPurchase),
    /// The idempotency key already paid for something else (a service, or another product): nothing was spent.
    KeyReused(BalanceDebit),
    /// The wallet holds a live purchase of the product (owned, or an x402 payment on its way): nothing was spent.
    Held(ProductPurchase),
    /// The balance did not pay (short, locked by a withdrawal request, over a cap, or the credential revoked or
    /// expired): nothing was spent.
    Refused(DebitDecision),
    /// The product was deleted or repriced since it was read: nothing was spent; read it again.
    ProductChanged,
}

impl Ledger {
    /// Buys product `new.product_id` for `new.buyer` from the balance, by the debit `request` (its amount the
    /// purchase's, its `service_id` `None`), if the product is still listed at `price` (atomic units the provider
    /// nets, as stored). `new.payment` is ignored: the purchase is paid by the debit.
    pub async fn buy_product_with_balance(
        &self,
        request: &DebitRequest,
        new: &NewProductPurchase,
        price: U256,
    ) -> Result<BalanceSale> {
        let mut attempt = 0;
        loop {
            match self.sell_from_balance(request, new, price).await {
                Err(Error::Query(sqlx::Error::Database(e)))
                    if attempt < RETRIES && matches!(e.code().as_deref(), Some("40P01" | "40001")) =>
                {
                    attempt += 1;
                    tracing::warn!(error = %e, attempt, "a product purchase from a balance was aborted: trying again");
                }
                sold => return sold,
            }
        }
    }

    async fn sell_from_balance(
        &self,
        request: &DebitRequest,
        new: &NewProductPurchase,
        price: U256,
    ) -> Result<BalanceSale> {
        let mut tx = self.pool.begin().await?;
        // Still sold at this price: FOR SHARE, so an edit or a delete waits for this purchase rather than slip
        // between the read and the debit.
        let listed: Option<bool> = sqlx::query_scalar(
            "SELECT true FROM market_products WHERE id = $1 AND deleted_at IS NULL AND price = $2::numeric FOR SHARE",
        )
        .bind(new.product_id.0)
        .bind(price.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        if listed.is_none() {
            return Ok(BalanceSale::ProductChanged);
        }
        let decision = decide_debits(&mut tx, std::slice::from_ref(request), false)
            .await?
            .pop()
            .ok_or(Error::Query(sqlx::Error::RowNotFound))?;
        let debit = match decision {
            DebitDecision::Accepted(debit) => debit,
            DebitDecision::Repeat(debit) => {
                drop(tx);
                return Ok(match self.product_purchase_by_debit(debit.id).await? {
                    Some(purchase) if purchase.new.product_id == new.product_id => BalanceSale::Repeat(purchase),
                    _ => BalanceSale::KeyReused(debit),
                });
            }
            refused => return Ok(BalanceSale::Refused(refused)),
        };
        let inserted = sqlx::query(
            "INSERT INTO market_product_purchases (id, product_id, provider_id, buyer, paid_by, chain_id, asset,
                debit_id, amount, fee, download_limit)
             VALUES ($1, $2, $3, $4, 'balance', $5, $6, $7, $8::numeric, $9::numeric, $10)
             ON CONFLICT DO NOTHING
             RETURNING id",
        )
        .bind(new.id)
        .bind(new.product_id.0)
        .bind(new.provider_id.0)
        .bind(new.buyer.as_slice())
        .bind(int(request.account.chain_id))
        .bind(request.account.token.as_slice())
        .bind(debit.id)
        .bind(new.amount.to_string())
        .bind(new.fee.to_string())
        .bind(new.download_limit.map(|l| i32::try_from(l).unwrap_or(i32::MAX)))
        .fetch_optional(&mut *tx)
        .await?;
        if inserted.is_none() {
            // The one-live-purchase index: roll the debit back with it.
            drop(tx);
            return match self.live_product_purchase(new.product_id, new.buyer).await? {
                Some(live) => Ok(BalanceSale::Held(live)),
                // Released between the insert and this read: the caller tries again.
                None => Ok(BalanceSale::ProductChanged),
            };
        }
        sqlx::query("UPDATE balance_debits SET product_id = $2 WHERE id = $1")
            .bind(debit.id)
            .bind(new.product_id.0)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.announce_debits(std::slice::from_ref(request), &[DebitDecision::Accepted(debit)]);
        let purchase = self.product_purchase(new.id).await?.ok_or(sqlx::Error::RowNotFound)?;
        Ok(BalanceSale::Bought(purchase))
    }

    /// The purchase balance debit `debit` paid for, if any.
    pub async fn product_purchase_by_debit(&self, debit: Uuid) -> Result<Option<ProductPurchase>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("{PURCHASE_SELECT} WHERE pp.debit_id = $1")))
            .bind(debit)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(purchase_from_row).transpose()
    }

    /// The product each of `debits` bought, for a balance history: (debit, product).
    pub async fn products_of_debits(&self, debits: &[Uuid]) -> Result<Vec<(Uuid, ProductId)>> {
        let rows = sqlx::query(
            "SELECT d.id, d.product_id FROM balance_debits d WHERE d.id = ANY($1) AND d.product_id IS NOT NULL",
        )
        .bind(debits)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|row| Ok((row.try_get("id")?, ProductId(row.try_get("product_id")?)))).collect()
    }
}
