//! A deployed suite on a fresh anvil, a generator of real contract activity, and an indexer following it.

use std::{
    path::PathBuf,
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use alloy::{
    node_bindings::{Anvil, AnvilInstance},
    primitives::{Address, B256, U256, keccak256},
    providers::{Provider, ext::AnvilApi},
    rpc::types::TransactionReceipt,
    signers::{SignerSync, local::PrivateKeySigner},
    sol,
    sol_types::{Eip712Domain, SolStruct},
};
use clearing_chain::{
    ChainProvider, Deployment, connect_with_signer,
    contracts::{AnchorRegistry, BatchSettler, Escrow},
    deploy_mock_usdc, deploy_suite, mint_mock_usdc,
};
use clearing_indexer::{Indexer, IndexerConfig, Targets, rebuild};
use clearing_ledger::{Ledger, MAIN_INDEXER};

use crate::eip3009::{Authorization, now, sign_transfer};

sol! {
    /// FiatToken v2.2's `ReceiveWithAuthorization` typed data.
    struct ReceiveWithAuthorization {
        address from;
        address to;
        uint256 value;
        uint256 validAfter;
        uint256 validBefore;
        bytes32 nonce;
    }
}

/// Makes every nonce and salt of a test run distinct, across reverts too.
static COUNTER: AtomicU64 = AtomicU64::new(1);

fn unique() -> B256 {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    keccak256([n.to_be_bytes().as_slice(), &now().to_be_bytes(), &std::process::id().to_be_bytes()].concat())
}

pub(crate) struct Chain {
    pub(crate) anvil: AnvilInstance,
    pub(crate) deployer: ChainProvider,
    pub(crate) deployment: Deployment,
    pub(crate) token: Address,
    keys: Vec<PrivateKeySigner>,
}

impl Chain {
    pub(crate) async fn start() -> Self {
        let binary = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../node_modules/.bin/anvil");
        let anvil = Anvil::at(binary).spawn();
        let keys: Vec<PrivateKeySigner> = anvil.keys().iter().cloned().map(PrivateKeySigner::from).collect();
        let deployer = connect_with_signer(&anvil.endpoint(), keys[0].clone()).unwrap();
        let token = deploy_mock_usdc(&deployer, "USDC").await.unwrap();
        let deployment =
            deploy_suite(&deployer, &clearing_chain::DeployConfig::single_operator(keys[0].address())).await.unwrap();
        for key in &keys[1..6] {
            mint_mock_usdc(&deployer, token, key.address(), U256::from(1_000_000_000_000u64)).await.unwrap();
        }
        Self { anvil, deployer, deployment, token, keys }
    }

    pub(crate) fn endpoint(&self) -> String {
        self.anvil.endpoint()
    }

    pub(crate) fn targets(&self) -> Targets {
        Targets {
            chain_id: self.deployment.chain_id,
            start_block: self.deployment.start_block,
            batch_settler: self.deployment.batch_settler,
            escrow: self.deployment.escrow,
            anchor_registry: self.deployment.anchor_registry,
            token: Some(self.token),
        }
    }

    fn as_account(&self, index: usize) -> ChainProvider {
        connect_with_signer(&self.endpoint(), self.keys[index].clone()).unwrap()
    }

    /// One BatchSettler transaction settling `count` payments of account `payer` to account 6.
    pub(crate) async fn settle(&self, payer: usize, count: usize) {
        let receipt = self.settle_payments(self.payments(payer, count)).await;
        assert!(receipt.status());
    }

    /// `count` signed payments of account `payer` to account 6, each with a fresh nonce.
    pub(crate) fn payments(&self, payer: usize, count: usize) -> Vec<BatchSettler::Payment> {
        let signer = &self.keys[payer];
        (0..count)
            .map(|i| {
                let auth = Authorization {
                    to: self.keys[6].address(),
                    value: U256::from(1_000 + i),
                    valid_after: 0,
                    valid_before: now() + 3600,
                    nonce: unique(),
                };
                BatchSettler::Payment {
                    from: signer.address(),
                    to: auth.to,
                    value: auth.value,
                    validAfter: U256::from(auth.valid_after),
                    validBefore: U256::from(auth.valid_before),
                    nonce: auth.nonce,
                    signature: sign_transfer(signer, self.token, 31337, &auth),
                }
            })
            .collect()
    }

    /// One BatchSettler transaction of `payments`, sent by account 0; its receipt.
    pub(crate) async fn settle_payments(&self, payments: Vec<BatchSettler::Payment>) -> TransactionReceipt {
        // A fresh provider per call: a provider's receipt watcher ignores block numbers it has seen, so one that
        // lived through a revert to a lower height would wait forever.
        let settler = BatchSettler::new(self.deployment.batch_settler, self.as_account(0));
        settler.settle(self.token, payments).send().await.unwrap().get_receipt().await.unwrap()
    }

    /// Account `index`'s address.
    pub(crate) fn address(&self, index: usize) -> Address {
        self.keys[index].address()
    }

    /// A whole escrow job: funded by `payer` for provider account 7, completed, released, and claimed.
    pub(crate) async fn job(&self, payer: usize) {
        let signer = &self.keys[payer];
        let escrow = Escrow::new(self.deployment.escrow, self.as_account(0));
        let terms = Escrow::JobTerms {
            payer: signer.address(),
            provider: self.keys[7].address(),
            token: self.token,
            amount: U256::from(100_000),
            fee: U256::from(5_000),
            arbiter: self.keys[0].address(),
            fundingDeadline: now() + 3600,
            completionDeadline: now() + 7200,
            reviewWindow: 600,
            salt: unique(),
        };
        let job_id = escrow.jobIdOf(terms.clone()).call().await.unwrap();
        let domain =
            Eip712Domain::new(Some("USDC".into()), Some("2".into()), Some(U256::from(31337)), Some(self.token), None);
        let typed = ReceiveWithAuthorization {
            from: signer.address(),
            to: self.deployment.escrow,
            value: terms.amount,
            validAfter: U256::ZERO,
            validBefore: U256::from(terms.fundingDeadline),
            nonce: job_id,
        };
        let signature = signer.sign_hash_sync(&typed.eip712_signing_hash(&domain)).unwrap();
        let sent = escrow.fund(terms.clone(), signature.as_bytes().to_vec().into()).send().await.unwrap();
        assert!(sent.get_receipt().await.unwrap().status());
        let sent = escrow.markCompleted(terms.clone()).send().await.unwrap();
        assert!(sent.get_receipt().await.unwrap().status());
        let as_payer = Escrow::new(self.deployment.escrow, self.as_account(payer));
        assert!(as_payer.release(terms).send().await.unwrap().get_receipt().await.unwrap().status());
        let as_provider = Escrow::new(self.deployment.escrow, self.as_account(7));
        let sent = as_provider.claim(self.token, self.keys[7].address()).send().await.unwrap();
        assert!(sent.get_receipt().await.unwrap().status());
    }

    /// Anchors the next range of 10 sequence numbers under a fresh root.
    pub(crate) async fn anchor(&self) {
        let registry = AnchorRegistry::new(self.deployment.anchor_registry, self.as_account(0));
        let first = registry.nextSeq().call().await.unwrap();
        let sent = registry.anchor(first, first + 9, unique()).send().await.unwrap();
        assert!(sent.get_receipt().await.unwrap().status());
    }

    /// Settlements, a job and an anchor: 7 blocks with events.
    pub(crate) async fn activity(&self, round: usize) {
        self.settle(1 + round % 5, 3).await;
        self.job(1 + (round + 1) % 5).await;
        self.anchor().await;
    }

    pub(crate) async fn mine(&self, blocks: u64) {
        if blocks > 0 {
            self.deployer.anvil_mine(Some(blocks), None).await.unwrap();
        }
    }

    pub(crate) async fn head(&self) -> u64 {
        self.deployer.get_block_number().await.unwrap()
    }

    pub(crate) async fn head_hash(&self) -> B256 {
        let head = self.head().await;
        self.deployer.get_block_by_number(head.into()).await.unwrap().unwrap().header.hash
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

pub(crate) async fn indexer(ledger: &Ledger, rpc_url: &str, chain: &Chain, config: &IndexerConfig) -> Indexer {
    let provider = clearing_chain::connect(rpc_url).unwrap();
    Indexer::new(ledger.clone(), provider, chain.targets(), config).await.unwrap()
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
