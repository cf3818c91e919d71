//! `[webhooks]`: how the dispatcher delivers events.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{Error, Result, schedule::STANDARD_RETRY_SCHEDULE_MS};

/// `[webhooks]` of the configuration file. Every field has a default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Deliveries in flight at once in this process. Default 256: an attempt holds its slot for the receiver's whole
    /// round trip, so this over the receivers' typical answer time bounds deliveries per second (docs/BENCHMARKS.md:
    /// receivers answering in 100 ms got 590/s at 64 and 2,141/s at 256; on loopback both drain above 3,000/s).
    pub concurrency: usize,
    /// How long one attempt may take, from connecting to the first 1 KiB of the answer, milliseconds; an attempt
    /// that takes longer fails and is retried. Default 10,000.
    pub timeout_ms: u64,
    /// Whether endpoints may be on loopback, private (RFC 1918, fc00::/7), link-local, CGNAT, multicast, broadcast,
    /// documentation or unspecified addresses. Default false; `clearing dev` and tests turn it on.
    pub allow_private: bool,
    /// The delays before each retry, milliseconds: the first attempt is immediate, the n-th retry waits the n-th
    /// delay (±20% jitter) after the attempt before it failed, and an event whose last retry fails is given up.
    /// Default Standard Webhooks' suggestion: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h.
    pub retry_schedule_ms: Vec<u64>,
    /// The longest `Retry-After` honoured, seconds: a longer one waits this long. Default 3,600.
    pub max_retry_after_secs: u64,
    /// How often the dispatcher looks for due events it was not told about (retries coming due, events enqueued
    /// by other processes), milliseconds. Events this process enqueues wake it at once. Default 250.
    pub poll_ms: u64,
    /// How long a claimed event is reserved for its dispatcher, milliseconds: if that process dies mid-attempt,
    /// another takes the event once this runs out. More than `timeout_ms`. Default 60,000.
    pub lease_ms: u64,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            concurrency: 256,
            timeout_ms: 10_000,
            allow_private: false,
            retry_schedule_ms: STANDARD_RETRY_SCHEDULE_MS.to_vec(),
            max_retry_after_secs: 3_600,
            poll_ms: 250,
            lease_ms: 60_000,
        }
    }
}

impl WebhooksConfig {
    /// Checks the values that would make the dispatcher misbehave.
    pub fn validate(&self) -> Result<()> {
        let invalid = |field, requirement| Err(Error::InvalidConfig { field, requirement });
        if self.concurrency == 0 {
            return invalid("concurrency", "must be at least 1");
        }
        if self.timeout_ms == 0 {
            return invalid("timeout_ms", "must be at least 1");
        }
        if self.poll_ms == 0 {
            return invalid("poll_ms", "must be at least 1");
        }
        // A lease shorter than an attempt would hand a live attempt's event to another dispatcher.
        if self.lease_ms <= self.timeout_ms {
            return invalid("lease_ms", "must be more than timeout_ms");
        }
        Ok(())
    }

    /// One attempt's timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// The poll interval.
    pub fn poll(&self) -> Duration {
        Duration::from_millis(self.poll_ms)
    }

    /// A claim's lease.
    pub fn lease(&self) -> Duration {
        Duration::from_millis(self.lease_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_valid_and_standard() {
        let config = WebhooksConfig::default();
        config.validate().unwrap();
        assert_eq!(config.retry_schedule_ms.len(), 9);
        assert_eq!(config.timeout(), Duration::from_secs(10));
    }

    #[test]
    fn a_lease_no_longer_than_an_attempt_is_refused() {
        let config = WebhooksConfig { lease_ms: 10_000, ..WebhooksConfig::default() };
        assert!(matches!(config.validate(), Err(Error::InvalidConfig { field: "lease_ms", .. })));
        let config = WebhooksConfig { concurrency: 0, ..WebhooksConfig::default() };
        assert!(matches!(config.validate(), Err(Error::InvalidConfig { field: "concurrency", .. })));
    }
}
