//! The settle service end to end: Settler and Batcher on anvil and PostgreSQL.

use std::time::Duration;

use alloy::primitives::U256;
use clearing_facilitator::{SettleConfig, SettleResult};
use clearing_ledger::SettlementStatus;
use clearing_testkit::now;
use clearing_x402::Reason;
use sqlx::PgPool;

use crate::support::{Env, PAY_TO, fast_config, is_submitted, later};

#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn a_batch_of_good_and_bad_items_resolves_each_from_its_own_event(pool: PgPool) {
    let env = Env::new(pool).await;
    let config = SettleConfig { max_wait_ms: 300, ..fast_config() };
    let settler = env.settler(&config).await;
    let batcher = env.batcher(&config).await;
    let rich = env.payer(1_000).await;
    let poor = env.payer(0).await;
    let good = env.payment(&rich, 400, later(), 1);
    let broke = env.payment(&poor, 400, later(), 1);
    let mut forged = env.payment(&rich, 400, later(), 2);
    forged.value = U256::from(500);

    let (good_out, broke_out, forged_out) =
        tokio::join!(settler.settle(&good), settler.settle(&broke), settler.settle(&forged));
    let (good_out, broke_out, forged_out) = (good_out.unwrap(), broke_out.unwrap(), forged_out.unwrap());

    assert!(good_out.success(), "{good_out:?}");
    assert_eq!(good_out.payer, rich.address());
    assert_eq!(good_out.amount, U256::from(400));
    assert_eq!(good_out.network, format!("eip155:{}", env.relayer.chain_id()));
    assert_eq!(broke_out.error_reason(), Some(Reason::InsufficientBalance));
    assert_eq!(forged_out.error_reason(), Some(Reason::InvalidSignature));
    for outcome in [&broke_out, &forged_out] {
        assert!(!outcome.success());
        assert!(outcome.transaction().is_some(), "a refused item names the batch that carried it");
    }
    assert_eq!(env.balance(rich.address()).await, U256::from(600));
    assert_eq!(env.balance(PAY_TO).await, U256::from(400));
    assert!(env.row(&broke).await.revert_reason.is_some_and(|r| !r.is_empty()), "the token's revert data is kept");
    batcher.shutdown().await;
}

#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn a_second_settle_of_a_settled_payment_answers_nonce_used_with_the_original_transaction(pool: PgPool) {
    let env = Env::new(pool).await;
    let settler = env.settler(&fast_config()).await;
    let batcher = env.batcher(&fast_config()).await;
    let payer = env.payer(1_000).await;
    let payment = env.payment(&payer, 100, later(), 7);

    let first = settler.settle(&payment).await.unwrap();
    let SettleResult::Settled { transaction } = first.result else { panic!("{first:?}") };
    let second = settler.settle(&payment).await.unwrap();
    assert_eq!(second.result, SettleResult::SettledEarlier { transaction });
    assert_eq!(second.error_reason(), Some(Reason::NonceAlreadyUsed), "on the wire, a used nonce");
    assert_eq!(env.balance(payer.address()).await, U256::from(900));
    batcher.shutdown().await;
}

#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn concurrent_settles_of_one_authorization_pay_once(pool: PgPool) {
    let env = Env::new(pool).await;
    let payer = env.payer(1_000).await;
    let payment = env.payment(&payer, 250, later(), 3);
    // Two front ends (as two processes would have) and one batcher.
    let (one, two) = (env.settler(&fast_config()).await, env.settler(&fast_config()).await);
    let batcher = env.batcher(&fast_config()).await;

    let calls = (0..8).map(|i| {
        let settler = if i % 2 == 0 { one.clone() } else { two.clone() };
        let payment = payment.clone();
        tokio::spawn(async move { settler.settle(&payment).await.unwrap() })
    });
    let mut outcomes = Vec::new();
    for call in calls {
        outcomes.push(call.await.unwrap());
    }

    let successes: Vec<_> = outcomes.iter().filter(|o| o.success()).collect();
    assert_eq!(successes.len(), 1, "{outcomes:?}");
    let tx = successes[0].transaction();
    for outcome in outcomes.iter().filter(|o| !o.success()) {
        assert_eq!(outcome.error_reason(), Some(Reason::NonceAlreadyUsed));
        assert_eq!(outcome.transaction(), tx);
    }
    assert_eq!(env.balance(payer.address()).await, U256::from(750));
    assert_eq!(env.balance(PAY_TO).await, U256::from(250));
    batcher.shutdown().await;
}

