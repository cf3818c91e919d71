//! Rate limits of `/v1`, as the facilitator's (governor keyed limiters, `crates/facilitator/src/http/limit.rs`):
//! every request is charged to its client IP by a middleware, and every authenticated one also to its participant
//! (by [`crate::Authenticated`], after the key is known to be real, so made-up keys cannot buy fresh buckets). Over
//! either: 429 with `Retry-After` in whole seconds.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use axum::{
    extract::{ConnectInfo, Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use clearing_facilitator::http::RateLimit;
use clearing_ledger::market::ParticipantId;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock as _};

use crate::{Market, MarketError, Result};

/// Checks between sweeps of buckets that are full again (and so carry no state worth keeping).
const SWEEP_EVERY: u64 = 16_384;

/// The limiters of the market's routes.
#[derive(Debug)]
pub struct Limits {
    per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    per_key: Option<DefaultKeyedRateLimiter<ParticipantId>>,
    checks: AtomicU64,
}

fn quota(limit: RateLimit) -> Option<Quota> {
    let rate = std::num::NonZeroU32::new(limit.per_second)?;
    Some(Quota::per_second(rate).allow_burst(std::num::NonZeroU32::new(limit.burst.max(limit.per_second))?))
}

impl Limits {
    /// Limits per client IP and per participant; a rate of 0 turns one off.
    pub fn new(per_ip: RateLimit, per_key: RateLimit) -> Self {
        Self {
            per_ip: quota(per_ip).map(RateLimiter::keyed),
            per_key: quota(per_key).map(RateLimiter::keyed),
            checks: AtomicU64::new(0),
        }
    }

    /// Charges a request from `ip`.
    pub fn check_ip(&self, ip: IpAddr) -> Result<()> {
        self.sweep();
        match &self.per_ip {
            Some(limiter) => limiter
                .check_key(&clearing_facilitator::http::client_bucket(ip))
                .map_err(|not_until| limited(not_until.wait_time_from(now()))),
            None => Ok(()),
        }
    }

    /// Charges an authenticated request of `participant`.
    pub fn check_key(&self, participant: ParticipantId) -> Result<()> {
        match &self.per_key {
            Some(limiter) => {
                limiter.check_key(&participant).map_err(|not_until| limited(not_until.wait_time_from(now())))
            }
            None => Ok(()),
        }
    }

    /// Forgets, now and then, the buckets that are full again: without it every IP ever seen keeps an entry.
    fn sweep(&self) {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            if let Some(limiter) = &self.per_ip {
                limiter.retain_recent();
            }
            if let Some(limiter) = &self.per_key {
                limiter.retain_recent();
            }
        }
    }
}

fn now() -> governor::clock::QuantaInstant {
    governor::clock::DefaultClock::default().now()
}

fn limited(wait: Duration) -> MarketError {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    MarketError::RateLimited { retry_after_secs: seconds.max(1) }
}

/// The middleware charging every `/v1` request to its client IP. A request served without a peer address (only
/// tests do that) is charged to 0.0.0.0.
pub(crate) async fn per_ip(State(market): State<Market>, request: Request, next: Next) -> Response {
    let ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ConnectInfo(peer)| peer.ip());
    match market.limits().check_ip(ip) {
        Ok(()) => next.run(request).await,
        Err(limited) => limited.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_a_refusal_with_a_wait() {
        let limits = Limits::new(RateLimit { per_second: 1, burst: 2 }, RateLimit { per_second: 0, burst: 0 });
        let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        limits.check_ip(ip).unwrap();
        limits.check_ip(ip).unwrap();
        match limits.check_ip(ip) {
            Err(MarketError::RateLimited { retry_after_secs }) => assert_eq!(retry_after_secs, 1),
            other => panic!("expected a 429, got {other:?}"),
        }
        // Another client has its own bucket; the per-key limit is off.
        limits.check_ip(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2))).unwrap();
        for _ in 0..100 {
            limits.check_key(ParticipantId::random()).unwrap();
        }
    }

    #[test]
    fn an_ipv6_client_is_one_bucket_per_64() {
        let limits = Limits::new(RateLimit { per_second: 1, burst: 1 }, RateLimit { per_second: 0, burst: 0 });
        limits.check_ip("2001:db8::1".parse().unwrap()).unwrap();
        let same_64 = limits.check_ip("2001:db8::ffff:2".parse().unwrap());
        assert!(matches!(same_64, Err(MarketError::RateLimited { .. })), "{same_64:?}");
        limits.check_ip("2001:db8:0:1::1".parse().unwrap()).unwrap();
        // An IPv4-mapped address is its IPv4 client.
        limits.check_ip("192.0.2.7".parse().unwrap()).unwrap();
        assert!(limits.check_ip("::ffff:192.0.2.7".parse().unwrap()).is_err());
    }
}
