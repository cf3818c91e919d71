//! Purchases and jobs: `POST /v1/services/{id}/purchase` (paid by any x402 client into the escrow), the job routes
//! (`GET /v1/jobs/{id}`, the provider's `POST /v1/jobs/{id}/update`, the payer's signed `verify` and `dispute`),
//! and the provider's money (`GET /v1/provider/earnings`, `POST /v1/provider/claim`).
//!
//! Nothing about money changes because a route said so. A purchase queues its payment on an escrow route (a job
//! booked by `fundManyWithTransfer`, or a data_api credit by `payMany`); the job is dispatched when the indexer has
//! confirmed its funding ([`reactor`]); the provider's word (in progress, delivered, failed) is recorded as its word
//! and turns into the escrow steps it entitles (complete, then release when the review window is 0; refund on
//! failure), queued once each; the payer's release or dispute is its own EIP-712 signature, relayed ([`signed`]);
//! the clock releases a completed job once its window has passed ([`reactor::keeper`]). An `automated_service` job
//! paid from a prepaid balance has no escrow: its money is a debit held in the ledger, released by the provider's
//! delivery and given back on its failure or at the hold's deadline (`crate::balance::job`).

mod arbiter;
mod earnings;
mod openapi;
mod purchase;
pub(crate) mod reactor;
mod signed;
mod status;
mod view;

use alloy_primitives::{Bytes, U256};
use axum::{
    Json, Router,
    extract::{OriginalUri, Path, RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use clearing_ledger::{
    Action, EscrowAction, NewAction, NewWebhookEvent, SettlementStatus, StepKind,
    market::{Job, ParticipantId, ProviderStatus, RefundCause, ServiceType},
};
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::info;
use uuid::Uuid;

pub(crate) use openapi::OPENAPI;
pub use status::JobStatus;
pub(crate) use status::status_of;

use self::signed::Signed;
pub(crate) use self::view::JobView;
use crate::{
    Authenticated, ErrorCode, JsonBody, Market, MarketError, Result, balance, front_runs, schema::check_instance,
};

/// Longest dispute reason, characters.
const MAX_REASON: usize = 2_000;
/// Shortest dispute reason, characters.
const MIN_REASON: usize = 10;
/// Longest provider note, characters.
const MAX_NOTE: usize = 2_000;

/// The purchase, job and earnings routes.
pub(crate) fn routes() -> Router<Market> {
    Router::new()
        .route("/services/{id}/purchase", post(purchase::purchase))
        .route("/jobs/{id}", get(job))
        .route("/jobs/{id}/update", post(update))
        .route("/jobs/{id}/verify", get(verify_typed_data).post(verify))
        .route("/jobs/{id}/dispute", get(dispute_typed_data).post(dispute))
        .route("/provider/earnings", get(earnings::earnings))
        .route("/provider/claim", post(earnings::claim))
        .merge(arbiter::routes())
}

/// Unix seconds now.
pub(crate) fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Who may read or act on a job: its provider, or its payer (by a registered participant's key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Party {
    Provider,
    Payer,
}

/// The job the path names; an id that is no UUID names no job.
async fn load(market: &Market, id: &str) -> Result<Job> {
    let missing =
        || MarketError::refused(ErrorCode::JobNotFound, format!("no job {id}: check the id the purchase answered"));
    let id: Uuid = id.parse().map_err(|_| missing())?;
    market.ledger().job(id).await?.ok_or_else(missing)
}

fn party(job: &Job, caller: &Authenticated) -> Result<Party> {
    if caller.0.id == job.new.provider_id {
        Ok(Party::Provider)
    } else if caller.0.wallet == job.new.payer {
        Ok(Party::Payer)
    } else {
        Err(MarketError::refused(ErrorCode::NotYourJob, "this job is another participant's"))
    }
}

/// `GET /v1/jobs/{id}`: free with the provider's or the payer's API key; a payer with no key pays
/// `[market] job_read_price` through x402 from the wallet that bought the job (as the402 lets unregistered agents).
async fn job(
    State(market): State<Market>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    caller: Option<Authenticated>,
    Path(id): Path<String>,
) -> Result<Response> {
    let job = load(&market, &id).await?;
    if let Some(caller) = caller {
        party(&job, &caller)?;
        return Ok(Json(JobView::of(&market, &job)).into_response());
    }
    let edge = market.edge();
    let payment = edge.payment(market.job_read_price(), &uri, &headers)?;
    let verified = edge.verify(&payment).await?;
    if verified.payer != job.new.payer {
        return Err(MarketError::refused(
            ErrorCode::WalletMismatch,
            format!(
                "only the wallet that bought job {id} may read it this way; {} signed. Nothing was charged",
                verified.payer
            ),
        ));
    }
    let settled = front_runs::settle_fee(&market, &payment).await?;
    Ok(settled.attach(Json(JobView::of(&market, &job)).into_response()))
}

/// What a provider may report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Reported {
    InProgress,
    Completed,
    Failed,
}

impl Reported {
    const fn status(self) -> ProviderStatus {
        match self {
            Self::InProgress => ProviderStatus::InProgress,
            Self::Completed => ProviderStatus::Completed,
            Self::Failed => ProviderStatus::Failed,
        }
    }
}

/// `POST /v1/jobs/{id}/update`'s body: the provider's word.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateRequest {
    status: Reported,
    #[serde(default)]
    deliverables: Option<Value>,
    #[serde(default)]
    note: Option<String>,
}

