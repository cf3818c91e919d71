//! The settle service's world: a [`Chain`], a relayer (anvil account 1) and a ledger.

use std::time::Duration;

use alloy::{
    primitives::{Address, B256, U256},
    signers::local::PrivateKeySigner,
};
use clearing_chain::{Relayer, connect};
use clearing_facilitator::{Batcher, PaymentToSettle, SettleConfig, Settler};
use clearing_ledger::{Ledger, Settlement, SettlementStatus};
use clearing_testkit::{Chain, now, sign::transfer};
use clearing_x402::X402Version;
use sqlx::PgPool;

/// The payee of every test payment.
pub(crate) const PAY_TO: Address = Address::repeat_byte(0xbb);
/// The relayer's anvil account.
pub(crate) const RELAYER: usize = 1;

/// A chain with the suite and a MockUSDC, a relayer, and a ledger.
pub(crate) struct Env {
    pub(crate) chain: Chain,
    pub(crate) relayer_key: PrivateKeySigner,
    pub(crate) relayer: Relayer,
    pub(crate) ledger: Ledger,
    pub(crate) pool: PgPool,
}

impl Env {
    pub(crate) async fn new(pool: PgPool) -> Self {
        let chain = Chain::start().await;
        let relayer_key = chain.key(RELAYER);
        let settler = chain.deployment.batch_settler;
        let relayer = Relayer::new(connect(&chain.endpoint()).unwrap(), relayer_key.clone(), settler).await.unwrap();
        let ledger = Ledger::from_pool(pool.clone());
        Self { chain, relayer_key, relayer, ledger, pool }
    }

    /// A payer holding `balance`.
    pub(crate) async fn payer(&self, balance: u64) -> PrivateKeySigner {
        self.chain.payer(balance).await
    }

    /// `payer`'s signed payment of `value` to [`PAY_TO`], valid until `valid_before`.
    pub(crate) fn payment(
        &self,
        payer: &PrivateKeySigner,
        value: u64,
        valid_before: u64,
        nonce: u8,
    ) -> PaymentToSettle {
        let p =
            transfer(payer, &self.chain.domain(), PAY_TO, U256::from(value), valid_before, B256::repeat_byte(nonce));
        PaymentToSettle {
            chain_id: self.relayer.chain_id(),
            asset: self.chain.token,
            payer: p.from,
            pay_to: p.to,
            value: p.value,
            valid_after: p.validAfter,
            valid_before: p.validBefore,
            nonce: p.nonce,
            signature: p.signature,
            x402_version: X402Version::V2,
            network: format!("eip155:{}", self.relayer.chain_id()),
            route: clearing_ledger::Route::Transfer,
        }
    }

    pub(crate) async fn balance(&self, who: Address) -> U256 {
        self.chain.balance(who).await
    }

    pub(crate) async fn settler(&self, config: &SettleConfig) -> Settler {
        Settler::start(self.ledger.clone(), config.clone()).await.unwrap()
    }

    pub(crate) async fn batcher(&self, config: &SettleConfig) -> Batcher {
        Batcher::start(self.ledger.clone(), self.relayer.clone(), &[self.chain.token], config.clone()).await.unwrap()
    }

    pub(crate) async fn set_automine(&self, on: bool) {
        self.chain.set_automine(on).await;
    }

    pub(crate) async fn mine(&self) {
        self.chain.mine(1).await;
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
