//! A participant's webhook delivery log and manual redelivery, with its own `X-API-Key`:
//! `GET /v1/webhooks/deliveries` (its events newest first, filtered by `status` and `event_type`, paged by `limit` and
//! `offset` with the total), `GET /v1/webhooks/deliveries/{id}` (one event with its body and attempts) and
//! `POST /v1/webhooks/deliveries/{id}/redeliver` (the same event, same `webhook-id`, queued again now).
//!
//! Every read and the redelivery are scoped to the caller in the ledger's query: another participant's event is
//! answered exactly as an id that does not exist (404), so ids reveal nothing. Delivery itself is the dispatcher's
//! (`clearing-webhooks`); this module only reads the outbox and asks the ledger to queue an event again.

mod openapi;
mod view;

use axum::{
    Json, Router,
    extract::{Path, RawQuery, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use clearing_ledger::{
    DisabledReason, Error as LedgerError, Redelivery, WebhookEventId, WebhookHistoryQuery, WebhookStatus,
    market::ParticipantId,
};
use tracing::info;

pub(crate) use openapi::OPENAPI;

use self::view::{EntryView, EventView, Page, RedeliveryView};
use crate::{Authenticated, ErrorCode, Market, MarketError, Result};

/// The page size unless asked.
const DEFAULT_LIMIT: u32 = 20;
/// The largest page.
const MAX_LIMIT: u32 = WebhookHistoryQuery::MAX_LIMIT;
/// The furthest a page may start: a deeper page walks past every skipped event; filter by status or type instead.
const MAX_OFFSET: u32 = 10_000;
/// The longest event type (the outbox's rule).
const MAX_EVENT_TYPE: usize = 100;

/// The delivery log routes.
pub(crate) fn routes() -> Router<Market> {
    Router::new()
        .route("/webhooks/deliveries", get(list))
        .route("/webhooks/deliveries/{id}", get(one))
        .route("/webhooks/deliveries/{id}/redeliver", post(redeliver))
}

async fn list(State(market): State<Market>, caller: Authenticated, RawQuery(raw): RawQuery) -> Result<Response> {
    let query = parse_query(raw.as_deref().unwrap_or(""))?;
    let page = market.ledger().webhook_history(caller.0.id, &query).await?;
    let body = Page {
        total: page.total,
        limit: query.limit,
        offset: query.offset,
        deliveries: page.entries.iter().map(EntryView::of).collect(),
    };
    Ok(Json(body).into_response())
}

async fn one(State(market): State<Market>, caller: Authenticated, Path(id): Path<String>) -> Result<Response> {
    let id = event_id(&id)?;
    let event = market.ledger().webhook_history_event(caller.0.id, id).await?.ok_or_else(|| not_found(id))?;
    Ok(Json(EventView::of(&event)).into_response())
}

async fn redeliver(State(market): State<Market>, caller: Authenticated, Path(id): Path<String>) -> Result<Response> {
    let id = event_id(&id)?;
    let me = caller.0.id;
    let redelivery = match market.ledger().redeliver_webhook(me, id).await {
        Ok(redelivery) => redelivery,
        Err(LedgerError::NoSuchWebhookEvent { .. }) => return Err(not_found(id)),
        Err(LedgerError::WebhookEndpointDisabled { .. }) => return Err(endpoint_disabled(&market, me).await),
        Err(e) => return Err(e.into()),
    };
    if let Redelivery::Queued(_) = redelivery {
        info!(participant = %me, event = %id, "webhook redelivery queued by its owner");
    }
    // The answer reads the event back: a delivery may have finished between the ledger's commit and now.
    let entry = market.ledger().webhook_history_event(me, id).await?.ok_or_else(|| not_found(id))?;
    Ok((StatusCode::ACCEPTED, Json(RedeliveryView::of(&redelivery, &entry.entry))).into_response())
}

/// The `{id}` of a path: the `webhook-id` the event was sent with, `msg_` and a number.
fn event_id(text: &str) -> Result<WebhookEventId> {
    text.parse().map_err(|_| {
        MarketError::refused(
            ErrorCode::WebhookEventNotFound,
            format!("no webhook event {text:?} of yours: an event's id is its webhook-id header, msg_ and a number"),
        )
    })
}

fn not_found(id: WebhookEventId) -> MarketError {
    MarketError::refused(
        ErrorCode::WebhookEventNotFound,
        format!("no webhook event {id} of yours (GET /v1/webhooks/deliveries lists them)"),
    )
}

/// Why nothing can be redelivered, and how deliveries are turned back on.
async fn endpoint_disabled(market: &Market, me: ParticipantId) -> MarketError {
    let endpoint = match market.ledger().webhook_endpoint(me).await {
        Ok(endpoint) => endpoint,
        Err(e) => return e.into(),
    };
    let enable = format!(
        "set webhook_url with PUT /v1/participants/{me} (the same URL will do) to enable deliveries again, then \
         redeliver"
    );
    let why = match endpoint.and_then(|e| e.disabled) {
        Some((at, DisabledReason::Gone)) => format!(
            "your webhook endpoint answered 410 Gone at {}, which turned deliveries to it off",
            view::rfc3339(at)
        ),
        Some((_, DisabledReason::Owner)) => "your webhook_url was removed, which turned deliveries off".to_owned(),
        None => "you have no webhook_url".to_owned(),
    };
    MarketError::refused(ErrorCode::WebhookEndpointDisabled, format!("{why}: {enable}"))
}

/// The list's query string, or a 400 naming the parameter.
fn parse_query(raw: &str) -> Result<WebhookHistoryQuery> {
    let mut query = WebhookHistoryQuery { status: None, event_type: None, limit: DEFAULT_LIMIT, offset: 0 };
    let mut seen = Vec::new();
    for (name, value) in url::form_urlencoded::parse(raw.as_bytes()) {
        let invalid = |message: String| MarketError::field(ErrorCode::InvalidQuery, name.to_string(), message);
        if seen.contains(&name) {
            return Err(invalid(format!("{name} is given twice")));
        }
        seen.push(name.clone());
        let value = value.trim();
        match name.as_ref() {
            "status" => {
                query.status = Some(WebhookStatus::parse(value).ok_or_else(|| {
                    let names: Vec<_> = WebhookStatus::ALL.iter().map(|s| s.as_str()).collect();
                    invalid(format!("status is one of {}, not {value:?}", names.join(", ")))
                })?);
            }
            "event_type" => {
                let dotted = value
                    .split('.')
                    .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
                if !dotted || value.len() > MAX_EVENT_TYPE {
                    return Err(invalid(format!(
                        "event_type is an event's type, e.g. job_dispatch (letters, digits, _ and dots, at most \
                         {MAX_EVENT_TYPE}), not {value:?}"
                    )));
                }
                query.event_type = Some(value.to_owned());
            }
            "limit" => {
                query.limit =
                    value.parse().ok().filter(|limit| (1..=MAX_LIMIT).contains(limit)).ok_or_else(|| {
                        invalid(format!("limit is a whole number from 1 to {MAX_LIMIT}, not {value:?}"))
                    })?;
            }
            "offset" => {
                query.offset = value.parse().ok().filter(|offset| *offset <= MAX_OFFSET).ok_or_else(|| {
                    invalid(format!("offset is a whole number from 0 to {MAX_OFFSET}, not {value:?}"))
                })?;
            }
            _ => {
                return Err(invalid(format!(
                    "{name} is not a parameter of the delivery log; they are status, event_type, limit and offset"
                )));
            }
        }
    }
    Ok(query)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_is_checked_parameter_by_parameter() {
        let query = parse_query("status=failed&event_type=job_dispatch&limit=100&offset=40").unwrap();
        assert_eq!(query.status, Some(WebhookStatus::Failed));
        assert_eq!((query.event_type.as_deref(), query.limit, query.offset), (Some("job_dispatch"), 100, 40));
        let defaults = parse_query("").unwrap();
        assert_eq!((defaults.status, defaults.limit, defaults.offset), (None, DEFAULT_LIMIT, 0));
        for (bad, field) in [
            ("status=lost", "status"),
            ("event_type=job%20dispatch", "event_type"),
            ("limit=0", "limit"),
            ("limit=101", "limit"),
            ("offset=-1", "offset"),
            ("offset=10001", "offset"),
            ("limit=1&limit=2", "limit"),
            ("page=2", "page"),
        ] {
            match parse_query(bad) {
                Err(MarketError::Refused { code: ErrorCode::InvalidQuery, field: Some(f), .. }) => {
                    assert_eq!(f, field, "{bad}")
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn an_event_id_is_its_webhook_id() {
        assert_eq!(event_id("msg_42").unwrap(), WebhookEventId(42));
        for bad in ["42", "msg_x", "5d8ea8a1-0c4b-4f43-9f0b-6a3c2f1e9d70"] {
            assert!(matches!(event_id(bad), Err(MarketError::Refused { code: ErrorCode::WebhookEventNotFound, .. })));
        }
    }
}
