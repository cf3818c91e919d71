//! The audit tests' world: a [`Chain`] with real settlements and escrow jobs, and a ledger the indexer fills.

use clearing_audit::{AnchorPolicy, Anchorer, Sequencer};
use clearing_ledger::Ledger;
use clearing_testkit::Chain;
use sqlx::PgPool;

pub(crate) struct Env {
    pub(crate) chain: Chain,
    pub(crate) ledger: Ledger,
}

impl Env {
    pub(crate) async fn new(pool: PgPool) -> Self {
        Self { chain: Chain::start().await, ledger: Ledger::from_pool(pool) }
    }

    pub(crate) fn sequencer(&self) -> Sequencer {
        self.chain.sequencer(&self.ledger)
    }

    pub(crate) fn anchorer(&self, policy: AnchorPolicy) -> Anchorer {
        self.chain.anchorer(&self.ledger, policy)
    }

    /// Indexes the suite up to the head with every block confirmed; returns the head.
    pub(crate) async fn index(&self) -> u64 {
        self.chain.index(&self.ledger, 0).await
    }

    /// Indexes the suite up to the head, confirming blocks `confirmations` deep; returns the head.
    pub(crate) async fn index_at_depth(&self, confirmations: u64) -> u64 {
        self.chain.index(&self.ledger, confirmations).await
    }
}
