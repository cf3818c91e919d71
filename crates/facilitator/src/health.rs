//! What `GET /health` checks: that the database answers a query within [`DATABASE_TIMEOUT`], and that every
//! watched background task (the batcher's tasks; the indexer, the audit sequencer and anchorer, which `clearing
//! serve` and `clearing dev` add) is still running.
//!
//! Tasks are watched through their [`AbortHandle`]s, a tokio type every crate already has, so the indexer and
//! audit crates need nothing from this one (they sit beside it, not below it): whoever spawns a task hands its
//! handle here. A task that returned, failed or panicked is finished, and so reported stopped. A part that is not
//! configured (no anchorer key, `[indexer] enabled = false`) is not watched and not reported.

use std::{collections::BTreeMap, time::Duration};

use clearing_ledger::Ledger;
use serde::Serialize;
use tokio::task::AbortHandle;
use tracing::warn;

/// How long the database may take to answer `SELECT 1` before `/health` reports it down: a healthy local round trip
/// takes well under a millisecond, and load balancers commonly give a probe 2 to 5 s, so a frozen or overloaded
/// server is reported before the probe itself times out.
pub const DATABASE_TIMEOUT: Duration = Duration::from_secs(1);

/// The parts `/health` checks. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Health {
    database: Option<Ledger>,
    tasks: Vec<(&'static str, Vec<AbortHandle>)>,
}

impl Health {
    /// Checks nothing: always healthy (a verify-only facilitator has no database and no background task).
    pub fn new() -> Self {
        Self::default()
    }

    /// Also checks that `ledger`'s database answers, reported as `database`.
    #[must_use]
    pub fn with_database(mut self, ledger: Ledger) -> Self {
        self.database = Some(ledger);
        self
    }

    /// Also checks that every one of `tasks` is still running, reported as `name`. The handles are only read,
    /// never used to abort.
    #[must_use]
    pub fn with_tasks(mut self, name: &'static str, tasks: impl IntoIterator<Item = AbortHandle>) -> Self {
        self.tasks.push((name, tasks.into_iter().collect()));
        self
    }

    /// The state of every checked part, the database's bounded by [`DATABASE_TIMEOUT`].
    pub async fn check(&self) -> HealthReport {
        let mut parts = BTreeMap::new();
        if let Some(ledger) = &self.database {
            let state = match tokio::time::timeout(DATABASE_TIMEOUT, ledger.ping()).await {
                Ok(Ok(())) => PartState::Ok,
                Ok(Err(error)) => {
                    warn!(%error, "health: the database failed a query");
                    PartState::Failed
                }
                Err(_) => {
                    warn!(timeout_ms = DATABASE_TIMEOUT.as_millis(), "health: the database did not answer in time");
                    PartState::Timeout
                }
            };
            parts.insert("database", state);
        }
        for (name, tasks) in &self.tasks {
            let state = if tasks.iter().any(AbortHandle::is_finished) { PartState::Stopped } else { PartState::Ok };
            parts.insert(*name, state);
        }
        HealthReport { parts }
    }
}

/// The state of each checked part, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthReport {
    /// `database`, `batcher`, `indexer`, `sequencer`, `anchorer`: whichever are checked.
    pub parts: BTreeMap<&'static str, PartState>,
}

impl HealthReport {
    /// Whether every part is [`PartState::Ok`].
    pub fn is_ok(&self) -> bool {
        self.parts.values().all(|state| *state == PartState::Ok)
    }

    /// The parts that are not ok, by name.
    pub fn down(&self) -> Vec<&'static str> {
        self.parts.iter().filter(|(_, state)| **state != PartState::Ok).map(|(name, _)| *name).collect()
    }
}

/// How one part is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PartState {
    /// Running (a task), or answered in time (the database).
    Ok,
    /// The task has finished: it returned, failed or panicked, and nothing restarts it.
    Stopped,
    /// The database did not answer within [`DATABASE_TIMEOUT`].
    Timeout,
    /// The database answered with an error (the error is logged, not served).
    Failed,
}
