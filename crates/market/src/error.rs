//! [`MarketError`], the one error of the `/v1` API, and its one JSON shape:
//! `{"error": {"code": "snake_case_stable_code", "message": "...", "field": "json.path"}}` (`field` only when one
//! field is at fault).
//!
//! Codes are an enum ([`ErrorCode`]); nothing writes a code by hand. A 5xx says nothing of its cause: the cause is
//! logged with `tracing`, and the body is a fixed sentence. A 402 is the exception to the shape: it is x402's answer
//! (the v1 body and the v2 `PAYMENT-REQUIRED` header), which stock clients must read, built by [`crate::edge`].

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use tracing::error;

use crate::edge::PaymentDemand;

/// The stable error codes of the `/v1` API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The body is not JSON, or not the JSON this route takes (400).
    InvalidBody,
    /// A required field is absent (400).
    MissingField,
    /// A field this route does not take (400).
    UnknownField,
    /// A field breaks a rule the message names (400).
    InvalidField,
    /// A query parameter breaks a rule the message names (400).
    InvalidQuery,
    /// `service_type` and `fulfillment_type` name different tiers (400).
    InconsistentTier,
    /// A schema field is not a valid JSON Schema (400).
    InvalidSchema,
    /// A webhook URL names a loopback, private or link-local address (400).
    PrivateWebhookUrl,
    /// No `X-API-Key` header on a route that needs one (401).
    MissingApiKey,
    /// An `X-API-Key` that is no participant's current key (401).
    InvalidApiKey,
    /// Only providers list services (403).
    ProvidersOnly,
    /// The service is another provider's (403).
    NotOwner,
    /// The profile is another participant's (403).
    NotYourProfile,
    /// The paying wallet is not the participant's (403).
    WalletMismatch,
    /// The paying wallet has registered no participant (403).
    NotRegistered,
    /// No such service (404).
    ServiceNotFound,
    /// No such participant (404).
    ParticipantNotFound,
    /// No such route (404).
    NotFound,
    /// The route exists, not with this method (405).
    MethodNotAllowed,
    /// The body is over the size limit (413).
    BodyTooLarge,
    /// The body is not `application/json` (415).
    UnsupportedMediaType,
    /// Over the rate limit (429).
    RateLimited,
    /// The service is priced by quote, not bought at a listed price (400).
    QuoteRequired,
    /// The brief does not match the service's input schema (400).
    InvalidBrief,
    /// A signature is malformed, expired or not the payer's (400).
    InvalidSignature,
    /// The job is another participant's (403).
    NotYourJob,
    /// No such job (404).
    JobNotFound,
    /// The job's current status does not allow this (409).
    TransitionNotAllowed,
    /// The payment already bought another job (409).
    PaymentReused,
    /// Purchases cannot be taken by this server (503).
    PurchasesUnavailable,
    /// An uploaded file's content is of no allowed type, or not of the type its name says (400).
    UnsupportedFileType,
    /// No such product, or it was deleted and the caller did not buy it (404).
    ProductNotFound,
    /// The buying wallet already owns the product, or its purchase of it is being paid (409).
    AlreadyOwned,
    /// The caller's wallet has not bought the product (403).
    NotPurchased,
    /// The purchase's downloads are used up (403).
    DownloadLimitReached,
    /// No `Authorization: Bearer` arbiter token on an admin route (401).
    MissingArbiterToken,
    /// The bearer token is not the arbiter's (401).
    InvalidArbiterToken,
    /// The admin routes are off: no arbiter token is configured (403).
    ArbiterDisabled,
    /// No webhook event of the caller's has that id (404).
    WebhookEventNotFound,
    /// The caller's webhook endpoint is disabled or missing, so nothing can be delivered to it (409).
    WebhookEndpointDisabled,
    /// Prepaid balances are off: no balance vault is deployed, or this server's relayer is not its operator (503).
    BalancesUnavailable,
    /// `X-BALANCE-AUTH` is not a balance credential (an API key is refused there) (401).
    InvalidBalanceCredential,
    /// The balance credential was revoked (401).
    BalanceCredentialRevoked,
    /// The balance credential is past its expiry (401).
    BalanceCredentialExpired,
    /// The balance credential may not buy this service (403).
    BalanceCredentialScope,
    /// The purchase is over the credential's per-request or daily cap (403).
    BalanceCredentialCap,
    /// This purchase cannot be paid from a balance (an escrow job needs a funded job) (400).
    BalanceNotAccepted,
    /// The idempotency key already paid for another purchase (409).
    IdempotencyKeyReused,
    /// No balance credential of the caller's has that id (404).
    CredentialNotFound,
    /// Subscriptions are off: no Subscriptions contract is deployed, or this server's relayer is not the vault's
    /// operator (503).
    SubscriptionsUnavailable,
    /// No plan has that id (404).
    PlanNotFound,
    /// No subscription of the caller's has that id (404).
    SubscriptionNotFound,
    /// The caller already has a live subscription to the plan (409).
    AlreadySubscribed,
    /// The prepaid balance cannot pay this (409): deposit first.
    InsufficientBalance,
    /// A withdrawal request stands: the balance pays nothing until it is cancelled (409).
    WithdrawalPending,
    /// The subscription's status does not allow this (409).
    SubscriptionStatusConflict,
    /// The plan changed since it was quoted (its price, services or requests, or it was deleted), or it is not the
    /// agent price the request names (409): read it again.
    PlanChanged,
    /// Something failed on our side; the details are in our logs (500).
    Internal,
}

