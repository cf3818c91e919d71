//! The crate's one error type: what can go wrong talking to the facilitator.
//!
//! A payment that does not verify or settle is not an error: it is a business outcome, answered with a 402.

/// Why a facilitator call produced no x402 answer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The facilitator's base URL cannot take an endpoint path (e.g. `mailto:`), or is not http(s).
    #[error("facilitator URL {url} is not an http(s) base URL")]
    InvalidUrl {
        /// The URL as given.
        url: String,
    },
    /// The request did not complete (connect, timeout, reading the body).
    #[error("facilitator {endpoint} unreachable: {source}")]
    Request {
        /// The endpoint, e.g. `/settle`.
        endpoint: &'static str,
        /// reqwest's error.
        #[source]
        source: reqwest::Error,
    },
    /// The facilitator answered with a status other than 200 (every business outcome is a 200).
    #[error("facilitator {endpoint} answered HTTP {status}, expected 200")]
    Status {
        /// The endpoint.
        endpoint: &'static str,
        /// The status it answered with.
        status: u16,
    },
    /// A 200 whose body is not the x402 response body of that endpoint.
    #[error("facilitator {endpoint} answered a body that is not its x402 response: {source}")]
    Decode {
        /// The endpoint.
        endpoint: &'static str,
        /// serde's message.
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    /// Whether the request may have reached the facilitator and been acted on although no x402 answer came back:
    /// a transport failure after connecting (a timeout, a broken connection, an unreadable body), a 5xx (a proxy's
    /// 502 when the facilitator died mid-request), or an undecodable 200. Not a failure to connect (nothing was
    /// sent) and not a 4xx (refused before it was acted on).
    pub(crate) fn answer_may_be_lost(&self) -> bool {
        match self {
            Self::InvalidUrl { .. } => false,
            Self::Request { source, .. } => !source.is_connect() && !source.is_builder(),
            Self::Status { status, .. } => *status >= 500,
            Self::Decode { .. } => true,
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
