//! `POST /v1/services/{id}/purchase`: a fixed-price service bought with one x402 payment into the escrow, by any
//! x402 client (the stock npm and Python ones included: the requirement is a plain `exact` payment whose payTo is
//! the escrow).
//!
//! The order matters for money. Everything that can refuse the purchase for free (the service, its pricing model,
//! the brief against its input schema) is checked before a payment is asked for. The payment is verified, then the
//! job is recorded keyed by the payment (a repeat of the payment finds the job it bought, never a second one), then
//! the payment is settled on an escrow route with the terms stored in that record: a `human_service` or
//! `automated_service` is booked as an escrow job (`fundManyWithTransfer`), a `data_api` call is credited at once
//! (`payMany`), the fee split on chain either way. The answer is the job, with the funding transaction in the
//! payment-response header; the job is dispatched when the indexer confirms the funding.

use alloy_primitives::Address;
use alloy_sol_types::SolValue;
use axum::{
    Json,
    extract::{OriginalUri, Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use clearing_chain::{JobTerms, job_id};
use clearing_ledger::{
    JobBooking, JobId, Route, SettlementStatus,
    market::{Job, NewJob, PricingModel, Service, ServiceStatus, ServiceType},
};
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::info;
use uuid::Uuid;

use super::{review_window, view::JobView};
use crate::{ErrorCode, JsonBody, Market, MarketError, Result, Verified, fees, schema::check_instance};

/// `POST /v1/services/{id}/purchase`'s body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PurchaseRequest {
    /// What the provider is asked to do, checked against the service's `input_schema`; `{}` when absent.
    #[serde(default)]
    brief: Option<Value>,
}

pub(super) async fn purchase(
    State(market): State<Market>,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    JsonBody(body): JsonBody<PurchaseRequest>,
) -> Result<Response> {
    let id = crate::services::parse_id(&id)?;
    let service =
        market.ledger().service(id).await?.filter(|s| s.status == ServiceStatus::Active).ok_or_else(|| {
            MarketError::refused(
                ErrorCode::ServiceNotFound,
                format!("no active service {}: see GET /v1/services/catalog", id.0),
            )
        })?;
    if service.pricing_model == PricingModel::QuoteRequired {
        return Err(MarketError::refused(
            ErrorCode::QuoteRequired,
            "this service is priced per job: ask the provider for a quote (the quote flow), then accept it",
        ));
    }
    let brief = body.brief.unwrap_or_else(|| json!({}));
    if let Some(schema) = &service.input_schema {
        let schema: Value = serde_json::from_str(schema.get()).map_err(|e| MarketError::Internal(e.to_string()))?;
        check_instance(&schema, &brief).map_err(|(path, problem)| {
            MarketError::field(
                ErrorCode::InvalidBrief,
                format!("brief{path}"),
                format!("the brief does not fit the service's input_schema: {problem}"),
            )
        })?;
    }
    let escrow = market.escrow()?;
    let price = market.edge().escrow_price(service.price, escrow, &format!("Purchase: {}", service.name));
    let payment = market.edge().payment(&price, &uri, &headers)?;
    let verified = market.edge().verify(&payment).await?;

    let new = new_job(&market, &service, &verified, escrow, brief);
    let (job, inserted) = market.ledger().insert_job(&new).await?;
    if !inserted && job.new.service_id != service.id {
        return Err(MarketError::refused(
            ErrorCode::PaymentReused,
            format!("this payment already bought job {}: sign a new one for another purchase", job.new.id),
        ));
    }
    let route = route_of(&job, service.provider_wallet)?;
    let settled = market.edge().settle_routed(&payment, route).await?;
    info!(job = %job.new.id, service = %service.id.0, payer = %job.new.payer, tx = ?settled.transaction(), "purchased");
    // The job as recorded, with what the settlement just said: its payment settled in this transaction. (Read
    // afresh it could only differ by a chain event the indexer confirmed in the moment since, which the job's own
    // route shows; the read cost a query per purchase.)
    let job = Job {
        settlement: Some(SettlementStatus::Settled),
        funding_tx: settled.transaction().or(job.funding_tx),
        ..job
    };
    let status = if inserted { StatusCode::CREATED } else { StatusCode::OK };
    Ok(settled.attach((status, Json(JobView::of(&market, &job))).into_response()))
}

/// The job a first purchase with this payment records: the terms the escrow will hold it to.
fn new_job(market: &Market, service: &Service, verified: &Verified, escrow: Address, brief: Value) -> NewJob {
    let (chain_id, token) = (market.edge().chain_id(), market.edge().token());
    let fee = fees::fee(service.price, market.fee()).to_u256();
    let amount = service.price.to_u256();
    let escrow_job = (service.service_type != ServiceType::DataApi).then(|| {
        // Funding is allowed while the authorization is; completion within the window after that.
        let funding_deadline = verified.valid_before;
        let terms = JobTerms {
            payer: verified.payer,
            provider: service.provider_wallet,
            token,
            amount,
            fee,
            arbiter: market.arbiter(),
            fundingDeadline: funding_deadline,
            completionDeadline: funding_deadline.saturating_add(market.config().completion_window_secs),
            reviewWindow: review_window(market, service.service_type),
            salt: verified.nonce,
        };
        (JobId(job_id(chain_id, escrow, &terms)), terms.abi_encode().into())
    });
    NewJob {
        id: Uuid::new_v4(),
        service_id: service.id,
        provider_id: service.provider_id,
        service_type: service.service_type,
        chain_id,
        asset: token,
        payer: verified.payer,
        nonce: verified.nonce,
        escrow,
        escrow_job,
        amount,
        fee,
        brief,
    }
}

/// The route `job`'s payment settles on, from the terms recorded with it (so a repeat of the payment is the same
/// payment to the queue, whatever the clock says now).
fn route_of(job: &Job, provider: Address) -> Result<Route> {
    let Some((_, terms)) = &job.new.escrow_job else {
        return Ok(Route::EscrowCredit { provider, fee: job.new.fee });
    };
    let terms = JobTerms::abi_decode(terms).map_err(|e| MarketError::Internal(format!("stored job terms: {e}")))?;
    Ok(Route::EscrowJob(JobBooking {
        provider: terms.provider,
        fee: terms.fee,
        arbiter: terms.arbiter,
        funding_deadline: terms.fundingDeadline,
        completion_deadline: terms.completionDeadline,
        review_window: terms.reviewWindow,
    }))
}
