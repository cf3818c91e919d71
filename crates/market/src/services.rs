//! Services: `POST /v1/services`, `PUT /v1/services/{id}` (a partial update; `status: inactive` hides it),
//! `DELETE /v1/services/{id}` (the row stays for the jobs that name it) by their provider, and
//! `GET /v1/services/{id}` for anyone (an inactive one for its provider only).
//!
//! Every service is shown with its three prices ([`ServiceView`]): `price` as listed, `agent_price` and
//! `provider_net_price` after the platform fee ([`crate::fees::breakdown`]), and `platform_fee_pct`.

use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use clearing_ledger::market::{
    FulfillmentType, NewService, OwnedWrite, ParticipantId, ParticipantKind, PricingModel, Service, ServiceId,
    ServiceStatus, ServiceType, ServiceUpdate,
};
use clearing_x402::Usdc;
use serde::{Deserialize, Serialize};
use serde_json::{Value, value::RawValue};
use time::OffsetDateTime;
use tracing::info;

use crate::{
    Authenticated, ErrorCode, JsonBody, Market, MarketError, Result,
    body::{has_nul, nullable, text, texts},
    fees::{FeeBps, breakdown},
    schema::check_schema,
};

/// The highest price a service may list: 10^15 atomic units (a billion USDC), exact in a JavaScript number.
pub const MAX_PRICE: Usdc = Usdc::from_atomic(1_000_000_000_000_000);
/// Most tags on a service.
const MAX_TAGS: usize = 20;
/// Longest tag, characters.
const MAX_TAG_LEN: usize = 50;

/// The service routes (the catalog's is [`crate::catalog`]'s).
pub(crate) fn routes() -> Router<Market> {
    Router::new().route("/services", post(create)).route("/services/{id}", get(detail).put(update).delete(delete))
}

/// `POST /v1/services`'s body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    name: String,
    description: String,
    category: String,
    #[serde(default)]
    tags: Vec<String>,
    price: Usdc,
    #[serde(default)]
    pricing_model: Option<PricingModel>,
    #[serde(default)]
    service_type: Option<ServiceType>,
    #[serde(default)]
    fulfillment_type: Option<FulfillmentType>,
    #[serde(default)]
    input_schema: Option<Value>,
    #[serde(default)]
    deliverable_schema: Option<Value>,
    #[serde(default)]
    estimated_delivery: Option<String>,
    #[serde(default)]
    status: Option<ServiceStatus>,
}

/// `PUT /v1/services/{id}`'s body: every field optional; null clears the optional ones.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateRequest {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    price: Option<Usdc>,
    #[serde(default)]
    pricing_model: Option<PricingModel>,
    #[serde(default)]
    service_type: Option<ServiceType>,
    #[serde(default)]
    fulfillment_type: Option<FulfillmentType>,
    #[serde(default, deserialize_with = "nullable")]
    input_schema: Option<Option<Value>>,
    #[serde(default, deserialize_with = "nullable")]
    deliverable_schema: Option<Option<Value>>,
    #[serde(default, deserialize_with = "nullable")]
    estimated_delivery: Option<Option<String>>,
    #[serde(default)]
    status: Option<ServiceStatus>,
}

/// A service as the API shows it: in the catalog, and with `deliverable_schema` and `status` in its detail.
#[derive(Debug, Serialize)]
pub(crate) struct ServiceView<'a> {
    id: ServiceId,
    name: &'a str,
    description: &'a str,
    category: &'a str,
    tags: &'a [String],
    price: Usdc,
    agent_price: Usdc,
    provider_net_price: Usdc,
    platform_fee_pct: serde_json::Number,
    pricing_model: PricingModel,
    service_type: ServiceType,
    fulfillment_type: FulfillmentType,
    estimated_delivery: Option<&'a str>,
    input_schema: Option<&'a RawValue>,
    provider_id: ParticipantId,
    provider_name: &'a str,
    provider_wallet: String,
    #[serde(with = "time::serde::rfc3339")]
    listed_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
    #[serde(flatten)]
    detail: Option<DetailFields<'a>>,
}

#[derive(Debug, Serialize)]
struct DetailFields<'a> {
    deliverable_schema: Option<&'a RawValue>,
    status: ServiceStatus,
}

