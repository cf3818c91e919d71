//! A product bought from the prepaid balance: `POST /v1/products/{id}/purchase` with `X-BALANCE-AUTH`.
//!
//! The debit and the purchase are written in one transaction ([`clearing_ledger::Ledger::buy_product_with_balance`]):
//! the agent price (the listed price plus the fee) is held against the balance at once and posted to the vault in
//! its `debitMany` batches, which credit the provider the listed price and the fee recipient the fee, as the x402
//! sale does through the escrow. The purchase is owned as soon as it is answered. A wallet that owns the product is
//! answered 409 and nothing is debited; a retry with the same idempotency key (the `Idempotency-Key` header, else one
//! derived from the credential and the product) answers the purchase it made, unless the key was derived and the
//! vault refused that purchase: then the request buys again, once, under a key named after the refused debit. A short balance, or one locked by a
//! withdrawal request, falls through to the x402 answer as a service purchase does.

use axum::{
    Json,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use clearing_ledger::market::{
    BalanceAccount, BalanceSale, DebitRequest, NewProductPurchase, Product, ProductPurchase, PurchasePayment,
    PurchaseState,
};
use clearing_x402::Usdc;
use tracing::info;
use uuid::Uuid;

use super::{
    not_found, prices,
    purchase::{PurchaseView, already_owned},
};
use crate::{
    ErrorCode, Market, MarketError, Result,
    balance::{
        hot::Holder,
        purchase::{check_request_cap, idempotency_keys, refusal},
    },
    jobs::now,
};

/// Tries of one request: the first, a stale live purchase released, a repriced listing, and failed purchases of a
/// derived key passed over.
const MAX_TRIES: usize = 5;

/// What a product purchase from the balance came to.
pub(super) enum BalanceAnswer {
    /// The answer to send.
    Answered(Response),
    /// The balance is short or locked: answer as x402 does, naming this reason.
    FallThrough(&'static str),
}

/// Buys `product` from the balance of the credential's owner, if it can.
pub(super) async fn buy_from_balance(
    market: &Market,
    product: &Product,
    headers: &HeaderMap,
    holder: &Holder,
) -> Result<BalanceAnswer> {
    let (credential, owner) = (&holder.credential, &holder.owner);
    if credential.services.is_some() {
        return Err(MarketError::refused(
            ErrorCode::BalanceCredentialScope,
            "this balance credential lists the only services it buys, so it buys no products: use a credential \
             made without a service list",
        ));
    }
    let vault = market.vault()?;
    let (mut key, mut also_matches) = idempotency_keys(headers, credential, product.id.0, None)?;
    let derived = also_matches.is_some();
    let mut product = product.clone();
    // A few times at most after the first try: a stale live purchase released, the listing repriced meanwhile, or a
    // derived key's earlier purchases found failed.
    for _ in 0..MAX_TRIES {
        let prices = prices(product.price, market.fee());
        let fee = prices.agent_price.checked_sub(prices.price).unwrap_or(Usdc::ZERO);
        check_request_cap(credential, prices.agent_price)?;
        let account = BalanceAccount {
            chain_id: market.edge().chain_id(),
            vault,
            token: market.edge().token(),
            account: owner.wallet,
        };
        let request = DebitRequest {
            account,
            provider: product.provider_wallet,
            amount: prices.agent_price.to_u256(),
            fee: fee.to_u256(),
            credential: credential.id,
            max_per_day: credential.max_per_day,
            idempotency_key: key.clone(),
            also_matches: also_matches.clone(),
            service_id: None,
        };
        let new = NewProductPurchase {
            id: Uuid::new_v4(),
            product_id: product.id,
            provider_id: product.provider_id,
            buyer: owner.wallet,
            payment: PurchasePayment::Balance { chain_id: account.chain_id, token: account.token, debit: Uuid::nil() },
            amount: request.amount,
            fee: request.fee,
            download_limit: product.download_limit,
        };
        let sale = market.ledger().buy_product_with_balance(&request, &new, prices.price.to_u256()).await?;
        match sale {
            BalanceSale::Bought(purchase) => {
                info!(purchase = %purchase.new.id, product = %product.id, buyer = %owner.wallet,
                    "product purchased from balance");
                return Ok(answered(market, StatusCode::CREATED, &purchase, &product));
            }
            BalanceSale::Repeat(purchase) if derived && purchase.state() == PurchaseState::Failed => {
                // The vault refused the purchase this derived key made: without a key of its own, the agent is
                // buying again, not retrying. The next key is named after the failed debit, so every retry of
                // this request (in any window) finds the same one, and buys at most once more.
                let PurchasePayment::Balance { debit, .. } = purchase.new.payment else {
                    return Ok(answered(market, StatusCode::OK, &purchase, &product));
                };
                key = format!("derived:after:{debit}");
                also_matches = None;
            }
            BalanceSale::Repeat(purchase) => return Ok(answered(market, StatusCode::OK, &purchase, &product)),
            BalanceSale::KeyReused(debit) => {
                return Err(MarketError::refused(
                    ErrorCode::IdempotencyKeyReused,
                    format!("this idempotency key already paid for purchase {}: use a new key", debit.id),
                ));
            }
            BalanceSale::Held(live) if live.owned() => return Err(already_owned(owner.wallet, &product, &live)),
            BalanceSale::Held(live) => {
                if !market.ledger().release_product_purchase(live.new.id, now()).await? {
                    return Err(MarketError::refused(
                        ErrorCode::AlreadyOwned,
                        format!(
                            "wallet {} has a purchase of product {} being paid (purchase {}): wait for it, then \
                             download; nothing was charged for this request",
                            owner.wallet, product.id, live.new.id
                        ),
                    ));
                }
            }
            BalanceSale::Refused(decision) => {
                return refusal(market, credential, decision, prices.agent_price).map(BalanceAnswer::FallThrough);
            }
            BalanceSale::ProductChanged => {
                product = market
                    .ledger()
                    .product(product.id)
                    .await?
                    .filter(|p| !p.deleted)
                    .ok_or_else(|| not_found(product.id))?;
            }
        }
    }
    Err(MarketError::refused(
        ErrorCode::AlreadyOwned,
        format!("product {} changed or was bought in another request meanwhile; nothing was charged", product.id),
    ))
}

fn answered(market: &Market, status: StatusCode, purchase: &ProductPurchase, product: &Product) -> BalanceAnswer {
    BalanceAnswer::Answered((status, Json(PurchaseView::of(market, purchase, product))).into_response())
}
