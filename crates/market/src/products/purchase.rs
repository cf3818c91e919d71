//! `POST /v1/products/{id}/purchase`: a product bought with one x402 payment into the escrow, credited at once by
//! `Escrow.payMany` (the provider the listed price, the fee recipient the fee on top), the same route as a data_api
//! purchase, so every sale is an `escrow_credit` settlement record in the audit trail.
//!
//! The order is the service purchase's ([`crate::jobs`]): what can refuse for free is checked before a payment is
//! asked for (the product; with an `X-API-Key`, whether that participant's wallet owns it already); the payment is
//! verified (learning the buying wallet), then the purchase is recorded keyed by the payment ([`record_purchase`],
//! where the one-live-purchase-per-wallet index answers "already owned" with a 409 and nothing is charged), then
//! settled keyed by the payment, so a repeat of the same payment finds the purchase it made, never a second one.
//! A payment that fails to settle releases its purchase, and the wallet may buy again.
//!
//! With `X-BALANCE-AUTH` the product is bought from the prepaid balance instead ([`super::balance`]); a balance that
//! is short falls through to this x402 answer, marked with the reason in `X-Balance-Refused`.

use alloy_primitives::{Address, U256};
use axum::{
    Json,
    extract::{OriginalUri, Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use clearing_ledger::{
    PaymentKey, Route,
    market::{FrontRunRecipient, NewProductPurchase, Product, ProductPurchase, PurchaseInsert, PurchasePayment},
};
use clearing_x402::Usdc;
use serde::Serialize;
use time::OffsetDateTime;
use tracing::info;
use uuid::Uuid;

use super::{balance::BalanceAnswer, not_found, parse_id, prices};
use crate::{
    Authenticated, ErrorCode, Market, MarketError, Result, Verified,
    balance::{credentials, purchase::mark_fall_through},
    jobs::now,
};

/// How a product purchase paid with x402 is recorded by [`record_purchase`] (a balance purchase is recorded with its
/// debit, in one transaction: [`super::balance`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PaidBy {
    /// An x402 payment into the escrow at `escrow`, verified (not yet settled).
    X402 {
        /// The verified payment: its payer is the buyer.
        verified: Verified,
        /// The escrow it pays into.
        escrow: Address,
    },
}

/// What [`record_purchase`] did.
#[derive(Debug, Clone)]
pub(crate) enum Recorded {
    /// A new purchase.
    New(ProductPurchase),
    /// The purchase this very payment made before.
    Repeat(ProductPurchase),
}

impl Recorded {
    fn purchase(&self) -> &ProductPurchase {
        match self {
            Self::New(purchase) | Self::Repeat(purchase) => purchase,
        }
    }
}

/// Records `buyer`'s purchase of `product`, paid by `paid_by`, at the product's price now (the agent price: the
/// listed price plus the fee). 409 `already_owned` when the wallet owns the product or another purchase of it is
/// being paid; a stale purchase whose payment can no longer settle is released first.
pub(crate) async fn record_purchase(
    market: &Market,
    product: &Product,
    buyer: Address,
    paid_by: PaidBy,
) -> Result<Recorded> {
    let prices = prices(product.price, market.fee());
    let fee = prices.agent_price.checked_sub(prices.price).unwrap_or(Usdc::ZERO);
    let PaidBy::X402 { verified, escrow } = paid_by;
    let payment = PurchasePayment::X402 {
        chain_id: market.edge().chain_id(),
        asset: market.edge().token(),
        nonce: verified.nonce,
        escrow,
        valid_before: verified.valid_before,
    };
    let new = NewProductPurchase {
        id: Uuid::new_v4(),
        product_id: product.id,
        provider_id: product.provider_id,
        buyer,
        payment,
        amount: prices.agent_price.to_u256(),
        fee: fee.to_u256(),
        download_limit: product.download_limit,
    };
    // Twice at most: a stale live purchase is released, then the insert is tried again.
    for _ in 0..2 {
        match market.ledger().insert_product_purchase(&new).await? {
            PurchaseInsert::Inserted(purchase) => return Ok(Recorded::New(purchase)),
            PurchaseInsert::Repeat(purchase) if purchase.new.product_id == product.id => {
                return Ok(Recorded::Repeat(purchase));
            }
            PurchaseInsert::Repeat(purchase) => {
                return Err(MarketError::refused(
                    ErrorCode::PaymentReused,
                    format!(
                        "this payment already bought product {} (purchase {}): sign a new one for another purchase",
                        purchase.new.product_id, purchase.new.id
                    ),
                ));
            }
            PurchaseInsert::Held(live) if live.owned() => return Err(already_owned(buyer, product, &live)),
            PurchaseInsert::Held(live) => {
                if !market.ledger().release_product_purchase(live.new.id, now()).await? {
                    return Err(MarketError::refused(
                        ErrorCode::AlreadyOwned,
                        format!(
                            "wallet {buyer} has a purchase of product {} being paid (purchase {}): wait for it, then \
                             download; nothing was charged for this request",
                            product.id, live.new.id
                        ),
                    ));
                }
            }
        }
    }
    Err(MarketError::refused(
        ErrorCode::AlreadyOwned,
        format!("wallet {buyer} is buying product {} in another request; nothing was charged", product.id),
    ))
}

pub(super) fn already_owned(buyer: Address, product: &Product, purchase: &ProductPurchase) -> MarketError {
    MarketError::refused(
        ErrorCode::AlreadyOwned,
        format!(
            "wallet {buyer} already owns product {} (purchase {}): download it with GET /v1/products/{}/download; \
             nothing was charged",
            product.id, purchase.new.id, product.id
        ),
    )
}

pub(super) async fn purchase(
    State(market): State<Market>,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    caller: Option<Authenticated>,
    headers: HeaderMap,
) -> Result<Response> {
    let id = parse_id(&id)?;
    let product = market.ledger().product(id).await?.filter(|p| !p.deleted).ok_or_else(|| not_found(id))?;
    // A balance credential pays from the prepaid balance when it can; a short balance is answered as x402 would. A
    // request that carries an x402 payment is paid with it alone (a retry after a lost answer must not also pay from
    // the balance).
    let holder = if crate::edge::carries_payment(&headers) {
        None
    } else {
        credentials::from_headers(&market, &headers).await?
    };
    let balance_refused = match holder {
        Some(holder) => match super::balance::buy_from_balance(&market, &product, &headers, &holder).await? {
            BalanceAnswer::Answered(response) => return Ok(response),
            BalanceAnswer::FallThrough(reason) => Some(reason),
        },
        None => None,
    };
    let escrow = market.escrow()?;
    // With a key, a wallet that owns the product is told so before it is asked to pay.
    if let Some(Authenticated(me)) = &caller
        && let Some(live) = market.ledger().live_product_purchase(id, me.wallet).await?
        && live.owned()
    {
        return Err(already_owned(me.wallet, &product, &live));
    }
    let agent_price = prices(product.price, market.fee()).agent_price;
    let edge = market.edge();
    let price = edge.escrow_price(agent_price, escrow, &format!("Product: {}", product.name));
    let payment = match (edge.payment(&price, &uri, &headers), balance_refused) {
        (Ok(payment), _) => payment,
        (Err(demand), Some(reason)) => return Ok(mark_fall_through(demand.into_response(), reason)),
        (Err(demand), None) => return Err(demand),
    };
    let recorded = match edge.verify(&payment).await {
        Ok(verified) => record_purchase(&market, &product, verified.payer, PaidBy::X402 { verified, escrow }).await?,
        // A repeat of a payment that bought this product and settled since no longer verifies (its nonce is used):
        // it is answered with that purchase if the queue holds exactly this payment (checked by the settle below).
        Err(refused) => match bought_with(&market, &payment).await? {
            Some(purchase) if purchase.new.product_id == product.id => Recorded::Repeat(purchase),
            _ => {
                crate::front_runs::note(&market, FrontRunRecipient::Escrow(escrow), &payment, &refused).await;
                return Err(refused);
            }
        },
    };
    let purchase = recorded.purchase();
    let route = Route::EscrowCredit { provider: product.provider_wallet, fee: purchase.new.fee };
    let settled =
        match crate::front_runs::settle_keyed(&market, FrontRunRecipient::Escrow(escrow), &payment, route).await {
            Ok(settled) => settled,
            Err(refused) => {
                // Released only if it can no longer settle: the wallet may then buy again with another payment.
                market.ledger().release_product_purchase(purchase.new.id, now()).await?;
                return Err(refused);
            }
        };
    info!(purchase = %purchase.new.id, product = %product.id, buyer = %purchase.new.buyer, tx = ?settled.transaction(),
        "product purchased");
    let status = if matches!(recorded, Recorded::New(_)) { StatusCode::CREATED } else { StatusCode::OK };
    let purchase = market.ledger().product_purchase(purchase.new.id).await?.unwrap_or_else(|| purchase.clone());
    Ok(settled.attach((status, Json(PurchaseView::of(&market, &purchase, &product))).into_response()))
}

/// The purchase recorded for `payment`'s key (its signer and nonce), if any.
async fn bought_with(market: &Market, payment: &crate::Payment) -> Result<Option<ProductPurchase>> {
    let Some((payer, nonce)) = market.edge().signed_by(payment) else { return Ok(None) };
    let key = PaymentKey { chain_id: market.edge().chain_id(), asset: market.edge().token(), payer, nonce };
    Ok(market.ledger().product_purchase_by_payment(&key).await?)
}

/// A purchase as the API shows it.
#[derive(Debug, Serialize)]
pub(super) struct PurchaseView<'a> {
    purchase_id: Uuid,
    product_id: clearing_ledger::market::ProductId,
    product_name: &'a str,
    buyer: String,
    /// `paying`, `paid` or `failed`, from the settlement queue.
    status: &'static str,
    /// `x402` or `balance`.
    paid_by: &'static str,
    /// A balance purchase's debit (its entry in `GET /v1/balance/history`).
    #[serde(skip_serializing_if = "Option::is_none")]
    debit_id: Option<Uuid>,
    /// What the buyer paid, the provider's part and the platform's.
    price: Usdc,
    provider_net: Usdc,
    platform_fee: Usdc,
    download_limit: Option<u32>,
    downloads: u32,
    downloads_remaining: Option<u32>,
    tx_hash: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    purchased_at: OffsetDateTime,
    file: super::FileView<'a>,
    links: PurchaseLinks,
}