impl<'a> ServiceView<'a> {
    /// `service` as a catalog entry.
    pub(crate) fn entry(service: &'a Service, fee: FeeBps) -> Self {
        let prices = breakdown(service.price, service.pricing_model, fee);
        Self {
            id: service.id,
            name: &service.name,
            description: &service.description,
            category: &service.category,
            tags: &service.tags,
            price: prices.price,
            agent_price: prices.agent_price,
            provider_net_price: prices.provider_net_price,
            platform_fee_pct: prices.rate.percent(),
            pricing_model: service.pricing_model,
            service_type: service.service_type,
            fulfillment_type: service.fulfillment_type,
            estimated_delivery: service.estimated_delivery.as_deref(),
            input_schema: service.input_schema.as_deref(),
            provider_id: service.provider_id,
            provider_name: &service.provider_name,
            provider_wallet: service.provider_wallet.to_checksum(None),
            listed_at: service.listed_at,
            updated_at: service.updated_at,
            detail: None,
        }
    }

    /// `service` in full.
    fn detail(service: &'a Service, fee: FeeBps) -> Self {
        let detail = DetailFields { deliverable_schema: service.deliverable_schema.as_deref(), status: service.status };
        Self { detail: Some(detail), ..Self::entry(service, fee) }
    }
}

/// The tier from whichever of `service_type` and `fulfillment_type` is given (they name one tier each way); both
/// must agree. `None` when neither is given.
fn tier(
    service_type: Option<ServiceType>,
    fulfillment_type: Option<FulfillmentType>,
) -> Result<Option<(ServiceType, FulfillmentType)>> {
    Ok(match (service_type, fulfillment_type) {
        (None, None) => None,
        (Some(kind), None) => Some((kind, kind.fulfillment())),
        (None, Some(fulfillment)) => Some((fulfillment.service_type(), fulfillment)),
        (Some(kind), Some(fulfillment)) if kind.fulfillment() == fulfillment => Some((kind, fulfillment)),
        (Some(kind), Some(fulfillment)) => {
            return Err(MarketError::field(
                ErrorCode::InconsistentTier,
                "fulfillment_type",
                format!(
                    "service_type {kind} is delivered {}, but fulfillment_type is {fulfillment} (data_api is instant, \
                     automated_service automated, human_service human); send one and the other follows",
                    kind.fulfillment()
                ),
            ));
        }
    })
}

fn price(field: &str, price: Usdc) -> Result<Usdc> {
    if price.is_zero() || price > MAX_PRICE {
        return Err(MarketError::invalid(
            field,
            format!("{field} must be more than 0 and at most {MAX_PRICE} USDC; it is {price}"),
        ));
    }
    Ok(price)
}

fn schema(field: &str, value: Value) -> Result<Value> {
    if has_nul(&value) {
        return Err(MarketError::field(ErrorCode::InvalidSchema, field, format!("{field} must not contain \\u0000")));
    }
    check_schema(&value)
        .map_err(|problem| MarketError::field(ErrorCode::InvalidSchema, field, format!("{field} {problem}")))?;
    Ok(value)
}

fn category(value: &str) -> Result<String> {
    Ok(text("category", value, 1, 50, false)?.to_lowercase())
}

fn estimated_delivery(value: &str) -> Result<String> {
    text("estimated_delivery", value, 0, 100, false)
}

/// Only providers list services.
fn provider_only(me: &clearing_ledger::market::Participant) -> Result<()> {
    if me.kind != ParticipantKind::Provider {
        return Err(MarketError::refused(
            ErrorCode::ProvidersOnly,
            format!("only providers list services; participant {} registered as an agent", me.id),
        ));
    }
    Ok(())
}

async fn create(
    State(market): State<Market>,
    Authenticated(me): Authenticated,
    JsonBody(request): JsonBody<CreateRequest>,
) -> Result<Response> {
    provider_only(&me)?;
    let (service_type, fulfillment_type) = tier(request.service_type, request.fulfillment_type)?.ok_or_else(|| {
        MarketError::field(
            ErrorCode::MissingField,
            "fulfillment_type",
            "fulfillment_type (instant, automated or human) or service_type (data_api, automated_service or \
             human_service) is required",
        )
    })?;
    let new = NewService {
        id: ServiceId::random(),
        provider_id: me.id,
        name: text("name", &request.name, 1, 100, false)?,
        description: text("description", &request.description, 1, 5_000, true)?,
        category: category(&request.category)?,
        tags: texts("tags", &request.tags, MAX_TAGS, MAX_TAG_LEN)?,
        price: price("price", request.price)?,
        pricing_model: request.pricing_model.unwrap_or(PricingModel::Fixed),
        service_type,
        fulfillment_type,
        input_schema: request.input_schema.map(|s| schema("input_schema", s)).transpose()?,
        deliverable_schema: request.deliverable_schema.map(|s| schema("deliverable_schema", s)).transpose()?,
        estimated_delivery: request.estimated_delivery.as_deref().map(estimated_delivery).transpose()?,
        status: request.status.unwrap_or(ServiceStatus::Active),
    };
    let service = market.ledger().create_service(&new).await?;
    market.catalog_changed();
    info!(service = %service.id, provider = %me.id, price = %service.price, "market: service listed");
    Ok((StatusCode::CREATED, Json(ServiceView::detail(&service, market.fee()))).into_response())
}

