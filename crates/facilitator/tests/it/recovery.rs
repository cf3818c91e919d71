//! Crash recovery: the ledger and chain state a kill leaves at each point of a batch's life, then a restart.
//!
//! Each test builds the state a `kill -9` would leave (or kills a running batcher with `abort`), starts a fresh
//! batcher, and asserts exactly one final outcome, one `success` answer and the payer's balance moved once.

use std::time::Duration;

use alloy::{
    network::TransactionBuilder,
    primitives::{Address, U256},
    providers::Provider,
    rpc::types::TransactionRequest,
};
use clearing_chain::{SettlePayment, SignedBatch};
use clearing_facilitator::{PaymentToSettle, SettleResult};
use clearing_ledger::{BatchClaim, BatchId, BatchTransaction, SettlementStatus, TxFees};
use clearing_testkit::now;
use clearing_x402::Network;
use sqlx::PgPool;

use crate::support::{Env, RELAYER, fast_config, is_final, is_submitted, later};

/// What the batcher does before its first await on the chain: queue and claim at the relayer's next nonce.
async fn queue_and_claim(env: &Env, payment: &PaymentToSettle) -> (BatchId, u64) {
    let nonce = env.relayer.pending_nonce().await.unwrap();
    (queue_and_claim_at(env, payment, nonce).await, nonce)
}

/// Queues `payment` and claims it alone into a batch at relayer nonce `nonce`.
pub(crate) async fn queue_and_claim_at(env: &Env, payment: &PaymentToSettle, nonce: u64) -> BatchId {
    env.ledger.enqueue_settlement(&to_new(payment)).await.unwrap();
    let claim = BatchClaim {
        chain_id: env.relayer.chain_id(),
        asset: env.chain.token,
        route: clearing_ledger::RouteKind::Transfer,
        relayer: env.relayer.address(),
        tx_nonce: nonce,
        limit: 100,
        cutoff: now() + 6,
        now: now(),
    };
    let (batch, items) = env.ledger.claim_batch(&claim).await.unwrap().unwrap();
    assert_eq!(items.len(), 1);
    batch
}

/// Signs the batch of `payment` at `nonce` and records it, sending nothing.
pub(crate) async fn sign_and_record(env: &Env, batch: BatchId, nonce: u64, payment: &PaymentToSettle) -> SignedBatch {
    let item = item(payment);
    let signed = env.relayer.prepare(&settle_call(env, item), nonce, None).await.unwrap();
    let record = BatchTransaction {
        tx_hash: signed.tx_hash,
        raw_tx: signed.raw.clone(),
        gas_limit: signed.gas_limit,
        fees: TxFees {
            max_fee_per_gas: signed.fees.max_fee_per_gas,
            max_priority_fee_per_gas: signed.fees.max_priority_fee_per_gas,
        },
    };
    env.ledger.record_broadcast(batch, &record).await.unwrap();
    signed
}

/// `payment` as an item of a BatchSettler batch.
fn item(payment: &PaymentToSettle) -> SettlePayment {
    SettlePayment {
        from: payment.payer,
        to: payment.pay_to,
        value: payment.value,
        validAfter: payment.valid_after,
        validBefore: payment.valid_before,
        nonce: payment.nonce,
        signature: payment.signature.clone(),
    }
}

fn settle_call(env: &Env, item: SettlePayment) -> clearing_chain::BatchCall {
    clearing_chain::BatchCall::Settle { token: env.chain.token, payments: vec![item] }
}

fn to_new(payment: &PaymentToSettle) -> clearing_ledger::NewSettlement {
    clearing_ledger::NewSettlement {
        key: payment.key(),
        pay_to: payment.pay_to,
        value: payment.value,
        valid_after: payment.valid_after,
        valid_before: payment.valid_before,
        signature: payment.signature.clone(),
        x402_version: payment.x402_version,
        network: Network::new(payment.chain_id),
        route: payment.route.clone(),
    }
}

/// Restarts the service and checks the payment reached exactly one outcome: settled once, answered success once.
async fn restart_and_expect_settled_once(
    env: &Env,
    payment: &PaymentToSettle,
    payer: Address,
) -> alloy::primitives::TxHash {
    let batcher = env.batcher(&fast_config()).await;
    let settler = env.settler(&fast_config()).await;
    let outcome = settler.settle(payment).await.unwrap();
    let SettleResult::Settled { transaction } = outcome.result else { panic!("{outcome:?}") };
    let again = settler.settle(payment).await.unwrap();
    assert!(!again.success(), "success is answered once");
    batcher.shutdown().await;
    assert_eq!(env.row(payment).await.status, SettlementStatus::Settled);
    assert_eq!(env.balance(payer).await, U256::from(900), "the payer paid exactly once");
    assert!(env.ledger.unresolved_batches(env.relayer.chain_id(), env.relayer.address()).await.unwrap().is_empty());
    transaction
}

#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn killed_after_claim_the_batch_is_signed_fresh_at_its_nonce(pool: PgPool) {
    let env = Env::new(pool).await;
    let payer = env.payer(1_000).await;
    let payment = env.payment(&payer, 100, later(), 1);
    let (_, nonce) = queue_and_claim(&env, &payment).await;

    let tx = restart_and_expect_settled_once(&env, &payment, payer.address()).await;
    let receipt = env.relayer.receipt(tx).await.unwrap().unwrap();
    assert_eq!(env.relayer.mined_nonce().await.unwrap(), nonce + 1, "one transaction, at the claimed nonce");
    assert!(receipt.status());
}