#[derive(Debug, Serialize)]
struct PurchaseLinks {
    product: String,
    download: String,
}

impl<'a> PurchaseView<'a> {
    pub(super) fn of(market: &Market, purchase: &'a ProductPurchase, product: &'a Product) -> Self {
        let usdc = |amount: U256| Usdc::from_atomic(u128::try_from(amount).unwrap_or(u128::MAX));
        let (price, fee) = (usdc(purchase.new.amount), usdc(purchase.new.fee));
        let base = format!("{}/v1/products/{}", market.public_base(), product.id);
        Self {
            purchase_id: purchase.new.id,
            product_id: product.id,
            product_name: &product.name,
            buyer: purchase.new.buyer.to_checksum(None),
            status: purchase.state().as_str(),
            paid_by: purchase.new.payment.as_str(),
            debit_id: match purchase.new.payment {
                PurchasePayment::Balance { debit, .. } => Some(debit),
                PurchasePayment::X402 { .. } => None,
            },
            price,
            provider_net: price.checked_sub(fee).unwrap_or(Usdc::ZERO),
            platform_fee: fee,
            download_limit: purchase.new.download_limit,
            downloads: purchase.downloads,
            downloads_remaining: purchase.new.download_limit.map(|limit| limit.saturating_sub(purchase.downloads)),
            tx_hash: purchase.tx.map(|tx| tx.to_string()),
            purchased_at: purchase.created_at,
            file: super::FileView::of(&product.file),
            links: PurchaseLinks { product: base.clone(), download: format!("{base}/download") },
        }
    }
}
