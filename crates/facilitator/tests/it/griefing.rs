//! A payer's contract wallet that spends far more gas on chain than in the simulation the batch's gas limit comes
//! from: the batch holding several such payers reverts as a whole, once; its items then go alone, where the settler's
//! per-item gas cap holds whatever the wallet spends, so honest payments queued with them settle.

use alloy::primitives::{Address, B256, Bytes, U256};
use clearing_chain::contracts::GasBurningWallet;
use clearing_facilitator::PaymentToSettle;
use clearing_ledger::SettlementStatus;
use clearing_testkit::DEPLOYER;
use clearing_x402::X402Version;
use sqlx::PgPool;

use crate::support::{Env, PAY_TO, fast_config, later};

/// A payment of `value` from the contract wallet `wallet`: any signature bytes do, the wallet accepts them all.
fn wallet_payment(env: &Env, wallet: Address, value: u64, nonce: u8) -> PaymentToSettle {
    PaymentToSettle {
        chain_id: env.relayer.chain_id(),
        asset: env.chain.token,
        payer: wallet,
        pay_to: PAY_TO,
        value: U256::from(value),
        valid_after: U256::ZERO,
        valid_before: U256::from(later()),
        nonce: B256::repeat_byte(nonce),
        signature: Bytes::from(vec![0x11; 65]),
        x402_version: X402Version::V2,
        network: format!("eip155:{}", env.relayer.chain_id()),
        route: clearing_ledger::Route::Transfer,
    }
}

#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn a_batch_reverted_by_wallets_burning_gas_reverts_once_and_the_honest_payment_in_it_settles(pool: PgPool) {
    let env = Env::new(pool).await;
    let honest = env.payer(1_000).await;
    let mut payments = vec![env.payment(&honest, 100, later(), 1)];
    for nonce in 2..6 {
        let wallet = *GasBurningWallet::deploy(env.chain.as_account(DEPLOYER)).await.unwrap().address();
        env.chain.mint(wallet, 1_000).await;
        payments.push(wallet_payment(&env, wallet, 100, nonce));
    }
    // All queued before the batcher starts, so its first batch holds them all.
    let settler = env.settler(&fast_config()).await;
    for payment in &payments {
        let (settler, payment) = (settler.clone(), payment.clone());
        tokio::spawn(async move { settler.settle(&payment).await });
    }
    for payment in &payments {
        env.wait_for_row(payment, |row| row.status == SettlementStatus::Pending).await;
    }

    let batcher = env.batcher(&fast_config()).await;
    let honest_row = env.wait_for_row(&payments[0], |row| row.status.is_final()).await;
    for payment in &payments[1..] {
        env.wait_for_row(payment, |row| row.status.is_final()).await;
    }
    batcher.shutdown().await;

    assert_eq!(honest_row.status, SettlementStatus::Settled, "{honest_row:?}");
    assert_eq!(env.balance(honest.address()).await, U256::from(900), "paid once");
    for payment in &payments[1..] {
        let row = env.row(payment).await;
        assert_eq!(row.status, SettlementStatus::Failed, "the wallet's own item fails, by itself: {row:?}");
        assert_eq!(env.balance(payment.payer).await, U256::from(1_000));
    }
    let reverted: i64 = sqlx::query_scalar("SELECT count(*) FROM settlement_batches WHERE abandon_reason = 'reverted'")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(reverted, 1, "the first batch reverted as a whole, and no other");
    let mut batches = Vec::new();
    for payment in &payments {
        batches.push(env.row(payment).await.batch_id.expect("resolved in a batch"));
    }
    batches.sort();
    batches.dedup();
    assert_eq!(batches.len(), payments.len(), "each in a batch of its own after the revert");
}
