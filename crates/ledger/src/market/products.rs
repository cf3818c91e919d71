//! `market_products` and `market_product_purchases` (`migrations/0012_market_products.sql`): files providers sell,
//! named by their content's SHA-256, and the purchases of them.
//!
//! A purchase is recorded before its payment settles, keyed by the payment; the partial unique index on (product,
//! buyer) is what makes "already owned" hold under concurrent purchases. Whether it is paid is never stored: it is
//! read from the settlement queue by the payment's key at every check ([`PurchaseState`]). A purchase whose payment
//! can no longer settle is released ([`Ledger::release_product_purchase`]), so the wallet may buy again. Downloads
//! are counted with one conditional update, so two concurrent downloads can never both take the last one.

use std::fmt;

use alloy::primitives::{Address, B256, U256};
use clearing_x402::Usdc;
use serde::{Deserialize, Serialize};
use sqlx::{Row as _, postgres::PgRow};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{OwnedWrite, ParticipantId};
use crate::{Error, Ledger, PaymentKey, Result, SettlementStatus, decode::Fields, encode::int};

/// A product's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProductId(pub Uuid);

impl ProductId {
    /// A fresh random id (UUID v4).
    pub fn random() -> Self {
        Self(Uuid::new_v4())
    }
}

impl fmt::Display for ProductId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A product's file, as stored: its content's digest (the storage key), size, name and detected media type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductFile {
    /// SHA-256 of the bytes.
    pub sha256: B256,
    /// Bytes.
    pub size: u64,
    /// The name it was uploaded under.
    pub name: String,
    /// The media type its content was detected as (one the table's check allows).
    pub content_type: String,
}

/// A product to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProduct {
    /// Its id.
    pub id: ProductId,
    /// The provider selling it.
    pub provider_id: ParticipantId,
    /// 1 to 100 characters.
    pub name: String,
    /// 1 to 5,000 characters.
    pub description: String,
    /// Lower case, 1 to 50 characters, if any.
    pub category: Option<String>,
    /// Up to 20.
    pub tags: Vec<String>,
    /// What the provider nets per sale.
    pub price: Usdc,
    /// Downloads per purchase; `None` is unlimited.
    pub download_limit: Option<u32>,
    /// The file, already stored.
    pub file: ProductFile,
}

/// A change to a product's metadata (the file never changes): `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductUpdate {
    /// A new name.
    pub name: Option<String>,
    /// A new description.
    pub description: Option<String>,
    /// A new category (`Some(None)` removes it).
    pub category: Option<Option<String>>,
    /// New tags.
    pub tags: Option<Vec<String>>,
    /// A new price (for later purchases).
    pub price: Option<Usdc>,
    /// A new download limit for later purchases (`Some(None)`: unlimited).
    pub download_limit: Option<Option<u32>>,
}

/// A product, with its provider's name and wallet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    /// Its id.
    pub id: ProductId,
    /// The provider.
    pub provider_id: ParticipantId,
    /// The provider's display name.
    pub provider_name: String,
    /// The provider's wallet: credited by each sale.
    pub provider_wallet: Address,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Category.
    pub category: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// What the provider nets per sale.
    pub price: Usdc,
    /// Downloads per purchase; `None` is unlimited.
    pub download_limit: Option<u32>,
    /// The file.
    pub file: ProductFile,
    /// When it was listed.
    pub created_at: OffsetDateTime,
    /// When its metadata last changed.
    pub updated_at: OffsetDateTime,
    /// Whether its provider deleted it (hidden from the catalog; its buyers keep access).
    pub deleted: bool,
}

/// A catalog query over undeleted products.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductQuery {
    /// Full-text search (websearch syntax, English stemming); ranked when given, newest first otherwise.
    pub text: Option<String>,
    /// Exactly this (lower-case) category.
    pub category: Option<String>,
    /// Only this provider's.
    pub provider: Option<ParticipantId>,
    /// Page size.
    pub limit: u32,
    /// Entries skipped.
    pub offset: u32,
}

