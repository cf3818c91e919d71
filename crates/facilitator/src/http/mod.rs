//! The facilitator's HTTP API (axum): `POST /verify`, `POST /settle`, `GET /supported`, `GET /health`,
//! `GET /metrics` and `GET /openapi.json`.
//!
//! Every business outcome is a 200 with the x402 body; only a body that cannot be parsed is a 400, with a JSON
//! error naming what was wrong. Bodies are limited in size, requests in time, clients in rate (429 with
//! `Retry-After`), headers in the time they may take to arrive ([`serve_with`]). An unknown path is a JSON 404, a
//! known path with another method a JSON 405 with `Allow`. `/health` is 503 when a checked part is down
//! ([`crate::Health`]). Handlers are thin: they parse, call the domain, and map the outcome.

mod limit;
mod openapi;
mod server;
mod settle;

use std::{sync::Arc, time::Duration};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{DefaultBodyLimit, State, rejection::BytesRejection},
    http::{StatusCode, header},
    middleware,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use clearing_x402::{PaymentRequest, SupportedResponse, VerifyResponse};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use tower_http::timeout::TimeoutLayer;
use tracing::debug;

pub use self::{
    limit::{Limiter, RateLimit, client_bucket},
    server::{serve, serve_with},
    settle::{RoutedSettle, SettleService},
};
use crate::{Health, Metrics, PartState, Verifier};

/// Limits of the HTTP server.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Largest request body, bytes. Default 64 KiB (an x402 body is about 1.5 KiB).
    pub max_body_bytes: usize,
    /// Longest a request may take, milliseconds. Default 30,000 (a settle waits for its receipt).
    pub request_timeout_ms: u64,
    /// Per client IP. Default 5,000/s with a burst of 10,000; 0 turns it off.
    pub rate_limit_per_ip: RateLimit,
    /// Per API key. Default 20,000/s with a burst of 40,000; 0 turns it off.
    pub rate_limit_per_key: RateLimit,
    /// Keys whose requests are limited per key instead of per IP. Default none.
    pub api_keys: Vec<String>,
    /// Longest a connection may take to send a request's headers (and, idle, to start the next request),
    /// milliseconds; then it is closed. Default 10,000: a client sends its headers in one write, and a slow
    /// sender would otherwise hold a connection and its descriptor for ever.
    pub header_read_timeout_ms: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 * 1024,
            request_timeout_ms: 30_000,
            rate_limit_per_ip: RateLimit { per_second: 5_000, burst: 10_000 },
            rate_limit_per_key: RateLimit { per_second: 20_000, burst: 40_000 },
            api_keys: Vec::new(),
            header_read_timeout_ms: 10_000,
        }
    }
}

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    verifier: Verifier,
    settle: Option<SettleService>,
    metrics: Arc<Metrics>,
    supported: Arc<SupportedResponse>,
    health: Health,
    /// The served `GET /openapi.json`.
    openapi: Bytes,
}

impl AppState {
    /// The state of a facilitator that verifies with `verifier` and advertises `supported`; it settles once
    /// given a [`SettleService`].
    pub fn new(verifier: Verifier, metrics: Arc<Metrics>, supported: SupportedResponse) -> Self {
        Self {
            verifier,
            settle: None,
            metrics,
            supported: Arc::new(supported),
            health: Health::new(),
            openapi: Bytes::from_static(openapi::DOCUMENT.as_bytes()),
        }
    }

    /// Serves `GET /openapi.json` with `extensions` (OpenAPI fragments of routes served beside these: their `paths`
    /// and `components`) merged into the facilitator's document.
    ///
    /// # Panics
    ///
    /// When an extension describes a path or a component the document already has: two parts claiming one route is
    /// a bug of the assembly, found at startup.
    #[must_use]
    pub fn with_openapi(mut self, extensions: &[serde_json::Value]) -> Self {
        if !extensions.is_empty() {
            self.openapi = Bytes::from(openapi::merged(extensions));
        }
        self
    }

    /// Answers `GET /health` from `health`'s checks (by default nothing is checked).
    #[must_use]
    pub fn with_health(mut self, health: Health) -> Self {
        self.health = health;
        self
    }

    /// Serves `POST /settle` through `settle`.
    #[must_use]
    pub fn with_settle(mut self, settle: SettleService) -> Self {
        self.settle = Some(settle);
        self
    }
}

/// The facilitator's routes with their limits. Serve with [`serve_with`] (or any server that gives requests a
/// `ConnectInfo<SocketAddr>`: the rate limiter keys on the peer address).
pub fn router(state: AppState, config: &HttpConfig) -> Router {
    router_with(state, config, Router::new())
}

