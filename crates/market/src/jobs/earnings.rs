//! The provider's money: `GET /v1/provider/earnings` (held in escrow, credited and claimable, claimed, and the
//! recent balance changes, all from chain events at confirmation depth; and the balance vault's part, from balance
//! purchases and subscriptions) and `POST /v1/provider/claim` (the whole claimable balance, in the escrow and in the
//! vault, paid to the provider's own wallet by the relayer, so the provider needs no gas).

use std::time::{Duration, Instant};

use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use clearing_ledger::{Action, NewAction, SettlementStatus};
use clearing_x402::Usdc;
use serde_json::json;
use tracing::info;

use crate::{Authenticated, ErrorCode, Market, MarketError, Result};

/// Balance changes listed.
const RECENT: u32 = 20;

fn usdc(amount: alloy_primitives::U256) -> Usdc {
    Usdc::from_atomic(u128::try_from(amount).unwrap_or(u128::MAX))
}

pub(super) async fn earnings(State(market): State<Market>, caller: Authenticated) -> Result<Response> {
    let escrow = market.escrow()?;
    let (chain_id, token) = (market.edge().chain_id(), market.edge().token());
    let wallet = caller.0.wallet;
    let earnings = market.ledger().earnings(chain_id, escrow, token, wallet, RECENT).await?;
    let recent: Vec<_> = earnings
        .recent
        .iter()
        .map(|entry| {
            json!({
                "kind": entry.kind,
                "amount": usdc(entry.amount),
                "escrow_job_id": entry.job_id.map(|id| id.to_string()),
                "claimed_to": entry.claimed_to.map(|to| to.to_checksum(None)),
                "tx_hash": entry.tx_hash.to_string(),
                "block_number": entry.block_number,
            })
        })
        .collect();
    // Balance purchases and subscriptions credit the vault, not the escrow: their part is claimable there.
    let vault = match market.vault() {
        Ok(vault) => {
            let v = market.ledger().vault_earnings(chain_id, vault, token, wallet).await?;
            json!({
                "vault": vault.to_checksum(None),
                "claimable": usdc(v.claimable),
                "from_balance_purchases": usdc(v.from_purchases),
                "from_subscriptions": usdc(v.from_subscriptions),
                "claimed": usdc(v.claimed),
                "accepted_not_applied": usdc(v.accepted),
                "held_for_balance_jobs": usdc(v.held),
                "claim": "BalanceVault.claim(token, to) from your wallet, or claimFor(token, you) by anyone: it pays \
                          only you",
            })
        }
        Err(_) => serde_json::Value::Null,
    };
    Ok(Json(json!({
        "wallet": wallet.to_checksum(None),
        "chain_id": chain_id,
        "token": token.to_checksum(None),
        "escrow": escrow.to_checksum(None),
        "held": usdc(earnings.held),
        "pending": usdc(earnings.pending),
        "settled": usdc(earnings.settled),
        "recent_settlements": recent,
        "balance_vault": vault,
    }))
    .into_response())
}

pub(super) async fn claim(State(market): State<Market>, caller: Authenticated) -> Result<Response> {
    let escrow = market.escrow()?;
    let wallet = caller.0.wallet;
    let (chain_id, token) = (market.edge().chain_id(), market.edge().token());
    let confirmed = market.ledger().earnings(chain_id, escrow, token, wallet, 0).await?;
    // The vault's claimable part (balance purchases, subscriptions), when balances are on.
    let vault = match market.vault() {
        Ok(vault) => {
            let earned = market.ledger().vault_earnings(chain_id, vault, token, wallet).await?;
            (!earned.claimable.is_zero()).then_some(vault)
        }
        Err(_) => None,
    };
    if confirmed.pending.is_zero() && vault.is_none() {
        return Err(MarketError::refused(
            ErrorCode::TransitionNotAllowed,
            "nothing to claim: no confirmed credit is waiting (see GET /v1/provider/earnings)",
        ));
    }
    let deadline = Instant::now() + Duration::from_millis(market.config().claim_wait_ms);
    let mut claims = Vec::new();
    if !confirmed.pending.is_zero() {
        let action = Action::Claim { account: wallet };
        claims.push(("escrow", queue_and_wait(&market, escrow, action, deadline).await?));
    }
    if let Some(vault) = vault {
        let action = Action::VaultClaim { account: wallet };
        claims.push(("balance_vault", queue_and_wait(&market, vault, action, deadline).await?));
    }
    let views: Vec<serde_json::Value> = claims
        .iter()
        .map(|(contract, current)| {
            let state = claim_state(current.status);
            json!({
                "contract": contract,
                "claim_id": current.id.0,
                "status": state,
                "tx_hash": current.tx_hash.map(|tx| tx.to_string()),
                "reason": (state == "failed")
                    .then_some("nothing to claim, or the token refused the transfer (paused, blacklisted)"),
            })
        })
        .collect();
    // The first claim is the answer's top level, as before vault claims; every claim is under `claims`.
    let first = &claims[0].1;
    let state = claim_state(first.status);
    let status = if claims.iter().any(|(_, c)| claim_state(c.status) == "pending") {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(json!({
            "claim_id": first.id.0,
            "status": state,
            "to": wallet.to_checksum(None),
            "tx_hash": first.tx_hash.map(|tx| tx.to_string()),
            "reason": views[0]["reason"],
            "claims": views,
        })),
    )
        .into_response())
}

/// Queues `action` on `contract` (once per account in flight) and waits for it until `deadline`.
async fn queue_and_wait(
    market: &Market,
    contract: alloy_primitives::Address,
    action: Action,
    deadline: Instant,
) -> Result<clearing_ledger::EscrowAction> {
    let new = NewAction { chain_id: market.edge().chain_id(), escrow: contract, asset: market.edge().token(), action };
    let (action, inserted) = market.ledger().enqueue_action(&new).await?;
    if inserted {
        info!(%contract, action = %action.id, "claim queued");
    }
    let mut current = action;
    while !current.status.is_final() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        current = market.ledger().action(current.id).await?.unwrap_or(current);
    }
    Ok(current)
}

fn claim_state(status: SettlementStatus) -> &'static str {
    match status {
        SettlementStatus::Settled | SettlementStatus::Confirmed => "claimed",
        SettlementStatus::Failed | SettlementStatus::Expired => "failed",
        SettlementStatus::Pending | SettlementStatus::Submitted => "pending",
    }
}
