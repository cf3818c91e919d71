//! Payers' contract wallets that spend far more gas on chain than in the simulation the batch's gas limit comes from
//! (`GasBurningWallet` with no heavy gas: cheap at gas price 0, its whole stipend otherwise). The relayer gives each
//! item signed by code a whole stipend of headroom, so a batch holding a few such wallets completes and fails only
//! their items. When that headroom does not fit the transaction gas cap it is left out; the batch then reverts whole,
//! once, and its items go alone, where the settler's per-item gas cap holds whatever a wallet spends. Honest wallets
//! that are merely expensive (`GasBurningWallet` with heavy gas) can make a batch too heavy for any transaction: it
//! is never sent, and its items go alone and settle.

use alloy::primitives::{Address, B256, Bytes, U256};
use clearing_chain::{ITEM_GAS_REQUIRED, MAX_BATCH_GAS, contracts::GasBurningWallet};
use clearing_facilitator::PaymentToSettle;
use clearing_ledger::{BatchId, SettlementStatus};
use clearing_testkit::DEPLOYER;
use clearing_x402::X402Version;
use sqlx::PgPool;

use crate::support::{Env, PAY_TO, fast_config, later};

/// A payment of `value` from the contract wallet `wallet`: any signature bytes do, the wallet accepts them all.
fn wallet_payment(env: &Env, wallet: Address, value: u64, nonce: u16) -> PaymentToSettle {
    PaymentToSettle {
        chain_id: env.relayer.chain_id(),
        asset: env.chain.token,
        payer: wallet,
        pay_to: PAY_TO,
        value: U256::from(value),
        valid_after: U256::ZERO,
        valid_before: U256::from(later()),
        nonce: B256::left_padding_from(&nonce.to_be_bytes()),
        signature: Bytes::from(vec![0x11; 65]),
        x402_version: X402Version::V2,
        network: format!("eip155:{}", env.relayer.chain_id()),
        route: clearing_ledger::Route::Transfer,
    }
}

/// One honest payment of 100 (the first) and one of 100 from each of `wallets` fresh `GasBurningWallet`s spending
/// `heavy_gas` (0: the hostile kind), all queued before the batcher starts (so its first batch holds them all), then
/// run until every one is final. Checks the honest payment settled once; returns the payments.
async fn settle_beside_wallets(env: &Env, wallets: u16, heavy_gas: u64) -> Vec<PaymentToSettle> {
    let honest = env.payer(1_000).await;
    let mut payments = vec![env.payment(&honest, 100, later(), 1)];
    for nonce in 0..wallets {
        let deployed = GasBurningWallet::deploy(env.chain.as_account(DEPLOYER), U256::from(heavy_gas)).await;
        let wallet = *deployed.unwrap().address();
        env.chain.mint(wallet, 1_000).await;
        payments.push(wallet_payment(env, wallet, 100, nonce + 2));
    }
    let settler = env.settler(&fast_config()).await;
    for payment in &payments {
        let (settler, payment) = (settler.clone(), payment.clone());
        tokio::spawn(async move { settler.settle(&payment).await });
    }
    for payment in &payments {
        env.wait_for_row(payment, |row| row.status == SettlementStatus::Pending).await;
    }

    let batcher = env.batcher(&fast_config()).await;
    for payment in &payments {
        env.wait_for_row(payment, |row| row.status.is_final()).await;
    }
    batcher.shutdown().await;

    let honest_row = env.row(&payments[0]).await;
    assert_eq!(honest_row.status, SettlementStatus::Settled, "{honest_row:?}");
    assert_eq!(env.balance(honest.address()).await, U256::from(900), "paid once");
    payments
}

/// Checks each wallet's own item failed and moved nothing.
async fn assert_wallets_failed(env: &Env, payments: &[PaymentToSettle]) {
    for payment in &payments[1..] {
        let row = env.row(payment).await;
        assert_eq!(row.status, SettlementStatus::Failed, "the wallet's own item fails: {row:?}");
        assert_eq!(env.balance(payment.payer).await, U256::from(1_000));
    }
}

/// How many batches were given up for `reason` (`reverted`, `too_heavy`).
async fn abandoned(env: &Env, reason: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM settlement_batches WHERE abandon_reason = $1")
        .bind(reason)
        .fetch_one(&env.pool)
        .await
        .unwrap()
}

/// The batches the payments were resolved in, each once.
async fn batches_of(env: &Env, payments: &[PaymentToSettle]) -> Vec<BatchId> {
    let mut batches = Vec::new();
    for payment in payments {
        batches.push(env.row(payment).await.batch_id.expect("resolved in a batch"));
    }
    batches.sort_unstable();
    batches.dedup();
    batches
}

#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn wallets_burning_gas_fail_their_own_items_in_a_batch_that_completes(pool: PgPool) {
    let env = Env::new(pool).await;
    let payments = settle_beside_wallets(&env, 4, 0).await;
    assert_wallets_failed(&env, &payments).await;
    assert_eq!(abandoned(&env, "reverted").await, 0, "the limit had a stipend of headroom for each wallet");
    assert_eq!(batches_of(&env, &payments).await.len(), 1, "all five in the first batch");
}

#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn more_wallets_than_the_gas_cap_covers_revert_the_batch_once_and_then_go_alone(pool: PgPool) {
    // 34 stipends of headroom do not fit under MAX_BATCH_GAS, so the batch goes with the plain limit, and each
    // wallet spends about 510,000 gas on chain (its 500,000 stipend and the item's own): more than that limit.
    let wallets = 34;
    assert!(u64::from(wallets) * ITEM_GAS_REQUIRED > MAX_BATCH_GAS);
    let env = Env::new(pool).await;
    let payments = settle_beside_wallets(&env, wallets, 0).await;
    assert_wallets_failed(&env, &payments).await;
    assert_eq!(abandoned(&env, "reverted").await, 1, "the first batch reverted as a whole, and no other");
    assert_eq!(batches_of(&env, &payments).await.len(), payments.len(), "each in a batch of its own after the revert");
}

#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn a_batch_too_heavy_for_any_transaction_is_never_sent_and_its_items_settle_alone(pool: PgPool) {
    // 30 honest wallets spending 400,000 gas each, simulated or not: half again their gas is past MAX_BATCH_GAS.
    let wallets = 30;
    assert!(u64::from(wallets) * 400_000 * 3 / 2 > MAX_BATCH_GAS);
    let env = Env::new(pool).await;
    let payments = settle_beside_wallets(&env, wallets, 400_000).await;
    for payment in &payments[1..] {
        let row = env.row(payment).await;
        assert_eq!(row.status, SettlementStatus::Settled, "an expensive wallet's payment settles: {row:?}");
        assert_eq!(env.balance(payment.payer).await, U256::from(900));
    }
    assert_eq!(abandoned(&env, "too_heavy").await, 1, "the first batch was never sent");
    assert_eq!(abandoned(&env, "reverted").await, 0);
    assert_eq!(batches_of(&env, &payments).await.len(), payments.len(), "each in a batch of its own");
}