async fn update(
    State(market): State<Market>,
    caller: Authenticated,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UpdateRequest>,
) -> Result<Response> {
    let job = load(&market, &id).await?;
    if party(&job, &caller)? != Party::Provider {
        return Err(MarketError::refused(ErrorCode::NotYourJob, "only the job's provider reports on it"));
    }
    if body.note.as_ref().is_some_and(|note| note.chars().count() > MAX_NOTE || note.contains('\0')) {
        return Err(MarketError::invalid("note", format!("at most {MAX_NOTE} characters, and no NUL")));
    }
    if body.deliverables.as_ref().is_some_and(crate::body::has_nul) {
        return Err(MarketError::invalid("deliverables", "deliverables must not contain NUL characters"));
    }
    let current = status_of(&job);
    let reported = body.status.status();
    let allowed = matches!(current, JobStatus::Dispatched | JobStatus::InProgress)
        && (job.new.escrow_job.is_some() || job.balance.is_some())
        && (reported != ProviderStatus::InProgress || job.provider_status == ProviderStatus::None);
    if !allowed {
        return Err(MarketError::refused(
            ErrorCode::TransitionNotAllowed,
            format!(
                "a job that is {} cannot be reported {} (a job is reported on once its funding is confirmed, \
                 and until it is completed or failed)",
                current.as_str(),
                reported.as_str()
            ),
        ));
    }
    if reported == ProviderStatus::Completed {
        let Some(deliverables) = &body.deliverables else {
            return Err(MarketError::field(
                ErrorCode::MissingField,
                "deliverables",
                "completing a job needs deliverables",
            ));
        };
        if let Some(schema) = market.ledger().service(job.new.service_id).await?.and_then(|s| s.deliverable_schema) {
            let schema: Value = serde_json::from_str(schema.get()).map_err(|e| MarketError::Internal(e.to_string()))?;
            check_instance(&schema, deliverables).map_err(|(path, problem)| {
                MarketError::field(ErrorCode::InvalidField, format!("deliverables{path}"), problem)
            })?;
        }
    } else if body.deliverables.is_some() {
        return Err(MarketError::field(
            ErrorCode::UnknownField,
            "deliverables",
            "deliverables go with status completed",
        ));
    }
    if job.balance.is_some() && reported != ProviderStatus::InProgress {
        return balance_update(&market, &job, reported, body.deliverables.as_ref(), body.note.as_deref()).await;
    }
    let Some(job) = market
        .ledger()
        .set_provider_status(
            job.new.id,
            job.provider_status,
            reported,
            body.deliverables.as_ref(),
            body.note.as_deref(),
        )
        .await?
    else {
        return Err(MarketError::refused(ErrorCode::TransitionNotAllowed, "the job changed meanwhile: read it again"));
    };
    match reported {
        ProviderStatus::Completed => {
            step(&market, &job, StepKind::Complete, None).await?;
            if review_window(&market, job.new.service_type) == 0 {
                // No review window: the release is anyone's right at once, sent right behind the completion.
                step(&market, &job, StepKind::Release, None).await?;
            }
        }
        ProviderStatus::Failed => step(&market, &job, StepKind::Refund, None).await?,
        ProviderStatus::InProgress | ProviderStatus::None => {}
    }
    info!(job = %id, status = reported.as_str(), "provider reported");
    Ok(Json(JobView::of(&market, &job)).into_response())
}

