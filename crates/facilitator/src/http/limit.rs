//! Rate limiting with governor: a request is charged to its API key when it carries a configured one
//! (`Authorization: Bearer <key>` or `X-API-Key: <key>`), otherwise to its client IP. Over the quota it gets 429
//! with `Retry-After` in whole seconds.

use std::{net::IpAddr, num::NonZeroU32, sync::Arc, time::Duration};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock as _};
use serde::{Deserialize, Serialize};

use super::ApiError;

/// The bucket a client IP is charged to: an IPv4 address (an IPv4-mapped IPv6 one as IPv4), or an IPv6 address's
/// /64. A host is usually given a whole /64, so keyed by the full address every request could come from a fresh
/// bucket.
pub fn client_bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        },
    }
}

/// Requests per second and burst, for one client IP or one API key. A rate of 0 turns that limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Sustained requests per second.
    pub per_second: u32,
    /// Requests allowed at once above the sustained rate.
    pub burst: u32,
}

impl RateLimit {
    fn quota(self) -> Option<Quota> {
        let rate = NonZeroU32::new(self.per_second)?;
        Some(Quota::per_second(rate).allow_burst(NonZeroU32::new(self.burst.max(self.per_second))?))
    }
}

/// The limiters of one server.
#[derive(Debug)]
pub struct Limiter {
    per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    per_key: Option<DefaultKeyedRateLimiter<String>>,
    api_keys: Vec<String>,
}

impl Limiter {
    /// Limits per client IP and per API key (`api_keys` are the keys that count as keys).
    pub fn new(per_ip: RateLimit, per_key: RateLimit, api_keys: Vec<String>) -> Self {
        Self {
            per_ip: per_ip.quota().map(RateLimiter::keyed),
            per_key: per_key.quota().map(RateLimiter::keyed),
            api_keys,
        }
    }

    /// Whether a request from `ip` with `headers` may go on; the wait before retrying if not.
    pub fn check(&self, ip: IpAddr, headers: &HeaderMap) -> Result<(), Duration> {
        if let Some(key) = self.api_key(headers) {
            return match &self.per_key {
                Some(limiter) => limiter
                    .check_key(&key.to_owned())
                    .map_err(|not_until| not_until.wait_time_from(governor::clock::DefaultClock::default().now())),
                None => Ok(()),
            };
        }
        match &self.per_ip {
            Some(limiter) => limiter
                .check_key(&client_bucket(ip))
                .map_err(|not_until| not_until.wait_time_from(governor::clock::DefaultClock::default().now())),
            None => Ok(()),
        }
    }

    fn api_key<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        let presented = headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .or_else(|| headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer "))?;
        self.api_keys.iter().fold(false, |found, k| same_key(k, presented) | found).then_some(presented)
    }
}

/// Whether `a` and `b` are equal, in time that depends on their lengths alone: a key's bytes are not to be learnt one
/// at a time from how long a comparison took.
fn same_key(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |differ, (x, y)| differ | (x ^ y)) == 0
}

/// The axum middleware: charges the request, or answers 429.
pub(super) async fn rate_limit(
    State(limiter): State<Arc<Limiter>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    match limiter.check(peer.ip(), request.headers()) {
        Ok(()) => next.run(request).await,
        Err(wait) => {
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let mut response = ApiError::RateLimited { retry_after_secs: seconds.max(1) }.into_response();
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
            debug_assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::same_key;

    #[test]
    fn keys_compare_whole() {
        assert!(same_key("fk_0123456789", "fk_0123456789"));
        for other in ["fk_0123456788", "fk_012345678", "fk_01234567890", "", "Fk_0123456789"] {
            assert!(!same_key("fk_0123456789", other), "{other}");
        }
    }
}
