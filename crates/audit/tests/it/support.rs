//! A chain with the suite, MockUSDC and real settlements; the ledger filled by the indexer.

use std::path::PathBuf;

use alloy::{
    node_bindings::{Anvil, AnvilInstance},
    primitives::{Address, B256, Bytes, U256, keccak256},
    providers::Provider,
    signers::{SignerSync, local::PrivateKeySigner},
    sol,
    sol_types::{Eip712Domain, SolStruct},
};
use clearing_audit::{AnchorPolicy, Anchorer, RecordSources, Sequencer};
use clearing_chain::{
    ChainProvider, DeployConfig, Deployment, connect_with_signer,
    contracts::{BatchSettler, Escrow},
    deploy_mock_usdc, deploy_suite, mint_mock_usdc,
};
use clearing_indexer::{Indexer, IndexerConfig, Targets};
use clearing_ledger::{Ledger, MAIN_INDEXER};
use sqlx::PgPool;

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

pub(crate) struct Env {
    pub(crate) anvil: AnvilInstance,
    pub(crate) deployer: ChainProvider,
    pub(crate) anchorer: ChainProvider,
    pub(crate) deployment: Deployment,
    pub(crate) token: Address,
    pub(crate) ledger: Ledger,
    pub(crate) chain_id: u64,
}

impl Env {
    /// Anvil with the suite (anchorer: account 2, distinct from the deployer), MockUSDC, and a ledger.
    pub(crate) async fn new(pool: PgPool) -> Self {
        let binary = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../node_modules/.bin/anvil");
        assert!(binary.exists(), "{} is missing: run `npm ci`", binary.display());
        let anvil = Anvil::at(binary).spawn();
        let deployer_key = PrivateKeySigner::from(anvil.keys()[0].clone());
        let anchorer_key = PrivateKeySigner::from(anvil.keys()[2].clone());
        let deployer = connect_with_signer(&anvil.endpoint(), deployer_key.clone()).unwrap();
        let anchorer = connect_with_signer(&anvil.endpoint(), anchorer_key.clone()).unwrap();
        let config =
            DeployConfig { anchorer: anchorer_key.address(), ..DeployConfig::single_operator(deployer_key.address()) };
        let deployment = deploy_suite(&deployer, &config).await.unwrap();
        let token = deploy_mock_usdc(&deployer, "USDC").await.unwrap();
        let chain_id = anvil.chain_id();
        Self { anvil, deployer, anchorer, deployment, token, ledger: Ledger::from_pool(pool), chain_id }
    }

    pub(crate) fn sources(&self) -> RecordSources {
        RecordSources {
            chain_id: self.chain_id,
            batch_settler: self.deployment.batch_settler,
            escrow: self.deployment.escrow,
        }
    }

    pub(crate) fn sequencer(&self) -> Sequencer {
        Sequencer::new(self.ledger.clone(), self.sources(), MAIN_INDEXER)
    }

    pub(crate) fn anchorer(&self, policy: AnchorPolicy) -> Anchorer {
        Anchorer::new(
            self.ledger.clone(),
            self.anchorer.clone(),
            self.deployment.anchor_registry,
            self.chain_id,
            policy,
        )
    }

    /// Indexes the suite up to the head with every block confirmed; returns the head.
    pub(crate) async fn index(&self) -> u64 {
        self.index_at_depth(0).await
    }

    /// Indexes the suite up to the head, confirming blocks `confirmations` deep; returns the head.
    pub(crate) async fn index_at_depth(&self, confirmations: u64) -> u64 {
        let d = &self.deployment;
        let targets = Targets {
            chain_id: self.chain_id,
            start_block: d.start_block,
            batch_settler: d.batch_settler,
            escrow: d.escrow,
            anchor_registry: d.anchor_registry,
            token: Some(self.token),
        };
        let config = IndexerConfig { confirmations: Some(confirmations), ..IndexerConfig::default() };
        let indexer = Indexer::new(self.ledger.clone(), self.deployer.clone(), targets, &config).await.unwrap();
        let head = self.deployer.get_block_number().await.unwrap();
        indexer.sync_to(head).await.unwrap().block_number
    }