/// The provider's delivery or failure of a balance-paid job: each ends the hold on its money in the transaction that
/// records it (released to the vault's batcher, or given back to the agent's balance), so of a delivery and a
/// failure (or the deadline) racing, one decides and the others are refused.
async fn balance_update(
    market: &Market,
    job: &Job,
    reported: ProviderStatus,
    deliverables: Option<&Value>,
    note: Option<&str>,
) -> Result<Response> {
    let id = job.new.id;
    let ended = match (reported, deliverables) {
        (ProviderStatus::Completed, Some(deliverables)) => {
            market.ledger().complete_balance_job(id, deliverables, note).await?
        }
        (ProviderStatus::Completed, None) => {
            return Err(MarketError::field(
                ErrorCode::MissingField,
                "deliverables",
                "completing a job needs deliverables",
            ));
        }
        (ProviderStatus::InProgress | ProviderStatus::None, _) => {
            return Err(MarketError::Internal("a balance-paid job's progress is recorded as any job's".into()));
        }
        (ProviderStatus::Failed, _) => {
            let payload = json!({
                "type": "job_refunded",
                "job_id": id,
                "payer_amount": balance::usdc(job.new.amount),
                "paid_by": "balance",
                "reason": RefundCause::ProviderFailed.as_str(),
                "message": "the provider could not deliver: the amount is back in the agent's prepaid balance",
            });
            let mut events = vec![refund_event(job.new.provider_id, id, payload.clone())];
            if let Some(payer) = market.ledger().participant_by_wallet(job.new.payer).await? {
                events.push(refund_event(payer.id, id, payload));
            }
            market.ledger().fail_balance_job(id, note, &events).await?
        }
    };
    let Some(job) = ended else {
        return Err(MarketError::refused(
            ErrorCode::TransitionNotAllowed,
            "this job's money is no longer held for it (its hold was released or ended, see its status): a job paid \
             from a balance is reported completed or failed once",
        ));
    };
    info!(job = %id, status = reported.as_str(), "provider reported on a balance-paid job");
    Ok(Json(JobView::of(market, &job)).into_response())
}

/// A `job_refunded` event of job `id` for `to`.
pub(crate) fn refund_event(to: ParticipantId, id: Uuid, payload: Value) -> NewWebhookEvent {
    NewWebhookEvent {
        participant: to,
        event_type: "job_refunded".to_owned(),
        ordering_key: Some(id.to_string()),
        payload,
    }
}

/// The refusal of a payer's release or dispute of a balance-paid job.
fn no_review_window(what: &str) -> MarketError {
    MarketError::refused(
        ErrorCode::TransitionNotAllowed,
        format!(
            "a job paid from a prepaid balance cannot be {what}: it has no review window; its money is paid to the \
             provider when the provider reports it completed, and given back to the balance if the provider fails \
             or the hold's deadline passes"
        ),
    )
}