/// A service id from the path; one that is no UUID names no service.
pub(crate) fn parse_id(text: &str) -> Result<ServiceId> {
    text.parse().map(ServiceId).map_err(|_| not_found(text))
}

fn not_found(id: impl std::fmt::Display) -> MarketError {
    MarketError::refused(ErrorCode::ServiceNotFound, format!("no service has id {id}"))
}

fn not_owner(id: ServiceId, me: ParticipantId) -> MarketError {
    MarketError::refused(
        ErrorCode::NotOwner,
        format!("service {id} is another provider's; participant {me} cannot change it"),
    )
}

async fn detail(
    State(market): State<Market>,
    Path(id): Path<String>,
    viewer: Option<Authenticated>,
) -> Result<Response> {
    let id = parse_id(&id)?;
    let service = market.ledger().service(id).await?.ok_or_else(|| not_found(id))?;
    let owner = viewer.is_some_and(|Authenticated(viewer)| viewer.id == service.provider_id);
    // Hidden is hidden: to anyone but its provider an inactive service does not exist.
    if service.status == ServiceStatus::Inactive && !owner {
        return Err(not_found(id));
    }
    Ok(Json(ServiceView::detail(&service, market.fee())).into_response())
}

async fn update(
    State(market): State<Market>,
    Path(id): Path<String>,
    Authenticated(me): Authenticated,
    JsonBody(request): JsonBody<UpdateRequest>,
) -> Result<Response> {
    let id = parse_id(&id)?;
    provider_only(&me)?;
    let update = ServiceUpdate {
        name: request.name.map(|v| text("name", &v, 1, 100, false)).transpose()?,
        description: request.description.map(|v| text("description", &v, 1, 5_000, true)).transpose()?,
        category: request.category.as_deref().map(category).transpose()?,
        tags: request.tags.map(|v| texts("tags", &v, MAX_TAGS, MAX_TAG_LEN)).transpose()?,
        price: request.price.map(|v| price("price", v)).transpose()?,
        pricing_model: request.pricing_model,
        tier: tier(request.service_type, request.fulfillment_type)?,
        input_schema: request.input_schema.map(|v| v.map(|s| schema("input_schema", s)).transpose()).transpose()?,
        deliverable_schema: request
            .deliverable_schema
            .map(|v| v.map(|s| schema("deliverable_schema", s)).transpose())
            .transpose()?,
        estimated_delivery: request
            .estimated_delivery
            .map(|v| v.as_deref().map(estimated_delivery).transpose())
            .transpose()?,
        status: request.status,
    };
    let service = match market.ledger().update_service(id, me.id, &update).await? {
        OwnedWrite::Done(service) => service,
        OwnedWrite::NotOwner => return Err(not_owner(id, me.id)),
        OwnedWrite::NotFound => return Err(not_found(id)),
    };
    market.catalog_changed();
    Ok(Json(ServiceView::detail(&service, market.fee())).into_response())
}

async fn delete(
    State(market): State<Market>,
    Path(id): Path<String>,
    Authenticated(me): Authenticated,
) -> Result<Response> {
    let id = parse_id(&id)?;
    match market.ledger().delete_service(id, me.id).await? {
        OwnedWrite::Done(()) => {}
        OwnedWrite::NotOwner => return Err(not_owner(id, me.id)),
        OwnedWrite::NotFound => return Err(not_found(id)),
    }
    market.catalog_changed();
    info!(service = %id, provider = %me.id, "market: service deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tier_follows_from_either_half() {
        assert_eq!(
            tier(None, Some(FulfillmentType::Instant)).unwrap(),
            Some((ServiceType::DataApi, FulfillmentType::Instant))
        );
        assert_eq!(
            tier(Some(ServiceType::HumanService), None).unwrap(),
            Some((ServiceType::HumanService, FulfillmentType::Human))
        );
        assert_eq!(tier(None, None).unwrap(), None);
        let refused = tier(Some(ServiceType::DataApi), Some(FulfillmentType::Human)).unwrap_err();
        assert_eq!(refused.code(), Some(ErrorCode::InconsistentTier));
    }

    #[test]
    fn prices_are_positive_and_bounded() {
        assert!(price("price", Usdc::ZERO).is_err());
        assert!(price("price", Usdc::from_atomic(MAX_PRICE.atomic() + 1)).is_err());
        price("price", MAX_PRICE).unwrap();
        price("price", Usdc::from_atomic(1)).unwrap();
    }
}
