//! Prepaid balances in the `BalanceVault`: `POST /v1/balance/deposit` (x402 into the vault, the agent names the
//! amount), `GET /v1/balance` and `GET /v1/balance/history` (API key), the balance credentials that spend it
//! ([`credentials`]), purchases paid from it ([`purchase`]; an `automated_service` job's money held until delivered:
//! [`job`]), and `GET /v1/balance/withdrawal`, the agent's exit.
//!
//! Deposits, withdrawals and subscription charges count when the indexer has confirmed their vault events; debits
//! count the moment the market accepts them (see `clearing_ledger::market::Balance`). The exit needs nothing from
//! this server: the agent's own wallet calls `requestWithdrawal`, waits the vault's fixed delay, and calls
//! `withdraw`; the withdrawal route hands out those calls ready to send.

pub(crate) mod credentials;
pub(crate) mod hot;
mod job;
mod openapi;
pub(crate) mod purchase;

pub(crate) use openapi::OPENAPI;

use alloy_primitives::U256;
use alloy_sol_types::SolCall;
use axum::{
    Json, Router,
    extract::{OriginalUri, RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{delete, get, post},
};
use clearing_chain::contracts::BalanceVault;
use clearing_ledger::{
    PaymentKey, Route,
    market::{BalanceAccount, FrontRunRecipient, HistoryEntry},
};
use clearing_x402::Usdc;
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::info;

use crate::{Authenticated, ErrorCode, JsonBody, Market, MarketError, Result};

/// The largest deposit, USDC.
const MAX_DEPOSIT: Usdc = Usdc::from_whole(1_000_000);
/// History entries per page unless asked.
const DEFAULT_LIMIT: u32 = 50;
/// The largest history page.
const MAX_LIMIT: u32 = 200;

/// The balance routes.
pub(crate) fn routes() -> Router<Market> {
    Router::new()
        .route("/balance", get(balance))
        .route("/balance/deposit", post(deposit))
        .route("/balance/history", get(history))
        .route("/balance/withdrawal", get(withdrawal))
        .route("/balance/credentials", post(credentials::create).get(credentials::list))
        .route("/balance/credentials/{id}", delete(credentials::revoke))
}

pub(crate) fn usdc(amount: U256) -> Usdc {
    Usdc::from_atomic(u128::try_from(amount).unwrap_or(u128::MAX))
}

/// `POST /v1/balance/deposit`'s body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DepositRequest {
    /// USDC to deposit.
    amount: Usdc,
}

/// An x402 payment of the named amount into the vault, credited to the paying wallet once the indexer confirms its
/// `Deposited` event. No key: the payment names the account.
async fn deposit(
    State(market): State<Market>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    JsonBody(body): JsonBody<DepositRequest>,
) -> Result<Response> {
    if body.amount.is_zero() || body.amount > MAX_DEPOSIT {
        return Err(MarketError::invalid("amount", format!("amount is above 0 and at most {MAX_DEPOSIT} USDC")));
    }
    let vault = market.vault()?;
    let price =
        market.edge().escrow_price(body.amount, vault, &format!("Deposit {} USDC to a prepaid balance", body.amount));
    let payment = market.edge().payment(&price, &uri, &headers)?;
    let settled = settle_deposit(&market, &payment).await?;
    let payer = settled.payer();
    info!(%payer, amount = %body.amount, tx = ?settled.transaction(), "deposited to a balance");
    let account = account_of(&market, vault, payer);
    let balance = market.ledger().balance(&account).await?;
    let answer = json!({
        "deposit": {
            "payer": payer.to_checksum(None),
            "amount": body.amount,
            "tx_hash": settled.transaction().map(|tx| tx.to_string()),
            "credited": "once the indexer confirms the deposit; GET /v1/balance shows it",
        },
        "balance": balance_view(&market, &account, &balance),
    });
    Ok(settled.attach((StatusCode::CREATED, Json(answer)).into_response()))
}

/// Settles `payment` (an x402 payment whose payTo is the vault) as a deposit credited to its payer.
///
/// Verified first: a payment that cannot settle is a 402 naming why, before it is queued. A repeat of a deposit that
/// settled no longer verifies (its nonce is used); the queue then answers exactly that payment with its transaction,
/// so a lost answer is answered again and the deposit is never made twice.
///
/// A deposit refused because its nonce is used, and not by a deposit of this server, is noted: if someone else
/// submitted the authorization to the token first, its money is in the vault and the keeper books it
/// ([`crate::front_runs`]).
pub(crate) async fn settle_deposit(market: &Market, payment: &crate::Payment) -> Result<crate::Settled> {
    if let Err(refused) = market.edge().verify(payment).await {
        let Some((payer, nonce)) = market.edge().signed_by(payment) else { return Err(refused) };
        let key = PaymentKey { chain_id: market.edge().chain_id(), asset: market.edge().token(), payer, nonce };
        let queued = market.ledger().settlement(&key).await?.is_some_and(|s| s.payment.route == Route::VaultDeposit);
        if !queued {
            crate::front_runs::note(market, FrontRunRecipient::Vault(market.vault()?), payment, &refused).await;
            return Err(refused);
        }
    }
    crate::front_runs::settle_keyed(market, FrontRunRecipient::Vault(market.vault()?), payment, Route::VaultDeposit)
        .await
}

async fn balance(State(market): State<Market>, caller: Authenticated) -> Result<Json<Value>> {
    let account = account_of(&market, market.vault()?, caller.0.wallet);
    let balance = market.ledger().balance(&account).await?;
    Ok(Json(balance_view(&market, &account, &balance)))
}