    /// Settles one BatchSettler batch of `values.len()` payments from fresh payers to `pay_to`.
    pub(crate) async fn settle(&self, values: &[u64], pay_to: Address) -> B256 {
        let mut payments = Vec::new();
        for &value in values {
            let payer = PrivateKeySigner::random();
            mint_mock_usdc(&self.deployer, self.token, payer.address(), U256::from(value)).await.unwrap();
            let auth = Authorization {
                to: pay_to,
                value: U256::from(value),
                valid_after: 0,
                valid_before: now() + 3600,
                nonce: keccak256(payer.address()),
            };
            payments.push(BatchSettler::Payment {
                from: payer.address(),
                to: pay_to,
                value: auth.value,
                validAfter: U256::ZERO,
                validBefore: U256::from(auth.valid_before),
                nonce: auth.nonce,
                signature: sign_transfer(&payer, self.token, self.chain_id, &auth),
            });
        }
        let settler = BatchSettler::new(self.deployment.batch_settler, &self.deployer);
        let receipt =
            settler.settle(self.token, payments).gas(5_000_000).send().await.unwrap().get_receipt().await.unwrap();
        assert!(receipt.status());
        receipt.transaction_hash
    }

    /// Funds an escrow job of `amount` (fee `fee`) from anvil account 3 to provider anvil account 4, then has the
    /// payer release it; returns the job id.
    pub(crate) async fn escrow_release(&self, amount: u64, fee: u64) -> B256 {
        let (terms, job_id) = self.fund_job(amount, fee).await;
        let payer =
            connect_with_signer(&self.anvil.endpoint(), PrivateKeySigner::from(self.anvil.keys()[3].clone())).unwrap();
        let escrow = Escrow::new(self.deployment.escrow, &payer);
        assert!(escrow.release(terms).send().await.unwrap().get_receipt().await.unwrap().status());
        job_id
    }

    /// Funds a job as above and has the provider refund it; returns the job id.
    pub(crate) async fn escrow_refund(&self, amount: u64) -> B256 {
        let (terms, job_id) = self.fund_job(amount, 0).await;
        let provider =
            connect_with_signer(&self.anvil.endpoint(), PrivateKeySigner::from(self.anvil.keys()[4].clone())).unwrap();
        let escrow = Escrow::new(self.deployment.escrow, &provider);
        assert!(escrow.refund(terms).send().await.unwrap().get_receipt().await.unwrap().status());
        job_id
    }

    /// Funds a job as above, has the payer dispute it and the arbiter (the deployer) give the provider
    /// `provider_bps` of it; returns the job id.
    pub(crate) async fn escrow_resolve(&self, amount: u64, fee: u64, provider_bps: u16) -> B256 {
        let (terms, job_id) = self.fund_job(amount, fee).await;
        let payer =
            connect_with_signer(&self.anvil.endpoint(), PrivateKeySigner::from(self.anvil.keys()[3].clone())).unwrap();
        let disputed = Escrow::new(self.deployment.escrow, &payer).dispute(terms.clone()).send().await.unwrap();
        assert!(disputed.get_receipt().await.unwrap().status());
        let escrow = Escrow::new(self.deployment.escrow, &self.deployer);
        assert!(escrow.resolve(terms, provider_bps).send().await.unwrap().get_receipt().await.unwrap().status());
        job_id
    }

    async fn fund_job(&self, amount: u64, fee: u64) -> (Escrow::JobTerms, B256) {
        let payer = PrivateKeySigner::from(self.anvil.keys()[3].clone());
        let provider = PrivateKeySigner::from(self.anvil.keys()[4].clone());
        mint_mock_usdc(&self.deployer, self.token, payer.address(), U256::from(amount)).await.unwrap();
        let deadline = now() + 3600;
        let terms = Escrow::JobTerms {
            payer: payer.address(),
            provider: provider.address(),
            token: self.token,
            amount: U256::from(amount),
            fee: U256::from(fee),
            arbiter: self.anvil.addresses()[0],
            fundingDeadline: deadline,
            completionDeadline: deadline + 3600,
            reviewWindow: 60,
            salt: keccak256(PrivateKeySigner::random().address()),
        };
        let escrow = Escrow::new(self.deployment.escrow, &self.deployer);
        let job_id = escrow.jobIdOf(terms.clone()).call().await.unwrap();
        let domain = Eip712Domain::new(
            Some("USDC".into()),
            Some("2".into()),
            Some(U256::from(self.chain_id)),
            Some(self.token),
            None,
        );
        let typed = ReceiveWithAuthorization {
            from: payer.address(),
            to: self.deployment.escrow,
            value: terms.amount,
            validAfter: U256::ZERO,
            validBefore: U256::from(deadline),
            nonce: job_id,
        };
        let signature = payer.sign_hash_sync(&typed.eip712_signing_hash(&domain)).unwrap();
        let receipt = escrow
            .fund(terms.clone(), Bytes::from(signature.as_bytes().to_vec()))
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
        assert!(receipt.status());
        (terms, job_id)
    }

    pub(crate) async fn mine(&self, blocks: u64) {
        let _: serde_json::Value = self.deployer.raw_request("anvil_mine".into(), (U256::from(blocks),)).await.unwrap();
    }
}