/// One page of the catalog and how many match in all.
#[derive(Debug, Clone)]
pub struct ProductPage {
    /// Matches in all.
    pub total: u64,
    /// This page.
    pub entries: Vec<Product>,
}

/// How a purchase is paid; each means brings its own reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PurchasePayment {
    /// An x402 `exact` payment into the escrow, credited by `Escrow.payMany`; keyed by (chain, asset, buyer, nonce).
    X402 {
        /// The chain.
        chain_id: u64,
        /// The token.
        asset: Address,
        /// The authorization's nonce.
        nonce: B256,
        /// The escrow paid into.
        escrow: Address,
        /// The authorization's validBefore, unix seconds.
        valid_before: u64,
    },
    /// A prepaid balance debit, written in the same transaction as the purchase
    /// ([`Ledger::buy_product_with_balance`]) and posted to the vault in its `debitMany` batches.
    Balance {
        /// The vault's chain.
        chain_id: u64,
        /// The vault's token.
        token: Address,
        /// The debit's public id (`balance_debits.id`).
        debit: Uuid,
    },
}

impl PurchasePayment {
    /// Its wire name: `x402` or `balance`.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::X402 { .. } => "x402",
            Self::Balance { .. } => "balance",
        }
    }
}

/// A purchase to record before its payment settles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProductPurchase {
    /// Its id.
    pub id: Uuid,
    /// The product.
    pub product_id: ProductId,
    /// The product's provider.
    pub provider_id: ParticipantId,
    /// The buying wallet.
    pub buyer: Address,
    /// How it is paid.
    pub payment: PurchasePayment,
    /// Atomic units the buyer pays.
    pub amount: U256,
    /// Atomic units of it that are the platform's.
    pub fee: U256,
    /// The product's download limit now.
    pub download_limit: Option<u32>,
}

/// Where a purchase's money stands, from the settlement queue (x402) or the debit's action (balance).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PurchaseState {
    /// Queued or on its way; not yet known to have settled.
    Paying,
    /// Settled: the buyer owns the product.
    Paid,
    /// It can no longer settle (failed or expired).
    Failed,
}

impl PurchaseState {
    /// Its wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Paying => "paying",
            Self::Paid => "paid",
            Self::Failed => "failed",
        }
    }
}

/// A recorded purchase, with what the queue says of its payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductPurchase {
    /// The purchase as recorded.
    pub new: NewProductPurchase,
    /// Downloads so far.
    pub downloads: u32,
    /// Its payment's queue status, once queued.
    pub settlement: Option<SettlementStatus>,
    /// The transaction that carried the payment, once one was sent.
    pub tx: Option<B256>,
    /// Whether it was released (its payment could not settle).
    pub released: bool,
    /// When it was recorded.
    pub created_at: OffsetDateTime,
}

impl ProductPurchase {
    /// Where its money stands. A balance debit pays the moment it is accepted: its amount is held against the
    /// balance at once (as a data_api purchase from a balance is served at once), so only the vault refusing it
    /// unpays it.
    pub fn state(&self) -> PurchaseState {
        match (self.settlement, &self.new.payment) {
            (Some(SettlementStatus::Settled | SettlementStatus::Confirmed), _) => PurchaseState::Paid,
            (Some(SettlementStatus::Failed | SettlementStatus::Expired), _) => PurchaseState::Failed,
            (_, PurchasePayment::Balance { .. }) => PurchaseState::Paid,
            (Some(SettlementStatus::Pending | SettlementStatus::Submitted) | None, PurchasePayment::X402 { .. }) => {
                PurchaseState::Paying
            }
        }
    }

    /// Whether the buyer owns the product by it.
    pub fn owned(&self) -> bool {
        !self.released && self.state() == PurchaseState::Paid
    }
}

