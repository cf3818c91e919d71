//! The plan and subscription routes:
//!
//! - `GET /v1/plans` (free; `provider` by id or wallet, `limit`, `offset`), `GET /v1/plans/{id}`;
//! - `POST /v1/plans`, `PUT /v1/plans/{id}`, `DELETE /v1/plans/{id}` (the provider's key);
//! - `POST /v1/plans/{id}/subscribe` (the agent's key): period 0 paid from the prepaid balance, answered 202 with the
//!   subscription `pending` until the chain's Open lands;
//! - `GET /v1/subscriptions` (`status`, `role` agent or provider), `GET /v1/subscriptions/{id}`, and
//!   `POST /v1/subscriptions/{id}/cancel`, `/pause`, `/resume` (the subscriber's key), answered 202: the chain decides.

use alloy_primitives::{Address, B256};
use std::time::{Duration, Instant};

use axum::{
    Json, Router,
    extract::{OriginalUri, Path, RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use clearing_ledger::market::{
    NewPlan, OperationKind, ParticipantId, ParticipantKind, Plan, PlanId, PlanInterval, PlanUpdate, ServiceId,
    ServiceType, SubscriptionView,
};
use clearing_x402::Usdc;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use tracing::info;

use crate::{
    Authenticated, ErrorCode, JsonBody, Market, MarketError, Result,
    balance::{purchase::mark_fall_through, usdc},
    fees,
};

/// Services one plan may bundle.
const MAX_SERVICES: usize = 100;
/// The largest price per period, USDC.
const MAX_PRICE: Usdc = Usdc::from_whole(1_000_000);
/// Entries per page unless asked, and the most.
const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 200;

pub(crate) fn routes() -> Router<Market> {
    Router::new()
        .route("/plans", get(list_plans).post(create_plan))
        .route("/plans/{id}", get(plan).put(update_plan).delete(delete_plan))
        .route("/plans/{id}/subscribe", post(subscribe))
        .route("/subscriptions", get(list_subscriptions))
        .route("/subscriptions/{id}", get(subscription))
        .route("/subscriptions/{id}/cancel", post(cancel))
        .route("/subscriptions/{id}/pause", post(pause))
        .route("/subscriptions/{id}/resume", post(resume))
}

/// `POST /v1/plans`' body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreatePlan {
    name: String,
    #[serde(default)]
    description: String,
    interval: String,
    /// What the provider receives per period; subscribers pay it plus the fee.
    price: Usdc,
    service_ids: Vec<Uuid>,
    #[serde(default)]
    max_requests: Option<u32>,
}

/// `PUT /v1/plans/{id}`'s body: what to change.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdatePlan {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    price: Option<Usdc>,
    #[serde(default)]
    service_ids: Option<Vec<Uuid>>,
    /// Absent: unchanged; `null`: no limit.
    #[serde(default, deserialize_with = "present")]
    max_requests: Option<Option<u32>>,
}

/// A field that is present (`null` included) as `Some`.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> std::result::Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

fn plan_not_found(id: impl std::fmt::Display) -> MarketError {
    MarketError::refused(ErrorCode::PlanNotFound, format!("no plan {id}: see GET /v1/plans"))
}

fn parse_plan_id(text: &str) -> Result<PlanId> {
    text.parse().map(PlanId).map_err(|_| plan_not_found(text))
}

fn subscription_not_found(id: impl std::fmt::Display) -> MarketError {
    MarketError::refused(ErrorCode::SubscriptionNotFound, format!("no subscription {id} of yours"))
}

fn check_name(name: &str) -> Result<String> {
    crate::body::text("name", name, 1, 100, false)
}

fn check_description(description: &str) -> Result<String> {
    crate::body::text("description", description, 0, 2_000, true)
}

fn check_price(price: Usdc) -> Result<Usdc> {
    if price.is_zero() || price > MAX_PRICE {
        return Err(MarketError::invalid("price", format!("price is above 0 and at most {MAX_PRICE} USDC")));
    }
    Ok(price)
}

fn check_max_requests(max: Option<u32>) -> Result<Option<u32>> {
    if max.is_some_and(|m| m == 0 || m > i32::MAX as u32) {
        return Err(MarketError::invalid("max_requests", "max_requests is a whole number above 0, or absent"));
    }
    Ok(max)
}