#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn an_item_whose_valid_before_passes_while_queued_expires_and_is_never_broadcast(pool: PgPool) {
    let env = Env::new(pool).await;
    let config = fast_config();
    let payer = env.payer(1_000).await;
    // Valid for 8 more seconds: past the 6-second margin now, inside it after 3 seconds in the queue.
    let payment = env.payment(&payer, 100, now() + 8, 5);
    let settler = env.settler(&SettleConfig { settle_timeout_ms: 200, ..config.clone() }).await;
    let queued = settler.settle(&payment).await.unwrap();
    assert_eq!(queued.result, SettleResult::Pending { transaction: None });
    let nonce_before = env.relayer.pending_nonce().await.unwrap();

    tokio::time::sleep(Duration::from_secs(3)).await;
    let batcher = env.batcher(&config).await;
    let row = env.wait_for_row(&payment, |r| r.status.is_final()).await;
    assert_eq!(row.status, SettlementStatus::Expired);
    let retry = env.settler(&config).await.settle(&payment).await.unwrap();
    assert_eq!(retry.result, SettleResult::Failed { reason: Reason::ValidBefore, transaction: None });
    batcher.shutdown().await;
    assert_eq!(env.relayer.pending_nonce().await.unwrap(), nonce_before, "nothing was broadcast");
    assert_eq!(env.balance(payer.address()).await, U256::from(1_000));
}

#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn settlement_pending_carries_a_hash_and_a_retry_reaches_the_final_result_once(pool: PgPool) {
    let env = Env::new(pool).await;
    let payer = env.payer(1_000).await;
    env.set_automine(false).await;
    let config = SettleConfig { settle_timeout_ms: 1_000, ..fast_config() };
    let settler = env.settler(&config).await;
    let batcher = env.batcher(&config).await;
    let payment = env.payment(&payer, 300, later(), 1);

    let first = settler.settle(&payment).await.unwrap();
    let SettleResult::Pending { transaction: Some(tx) } = first.result else { panic!("{first:?}") };
    assert!(!first.success());
    assert_eq!(first.error_reason(), Some(Reason::SettlementPending));

    // A retry while still unmined is pending on the same transaction too.
    let again = settler.settle(&payment).await.unwrap();
    assert_eq!(again.result, SettleResult::Pending { transaction: Some(tx) });

    // The retry that sees the receipt reaches the final result; the next one is told the nonce is used.
    let retry = tokio::spawn({
        let (settler, payment) = (settler.clone(), payment.clone());
        async move { settler.settle(&payment).await.unwrap() }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    env.mine().await;
    let retry = retry.await.unwrap();
    assert_eq!(retry.result, SettleResult::Settled { transaction: tx });
    let after = settler.settle(&payment).await.unwrap();
    assert_eq!(after.result, SettleResult::SettledEarlier { transaction: tx });
    assert_eq!(env.balance(payer.address()).await, U256::from(700));
    batcher.shutdown().await;
}

#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn a_stuck_transaction_is_replaced_at_the_same_nonce_with_bumped_fees(pool: PgPool) {
    let env = Env::new(pool).await;
    let payer = env.payer(1_000).await;
    env.set_automine(false).await;
    let config = SettleConfig { replace_after_ms: 500, fee_bump_percent: 20, ..fast_config() };
    let settler = env.settler(&config).await;
    let batcher = env.batcher(&config).await;
    let payment = env.payment(&payer, 300, later(), 1);
    let nonce = env.relayer.pending_nonce().await.unwrap();

    let call = tokio::spawn({
        let (settler, payment) = (settler.clone(), payment.clone());
        async move { settler.settle(&payment).await.unwrap() }
    });
    let first = env.wait_for_row(&payment, is_submitted).await.tx_hash.unwrap();
    let replaced = env.wait_for_row(&payment, |r| r.tx_hash.is_some_and(|tx| tx != first)).await.tx_hash.unwrap();
    let batch = env.ledger.unresolved_batches(env.relayer.chain_id(), env.relayer.address()).await.unwrap();
    assert_eq!(batch.len(), 1);
    assert_eq!(batch[0].tx_nonce, nonce, "the replacement uses the same nonce");
    let (old, new) = (&batch[0].transactions[0], &batch[0].transactions[1]);
    assert_eq!((old.tx_hash, new.tx_hash), (first, replaced));
    assert!(new.fees.max_priority_fee_per_gas * 100 >= old.fees.max_priority_fee_per_gas * 120);
    assert!(new.fees.max_fee_per_gas * 100 >= old.fees.max_fee_per_gas * 120);

    env.mine().await;
    let outcome = call.await.unwrap();
    let SettleResult::Settled { transaction } = outcome.result else { panic!("{outcome:?}") };
    let recorded = env.recorded_hashes().await;
    assert!(recorded.len() >= 2);
    assert_ne!(transaction, first, "a replacement landed, not the stuck original");
    assert!(recorded.contains(&transaction));
    for other in recorded.iter().filter(|tx| **tx != transaction) {
        assert!(env.relayer.receipt(*other).await.unwrap().is_none(), "only one transaction lands");
    }
    assert_eq!(env.relayer.mined_nonce().await.unwrap(), nonce + 1);
    assert_eq!(env.balance(payer.address()).await, U256::from(700));
    batcher.shutdown().await;
}

