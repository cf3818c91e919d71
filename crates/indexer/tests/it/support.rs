//! Real contract activity on a [`Chain`] for an indexer to follow, and the checks every indexer test ends with.

use std::time::{Duration, Instant};

use clearing_chain::{SettlePayment, contracts::AnchorRegistry};
use clearing_indexer::{IndexerConfig, rebuild};
use clearing_ledger::{Ledger, MAIN_INDEXER};
use clearing_testkit::{Chain, DEPLOYER, unique};

/// The accounts that pay (settlements and escrow jobs); each holds plenty.
const PAYERS: std::ops::Range<usize> = 1..6;
/// The payee of every settlement.
const PAY_TO: usize = 6;
/// The provider of every escrow job.
const PROVIDER: usize = 7;

/// A chain whose payers are funded.
pub(crate) async fn start() -> Chain {
    let chain = Chain::start().await;
    for payer in PAYERS {
        chain.mint(chain.address(payer), 1_000_000_000_000).await;
    }
    chain
}

/// What the indexer tests make happen on a chain.
pub(crate) trait Activity {
    /// `count` signed payments of account `payer` to the payee, each with a fresh nonce.
    fn payments(&self, payer: usize, count: usize) -> Vec<SettlePayment>;
    /// One BatchSettler transaction settling `count` payments of account `payer`.
    async fn settle_of(&self, payer: usize, count: usize);
    /// A whole escrow job: funded by `payer`, completed, released, and claimed by the provider.
    async fn job(&self, payer: usize);
    /// Anchors the next range of 10 sequence numbers under a fresh root.
    async fn anchor_next(&self);
    /// Settlements, a job, a direct credit (a data_api purchase) and an anchor.
    async fn activity(&self, round: usize);
}

impl Activity for Chain {
    fn payments(&self, payer: usize, count: usize) -> Vec<SettlePayment> {
        let (signer, to) = (self.key(payer), self.address(PAY_TO));
        (0..count).map(|i| self.transfer(&signer, to, 1_000 + i as u64)).collect()
    }

    async fn settle_of(&self, payer: usize, count: usize) {
        let receipt = self.settle_batch(self.payments(payer, count)).await;
        assert!(receipt.status());
    }

    async fn job(&self, payer: usize) {
        let job = self.fund_job(payer, PROVIDER, 100_000, 5_000).await;
        let sent = self.escrow_as(DEPLOYER).markCompleted(job.terms.clone()).send().await.unwrap();
        assert!(sent.get_receipt().await.unwrap().status());
        let sent = self.escrow_as(payer).release(job.terms).send().await.unwrap();
        assert!(sent.get_receipt().await.unwrap().status());
        let sent = self.escrow_as(PROVIDER).claim(self.token, self.address(PROVIDER)).send().await.unwrap();
        assert!(sent.get_receipt().await.unwrap().status());
    }

    async fn anchor_next(&self) {
        let registry = AnchorRegistry::new(self.deployment.anchor_registry, &self.provider);
        let first = registry.nextSeq().call().await.unwrap();
        assert!(self.anchor(first, first + 9, unique()).await.status());
    }

    async fn activity(&self, round: usize) {
        self.settle_of(PAYERS.start + round % PAYERS.len(), 3).await;
        self.job(PAYERS.start + (round + 1) % PAYERS.len()).await;
        self.escrow_credit(3_000 + round as u64, 150).await;
        self.anchor_next().await;
    }
}

/// An indexer configuration for tests: quick polling, small ranges so that several ranges are in flight.
pub(crate) fn test_config() -> IndexerConfig {
    IndexerConfig {
        confirmations: Some(2),
        poll_interval_ms: 20,
        initial_range: 8,
        max_range: 64,
        retry_initial_ms: 10,
        retry_max_ms: 200,
        retry_attempts: 6,
        ..IndexerConfig::default()
    }
}

/// Waits until the live index's checkpoint is the chain's head (same hash).
pub(crate) async fn caught_up(ledger: &Ledger, chain: &Chain) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let hash = chain.head_hash().await;
        let checkpoint = ledger.indexer_checkpoint(31337, MAIN_INDEXER).await.unwrap();
        if checkpoint.is_some_and(|c| c.block_hash == hash) {
            return;
        }
        assert!(Instant::now() < deadline, "the indexer did not reach the head: {checkpoint:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Rebuilds every projection from chain data into a fresh schema and asserts it equals the live index.
pub(crate) async fn assert_rebuild_equal(ledger: &Ledger, chain: &Chain) {
    let provider = clearing_chain::connect(&chain.endpoint()).unwrap();
    let report = rebuild(ledger, provider, chain.targets(), &test_config(), "indexer_rebuild", false).await.unwrap();
    for table in &report.tables {
        assert!(
            table.equal(),
            "at block {}: {:?} differs from its rebuild {:?}",
            report.block,
            table.live,
            table.rebuilt
        );
    }
    assert!(report.tables.iter().any(|t| t.live.rows > 0));
}