/// The caller's own `data_api` services, checked one by one: a plan bundles only what its provider sells, and only
/// what a subscription can cover (a request to a data_api service is served at once; a job needs its own payment).
async fn own_services(market: &Market, me: ParticipantId, ids: &[Uuid]) -> Result<Vec<ServiceId>> {
    if ids.is_empty() || ids.len() > MAX_SERVICES {
        return Err(MarketError::invalid(
            "service_ids",
            format!("service_ids lists 1 to {MAX_SERVICES} of your service ids"),
        ));
    }
    let mut services: Vec<ServiceId> = Vec::with_capacity(ids.len());
    for id in ids {
        let id = ServiceId(*id);
        let service = market.ledger().service(id).await?;
        match service {
            Some(service) if service.provider_id == me && service.service_type != ServiceType::DataApi => {
                return Err(MarketError::field(
                    ErrorCode::InvalidField,
                    "service_ids",
                    format!(
                        "service {} is a {}: a plan covers only data_api services (a job is paid for each time)",
                        id.0,
                        service.service_type.as_str()
                    ),
                ));
            }
            Some(service) if service.provider_id == me => {
                if !services.contains(&id) {
                    services.push(id);
                }
            }
            Some(_) => {
                return Err(MarketError::refused(
                    ErrorCode::NotOwner,
                    format!("service {} is another provider's: a plan bundles only your own services", id.0),
                ));
            }
            None => {
                return Err(MarketError::field(
                    ErrorCode::ServiceNotFound,
                    "service_ids",
                    format!("no service {}: a plan bundles only your own services", id.0),
                ));
            }
        }
    }
    Ok(services)
}

fn providers_only(caller: &Authenticated) -> Result<()> {
    if caller.0.kind != ParticipantKind::Provider {
        return Err(MarketError::refused(
            ErrorCode::ProvidersOnly,
            format!("only providers sell plans; participant {} registered as an agent", caller.0.id),
        ));
    }
    Ok(())
}

pub(super) fn plan_view(market: &Market, plan: &Plan) -> Value {
    let price = usdc(plan.new.price);
    let fee = fees::fee(price, market.fee());
    json!({
        "id": plan.new.id.0,
        "provider_id": plan.new.provider_id.0,
        "name": plan.new.name,
        "description": plan.new.description,
        "interval": plan.new.interval.as_str(),
        "period_seconds": plan.new.interval.seconds(),
        "price": price,
        "fee": fee,
        "agent_price": price.checked_add(fee).unwrap_or(price),
        "service_ids": plan.new.service_ids.iter().map(|s| s.0).collect::<Vec<_>>(),
        "max_requests": plan.new.max_requests,
        "created_at": plan.created_at,
        "updated_at": plan.updated_at,
        "deleted": plan.deleted_at.is_some(),
    })
}

pub(super) fn subscription_view(market: &Market, s: &SubscriptionView) -> Value {
    let live = matches!(s.status.as_str(), "active" | "past_due");
    json!({
        "id": s.id.to_string(),
        "plan_id": s.plan_id.0,
        "status": s.status,
        "subscriber": s.account.account.to_checksum(None),
        "provider": s.provider.to_checksum(None),
        "provider_id": s.provider_id.0,
        "price": usdc(s.price),
        "fee": usdc(s.fee),
        "provider_receives": usdc(s.price.saturating_sub(s.fee)),
        "period_seconds": s.period,
        "grace_seconds": s.grace,
        "start": s.start,
        "periods_paid": s.periods_charged,
        "paid_through": s.paid_through,
        "next_charge_at": live.then_some(s.paid_through),
        "lapse_at": s.lapse_at,
        "failed_attempts": s.attempts,
        "requests_used": s.used,
        "max_requests": s.max_requests,
        "service_ids": s.service_ids.iter().map(|id| id.0).collect::<Vec<_>>(),
        "chain_time": s.chain_now,
        "created_at": s.created_at,
        "links": { "self": format!("{}/v1/subscriptions/{}", market.public_base(), s.id) },
    })
}