impl ErrorCode {
    /// Its wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidBody => "invalid_body",
            Self::MissingField => "missing_field",
            Self::UnknownField => "unknown_field",
            Self::InvalidField => "invalid_field",
            Self::InvalidQuery => "invalid_query",
            Self::InconsistentTier => "inconsistent_tier",
            Self::InvalidSchema => "invalid_schema",
            Self::PrivateWebhookUrl => "private_webhook_url",
            Self::MissingApiKey => "missing_api_key",
            Self::InvalidApiKey => "invalid_api_key",
            Self::ProvidersOnly => "providers_only",
            Self::NotOwner => "not_owner",
            Self::NotYourProfile => "not_your_profile",
            Self::WalletMismatch => "wallet_mismatch",
            Self::NotRegistered => "not_registered",
            Self::ServiceNotFound => "service_not_found",
            Self::ParticipantNotFound => "participant_not_found",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::BodyTooLarge => "body_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::RateLimited => "rate_limited",
            Self::QuoteRequired => "quote_required",
            Self::InvalidBrief => "invalid_brief",
            Self::InvalidSignature => "invalid_signature",
            Self::NotYourJob => "not_your_job",
            Self::JobNotFound => "job_not_found",
            Self::TransitionNotAllowed => "transition_not_allowed",
            Self::PaymentReused => "payment_reused",
            Self::PurchasesUnavailable => "purchases_unavailable",
            Self::UnsupportedFileType => "unsupported_file_type",
            Self::ProductNotFound => "product_not_found",
            Self::AlreadyOwned => "already_owned",
            Self::NotPurchased => "not_purchased",
            Self::DownloadLimitReached => "download_limit_reached",
            Self::MissingArbiterToken => "missing_arbiter_token",
            Self::InvalidArbiterToken => "invalid_arbiter_token",
            Self::ArbiterDisabled => "arbiter_disabled",
            Self::WebhookEventNotFound => "webhook_event_not_found",
            Self::WebhookEndpointDisabled => "webhook_endpoint_disabled",
            Self::BalancesUnavailable => "balances_unavailable",
            Self::InvalidBalanceCredential => "invalid_balance_credential",
            Self::BalanceCredentialRevoked => "balance_credential_revoked",
            Self::BalanceCredentialExpired => "balance_credential_expired",
            Self::BalanceCredentialScope => "balance_credential_scope",
            Self::BalanceCredentialCap => "balance_credential_cap",
            Self::BalanceNotAccepted => "balance_not_accepted",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::CredentialNotFound => "credential_not_found",
            Self::SubscriptionsUnavailable => "subscriptions_unavailable",
            Self::PlanNotFound => "plan_not_found",
            Self::SubscriptionNotFound => "subscription_not_found",
            Self::AlreadySubscribed => "already_subscribed",
            Self::InsufficientBalance => "insufficient_balance",
            Self::WithdrawalPending => "withdrawal_pending",
            Self::SubscriptionStatusConflict => "subscription_status_conflict",
            Self::PlanChanged => "plan_changed",
            Self::Internal => "internal",
        }
    }

    /// Its HTTP status.
    pub const fn status(self) -> StatusCode {
        match self {
            Self::InvalidBody
            | Self::MissingField
            | Self::UnknownField
            | Self::InvalidField
            | Self::InvalidQuery
            | Self::InconsistentTier
            | Self::InvalidSchema
            | Self::PrivateWebhookUrl => StatusCode::BAD_REQUEST,
            Self::MissingApiKey | Self::InvalidApiKey => StatusCode::UNAUTHORIZED,
            Self::ProvidersOnly
            | Self::NotOwner
            | Self::NotYourProfile
            | Self::WalletMismatch
            | Self::NotRegistered => StatusCode::FORBIDDEN,
            Self::ServiceNotFound | Self::ParticipantNotFound | Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::QuoteRequired => StatusCode::BAD_REQUEST,
            Self::InvalidBrief => StatusCode::BAD_REQUEST,
            Self::InvalidSignature => StatusCode::BAD_REQUEST,
            Self::NotYourJob => StatusCode::FORBIDDEN,
            Self::JobNotFound => StatusCode::NOT_FOUND,
            Self::TransitionNotAllowed => StatusCode::CONFLICT,
            Self::PaymentReused => StatusCode::CONFLICT,
            Self::PurchasesUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::UnsupportedFileType => StatusCode::BAD_REQUEST,
            Self::ProductNotFound => StatusCode::NOT_FOUND,
            Self::AlreadyOwned => StatusCode::CONFLICT,
            Self::NotPurchased | Self::DownloadLimitReached => StatusCode::FORBIDDEN,
            Self::MissingArbiterToken | Self::InvalidArbiterToken => StatusCode::UNAUTHORIZED,
            Self::ArbiterDisabled => StatusCode::FORBIDDEN,
            Self::WebhookEventNotFound => StatusCode::NOT_FOUND,
            Self::WebhookEndpointDisabled => StatusCode::CONFLICT,
            Self::BalancesUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::InvalidBalanceCredential => StatusCode::UNAUTHORIZED,
            Self::BalanceCredentialRevoked => StatusCode::UNAUTHORIZED,
            Self::BalanceCredentialExpired => StatusCode::UNAUTHORIZED,
            Self::BalanceCredentialScope => StatusCode::FORBIDDEN,
            Self::BalanceCredentialCap => StatusCode::FORBIDDEN,
            Self::BalanceNotAccepted => StatusCode::BAD_REQUEST,
            Self::IdempotencyKeyReused => StatusCode::CONFLICT,
            Self::CredentialNotFound => StatusCode::NOT_FOUND,
            Self::SubscriptionsUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::PlanNotFound | Self::SubscriptionNotFound => StatusCode::NOT_FOUND,
            Self::AlreadySubscribed
            | Self::InsufficientBalance
            | Self::WithdrawalPending
            | Self::SubscriptionStatusConflict
            | Self::PlanChanged => StatusCode::CONFLICT,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Every code (for the OpenAPI document's enum and its test).
    pub const ALL: &[Self] = &[
        Self::InvalidBody,
        Self::MissingField,
        Self::UnknownField,
        Self::InvalidField,
        Self::InvalidQuery,
        Self::InconsistentTier,
        Self::InvalidSchema,
        Self::PrivateWebhookUrl,
        Self::MissingApiKey,
        Self::InvalidApiKey,
        Self::ProvidersOnly,
        Self::NotOwner,
        Self::NotYourProfile,
        Self::WalletMismatch,
        Self::NotRegistered,
        Self::ServiceNotFound,
        Self::ParticipantNotFound,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::BodyTooLarge,
        Self::UnsupportedMediaType,
        Self::RateLimited,
        Self::QuoteRequired,
        Self::InvalidBrief,
        Self::InvalidSignature,
        Self::NotYourJob,
        Self::JobNotFound,
        Self::TransitionNotAllowed,
        Self::PaymentReused,
        Self::PurchasesUnavailable,
        Self::UnsupportedFileType,
        Self::ProductNotFound,
        Self::AlreadyOwned,
        Self::NotPurchased,
        Self::DownloadLimitReached,
        Self::MissingArbiterToken,
        Self::InvalidArbiterToken,
        Self::ArbiterDisabled,
        Self::WebhookEventNotFound,
        Self::WebhookEndpointDisabled,
        Self::BalancesUnavailable,
        Self::InvalidBalanceCredential,
        Self::BalanceCredentialRevoked,
        Self::BalanceCredentialExpired,
        Self::BalanceCredentialScope,
        Self::BalanceCredentialCap,
        Self::BalanceNotAccepted,
        Self::IdempotencyKeyReused,
        Self::CredentialNotFound,
        Self::SubscriptionsUnavailable,
        Self::PlanNotFound,
        Self::SubscriptionNotFound,
        Self::AlreadySubscribed,
        Self::InsufficientBalance,
        Self::WithdrawalPending,
        Self::SubscriptionStatusConflict,
        Self::PlanChanged,
        Self::Internal,
    ];
}

/// Why a `/v1` request was not served.
#[derive(Debug, thiserror::Error)]
pub enum MarketError {
    /// The client's request is at fault, for the reason `message` states in the user's terms.
    #[error("{message}")]
    Refused {
        /// The stable code.
        code: ErrorCode,
        /// What was wrong, naming the field or rule.
        message: String,
        /// The JSON path of the field at fault, if one is.
        field: Option<String>,
    },
    /// Over the rate limit: retry after this many seconds.
    #[error("rate limited: retry after {retry_after_secs} s")]
    RateLimited {
        /// Whole seconds to wait.
        retry_after_secs: u64,
    },
    /// A paid route without a payment that settled: x402's 402.
    #[error("payment required: {}", .0.error())]
    PaymentRequired(Box<PaymentDemand>),
    /// A `[market]` setting the market cannot run with.
    #[error("[market] {key} {problem}")]
    InvalidConfig {
        /// The setting.
        key: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The ledger failed.
    #[error("ledger: {0}")]
    Ledger(#[from] clearing_ledger::Error),
    /// Something else failed on our side.
    #[error("{0}")]
    Internal(String),
}

/// Result alias for this crate.
pub type Result<T, E = MarketError> = std::result::Result<T, E>;

impl MarketError {
    /// The x402 reason of a 402 (a payment refused), if this is one.
    pub(crate) fn payment_reason(&self) -> Option<&str> {
        match self {
            Self::PaymentRequired(demand) => Some(demand.reason()),
            _ => None,
        }
    }

    /// A refusal for `code` saying `message`.
    pub fn refused(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Refused { code, message: message.into(), field: None }
    }

    /// A refusal of the field at JSON path `field`, for `code`, saying `message`.
    pub fn field(code: ErrorCode, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Refused { code, message: message.into(), field: Some(field.into()) }
    }

    /// `invalid_field` for `field`, saying `message`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::field(ErrorCode::InvalidField, field, message)
    }

    /// The code it is answered with.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Refused { code, .. } => Some(*code),
            Self::RateLimited { .. } => Some(ErrorCode::RateLimited),
            Self::PaymentRequired(_) => None,
            Self::InvalidConfig { .. } | Self::Ledger(_) | Self::Internal(_) => Some(ErrorCode::Internal),
        }
    }
}

/// The body of every `/v1` error but a 402.
#[derive(Debug, Serialize)]
pub(crate) struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Debug, Serialize)]
struct ErrorDetail<'a> {
    code: &'static str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

