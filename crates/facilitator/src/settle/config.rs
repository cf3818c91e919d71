use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The settle pipeline's knobs (the `[settle]` table of the config file). Every field is optional in TOML.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SettleConfig {
    /// Most payments in one `BatchSettler` transaction. Default 100.
    pub batch_size: u32,
    /// Longest a queued payment waits for its batch to be claimed, in ms. Default 250.
    pub max_wait_ms: u64,
    /// How long `/settle` waits for a payment's outcome before answering `settlement_pending`, in ms.
    /// Default 10,000.
    pub settle_timeout_ms: u64,
    /// How often the chain head is polled, in ms; each new block has every in-flight batch look for its receipt.
    /// Default 100.
    pub receipt_poll_ms: u64,
    /// How often a waiting `/settle` re-reads its row in case a notification was lost, in ms. Default 1,000.
    pub waiter_poll_ms: u64,
    /// How long a broadcast transaction may stay unmined before it is replaced at the same nonce with bumped
    /// fees, in ms. Default 30,000.
    pub replace_after_ms: u64,
    /// The fee bump of a replacement, in percent of the previous fees (at least 13: nodes require 10% to
    /// 12.5%). Default 25.
    pub fee_bump_percent: u32,
    /// Seconds before validBefore at which a queued payment is expired instead of broadcast, so nothing is sent
    /// that could expire in flight. Default 6 (the verify margin).
    pub expiry_margin_secs: u64,
    /// How long the relayer nonce of a broadcast batch must stay used with no receipt for any of its hashes
    /// before the batch counts as displaced by another transaction and its items are requeued, in ms.
    /// Default 10,000 (a node may report the new nonce before it serves the receipt).
    pub requeue_grace_ms: u64,
    /// Most batches in flight (broadcast, receipt pending) per asset. Default 32 (at 100 a batch, 3,200 payments:
    /// 1,000 a second for blocks up to 3 s apart).
    pub max_in_flight: u32,
}

impl Default for SettleConfig {
    fn default() -> Self {
        Self {
            batch_size: 100,
            max_wait_ms: 250,
            settle_timeout_ms: 10_000,
            receipt_poll_ms: 100,
            waiter_poll_ms: 1_000,
            replace_after_ms: 30_000,
            fee_bump_percent: 25,
            expiry_margin_secs: 6,
            requeue_grace_ms: 10_000,
            max_in_flight: 32,
        }
    }
}

impl SettleConfig {
    /// The smallest accepted fee bump.
    pub const MIN_FEE_BUMP_PERCENT: u32 = 13;

    /// Checks every value is usable.
    pub fn validate(&self) -> Result<()> {
        let invalid = |field, requirement| Err(Error::InvalidConfig { field, requirement });
        if self.batch_size == 0 {
            return invalid("batch_size", "must be at least 1");
        }
        if self.fee_bump_percent < Self::MIN_FEE_BUMP_PERCENT {
            return invalid("fee_bump_percent", "must be at least 13");
        }
        if self.max_in_flight == 0 {
            return invalid("max_in_flight", "must be at least 1");
        }
        if self.max_wait_ms == 0 || self.receipt_poll_ms == 0 || self.waiter_poll_ms == 0 {
            return invalid("max_wait_ms, receipt_poll_ms and waiter_poll_ms", "must be above 0");
        }
        Ok(())
    }

    pub(crate) const fn max_wait(&self) -> Duration {
        Duration::from_millis(self.max_wait_ms)
    }

    pub(crate) const fn settle_timeout(&self) -> Duration {
        Duration::from_millis(self.settle_timeout_ms)
    }

    pub(crate) const fn receipt_poll(&self) -> Duration {
        Duration::from_millis(self.receipt_poll_ms)
    }

    pub(crate) const fn waiter_poll(&self) -> Duration {
        Duration::from_millis(self.waiter_poll_ms)
    }

    pub(crate) const fn requeue_grace(&self) -> Duration {
        Duration::from_millis(self.requeue_grace_ms)
    }

    pub(crate) const fn replace_after(&self) -> Duration {
        Duration::from_millis(self.replace_after_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_table_gives_the_documented_defaults() {
        let config: SettleConfig = toml::from_str("").unwrap();
        assert_eq!(config, SettleConfig::default());
        assert_eq!((config.batch_size, config.max_wait_ms), (100, 250));
        config.validate().unwrap();
    }

    #[test]
    fn unknown_fields_and_unsafe_values_are_refused() {
        assert!(toml::from_str::<SettleConfig>("batch_sise = 5").is_err());
        let partial: SettleConfig = toml::from_str("batch_size = 5\nfee_bump_percent = 50").unwrap();
        assert_eq!((partial.batch_size, partial.fee_bump_percent, partial.max_wait_ms), (5, 50, 250));
        let low_bump = SettleConfig { fee_bump_percent: 10, ..SettleConfig::default() };
        assert!(matches!(low_bump.validate(), Err(Error::InvalidConfig { field: "fee_bump_percent", .. })));
        let empty_batch = SettleConfig { batch_size: 0, ..SettleConfig::default() };
        assert!(matches!(empty_batch.validate(), Err(Error::InvalidConfig { field: "batch_size", .. })));
    }
}