/// Queues an escrow step of `job` (once per kind while live).
async fn step(market: &Market, job: &Job, kind: StepKind, signed: Option<(Bytes, U256)>) -> Result<()> {
    enqueue(market, job, kind, signed).await.map(drop)
}

/// Queues `kind` for `job` unless it is live or applied already: the step queued, and whether this call queued it.
async fn enqueue(
    market: &Market,
    job: &Job,
    kind: StepKind,
    signed: Option<(Bytes, U256)>,
) -> Result<(EscrowAction, bool)> {
    let Some((job_id, terms)) = &job.new.escrow_job else {
        return Err(MarketError::refused(ErrorCode::TransitionNotAllowed, "a data_api purchase has no escrow steps"));
    };
    let action = NewAction {
        chain_id: job.new.chain_id,
        escrow: job.new.escrow,
        asset: job.new.asset,
        action: Action::Step { kind, job_id: *job_id, terms: terms.clone(), signed },
    };
    Ok(market.ledger().enqueue_action(&action).await?)
}

/// Queues the payer's checked signed step. Whether it was queued by this call; a repeat of the very signature
/// already queued (a retry after a lost answer) is `false`, answered as the first was; another signature while
/// one is live (or applied) is a 409: one live step per job and kind, so a second would never be relayed.
async fn signed_step(market: &Market, job: &Job, kind: StepKind, signature: Bytes, deadline: u64) -> Result<bool> {
    let signed = (signature, U256::from(deadline));
    let (queued, inserted) = enqueue(market, job, kind, Some(signed.clone())).await?;
    if inserted {
        return Ok(true);
    }
    if matches!(&queued.action.action, Action::Step { signed: Some(live), .. } if *live == signed) {
        return Ok(false);
    }
    let what = if kind == StepKind::DisputeWithSig { "dispute" } else { "release" };
    Err(MarketError::refused(
        ErrorCode::TransitionNotAllowed,
        format!(
            "a signed {what} of this job is already {} (another signature of the payer's); wait for its outcome",
            if matches!(queued.status, SettlementStatus::Settled | SettlementStatus::Confirmed) {
                "applied"
            } else {
                "queued"
            }
        ),
    ))
}

/// The review window a job of `service_type` gets, seconds.
pub(crate) fn review_window(market: &Market, service_type: ServiceType) -> u64 {
    match service_type {
        ServiceType::DataApi => 0,
        ServiceType::AutomatedService => market.config().automated_review_secs,
        ServiceType::HumanService => market.config().human_review_secs,
    }
}

/// The typed data the payer signs to release (`GET .../verify`) or dispute (`GET .../dispute`) a job, valid for an
/// hour unless `?deadline=` says otherwise.
async fn typed(market: &Market, id: &str, kind: Signed, deadline: Option<u64>) -> Result<Response> {
    let job = load(market, id).await?;
    if job.balance.is_some() {
        return Err(no_review_window(match kind {
            Signed::Release => "released by the payer",
            Signed::Dispute => "disputed",
        }));
    }
    let Some((job_id, _)) = &job.new.escrow_job else {
        return Err(MarketError::refused(ErrorCode::TransitionNotAllowed, "a data_api purchase is released at once"));
    };
    let deadline = deadline.unwrap_or(now() + 3_600);
    let data = signed::typed_data(kind, job.new.chain_id, job.new.escrow, job_id.0, deadline);
    Ok(Json(json!({"job_id": job.new.id, "payer": job.new.payer.to_checksum(None), "typed_data": data}))
        .into_response())
}