async fn history(State(market): State<Market>, caller: Authenticated, RawQuery(raw): RawQuery) -> Result<Json<Value>> {
    let (limit, offset) = page(raw.as_deref().unwrap_or(""))?;
    let account = account_of(&market, market.vault()?, caller.0.wallet);
    let entries = market.ledger().balance_history(&account, limit, offset).await?;
    let product_debits: Vec<uuid::Uuid> = entries
        .iter()
        .filter_map(|entry| match entry {
            HistoryEntry::Debit(debit) if debit.service_id.is_none() => Some(debit.id),
            _ => None,
        })
        .collect();
    let products = market.ledger().products_of_debits(&product_debits).await?;
    let entries: Vec<Value> = entries
        .iter()
        .map(|entry| match entry {
            HistoryEntry::Chain { kind, amount, tx_hash, block_number, reference } => json!({
                "kind": kind,
                "amount": usdc(*amount),
                "tx_hash": tx_hash.to_string(),
                "block_number": block_number,
                "reference": reference.map(|r| r.to_string()),
            }),
            HistoryEntry::Debit(debit) => json!({
                "kind": "debit",
                "id": debit.id,
                "amount": usdc(debit.debit.amount),
                "fee": usdc(debit.debit.fee),
                "service_id": debit.service_id.map(|id| id.0),
                "product_id": products.iter().find(|(id, _)| *id == debit.id).map(|(_, product)| product.0),
                "provider": debit.debit.provider.to_checksum(None),
                "status": purchase::debit_status(debit),
                "tx_hash": debit.tx_hash.map(|tx| tx.to_string()),
                "failure_reason": debit.failure_reason,
                "created_at": debit.created_at,
            }),
        })
        .collect();
    Ok(Json(json!({ "limit": limit, "offset": offset, "entries": entries })))
}

/// The agent's exit, ready to send from its own wallet: no call of this server can block it.
async fn withdrawal(State(market): State<Market>, caller: Authenticated) -> Result<Json<Value>> {
    let vault = market.vault()?;
    let wallet = caller.0.wallet;
    let account = account_of(&market, vault, wallet);
    let balance = market.ledger().balance(&account).await?;
    let token = market.edge().token();
    let call =
        |data: Vec<u8>| json!({ "to": vault.to_checksum(None), "data": alloy_primitives::hex::encode_prefixed(data) });
    Ok(Json(json!({
        "wallet": wallet.to_checksum(None),
        "vault": vault.to_checksum(None),
        "status": match balance.withdrawal {
            Some(_) => "requested",
            None => "none",
        },
        "unlock_at": balance.withdrawal.map(|(_, unlock_at)| unlock_at),
        "steps": "send `request` from your wallet; from unlock_at on, send `withdraw` (it pays your whole vault balance \
                  to your wallet); `cancel` drops the request. Debits accepted before the request may still be applied \
                  until unlock_at; none are accepted while it stands.",
        "request": call(BalanceVault::requestWithdrawalCall { token }.abi_encode()),
        "withdraw": call(BalanceVault::withdrawCall { token, to: wallet }.abi_encode()),
        "cancel": call(BalanceVault::cancelWithdrawalCall { token }.abi_encode()),
    })))
}

fn account_of(market: &Market, vault: alloy_primitives::Address, wallet: alloy_primitives::Address) -> BalanceAccount {
    BalanceAccount { chain_id: market.edge().chain_id(), vault, token: market.edge().token(), account: wallet }
}

fn balance_view(market: &Market, account: &BalanceAccount, balance: &clearing_ledger::market::Balance) -> Value {
    json!({
        "wallet": account.account.to_checksum(None),
        "chain_id": account.chain_id,
        "token": account.token.to_checksum(None),
        "vault": account.vault.to_checksum(None),
        "available": usdc(balance.available),
        "deposited": usdc(balance.deposited),
        "withdrawn": usdc(balance.withdrawn),
        "charged": usdc(balance.charged),
        "spent": usdc(balance.spent),
        "pending_debits": usdc(balance.pending_debits),
        "renewals_due": usdc(balance.renewals_due),
        "withdrawal_pending": balance.withdrawal.map(|(requested, unlock_at)| json!({
            "requested_balance": usdc(requested),
            "unlock_at": unlock_at,
        })),
        "links": {
            "history": format!("{}/v1/balance/history", market.public_base()),
            "withdrawal": format!("{}/v1/balance/withdrawal", market.public_base()),
        },
    })
}

/// `limit` and `offset` of a history page.
fn page(raw: &str) -> Result<(u32, u32)> {
    let (mut limit, mut offset) = (DEFAULT_LIMIT, 0);
    for (name, value) in url::form_urlencoded::parse(raw.as_bytes()) {
        match name.as_ref() {
            "limit" => {
                limit = value.parse().ok().filter(|l| (1..=MAX_LIMIT).contains(l)).ok_or_else(|| {
                    MarketError::field(
                        ErrorCode::InvalidQuery,
                        "limit",
                        format!("limit is a whole number from 1 to {MAX_LIMIT}"),
                    )
                })?;
            }
            "offset" => {
                offset = value.parse().ok().filter(|o| *o <= 100_000).ok_or_else(|| {
                    MarketError::field(ErrorCode::InvalidQuery, "offset", "offset is a whole number up to 100,000")
                })?;
            }
            other => {
                return Err(MarketError::field(
                    ErrorCode::InvalidQuery,
                    other.to_owned(),
                    format!("unknown parameter {other}: limit and offset page the history"),
                ));
            }
        }
    }
    Ok((limit, offset))
}