/// What recording a purchase found.
#[derive(Debug, Clone)]
pub enum PurchaseInsert {
    /// Recorded.
    Inserted(ProductPurchase),
    /// This very payment recorded it before (a retry): the purchase it made.
    Repeat(ProductPurchase),
    /// The wallet has another live purchase of the product (owned, or a payment still on its way); nothing recorded.
    Held(ProductPurchase),
}

/// What counting a download found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownloadCount {
    /// Counted: downloads so far, this one included.
    Counted(u32),
    /// The purchase's limit is used up; nothing counted.
    LimitReached(u32),
}

const PRODUCT_COLUMNS: &str = "pr.id, pr.provider_id, pa.name AS provider_name, pa.wallet AS provider_wallet, pr.name,
    pr.description, pr.category, pr.tags, pr.price, pr.download_limit, pr.file_sha256, pr.file_size, pr.file_name,
    pr.content_type, pr.created_at, pr.updated_at, pr.deleted_at IS NOT NULL AS deleted";

/// The settlement `s` is the payment of purchase `pp` (an SQL condition): its key, and exactly what the purchase asked
/// for (an escrow credit of its amount and fee to its provider, paid to its escrow). The key alone is the signer's
/// choice: a buyer may sign another payment (a registration, another provider's service) with the same nonce, and its
/// settlement must not make the product paid.
macro_rules! pays_purchase {
    () => {
        "s.chain_id = pp.chain_id AND s.asset = pp.asset AND s.payer = pp.buyer AND s.nonce = pp.nonce
         AND s.route = 'escrow_credit' AND s.pay_to = pp.escrow AND s.value = pp.amount AND s.fee = pp.fee
         AND s.provider = (SELECT v.wallet FROM market_participants v WHERE v.id = pp.provider_id)"
    };
}
const PAYS_PURCHASE: &str = pays_purchase!();

/// A purchase with its payment's status: an x402 payment's settlement, or a balance debit's action.
pub(super) const PURCHASE_SELECT: &str = concat!(
    "SELECT pp.id, pp.product_id, pp.provider_id, pp.buyer, pp.paid_by,
        pp.chain_id, pp.asset, pp.nonce, pp.escrow, pp.valid_before, pp.debit_id, pp.amount::text AS amount,
        pp.fee::text AS fee, pp.download_limit, pp.downloads, pp.created_at, pp.released_at IS NOT NULL AS released,
        coalesce(s.status::text, a.status::text) AS settlement_status, coalesce(b.tx_hash, ab.tx_hash) AS tx
    FROM market_product_purchases pp
    LEFT JOIN settlements s ON ",
    pays_purchase!(),
    "
    LEFT JOIN settlement_batches b ON b.id = s.batch_id
    LEFT JOIN balance_debits d ON d.id = pp.debit_id
    LEFT JOIN escrow_actions a ON a.id = d.action_id
    LEFT JOIN settlement_batches ab ON ab.id = a.batch_id"
);

impl Ledger {
    /// Lists `new`.
    pub async fn create_product(&self, new: &NewProduct) -> Result<Product> {
        sqlx::query(
            "INSERT INTO market_products (id, provider_id, name, description, category, tags, price, download_limit,
                file_sha256, file_size, file_name, content_type)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(new.id.0)
        .bind(new.provider_id.0)
        .bind(&new.name)
        .bind(&new.description)
        .bind(new.category.as_deref())
        .bind(&new.tags)
        .bind(price(new.price))
        .bind(new.download_limit.map(limit))
        .bind(new.file.sha256.as_slice())
        .bind(int(new.file.size))
        .bind(&new.file.name)
        .bind(&new.file.content_type)
        .execute(&self.pool)
        .await?;
        self.product(new.id).await?.ok_or_else(|| sqlx::Error::RowNotFound.into())
    }

