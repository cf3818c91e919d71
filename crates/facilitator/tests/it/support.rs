use std::{path::PathBuf, time::Duration};

use alloy::{
    node_bindings::{Anvil, AnvilInstance},
    primitives::{Address, B256, U256},
    providers::Provider,
    signers::local::PrivateKeySigner,
};
use clearing_chain::{
    ChainProvider, DeployConfig, Deployment, Relayer, connect, connect_with_signer, contracts::MockUSDC,
    deploy_mock_usdc, deploy_suite, mint_mock_usdc,
};
use clearing_facilitator::{Batcher, PaymentToSettle, SettleConfig, Settler};
use clearing_ledger::{Ledger, Settlement, SettlementStatus};
use clearing_x402::X402Version;
use sqlx::PgPool;

use crate::eip3009::{Authorization, now, sign_transfer};

/// The payee of every test payment.
pub(crate) const PAY_TO: Address = Address::repeat_byte(0xbb);

/// A chain with the suite and a MockUSDC, a relayer, and a ledger.
pub(crate) struct Env {
    pub(crate) anvil: AnvilInstance,
    pub(crate) deployer: ChainProvider,
    pub(crate) relayer_key: PrivateKeySigner,
    pub(crate) relayer: Relayer,
    pub(crate) token: Address,
    pub(crate) deployment: Deployment,
    pub(crate) ledger: Ledger,
    pub(crate) pool: PgPool,
}

impl Env {
    pub(crate) async fn new(pool: PgPool) -> Self {
        let binary = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../node_modules/.bin/anvil");
        assert!(binary.exists(), "{} is missing: run `npm ci`", binary.display());
        let anvil = Anvil::at(binary).spawn();
        let deployer_key = PrivateKeySigner::from(anvil.keys()[0].clone());
        let deployer = connect_with_signer(&anvil.endpoint(), deployer_key.clone()).unwrap();
        let deployment = deploy_suite(&deployer, &DeployConfig::single_operator(deployer_key.address())).await.unwrap();
        let token = deploy_mock_usdc(&deployer, "USDC").await.unwrap();
        let relayer_key = PrivateKeySigner::from(anvil.keys()[1].clone());
        let relayer = Relayer::new(connect(&anvil.endpoint()).unwrap(), relayer_key.clone(), deployment.batch_settler)
            .await
            .unwrap();
        let ledger = Ledger::from_pool(pool.clone());
        Self { anvil, deployer, relayer_key, relayer, token, deployment, ledger, pool }
    }

    /// A payer holding `balance`.
    pub(crate) async fn payer(&self, balance: u64) -> PrivateKeySigner {
        let payer = PrivateKeySigner::random();
        if balance > 0 {
            mint_mock_usdc(&self.deployer, self.token, payer.address(), U256::from(balance)).await.unwrap();
        }
        payer
    }

    /// `payer`'s signed payment of `value` to [`PAY_TO`], valid until `valid_before`.
    pub(crate) fn payment(
        &self,
        payer: &PrivateKeySigner,
        value: u64,
        valid_before: u64,
        nonce: u8,
    ) -> PaymentToSettle {
        let auth = Authorization {
            to: PAY_TO,
            value: U256::from(value),
            valid_after: 0,
            valid_before,
            nonce: B256::repeat_byte(nonce),
        };
        PaymentToSettle {
            chain_id: self.relayer.chain_id(),
            asset: self.token,
            payer: payer.address(),
            pay_to: PAY_TO,
            value: auth.value,
            valid_after: U256::ZERO,
            valid_before: U256::from(valid_before),
            nonce: auth.nonce,
            signature: sign_transfer(payer, self.token, self.relayer.chain_id(), &auth),
            x402_version: X402Version::V2,
            network: format!("eip155:{}", self.relayer.chain_id()),
        }
    }

    pub(crate) async fn balance(&self, who: Address) -> U256 {
        MockUSDC::new(self.token, &self.deployer).balanceOf(who).call().await.unwrap()
    }

    pub(crate) async fn settler(&self, config: &SettleConfig) -> Settler {
        Settler::start(self.ledger.clone(), config.clone()).await.unwrap()
    }

    pub(crate) async fn batcher(&self, config: &SettleConfig) -> Batcher {
        Batcher::start(self.ledger.clone(), self.relayer.clone(), &[self.token], config.clone()).await.unwrap()
    }

    pub(crate) async fn set_automine(&self, on: bool) {
        let _: serde_json::Value = self.deployer.raw_request("evm_setAutomine".into(), (on,)).await.unwrap();
    }

    pub(crate) async fn mine(&self) {
        let _: serde_json::Value = self.deployer.raw_request("evm_mine".into(), ()).await.unwrap();
    }

    /// Every transaction hash ever recorded, oldest first.
    pub(crate) async fn recorded_hashes(&self) -> Vec<B256> {
        let rows: Vec<Vec<u8>> =
            sqlx::query_scalar("SELECT tx_hash FROM settlement_batch_transactions ORDER BY broadcast_at, tx_hash")
                .fetch_all(&self.pool)
                .await
                .unwrap();
        rows.iter().map(|h| B256::from_slice(h)).collect()
    }

    /// The settlement row of `payment`.
    pub(crate) async fn row(&self, payment: &PaymentToSettle) -> Settlement {
        self.ledger.settlement(&payment.key()).await.unwrap().expect("queued")
    }

    /// Waits until `check` holds for the row of `payment`.
    pub(crate) async fn wait_for_row(
        &self,
        payment: &PaymentToSettle,
        check: impl Fn(&Settlement) -> bool,
    ) -> Settlement {
        for _ in 0..200 {
            if let Some(row) = self.ledger.settlement(&payment.key()).await.unwrap()
                && check(&row)
            {
                return row;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("row of payer {} never reached the expected state", payment.payer);
    }
}

/// Quick ticks for tests; nothing is replaced unless a test asks.
pub(crate) fn fast_config() -> SettleConfig {
    SettleConfig {
        max_wait_ms: 50,
        receipt_poll_ms: 50,
        waiter_poll_ms: 500,
        settle_timeout_ms: 15_000,
        replace_after_ms: 600_000,
        requeue_grace_ms: 1_000,
        ..SettleConfig::default()
    }
}

/// An hour from now.
pub(crate) fn later() -> u64 {
    now() + 3_600
}

pub(crate) fn is_final(row: &Settlement) -> bool {
    row.status.is_final()
}

pub(crate) fn is_submitted(row: &Settlement) -> bool {
    row.status == SettlementStatus::Submitted && row.tx_hash.is_some()
}
