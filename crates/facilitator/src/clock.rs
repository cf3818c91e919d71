//! Time, behind a seam: verify windows are checked against a [`Clock`], so tests can pin "now".

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix time in seconds.
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    /// Seconds since the Unix epoch.
    fn now(&self) -> u64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
    }
}

/// A clock stopped at one instant (tests, and replaying third-party vectors with fixed windows).
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub u64);

impl Clock for FixedClock {
    fn now(&self) -> u64 {
        self.0
    }
}