    /// Product `id`, deleted or not ([`Product::deleted`] says).
    pub async fn product(&self, id: ProductId) -> Result<Option<Product>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {PRODUCT_COLUMNS} FROM market_products pr JOIN market_participants pa ON pa.id = pr.provider_id
             WHERE pr.id = $1"
        )))
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(product_from_row).transpose()
    }

    /// Applies `update` to product `id` if `provider` owns it and it is not deleted.
    pub async fn update_product(
        &self,
        id: ProductId,
        provider: ParticipantId,
        update: &ProductUpdate,
    ) -> Result<OwnedWrite<Product>> {
        let updated = sqlx::query(
            "UPDATE market_products SET
                name = coalesce($3, name),
                description = coalesce($4, description),
                category = CASE WHEN $5 THEN $6 ELSE category END,
                tags = coalesce($7, tags),
                price = coalesce($8, price),
                download_limit = CASE WHEN $9 THEN $10 ELSE download_limit END,
                updated_at = now()
             WHERE id = $1 AND provider_id = $2 AND deleted_at IS NULL",
        )
        .bind(id.0)
        .bind(provider.0)
        .bind(update.name.as_deref())
        .bind(update.description.as_deref())
        .bind(update.category.is_some())
        .bind(update.category.clone().flatten())
        .bind(update.tags.as_deref())
        .bind(update.price.map(price))
        .bind(update.download_limit.is_some())
        .bind(update.download_limit.flatten().map(limit))
        .execute(&self.pool)
        .await?;
        if updated.rows_affected() == 0 {
            return self.why_product_not_owned(id).await;
        }
        Ok(match self.product(id).await? {
            Some(product) if !product.deleted => OwnedWrite::Done(product),
            _ => OwnedWrite::NotFound,
        })
    }

    /// Hides product `id` from the catalog and from purchase if `provider` owns it; its buyers keep access.
    pub async fn delete_product(&self, id: ProductId, provider: ParticipantId) -> Result<OwnedWrite<()>> {
        let deleted = sqlx::query(
            "UPDATE market_products SET deleted_at = now(), updated_at = now()
             WHERE id = $1 AND provider_id = $2 AND deleted_at IS NULL",
        )
        .bind(id.0)
        .bind(provider.0)
        .execute(&self.pool)
        .await?;
        if deleted.rows_affected() == 0 {
            return self.why_product_not_owned(id).await;
        }
        Ok(OwnedWrite::Done(()))
    }

    async fn why_product_not_owned<T>(&self, id: ProductId) -> Result<OwnedWrite<T>> {
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM market_products WHERE id = $1 AND deleted_at IS NULL)")
                .bind(id.0)
                .fetch_one(&self.pool)
                .await?;
        Ok(if exists { OwnedWrite::NotOwner } else { OwnedWrite::NotFound })
    }

    /// One page of the undeleted products matching `query`, with the number of matches. Ranked by the search when
    /// there is one (name matches first), newest first otherwise; the total comes with the page in one statement.
    pub async fn products(&self, query: &ProductQuery) -> Result<ProductPage> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {PRODUCT_COLUMNS}, count(*) OVER () AS total
             FROM market_products pr JOIN market_participants pa ON pa.id = pr.provider_id
             WHERE pr.deleted_at IS NULL
               AND ($1::text IS NULL OR pr.search @@ websearch_to_tsquery('english', $1))
               AND ($2::text IS NULL OR pr.category = $2)
               AND ($3::uuid IS NULL OR pr.provider_id = $3)
             ORDER BY CASE WHEN $1::text IS NULL THEN 0
                           ELSE ts_rank(pr.search, websearch_to_tsquery('english', $1)) END DESC,
                      pr.created_at DESC, pr.id DESC
             LIMIT $4 OFFSET $5"
        )))
        .bind(query.text.as_deref())
        .bind(query.category.as_deref())
        .bind(query.provider.map(|p| p.0))
        .bind(i64::from(query.limit))
        .bind(i64::from(query.offset))
        .fetch_all(&self.pool)
        .await?;
        let total = match rows.first() {
            Some(row) => Fields::of(PRODUCTS, row).u64("total")?,
            // Past the last page the window is empty: count on its own.
            None if query.offset > 0 => self.count_products(query).await?,
            None => 0,
        };
        let entries = rows.iter().map(product_from_row).collect::<Result<_>>()?;
        Ok(ProductPage { total, entries })
    }

    async fn count_products(&self, query: &ProductQuery) -> Result<u64> {
        let count: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM market_products pr
             WHERE pr.deleted_at IS NULL
               AND ($1::text IS NULL OR pr.search @@ websearch_to_tsquery('english', $1))
               AND ($2::text IS NULL OR pr.category = $2)
               AND ($3::uuid IS NULL OR pr.provider_id = $3)",
        )
        .bind(query.text.as_deref())
        .bind(query.category.as_deref())
        .bind(query.provider.map(|p| p.0))
        .fetch_one(&self.pool)
        .await?;
        crate::decode::u64(PRODUCTS, "count", count)
    }

    /// Records a purchase unless this payment recorded one already ([`PurchaseInsert::Repeat`]) or the wallet holds
    /// a live purchase of the product ([`PurchaseInsert::Held`]).
    pub async fn insert_product_purchase(&self, new: &NewProductPurchase) -> Result<PurchaseInsert> {
        let PurchasePayment::X402 { chain_id, asset, nonce, escrow, valid_before } = new.payment else {
            return Err(Error::Query(sqlx::Error::Protocol(format!(
                "product purchase {} is paid from a balance: record it with buy_product_with_balance",
                new.id
            ))));
        };
        // Twice at most: a live purchase found by the insert may be released before it is read back.
        for _ in 0..2 {
            // No conflict target: the payment key and the one-live-purchase index both turn the insert into nothing.
            let inserted = sqlx::query(
                "INSERT INTO market_product_purchases (id, product_id, provider_id, buyer, paid_by, chain_id, asset,
                    nonce, escrow, valid_before, amount, fee, download_limit)
                 VALUES ($1, $2, $3, $4, 'x402', $5, $6, $7, $8, $9, $10::numeric, $11::numeric, $12)
                 ON CONFLICT DO NOTHING
                 RETURNING id",
            )
            .bind(new.id)
            .bind(new.product_id.0)
            .bind(new.provider_id.0)
            .bind(new.buyer.as_slice())
            .bind(int(chain_id))
            .bind(asset.as_slice())
            .bind(nonce.as_slice())
            .bind(escrow.as_slice())
            .bind(int(valid_before))
            .bind(new.amount.to_string())
            .bind(new.fee.to_string())
            .bind(new.download_limit.map(limit))
            .fetch_optional(&self.pool)
            .await?;
            if inserted.is_some() {
                let purchase = self.product_purchase(new.id).await?.ok_or(sqlx::Error::RowNotFound)?;
                return Ok(PurchaseInsert::Inserted(purchase));
            }
            let key = PaymentKey { chain_id, asset, payer: new.buyer, nonce };
            if let Some(earlier) = self.product_purchase_by_payment(&key).await? {
                return Ok(PurchaseInsert::Repeat(earlier));
            }
            if let Some(live) = self.live_product_purchase(new.product_id, new.buyer).await? {
                return Ok(PurchaseInsert::Held(live));
            }
        }
        Err(Error::Query(sqlx::Error::Protocol(format!(
            "product purchase {} neither inserted nor blocked by a live purchase",
            new.id
        ))))
    }

    /// Purchase `id`.
    pub async fn product_purchase(&self, id: Uuid) -> Result<Option<ProductPurchase>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("{PURCHASE_SELECT} WHERE pp.id = $1")))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(purchase_from_row).transpose()
    }

    /// The purchase the payment `key` recorded, if any.
    pub async fn product_purchase_by_payment(&self, key: &PaymentKey) -> Result<Option<ProductPurchase>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{PURCHASE_SELECT}
             WHERE pp.chain_id = $1 AND pp.asset = $2 AND pp.buyer = $3 AND pp.nonce = $4"
        )))
        .bind(int(key.chain_id))
        .bind(key.asset.as_slice())
        .bind(key.payer.as_slice())
        .bind(key.nonce.as_slice())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(purchase_from_row).transpose()
    }

    /// `buyer`'s live (unreleased) purchase of `product`, if any: owned, or its payment on its way.
    pub async fn live_product_purchase(&self, product: ProductId, buyer: Address) -> Result<Option<ProductPurchase>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{PURCHASE_SELECT} WHERE pp.product_id = $1 AND pp.buyer = $2 AND pp.released_at IS NULL"
        )))
        .bind(product.0)
        .bind(buyer.as_slice())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(purchase_from_row).transpose()
    }

    /// Releases purchase `id` if its payment can no longer settle: its settlement failed or expired, another
    /// payment holds its key in the queue (the same signer and nonce, but not this purchase's payment), or it was
    /// never queued and its validBefore (`now`, unix seconds, is past it) has passed, after which the facilitator
    /// refuses to queue it; for a balance purchase, the vault refused its debit. Returns whether it was released; a
    /// purchase whose payment may still settle is kept.
    pub async fn release_product_purchase(&self, id: Uuid, now: u64) -> Result<bool> {
        let released = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE market_product_purchases pp SET released_at = now()
             WHERE pp.id = $1 AND pp.released_at IS NULL AND (
                 EXISTS (SELECT 1 FROM settlements s WHERE {PAYS_PURCHASE} AND s.status IN ('failed', 'expired'))
                 OR EXISTS (SELECT 1 FROM settlements s
                            WHERE s.chain_id = pp.chain_id AND s.asset = pp.asset AND s.payer = pp.buyer
                              AND s.nonce = pp.nonce AND NOT ({PAYS_PURCHASE}))
                 OR (pp.valid_before < $2 AND NOT EXISTS (
                         SELECT 1 FROM settlements s
                         WHERE s.chain_id = pp.chain_id AND s.asset = pp.asset AND s.payer = pp.buyer
                           AND s.nonce = pp.nonce))
                 OR EXISTS (SELECT 1 FROM balance_debits d JOIN escrow_actions a ON a.id = d.action_id
                            WHERE d.id = pp.debit_id AND a.status = 'failed'))"
        )))
        .bind(id)
        .bind(int(now))
        .execute(&self.pool)
        .await?;
        Ok(released.rows_affected() == 1)
    }

    /// Counts one download of purchase `id` unless its limit is used up. One statement: concurrent downloads each
    /// take one, and never more than the limit between them.
    pub async fn count_product_download(&self, id: Uuid) -> Result<DownloadCount> {
        let row = sqlx::query(
            "UPDATE market_product_purchases SET downloads = downloads + 1, last_download = now()
             WHERE id = $1 AND (download_limit IS NULL OR downloads < download_limit)
             RETURNING downloads",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(row) = row {
            return Ok(DownloadCount::Counted(count(row.try_get("downloads")?)?));
        }
        let limit: Option<i32> =
            sqlx::query_scalar("SELECT download_limit FROM market_product_purchases WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
                .ok_or(sqlx::Error::RowNotFound)?;
        Ok(DownloadCount::LimitReached(count(limit.unwrap_or_default())?))
    }

    /// Gives back a download [`Ledger::count_product_download`] counted, when what it was counted for did not happen
    /// (its payment was not settled).
    pub async fn uncount_product_download(&self, id: Uuid) -> Result<()> {
        sqlx::query("UPDATE market_product_purchases SET downloads = downloads - 1 WHERE id = $1 AND downloads > 0")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// `buyer`'s live purchases with their products, newest first.
    pub async fn product_purchases_of(&self, buyer: Address) -> Result<Vec<(ProductPurchase, Product)>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{PURCHASE_SELECT}
             WHERE pp.buyer = $1 AND pp.released_at IS NULL
             ORDER BY pp.created_at DESC, pp.id DESC
             LIMIT 1000"
        )))
        .bind(buyer.as_slice())
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let purchase = purchase_from_row(row)?;
            let product = self.product(purchase.new.product_id).await?.ok_or(sqlx::Error::RowNotFound)?;
            out.push((purchase, product));
        }
        Ok(out)
    }
}

