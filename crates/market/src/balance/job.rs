//! An `automated_service` job paid from the prepaid balance. There is no escrow to hold the money while the provider
//! works, so the ledger holds it: the debit is decided as every balance debit (the same caps, key, credential and
//! balance rules, in the same PL/pgSQL call), its action held (never posted while held), the job recorded and its
//! `job_dispatch` enqueued, all in one transaction ([`clearing_ledger::Ledger::buy_job_from_balance`]). The provider
//! is told at once (the money is already the balance's to give: no chain confirmation to wait for).
//!
//! The provider's `completed` releases the hold and the vault's `debitMany` pays it; its `failed`, or the hold's
//! deadline (`[market] balance_job_hold_secs`), gives the amount back to the balance. A repeat with the same
//! idempotency key answers the same job.

use alloy_primitives::B256;
use axum::{Json, http::StatusCode, response::IntoResponse};
use clearing_ledger::{
    NewWebhookEvent,
    market::{BalanceJobDecision, BalanceJobPurchase, DebitRequest, NewJob, Service},
};
use serde_json::{Value, json};
use tracing::info;
use uuid::Uuid;

use super::{hot::Holder, purchase::BalanceAnswer, usdc};
use crate::{ErrorCode, Market, MarketError, Result, jobs::JobView};

/// Buys `service` (an `automated_service`) with `request`, the debit its price makes from the holder's balance.
pub(super) async fn buy(
    market: &Market,
    service: &Service,
    brief: &Value,
    request: DebitRequest,
    holder: &Holder,
) -> Result<BalanceAnswer> {
    let id = Uuid::new_v4();
    let hold_secs = market.config().balance_job_hold_secs;
    let job = NewJob {
        id,
        service_id: service.id,
        provider_id: service.provider_id,
        service_type: service.service_type,
        chain_id: request.account.chain_id,
        asset: request.account.token,
        payer: request.account.account,
        // Replaced by the debit's on-chain id when it is accepted.
        nonce: B256::ZERO,
        escrow: request.account.vault,
        escrow_job: None,
        amount: request.amount,
        fee: request.fee,
        brief: brief.clone(),
    };
    let dispatch = NewWebhookEvent {
        participant: service.provider_id,
        event_type: "job_dispatch".to_owned(),
        ordering_key: Some(id.to_string()),
        payload: json!({
            "type": "job_dispatch",
            "job_id": id,
            "service_id": service.id,
            "brief": brief,
            "price": usdc(request.amount),
            "provider_net": usdc(request.amount.saturating_sub(request.fee)),
            "callback_url": format!("{}/v1/jobs/{id}/update", market.public_base()),
            "paid_by": "balance",
            "funding_tx": null,
            "hold_until": crate::jobs::now().saturating_add(hold_secs),
            "message": "paid from the agent's prepaid balance: the price is held for you and paid into your vault \
                        balance when you report the job completed, or given back if you report it failed or do not \
                        deliver by hold_until",
        }),
    };
    let purchase = BalanceJobPurchase { debit: request, job, hold_secs, dispatch: vec![dispatch] };
    match market.ledger().buy_job_from_balance(&purchase).await? {
        BalanceJobDecision::Bought(job) => {
            info!(job = %job.new.id, service = %service.id.0, payer = %job.new.payer, "job bought from balance");
            Ok(BalanceAnswer::Answered((StatusCode::CREATED, Json(JobView::of(market, &job))).into_response()))
        }
        BalanceJobDecision::Repeat(job) => {
            Ok(BalanceAnswer::Answered((StatusCode::OK, Json(JobView::of(market, &job))).into_response()))
        }
        BalanceJobDecision::KeyReused(debit) => Err(MarketError::refused(
            ErrorCode::IdempotencyKeyReused,
            format!("this idempotency key already paid for purchase {debit}: use a new key"),
        )),
        BalanceJobDecision::ServiceChanged => {
            market.balance_hot().forget_listing(service.id);
            Ok(BalanceAnswer::Stale)
        }
        BalanceJobDecision::Refused(decision) => super::purchase::service_refusal(market, service, holder, decision),
    }
}