/// A list route's query: `limit`, `offset`, and the named filters given, with their values.
type ListQuery = (u32, u32, Vec<(&'static str, String)>);

/// `limit`, `offset` and the named filters of a list route's query.
fn query(raw: Option<&str>, filters: &[&'static str]) -> Result<ListQuery> {
    let (mut limit, mut offset, mut found) = (DEFAULT_LIMIT, 0, Vec::new());
    for (name, value) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
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
            other => match filters.iter().find(|f| **f == other) {
                Some(filter) => found.push((*filter, value.into_owned())),
                None => {
                    return Err(MarketError::field(
                        ErrorCode::InvalidQuery,
                        other.to_owned(),
                        format!("unknown parameter {other}: use limit, offset, {}", filters.join(", ")),
                    ));
                }
            },
        }
    }
    Ok((limit, offset, found))
}

async fn list_plans(State(market): State<Market>, RawQuery(raw): RawQuery) -> Result<Json<Value>> {
    let (limit, offset, filters) = query(raw.as_deref(), &["provider"])?;
    let mut provider = None;
    for (_, value) in filters {
        let by_id = value.parse::<Uuid>().ok().map(ParticipantId);
        let id = match (by_id, value.parse::<Address>()) {
            (Some(id), _) => Some(id),
            (None, Ok(wallet)) => market.ledger().participant_by_wallet(wallet).await?.map(|p| p.id),
            (None, Err(_)) => {
                return Err(MarketError::field(
                    ErrorCode::InvalidQuery,
                    "provider",
                    "provider is a participant id or a wallet address",
                ));
            }
        };
        // An unknown provider has no plans.
        provider = Some(id.unwrap_or(ParticipantId(Uuid::nil())));
    }
    let plans = market.ledger().plans(provider, limit, offset).await?;
    let plans: Vec<Value> = plans.iter().map(|p| plan_view(&market, p)).collect();
    Ok(Json(json!({ "limit": limit, "offset": offset, "plans": plans })))
}

async fn plan(State(market): State<Market>, Path(id): Path<String>) -> Result<Json<Value>> {
    let id = parse_plan_id(&id)?;
    let plan = market.ledger().plan(id).await?.ok_or_else(|| plan_not_found(id.0))?;
    Ok(Json(plan_view(&market, &plan)))
}

async fn create_plan(
    State(market): State<Market>,
    caller: Authenticated,
    JsonBody(body): JsonBody<CreatePlan>,
) -> Result<Response> {
    providers_only(&caller)?;
    let name = check_name(&body.name)?;
    let description = check_description(&body.description)?;
    let interval = PlanInterval::parse(&body.interval)
        .ok_or_else(|| MarketError::invalid("interval", "interval is \"monthly\" or \"annual\""))?;
    let price = check_price(body.price)?;
    let max_requests = check_max_requests(body.max_requests)?;
    let service_ids = own_services(&market, caller.0.id, &body.service_ids).await?;
    let new = NewPlan {
        id: PlanId::random(),
        provider_id: caller.0.id,
        name,
        description,
        interval,
        price: price.to_u256(),
        service_ids,
        max_requests,
    };
    let plan = market.ledger().create_plan(&new).await?;
    Ok((StatusCode::CREATED, Json(plan_view(&market, &plan))).into_response())
}

async fn update_plan(
    State(market): State<Market>,
    Path(id): Path<String>,
    caller: Authenticated,
    JsonBody(body): JsonBody<UpdatePlan>,
) -> Result<Json<Value>> {
    let id = parse_plan_id(&id)?;
    let existing =
        market.ledger().plan(id).await?.filter(|p| p.deleted_at.is_none()).ok_or_else(|| plan_not_found(id.0))?;
    if existing.new.provider_id != caller.0.id {
        return Err(MarketError::refused(
            ErrorCode::NotOwner,
            format!("plan {} is another provider's; participant {} cannot change it", id.0, caller.0.id),
        ));
    }
    let service_ids = match &body.service_ids {
        Some(ids) => Some(own_services(&market, caller.0.id, ids).await?),
        None => None,
    };
    let update = PlanUpdate {
        name: body.name.as_deref().map(check_name).transpose()?,
        description: body.description.as_deref().map(check_description).transpose()?,
        price: body.price.map(check_price).transpose()?.map(Usdc::to_u256),
        service_ids,
        max_requests: body.max_requests.map(check_max_requests).transpose()?,
    };
    let plan = market.ledger().update_plan(id, caller.0.id, &update).await?.ok_or_else(|| plan_not_found(id.0))?;
    Ok(Json(plan_view(&market, &plan)))
}

async fn delete_plan(
    State(market): State<Market>,
    Path(id): Path<String>,
    caller: Authenticated,
) -> Result<StatusCode> {
    let id = parse_plan_id(&id)?;
    let plan =
        market.ledger().plan(id).await?.filter(|p| p.deleted_at.is_none()).ok_or_else(|| plan_not_found(id.0))?;
    if plan.new.provider_id != caller.0.id {
        return Err(MarketError::refused(
            ErrorCode::NotOwner,
            format!("plan {} is another provider's; participant {} cannot delete it", id.0, caller.0.id),
        ));
    }
    market.ledger().delete_plan(id, caller.0.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/plans/{id}/subscribe`'s body, optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubscribeRequest {
    /// The `agent_price` the agent read and agrees to pay per period: a plan that costs anything else now is refused
    /// (409 `plan_changed`) rather than charged.
    agent_price: Option<String>,
}

/// Subscribes the caller, paying period 0 from its prepaid balance; when the balance is short, the 402 asks for
/// exactly one period (`agent_price`) paid into the vault by the caller's own wallet (any x402 client), and the
/// subscription is made from that deposit once the indexer has confirmed it.
async fn subscribe(
    State(market): State<Market>,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    caller: Authenticated,
    JsonBody(body): JsonBody<SubscribeRequest>,
) -> Result<Response> {
    let id = parse_plan_id(&id)?;
    let expected = body
        .agent_price
        .map(|p| Usdc::parse(p.trim()).map_err(|e| MarketError::invalid("agent_price", format!("agent_price: {e}"))))
        .transpose()?;
    let plan =
        market.ledger().plan(id).await?.filter(|p| p.deleted_at.is_none()).ok_or_else(|| plan_not_found(id.0))?;
    let price = usdc(plan.new.price);
    let agent_price = price.checked_add(fees::fee(price, market.fee())).unwrap_or(price);
    if let Some(expected) = expected
        && expected != agent_price
    {
        return Err(MarketError::refused(
            ErrorCode::PlanChanged,
            format!("plan {} costs {agent_price} USDC a period now, not the {expected} you named: read it again", id.0),
        ));
    }
    let provider = market.ledger().participant(plan.new.provider_id).await?.ok_or_else(|| plan_not_found(id.0))?;
    match super::subscribe(&market, &plan, &provider, &caller.0).await {
        Ok(subscription) => return answer(&market, subscription, None).await,
        Err(refused) if refused.code() == Some(ErrorCode::InsufficientBalance) => {}
        Err(other) => return Err(other),
    }
    // The first period through x402: a deposit of one period into the vault.
    let vault = market.vault()?;
    let demand = market.edge().escrow_price(
        agent_price,
        vault,
        &format!("Subscribe to {}: the first period, into your prepaid balance", plan.new.name),
    );
    let payment = match market.edge().payment(&demand, &uri, &headers) {
        Ok(payment) => payment,
        Err(demand) => return Ok(mark_fall_through(demand.into_response(), "insufficient_balance")),
    };
    // A deposit credits its payer: only the caller's own wallet can fund the caller's subscription.
    match market.edge().signed_by(&payment) {
        Some((payer, _)) if payer == caller.0.wallet => {}
        _ => {
            return Err(MarketError::refused(
                ErrorCode::WalletMismatch,
                format!(
                    "the payment must come from your registered wallet {}: a deposit credits the wallet that pays",
                    caller.0.wallet
                ),
            ));
        }
    }
    let settled = crate::balance::settle_deposit(&market, &payment).await?;
    info!(payer = %caller.0.wallet, amount = %agent_price, tx = ?settled.transaction(), "deposited to subscribe");
    // The subscription draws on confirmed money: wait (boundedly) for the indexer to confirm the deposit.
    let deadline = Instant::now() + Duration::from_millis(market.config().claim_wait_ms);
    loop {
        match super::subscribe(&market, &plan, &provider, &caller.0).await {
            Ok(subscription) => return answer(&market, subscription, Some(settled)).await,
            Err(e) if e.code() == Some(ErrorCode::InsufficientBalance) && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) if e.code() == Some(ErrorCode::InsufficientBalance) => {
                // The money is safe in the balance; the subscription is one more call away.
                let body = json!({
                    "subscription": null,
                    "deposit": {"amount": agent_price, "tx_hash": settled.transaction().map(|tx| tx.to_string())},
                    "message": "your deposit is on chain but not confirmed yet; subscribe again once GET /v1/balance \
                                shows it: the balance then pays the first period, with no new payment",
                });
                return Ok(settled.attach((StatusCode::ACCEPTED, Json(body)).into_response()));
            }
            Err(e) if e.code() == Some(ErrorCode::PlanChanged) => {
                return Err(MarketError::refused(
                    ErrorCode::PlanChanged,
                    "the plan changed while your deposit was confirmed: the deposit is in your prepaid balance; read \
                     the plan again and subscribe (the balance pays the first period)",
                ));
            }
            Err(other) => return Err(other),
        }
    }
}

/// 202 with the queued subscription (and the deposit's settlement header, when one paid for it).
async fn answer(market: &Market, subscription: B256, settled: Option<crate::Settled>) -> Result<Response> {
    let view = market.ledger().subscription(subscription).await?.ok_or_else(|| subscription_not_found(subscription))?;
    let response = (StatusCode::ACCEPTED, Json(subscription_view(market, &view))).into_response();
    Ok(match settled {
        Some(settled) => settled.attach(response),
        None => response,
    })
}

async fn list_subscriptions(
    State(market): State<Market>,
    caller: Authenticated,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>> {
    let (limit, _, filters) = query(raw.as_deref(), &["status", "role"])?;
    let (mut status, mut as_provider) = (None, false);
    for (name, value) in filters {
        match name {
            "status" => {
                const STATUSES: [&str; 7] =
                    ["pending", "failed", "active", "past_due", "paused", "cancelled", "expired"];
                if !STATUSES.contains(&value.as_str()) {
                    return Err(MarketError::field(
                        ErrorCode::InvalidQuery,
                        "status",
                        format!("status is one of {}", STATUSES.join(", ")),
                    ));
                }
                status = Some(value);
            }
            _ => {
                as_provider = match value.as_str() {
                    "agent" => false,
                    "provider" => true,
                    _ => {
                        return Err(MarketError::field(
                            ErrorCode::InvalidQuery,
                            "role",
                            "role is agent (yours) or provider (your plans' subscribers)",
                        ));
                    }
                };
            }
        }
    }
    let views = market.ledger().subscriptions_of(caller.0.id, as_provider, status.as_deref(), limit).await?;
    let views: Vec<Value> = views.iter().map(|s| subscription_view(&market, s)).collect();
    Ok(Json(json!({ "limit": limit, "subscriptions": views })))
}

/// The caller's subscription `id` (as subscriber; as provider too when `provider_may`).
async fn owned(market: &Market, id: &str, caller: &Authenticated, provider_may: bool) -> Result<SubscriptionView> {
    let parsed: Option<B256> = id.parse().ok();
    let view = match parsed {
        Some(id) => market.ledger().subscription(id).await?,
        None => None,
    };
    view.filter(|s| s.participant_id == caller.0.id || (provider_may && s.provider_id == caller.0.id))
        .ok_or_else(|| subscription_not_found(id))
}

async fn subscription(
    State(market): State<Market>,
    Path(id): Path<String>,
    caller: Authenticated,
) -> Result<Json<Value>> {
    let view = owned(&market, &id, &caller, true).await?;
    Ok(Json(subscription_view(&market, &view)))
}

async fn operate(market: Market, id: String, caller: Authenticated, kind: OperationKind) -> Result<Response> {
    let view = owned(&market, &id, &caller, false).await?;
    super::operate(&market, &view, kind).await?;
    let mut answer = subscription_view(&market, &view);
    answer["requested"] = json!(kind.as_str());
    Ok((StatusCode::ACCEPTED, Json(answer)).into_response())
}

async fn cancel(State(market): State<Market>, Path(id): Path<String>, caller: Authenticated) -> Result<Response> {
    operate(market, id, caller, OperationKind::Cancel).await
}

async fn pause(State(market): State<Market>, Path(id): Path<String>, caller: Authenticated) -> Result<Response> {
    operate(market, id, caller, OperationKind::Pause).await
}

async fn resume(State(market): State<Market>, Path(id): Path<String>, caller: Authenticated) -> Result<Response> {
    operate(market, id, caller, OperationKind::Resume).await
}