/// [`router`] with `extra` routes (the audit routes) behind the same limits, fallbacks and timeouts.
pub fn router_with(state: AppState, config: &HttpConfig, extra: Router) -> Router {
    let limiter = Arc::new(Limiter::new(config.rate_limit_per_ip, config.rate_limit_per_key, config.api_keys.clone()));
    let routes = Router::new();
    let routes = if state.settle.is_some() { routes.route("/settle", post(settle)) } else { routes };
    routes
        .route("/verify", post(verify))
        .route("/supported", get(supported))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .with_state(state)
        .merge(extra)
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(middleware::from_fn_with_state(limiter, limit::rate_limit))
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_millis(config.request_timeout_ms),
        ))
}

async fn verify(State(state): State<AppState>, body: Result<Bytes, BytesRejection>) -> Result<Response, ApiError> {
    let started = Instant::now();
    let request = parse(body)?;
    let response = match state.verifier.verify(&request).await {
        Ok(payment) => {
            debug!(payer = %payment.payer, nonce = %payment.authorization.nonce, "verify: valid");
            state.metrics.verified("valid", started.elapsed());
            VerifyResponse::valid(payment.payer)
        }
        Err(rejection) => {
            debug!(reason = %rejection.reason, "verify: invalid");
            state.metrics.verified(rejection.reason.as_str(), started.elapsed());
            VerifyResponse::invalid(&rejection)
        }
    };
    Ok(Json(response).into_response())
}

async fn settle(State(state): State<AppState>, body: Result<Bytes, BytesRejection>) -> Result<Response, ApiError> {
    let started = Instant::now();
    let request = parse(body)?;
    let Some(service) = &state.settle else { return Err(ApiError::NotFound) };
    let response = service.settle(&state.verifier, &request).await;
    let outcome = match response.error_reason {
        None => "success",
        Some(reason) => reason.as_str(),
    };
    state.metrics.settled(outcome, started.elapsed());
    Ok(Json(response).into_response())
}

async fn supported(State(state): State<AppState>) -> Json<SupportedResponse> {
    Json(SupportedResponse::clone(&state.supported))
}

/// The body of `GET /health`, 200 when `down` is empty, else 503.
#[derive(Debug, Serialize)]
struct HealthBody {
    /// `ok` or `unavailable`.
    status: &'static str,
    networks: Vec<String>,
    /// Each checked part's state.
    parts: std::collections::BTreeMap<&'static str, PartState>,
    /// The parts that are not ok.
    down: Vec<&'static str>,
}

async fn health(State(state): State<AppState>) -> Response {
    let report = state.health.check().await;
    let (code, status) =
        if report.is_ok() { (StatusCode::OK, "ok") } else { (StatusCode::SERVICE_UNAVAILABLE, "unavailable") };
    let body = HealthBody {
        status,
        networks: state.verifier.networks().iter().map(ToString::to_string).collect(),
        down: report.down(),
        parts: report.parts,
    };
    (code, Json(body)).into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    if let Some(settle) = &state.settle {
        state.metrics.queue_depth.store(settle.queue_depth() as u64, std::sync::atomic::Ordering::Relaxed);
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render()).into_response()
}

async fn openapi(State(state): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], state.openapi).into_response()
}

/// A body that is not an x402 facilitator request is a 400 naming the problem.
fn parse(body: Result<Bytes, BytesRejection>) -> Result<PaymentRequest, ApiError> {
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::BodyTooLarge,
        _ => ApiError::InvalidBody { message: rejection.body_text() },
    })?;
    PaymentRequest::from_slice(&body).map_err(|e| ApiError::InvalidBody { message: e.to_string() })
}

/// Every non-200 answer of the API, as JSON `{error, message}`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not a facilitator request.
    #[error("{message}")]
    InvalidBody {
        /// What was wrong, from the parser.
        message: String,
    },
    /// The body exceeds the configured limit.
    #[error("request body too large")]
    BodyTooLarge,
    /// No such route on this facilitator.
    #[error("no such route: see GET /openapi.json")]
    NotFound,
    /// The route exists but not with this method (the `Allow` header lists the methods it has).
    #[error("method not allowed on this route: see the Allow header")]
    MethodNotAllowed,
    /// The client is over its rate.
    #[error("rate limited: retry after {retry_after_secs} s")]
    RateLimited {
        /// Seconds to wait.
        retry_after_secs: u64,
    },
}

#[derive(Debug, Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            Self::InvalidBody { .. } => (StatusCode::BAD_REQUEST, "invalid_request"),
            Self::BodyTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
            Self::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
        };
        (status, Json(ErrorBody { error: code, message: self.to_string() })).into_response()
    }
}
