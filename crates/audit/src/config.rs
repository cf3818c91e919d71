//! `[audit]`: how the audit trail sequences and anchors settlement records.

use std::time::Duration;

use clearing_chain::Secret;
use serde::{Deserialize, Serialize};

use crate::AnchorPolicy;

/// `[audit]` of the configuration file. Every field has a default; the anchorer key's environment override
/// (`CLEARING_ANCHORER_KEY`) is applied where the file is read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// Hex private key of the AnchorRegistry's anchorer; never the relayer's (the batcher owns that key's nonces).
    /// No default: without it records are sequenced and served but not anchored. Env `CLEARING_ANCHORER_KEY`.
    pub anchorer_key: Option<Secret>,
    /// Anchor once this many records wait. Default 100.
    pub anchor_every_records: u64,
    /// Anchor whatever waits once the oldest has waited this long, seconds. Default 60.
    pub anchor_every_secs: u64,
    /// Most records per anchor. Default 10,000.
    pub max_anchor_records: u64,
    /// The name of the indexer whose confirmed height and `chain_logs` the sequencer reads. Default `clearing`.
    pub indexer: String,
    /// How often the sequencer and the anchorer run, milliseconds. Default 1,000.
    pub poll_ms: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            anchorer_key: None,
            anchor_every_records: 100,
            anchor_every_secs: 60,
            max_anchor_records: 10_000,
            indexer: clearing_ledger::MAIN_INDEXER.into(),
            poll_ms: 1_000,
        }
    }
}

impl AuditConfig {
    /// When the anchorer anchors, and how much.
    pub fn anchor_policy(&self) -> AnchorPolicy {
        AnchorPolicy {
            every_records: self.anchor_every_records,
            every: Duration::from_secs(self.anchor_every_secs),
            max_records: self.max_anchor_records,
        }
    }

    /// How often the sequencer and the anchorer run.
    pub fn poll(&self) -> Duration {
        Duration::from_millis(self.poll_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_is_the_anchorers_default() {
        assert_eq!(AuditConfig::default().anchor_policy(), AnchorPolicy::default());
        assert_eq!(AuditConfig::default().poll(), Duration::from_secs(1));
    }
}