#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn killed_after_record_the_identical_bytes_are_sent(pool: PgPool) {
    let env = Env::new(pool).await;
    let payer = env.payer(1_000).await;
    let payment = env.payment(&payer, 100, later(), 1);
    let (batch, nonce) = queue_and_claim(&env, &payment).await;
    let signed = sign_and_record(&env, batch, nonce, &payment).await;

    let tx = restart_and_expect_settled_once(&env, &payment, payer.address()).await;
    assert_eq!(tx, signed.tx_hash, "the recorded transaction, not a new one");
    assert_eq!(env.recorded_hashes().await, vec![signed.tx_hash]);
    assert_eq!(env.relayer.mined_nonce().await.unwrap(), nonce + 1);
}

#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn killed_after_send_the_restart_waits_for_the_same_transaction(pool: PgPool) {
    let env = Env::new(pool).await;
    let payer = env.payer(1_000).await;
    let payment = env.payment(&payer, 100, later(), 1);
    env.set_automine(false).await;

    // A running service broadcasts, then dies before any receipt.
    let batcher = env.batcher(&fast_config()).await;
    env.settler(&fast_config()).await.settle(&payment).await.ok();
    let sent = env.wait_for_row(&payment, is_submitted).await.tx_hash.unwrap();
    batcher.abort().await;

    let restarted = env.batcher(&fast_config()).await;
    env.mine().await;
    let row = env.wait_for_row(&payment, is_final).await;
    restarted.shutdown().await;
    assert_eq!((row.status, row.tx_hash), (SettlementStatus::Settled, Some(sent)));
    assert_eq!(env.recorded_hashes().await, vec![sent], "nothing new was signed");
    let outcome = env.settler(&fast_config()).await.settle(&payment).await.unwrap();
    assert_eq!(outcome.result, SettleResult::Settled { transaction: sent });
    assert_eq!(env.balance(payer.address()).await, U256::from(900));
}

#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn killed_after_the_receipt_before_resolve_the_receipt_resolves_it(pool: PgPool) {
    let env = Env::new(pool).await;
    let payer = env.payer(1_000).await;
    let payment = env.payment(&payer, 100, later(), 1);
    let (batch, nonce) = queue_and_claim(&env, &payment).await;
    let signed = sign_and_record(&env, batch, nonce, &payment).await;
    env.relayer.broadcast(&signed.raw).await.unwrap();
    let mined = env
        .relayer
        .wait_for_any_receipt(&[signed.tx_hash], Duration::from_secs(10), Duration::from_millis(20))
        .await
        .unwrap();
    assert!(mined.is_some(), "mined before the kill");
    assert_eq!(env.row(&payment).await.status, SettlementStatus::Submitted);

    let tx = restart_and_expect_settled_once(&env, &payment, payer.address()).await;
    assert_eq!(tx, signed.tx_hash);
    assert_eq!(env.relayer.mined_nonce().await.unwrap(), nonce + 1, "nothing else was sent");
}

#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn a_batch_whose_nonce_went_to_another_transaction_is_requeued_and_settled_once(pool: PgPool) {
    let env = Env::new(pool).await;
    let payer = env.payer(1_000).await;
    let payment = env.payment(&payer, 100, later(), 1);
    let (batch, nonce) = queue_and_claim(&env, &payment).await;
    let signed = sign_and_record(&env, batch, nonce, &payment).await;

    // Someone else spends the relayer's nonce before the recorded transaction is ever sent.
    let other = env.chain.as_account(RELAYER);
    let spend = TransactionRequest::default().with_to(env.relayer.address()).with_value(U256::ZERO).with_nonce(nonce);
    other.send_transaction(spend).await.unwrap().get_receipt().await.unwrap();

    let tx = restart_and_expect_settled_once(&env, &payment, payer.address()).await;
    assert_ne!(tx, signed.tx_hash, "re-batched into a new transaction");
    assert!(env.relayer.receipt(signed.tx_hash).await.unwrap().is_none(), "the recorded one can never land");
}

#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn a_batch_that_reverted_whole_is_requeued_and_settled_once(pool: PgPool) {
    let env = Env::new(pool).await;
    let payer = env.payer(1_000).await;
    let payment = env.payment(&payer, 100, later(), 1);
    let (batch, nonce) = queue_and_claim(&env, &payment).await;
    // Too little gas for BatchSettler's per-item check: the whole transaction reverts and moves nothing.
    let item = item(&payment);
    let fees = env.relayer.current_fees().await.unwrap();
    let starved = env.relayer.sign(&settle_call(&env, item), nonce, 100_000, fees).await.unwrap();
    let record = BatchTransaction {
        tx_hash: starved.tx_hash,
        raw_tx: starved.raw.clone(),
        gas_limit: starved.gas_limit,
        fees: TxFees { max_fee_per_gas: fees.max_fee_per_gas, max_priority_fee_per_gas: fees.max_priority_fee_per_gas },
    };
    env.ledger.record_broadcast(batch, &record).await.unwrap();
    env.relayer.broadcast(&starved.raw).await.unwrap();
    let receipt = env
        .relayer
        .wait_for_any_receipt(&[starved.tx_hash], Duration::from_secs(10), Duration::from_millis(20))
        .await
        .unwrap()
        .unwrap();
    assert!(!receipt.status(), "the starved batch reverted");

    let tx = restart_and_expect_settled_once(&env, &payment, payer.address()).await;
    assert_ne!(tx, starved.tx_hash);
}