/// A price as stored: the schema bounds it far below `i64::MAX`, and the API checks that bound first.
fn price(price: Usdc) -> i64 {
    i64::try_from(price.atomic()).unwrap_or(i64::MAX)
}

/// A download limit as stored (`INTEGER`); the API bounds it first.
fn limit(limit: u32) -> i32 {
    i32::try_from(limit).unwrap_or(i32::MAX)
}

fn count(value: i32) -> Result<u32> {
    u32::try_from(value).map_err(|_| Error::Corrupt {
        table: PURCHASES,
        column: "downloads",
        value: value.to_string(),
        expected: "a non-negative count",
    })
}

const PRODUCTS: &str = "market_products";
const PURCHASES: &str = "market_product_purchases";

fn product_from_row(row: &PgRow) -> Result<Product> {
    let f = Fields::of(PRODUCTS, row);
    Ok(Product {
        id: ProductId(row.try_get("id")?),
        provider_id: ParticipantId(row.try_get("provider_id")?),
        provider_name: f.get("provider_name")?,
        provider_wallet: f.address("provider_wallet")?,
        name: f.get("name")?,
        description: f.get("description")?,
        category: f.get("category")?,
        tags: f.get("tags")?,
        price: f.parsed("price", "a positive amount of atomic USDC", |p: &i64| {
            u128::try_from(*p).ok().filter(|p| *p > 0).map(Usdc::from_atomic)
        })?,
        download_limit: f
            .opt_parsed("download_limit", "a positive limit", |l: &i32| u32::try_from(*l).ok().filter(|l| *l > 0))?,
        file: ProductFile {
            sha256: f.b256("file_sha256")?,
            size: f.u64("file_size")?,
            name: f.get("file_name")?,
            content_type: f.get("content_type")?,
        },
        created_at: f.get("created_at")?,
        updated_at: f.get("updated_at")?,
        deleted: f.get("deleted")?,
    })
}

