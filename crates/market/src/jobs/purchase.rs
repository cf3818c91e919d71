//! `POST /v1/services/{id}/purchase`: a fixed-price service bought with one x402 payment into the escrow, by any
//! x402 client (the stock npm and Python ones included: the requirement is a plain `exact` payment whose payTo is
//! the escrow).
//!
//! The order matters for money. Everything that can refuse the purchase for free (the service, its pricing model,
//! the brief against its input schema) is checked before a payment is asked for. The payment is verified, then the
//! job is recorded keyed by the payment (a repeat of the payment finds the job it bought, never a second one, also
//! once the payment has settled and so no longer verifies: the queue then answers only exactly that payment), then
//! the payment is settled on an escrow route with the terms stored in that record: a `human_service` or
//! `automated_service` is booked as an escrow job (`fundManyWithTransfer`), a `data_api` call is credited at once
//! (`payMany`), the fee split on chain either way. The answer is the job, with the funding transaction in the
//! payment-response header; the job is dispatched when the indexer confirms the funding.

use std::sync::Arc;

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
    JobBooking, JobId, PaymentKey, Route,
    market::{FrontRunRecipient, Job, NewJob, PricingModel, Service, ServiceId, ServiceStatus, ServiceType},
};
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::info;
use uuid::Uuid;

use super::{review_window, view::JobView};
use crate::{
    Authenticated, ErrorCode, JsonBody, Market, MarketError, Result, Verified,
    balance::{
        credentials,
        hot::{Holder, Listing},
        purchase::{BalanceAnswer, mark_fall_through, pay_from_balance},
    },
    edge, fees,
    schema::{check_instance, check_with},
};

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
    caller: Option<Authenticated>,
    JsonBody(body): JsonBody<PurchaseRequest>,
) -> Result<Response> {
    let id = crate::services::parse_id(&id)?;
    let brief = body.brief.unwrap_or_else(|| json!({}));
    if crate::body::has_nul(&brief) {
        return Err(MarketError::field(ErrorCode::InvalidBrief, "brief", "the brief must not contain NUL characters"));
    }
    // A balance purchase starts from the listing kept for a second (its debit is refused if the listing changed, and
    // the purchase then starts over from the database); anything paid with x402 reads it fresh.
    let mut kept = headers.contains_key(credentials::BALANCE_AUTH_HEADER) && !edge::carries_payment(&headers);
    for attempt in 0.. {
        let listing = listing(&market, id, kept).await?;
        let service = &listing.service;
        if service.pricing_model == PricingModel::QuoteRequired {
            return Err(MarketError::refused(
                ErrorCode::QuoteRequired,
                "this service is priced per job: ask the provider for a quote (the quote flow), then accept it",
            ));
        }
        check_brief(&listing, &brief)?;
        // A request that carries an x402 payment is paid with it, and with nothing else: a client retrying a paid
        // request whose answer was lost sends its balance credential again too, and the balance (topped up since) or
        // a subscription would then pay the same purchase a second time. The payment's repeat finds its job.
        if edge::carries_payment(&headers) {
            return x402_purchase(&market, service, &uri, &headers, brief, None).await;
        }
        let holder = credentials::from_headers(&market, &headers).await?;
        if let Some(answer) = covered(&market, service, caller.as_ref(), holder.as_deref()).await? {
            return Ok(answer);
        }
        // A balance credential pays from the prepaid balance when it can; a short balance is answered as x402 would.
        let balance_refused = match holder {
            Some(holder) => match pay_from_balance(&market, service, &brief, &headers, &holder).await? {
                BalanceAnswer::Answered(response) => return Ok(response),
                // The x402 answer names the price: from a fresh read of the listing.
                BalanceAnswer::FallThrough(_) if kept => {
                    kept = false;
                    continue;
                }
                BalanceAnswer::FallThrough(reason) => Some(reason),
                BalanceAnswer::Stale if attempt < 2 => {
                    kept = false;
                    continue;
                }
                BalanceAnswer::Stale => {
                    return Err(MarketError::refused(
                        ErrorCode::ServiceNotFound,
                        format!("service {} changed while it was being bought: read it again", id.0),
                    ));
                }
            },
            None => None,
        };
        return x402_purchase(&market, service, &uri, &headers, brief, balance_refused).await;
    }
    unreachable!("the loop returns")
}

/// The answer to a purchase a subscription of the caller covers (by API key, or the owner of the balance credential),
/// counted against its plan's requests for the period; `None` when none does. A credential limited to some services
/// does not spend a subscription's requests on the others either.
async fn covered(
    market: &Market,
    service: &Service,
    caller: Option<&Authenticated>,
    holder: Option<&Holder>,
) -> Result<Option<Response>> {
    if service.service_type != ServiceType::DataApi || market.subscriptions().is_err() {
        return Ok(None);
    }
    if let Some(holder) = holder
        && holder.credential.services.as_ref().is_some_and(|ids| !ids.contains(&service.id))
    {
        return Ok(None);
    }
    // By API key, or else by the credential's owner while the credential is live (checked as the request is
    // counted: this process's copy of it may predate its revocation).
    let (subscriber, credential) = match (caller, holder) {
        (Some(caller), _) => (caller.0.id, None),
        (None, Some(holder)) => (holder.owner.id, Some(holder.credential.id)),
        (None, None) => return Ok(None),
    };
    if !market.balance_hot().may_cover(market.ledger(), subscriber, service.id).await? {
        return Ok(None);
    }
    let Some(covered) = market.ledger().use_subscription(subscriber, service.id, credential).await? else {
        return Ok(None);
    };
    info!(service = %service.id.0, subscription = %covered.subscription, used = covered.used, "covered");
    let answer = json!({
        "service_id": service.id.0,
        "service_type": service.service_type.as_str(),
        "paid_by": "subscription",
        "subscription_id": covered.subscription.to_string(),
        "period": covered.period,
        "requests_used": covered.used,
        "max_requests": covered.max_requests,
    });
    Ok(Some((StatusCode::CREATED, Json(answer)).into_response()))
}