/// `?deadline=<unix seconds>`, if given.
fn deadline_of(query: Option<&str>) -> Result<Option<u64>> {
    let Some(query) = query else { return Ok(None) };
    let mut deadline = None;
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        match pair.split_once('=') {
            Some(("deadline", value)) => {
                deadline = Some(value.parse().map_err(|_| {
                    MarketError::field(ErrorCode::InvalidQuery, "deadline", "a whole number of unix seconds")
                })?);
            }
            _ => return Err(MarketError::refused(ErrorCode::InvalidQuery, "the only query parameter is deadline")),
        }
    }
    Ok(deadline)
}

async fn verify_typed_data(
    State(market): State<Market>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response> {
    typed(&market, &id, Signed::Release, deadline_of(query.as_deref())?).await
}

async fn dispute_typed_data(
    State(market): State<Market>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response> {
    typed(&market, &id, Signed::Dispute, deadline_of(query.as_deref())?).await
}

/// `POST /v1/jobs/{id}/verify`'s body: the payer's signed release.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyRequest {
    signature: Bytes,
    deadline: u64,
}

/// `POST /v1/jobs/{id}/dispute`'s body: the reason and the payer's signed dispute.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DisputeRequest {
    reason: String,
    signature: Bytes,
    deadline: u64,
}

async fn verify(
    State(market): State<Market>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<VerifyRequest>,
) -> Result<Response> {
    let job = load(&market, &id).await?;
    if job.balance.is_some() {
        return Err(no_review_window("released by the payer"));
    }
    let current = status_of(&job);
    if !matches!(current, JobStatus::Dispatched | JobStatus::InProgress | JobStatus::Completed | JobStatus::Disputed) {
        return Err(not_now(current, "released"));
    }
    let signature = signed::check(market.edge(), Signed::Release, &job, body.deadline, &body.signature, now()).await?;
    if signed_step(&market, &job, StepKind::ReleaseWithSig, signature, body.deadline).await? {
        info!(job = %id, "payer's release queued");
    }
    // A signature is on chain once relayed, so anyone can send it again: the answer shows no work.
    Ok((StatusCode::ACCEPTED, Json(JobView::of(&market, &job).without_work())).into_response())
}

async fn dispute(
    State(market): State<Market>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<DisputeRequest>,
) -> Result<Response> {
    // Trimmed, printable but for line breaks and tabs: the arbiter reads it, and PostgreSQL takes no NUL.
    let reason = crate::body::text("reason", &body.reason, MIN_REASON, MAX_REASON, true)?;
    let job = load(&market, &id).await?;
    if job.balance.is_some() {
        return Err(no_review_window("disputed"));
    }
    let current = status_of(&job);
    if !matches!(current, JobStatus::Dispatched | JobStatus::InProgress | JobStatus::Completed) {
        return Err(not_now(current, "disputed"));
    }
    let signature = signed::check(market.edge(), Signed::Dispute, &job, body.deadline, &body.signature, now()).await?;
    // Recorded before the step is queued, so a crash between the two never leaves a queued dispute without its
    // reason. The signature does not cover the reason, so while a dispute of the job is live the first reason given
    // stays and a request with another one (sent again by someone who saw the first) is refused: a payer whose own
    // reason was not the first learns so. Once every dispute sent has failed, a new one brings its own reason.
    if !market.ledger().set_dispute_reason(job.new.id, &reason).await? {
        return Err(MarketError::refused(
            ErrorCode::TransitionNotAllowed,
            "this job's dispute is already under way with another reason (the first one given with the payer's \
             signature stays): if it is not yours, tell the arbiter",
        ));
    }
    if signed_step(&market, &job, StepKind::DisputeWithSig, signature, body.deadline).await? {
        info!(job = %id, "payer's dispute queued");
    }
    Ok((StatusCode::ACCEPTED, Json(JobView::of(&market, &job).without_work())).into_response())
}

fn not_now(current: JobStatus, what: &str) -> MarketError {
    MarketError::refused(
        ErrorCode::TransitionNotAllowed,
        format!("a job that is {} cannot be {what}", current.as_str()),
    )
}