#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn several_batches_fly_at_consecutive_nonces_and_each_resolves(pool: PgPool) {
    let env = Env::new(pool).await;
    let mut funded = Vec::new();
    for _ in 0..3 {
        funded.push(env.payer(1_000).await);
    }
    env.set_automine(false).await;
    let config = SettleConfig { batch_size: 1, ..fast_config() };
    let settler = env.settler(&config).await;
    let batcher = env.batcher(&config).await;
    let nonce = env.relayer.pending_nonce().await.unwrap();
    let mut payers = Vec::new();
    let mut calls = Vec::new();
    for (i, payer) in (0..3u8).zip(funded) {
        let payment = env.payment(&payer, 100, later(), i);
        let settler = settler.clone();
        calls.push(tokio::spawn({
            let payment = payment.clone();
            async move { settler.settle(&payment).await.unwrap() }
        }));
        payers.push((payer, payment));
    }
    for (_, payment) in &payers {
        env.wait_for_row(payment, is_submitted).await;
    }
    let batches = env.ledger.unresolved_batches(env.relayer.chain_id(), env.relayer.address()).await.unwrap();
    let nonces: Vec<u64> = batches.iter().map(|b| b.tx_nonce).collect();
    assert_eq!(nonces, vec![nonce, nonce + 1, nonce + 2], "one batch per item, all in flight at once");

    env.mine().await;
    let mut hashes = Vec::new();
    for call in calls {
        let outcome = call.await.unwrap();
        let SettleResult::Settled { transaction } = outcome.result else { panic!("{outcome:?}") };
        hashes.push(transaction);
    }
    hashes.sort();
    hashes.dedup();
    assert_eq!(hashes.len(), 3);
    for (payer, _) in &payers {
        assert_eq!(env.balance(payer.address()).await, U256::from(900));
    }
    assert_eq!(env.relayer.mined_nonce().await.unwrap(), nonce + 3);
    batcher.shutdown().await;
}

#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn a_full_batch_is_sent_without_waiting_for_the_timer(pool: PgPool) {
    let env = Env::new(pool).await;
    // The timer would claim only after a minute; three queued payments fill a batch of three at once.
    let config = SettleConfig { batch_size: 3, max_wait_ms: 60_000, settle_timeout_ms: 20_000, ..fast_config() };
    let mut payers = Vec::new();
    for _ in 0..3 {
        payers.push(env.payer(1_000).await);
    }
    let batcher = env.batcher(&config).await;
    let settler = env.settler(&config).await;
    // Let the timer's first (immediate) round pass with nothing queued.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut calls = Vec::new();
    for (i, payer) in (0..3u8).zip(&payers) {
        let (settler, payment) = (settler.clone(), env.payment(payer, 100, later(), i));
        calls.push(tokio::spawn(async move { settler.settle(&payment).await.unwrap() }));
    }
    let started = std::time::Instant::now();
    let mut hashes = Vec::new();
    for call in calls {
        let outcome = call.await.unwrap();
        assert!(outcome.success(), "{outcome:?}");
        hashes.push(outcome.transaction());
    }
    assert!(started.elapsed() < Duration::from_secs(20));
    hashes.dedup();
    assert_eq!(hashes.len(), 1, "one batch carried all three");
    batcher.shutdown().await;
}