/// The service `id` if it is active: the kept listing if `kept` and one is fresh, else read now.
async fn listing(market: &Market, id: ServiceId, kept: bool) -> Result<Arc<Listing>> {
    if kept && let Some(listing) = market.balance_hot().listing(id) {
        return Ok(listing);
    }
    let service =
        market.ledger().service(id).await?.filter(|s| s.status == ServiceStatus::Active).ok_or_else(|| {
            MarketError::refused(
                ErrorCode::ServiceNotFound,
                format!("no active service {}: see GET /v1/services/catalog", id.0),
            )
        })?;
    Ok(market.balance_hot().keep_listing(service))
}

/// The brief against the service's `input_schema`.
fn check_brief(listing: &Listing, brief: &Value) -> Result<()> {
    let Some(schema) = &listing.service.input_schema else { return Ok(()) };
    let checked = match &listing.validator {
        Some(validator) => check_with(validator, brief),
        None => {
            let schema: Value = serde_json::from_str(schema.get()).map_err(|e| MarketError::Internal(e.to_string()))?;
            check_instance(&schema, brief)
        }
    };
    checked.map_err(|(path, problem)| {
        MarketError::field(
            ErrorCode::InvalidBrief,
            format!("brief{path}"),
            format!("the brief does not fit the service's input_schema: {problem}"),
        )
    })
}

/// The purchase paid with x402 (or answered with its 402, marked with why the balance did not pay).
async fn x402_purchase(
    market: &Market,
    service: &Service,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    brief: Value,
    balance_refused: Option<&'static str>,
) -> Result<Response> {
    let escrow = market.escrow()?;
    let price = market.edge().escrow_price(service.price, escrow, &format!("Purchase: {}", service.name));
    let payment = match (market.edge().payment(&price, uri, headers), balance_refused) {
        (Ok(payment), _) => payment,
        (Err(demand), Some(reason)) => return Ok(mark_fall_through(demand.into_response(), reason)),
        (Err(demand), None) => return Err(demand),
    };
    let (job, inserted) = match market.edge().verify(&payment).await {
        Ok(verified) => market.ledger().insert_job(&new_job(market, service, &verified, escrow, brief.clone())).await?,
        // A repeat of a payment that bought a job and settled since no longer verifies (its nonce is used): it is
        // answered with that job if the queue holds exactly this payment (checked when it is settled below).
        Err(refused) => match bought_with(market, &payment).await? {
            Some(job) if job.new.service_id == service.id => (job, false),
            _ => {
                crate::front_runs::note(market, FrontRunRecipient::Escrow(escrow), &payment, &refused).await;
                return Err(refused);
            }
        },
    };
    // A repeat is the same purchase or none: a payment seen in flight and sent first with another brief (or to
    // another service of the same price) took the job, and its signer is told so rather than handed that job.
    if !inserted && (job.new.service_id != service.id || job.new.brief != brief) {
        return Err(MarketError::refused(
            ErrorCode::PaymentReused,
            format!(
                "this payment already bought job {} {}: sign a new one for another purchase",
                job.new.id,
                if job.new.service_id != service.id { "of another service" } else { "with another brief" }
            ),
        ));
    }
    let route = route_of(&job, service.provider_wallet)?;
    // Any send of the payment (the first, a retry after a lost answer or a crash, a duplicate) is answered with its
    // job once the payment settled, whichever send the queue told first.
    let settled = crate::front_runs::settle_keyed(market, FrontRunRecipient::Escrow(escrow), &payment, route).await?;
    info!(job = %job.new.id, service = %service.id.0, payer = %job.new.payer, tx = ?settled.transaction(), "purchased");
    let job = market.ledger().job(job.new.id).await?.unwrap_or(job);
    // A repeat may come from anyone who rebuilt the payment from the funding transaction's calldata: its answer
    // shows the job, not the provider's work.
    let (status, view) = if inserted {
        (StatusCode::CREATED, JobView::of(market, &job))
    } else {
        (StatusCode::OK, JobView::of(market, &job).without_work())
    };
    Ok(settled.attach((status, Json(view)).into_response()))
}

/// The job recorded for `payment`'s key (its signer and nonce), if any. Only the key is trusted here: whether the
/// request carries the very payment queued for that job is for the queue to say when it is settled.
async fn bought_with(market: &Market, payment: &crate::Payment) -> Result<Option<Job>> {
    let Some((payer, nonce)) = market.edge().signed_by(payment) else { return Ok(None) };
    let key = PaymentKey { chain_id: market.edge().chain_id(), asset: market.edge().token(), payer, nonce };
    Ok(market.ledger().job_by_payment(&key).await?)
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