/// The answer for `code` saying `message` (about `field`).
pub(crate) fn error_response(code: ErrorCode, message: &str, field: Option<&str>) -> Response {
    let body = ErrorBody { error: ErrorDetail { code: code.as_str(), message, field } };
    (code.status(), Json(body)).into_response()
}

/// What a 5xx says: nothing about the cause.
const INTERNAL_MESSAGE: &str = "something failed on our side; it is logged, and retrying later may work";

impl IntoResponse for MarketError {
    fn into_response(self) -> Response {
        match self {
            Self::Refused { code, message, field } => error_response(code, &message, field.as_deref()),
            Self::RateLimited { retry_after_secs } => {
                let message = format!("too many requests: retry after {retry_after_secs} s");
                let mut response = error_response(ErrorCode::RateLimited, &message, None);
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
                response
            }
            Self::PaymentRequired(demand) => demand.into_response(),
            Self::Ledger(cause) => {
                error!(error = %cause, "market: the ledger failed");
                error_response(ErrorCode::Internal, INTERNAL_MESSAGE, None)
            }
            Self::InvalidConfig { .. } | Self::Internal(_) => {
                error!(error = %self, "market: internal error");
                error_response(ErrorCode::Internal, INTERNAL_MESSAGE, None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            let name = code.as_str();
            assert!(name.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{name}");
            assert!(seen.insert(name), "{name} twice");
        }
    }

    #[tokio::test]
    async fn a_5xx_says_nothing_of_its_cause() {
        let response = MarketError::Internal("password=hunter2 at db:5432".into()).into_response();
        assert_eq!(response.status(), 500);
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(!text.contains("hunter2") && !text.contains("5432"), "{text}");
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["error"]["code"], "internal");
        assert!(json["error"].get("field").is_none());
    }

    #[tokio::test]
    async fn a_refusal_names_its_field() {
        let response = MarketError::invalid("tags[3]", "a tag is at most 50 characters").into_response();
        assert_eq!(response.status(), 400);
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["error"]["code"], "invalid_field");
        assert_eq!(json["error"]["field"], "tags[3]");
        assert_eq!(json["error"]["message"], "a tag is at most 50 characters");
    }
}