pub(super) fn purchase_from_row(row: &PgRow) -> Result<ProductPurchase> {
    let f = Fields::of(PURCHASES, row);
    let by_balance = f.parsed("paid_by", "x402 or balance", |s: &String| match s.as_str() {
        "x402" => Some(false),
        "balance" => Some(true),
        _ => None,
    })?;
    let payment = if by_balance {
        PurchasePayment::Balance {
            chain_id: f.u64("chain_id")?,
            token: f.address("asset")?,
            debit: f.parsed("debit_id", "a debit id", |id: &Option<Uuid>| *id)?,
        }
    } else {
        PurchasePayment::X402 {
            chain_id: f.u64("chain_id")?,
            asset: f.address("asset")?,
            nonce: f.b256("nonce")?,
            escrow: f.address("escrow")?,
            valid_before: f.u64("valid_before")?,
        }
    };
    Ok(ProductPurchase {
        new: NewProductPurchase {
            id: row.try_get("id")?,
            product_id: ProductId(row.try_get("product_id")?),
            provider_id: ParticipantId(row.try_get("provider_id")?),
            buyer: f.address("buyer")?,
            payment,
            amount: f.number("amount")?,
            fee: f.number("fee")?,
            download_limit: f.opt_parsed("download_limit", "a positive limit", |l: &i32| {
                u32::try_from(*l).ok().filter(|l| *l > 0)
            })?,
        },
        downloads: count(f.get("downloads")?)?,
        settlement: f
            .opt_parsed("settlement_status", "a settlement status", |s: &String| SettlementStatus::from_sql(s))?,
        tx: f.opt_b256("tx")?,
        released: f.get("released")?,
        created_at: f.get("created_at")?,
    })
}
