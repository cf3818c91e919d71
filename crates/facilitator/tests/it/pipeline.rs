//! Several batches in flight at consecutive relayer nonces: gaps, lost transactions, replacements and restarts.
//!
//! The node holds a transaction back while an earlier nonce of its sender is missing, so every test here checks
//! that a missing nonce is filled (by the batch that holds it, never by a new nonce), that every payment reaches
//! exactly one outcome, and that nothing is signed or broadcast twice.

use alloy::{
    primitives::{B256, U256},
    providers::{Provider, ext::AnvilApi},
};
use clearing_facilitator::{PaymentToSettle, SettleConfig, SettleResult, Settler};
use clearing_ledger::SettlementStatus;
use sqlx::PgPool;
use tokio::task::JoinHandle;

use crate::{
    recovery::{queue_and_claim_at, sign_and_record},
    support::{Env, fast_config, is_final, is_submitted, later},
};

/// Starts settling `payment` in the background.
fn spawn_settle(settler: &Settler, payment: &PaymentToSettle) -> JoinHandle<SettleResult> {
    let (settler, payment) = (settler.clone(), payment.clone());
    tokio::spawn(async move { settler.settle(&payment).await.unwrap().result })
}

/// Whether the node knows `tx` (pooled or mined).
async fn node_knows(env: &Env, tx: B256) -> bool {
    env.chain.provider.get_transaction_by_hash(tx).await.unwrap().is_some()
}

#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn a_restart_signs_the_missing_nonce_below_a_sent_batch_and_both_settle_once(pool: PgPool) {
    let env = Env::new(pool).await;
    let (first, second) = (env.payer(1_000).await, env.payer(1_000).await);
    let (a, b) = (env.payment(&first, 100, later(), 1), env.payment(&second, 100, later(), 2));
    env.set_automine(false).await;
    let nonce = env.relayer.pending_nonce().await.unwrap();

    // Killed with two batches claimed: the later one signed, recorded and sent, the earlier one never signed.
    queue_and_claim_at(&env, &a, nonce).await;
    let later_batch = queue_and_claim_at(&env, &b, nonce + 1).await;
    let sent = sign_and_record(&env, later_batch, nonce + 1, &b).await;
    env.relayer.broadcast(&sent.raw).await.unwrap();
    env.mine().await;
    assert_eq!(env.relayer.mined_nonce().await.unwrap(), nonce, "the node holds the later nonce back");

    let batcher = env.batcher(&fast_config()).await;
    let filled = env.wait_for_row(&a, is_submitted).await.tx_hash.unwrap();
    env.mine().await;
    let (row_a, row_b) = (env.wait_for_row(&a, is_final).await, env.wait_for_row(&b, is_final).await);
    batcher.shutdown().await;

    assert_eq!((row_a.status, row_a.tx_hash), (SettlementStatus::Settled, Some(filled)));
    assert_eq!((row_b.status, row_b.tx_hash), (SettlementStatus::Settled, Some(sent.tx_hash)), "the sent bytes");
    assert_eq!(env.relayer.mined_nonce().await.unwrap(), nonce + 2, "the gap was filled, no nonce skipped");
    assert_eq!(env.recorded_hashes().await.len(), 2, "one transaction per batch");
    assert_eq!(
        (env.balance(first.address()).await, env.balance(second.address()).await),
        (U256::from(900), U256::from(900))
    );
}

#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn a_restart_resends_every_recorded_unmined_batch_without_signing_anew(pool: PgPool) {
    let env = Env::new(pool).await;
    let mut payments = Vec::new();
    for i in 0..3u8 {
        let payer = env.payer(1_000).await;
        payments.push((env.payment(&payer, 100, later(), i), payer));
    }
    env.set_automine(false).await;
    let nonce = env.relayer.pending_nonce().await.unwrap();

    // Killed with three batches recorded: the first never sent, the other two sent and held behind it.
    let mut recorded = Vec::new();
    for (offset, (payment, _)) in (0u64..).zip(&payments) {
        let batch = queue_and_claim_at(&env, payment, nonce + offset).await;
        let signed = sign_and_record(&env, batch, nonce + offset, payment).await;
        if offset > 0 {
            env.relayer.broadcast(&signed.raw).await.unwrap();
        }
        recorded.push(signed.tx_hash);
    }

    let batcher = env.batcher(&fast_config()).await;
    for tx in &recorded {
        for _ in 0..100 {
            if node_knows(&env, *tx).await {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    env.mine().await;
    let settler = env.settler(&fast_config()).await;
    for ((payment, payer), tx) in payments.iter().zip(&recorded) {
        let row = env.wait_for_row(payment, is_final).await;
        assert_eq!((row.status, row.tx_hash), (SettlementStatus::Settled, Some(*tx)), "the recorded bytes landed");
        assert_eq!(settler.settle(payment).await.unwrap().result, SettleResult::Settled { transaction: *tx });
        assert!(!settler.settle(payment).await.unwrap().result.eq(&SettleResult::Settled { transaction: *tx }));
        assert_eq!(env.balance(payer.address()).await, U256::from(900));
    }
    batcher.shutdown().await;
    assert_eq!(env.recorded_hashes().await.len(), 3, "nothing new was signed");
    assert_eq!(env.relayer.mined_nonce().await.unwrap(), nonce + 3);
}

#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn a_transaction_the_node_lost_is_sent_again_with_the_same_bytes(pool: PgPool) {
    let env = Env::new(pool).await;
    let (first, second) = (env.payer(1_000).await, env.payer(1_000).await);
    env.set_automine(false).await;
    let config = SettleConfig { batch_size: 1, ..fast_config() };
    let settler = env.settler(&config).await;
    let batcher = env.batcher(&config).await;
    let nonce = env.relayer.pending_nonce().await.unwrap();
    let (a, b) = (env.payment(&first, 100, later(), 1), env.payment(&second, 100, later(), 2));
    let call_a = spawn_settle(&settler, &a);
    let head = env.wait_for_row(&a, is_submitted).await.tx_hash.unwrap();
    let call_b = spawn_settle(&settler, &b);
    let behind = env.wait_for_row(&b, is_submitted).await.tx_hash.unwrap();

    // The node loses the first transaction: the one behind it can never mine until the first is sent again.
    let _: serde_json::Value = env.chain.provider.raw_request("anvil_dropTransaction".into(), (head,)).await.unwrap();
    assert!(!node_knows(&env, head).await);
    let mut resent = false;
    for _ in 0..100 {
        if node_knows(&env, head).await {
            resent = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(resent, "the batcher sends the recorded bytes again");
    // A node may drop the transactions queued behind a lost one too; those are sent again as well.
    for _ in 0..40 {
        env.mine().await;
        if is_final(&env.row(&a).await) && is_final(&env.row(&b).await) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }

    assert_eq!(call_a.await.unwrap(), SettleResult::Settled { transaction: head });
    assert_eq!(call_b.await.unwrap(), SettleResult::Settled { transaction: behind });
    assert_eq!(env.recorded_hashes().await.len(), 2, "the same bytes, not a new signature");
    assert_eq!(env.relayer.mined_nonce().await.unwrap(), nonce + 2);
    batcher.shutdown().await;
}

#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn stuck_batches_in_flight_are_each_replaced_at_their_own_nonce(pool: PgPool) {
    let env = Env::new(pool).await;
    let mut funded = Vec::new();
    for _ in 0..3 {
        funded.push(env.payer(1_000).await);
    }
    env.set_automine(false).await;
    let config = SettleConfig { batch_size: 1, replace_after_ms: 500, ..fast_config() };
    let settler = env.settler(&config).await;
    let batcher = env.batcher(&config).await;
    let nonce = env.relayer.pending_nonce().await.unwrap();
    let payments: Vec<_> = (0..3u8).zip(&funded).map(|(i, payer)| env.payment(payer, 100, later(), i)).collect();
    let calls: Vec<_> = payments.iter().map(|payment| spawn_settle(&settler, payment)).collect();
    for payment in &payments {
        let first = env.wait_for_row(payment, is_submitted).await.tx_hash.unwrap();
        env.wait_for_row(payment, |row| row.tx_hash.is_some_and(|tx| tx != first)).await;
    }
    let batches = env.ledger.unresolved_batches(env.relayer.chain_id(), env.relayer.address()).await.unwrap();
    let nonces: Vec<u64> = batches.iter().map(|batch| batch.tx_nonce).collect();
    assert_eq!(nonces, vec![nonce, nonce + 1, nonce + 2], "each replacement kept its batch's nonce");
    env.mine().await;

    let mut settled_by = Vec::new();
    for call in calls {
        let SettleResult::Settled { transaction } = call.await.unwrap() else { panic!("not settled") };
        settled_by.push(transaction);
    }
    settled_by.sort();
    settled_by.dedup();
    assert_eq!(settled_by.len(), 3, "each payment in its own batch's transaction");
    let mut landed = Vec::new();
    for tx in env.recorded_hashes().await {
        if env.relayer.receipt(tx).await.unwrap().is_some() {
            landed.push(tx);
        }
    }
    landed.sort();
    assert_eq!(landed, settled_by, "exactly one transaction per nonce landed, the one each payment was told");
    for payer in &funded {
        assert_eq!(env.balance(payer.address()).await, U256::from(900));
    }
    assert_eq!(env.relayer.mined_nonce().await.unwrap(), nonce + 3);
    batcher.shutdown().await;
}

/// Indexes the suite up to the head, every block confirmed.
async fn index_to_head(env: &Env) {
    env.chain.index(&env.ledger, 0).await;
}

#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn a_batch_a_reorg_removed_is_sent_again_by_the_running_batcher_and_settles_once(pool: PgPool) {
    reorged_batch_is_sent_again_and_settles_once(pool, true).await;
}

/// There is nothing to roll back: the indexer finds the batch's block missing from the chain it indexes.
#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn a_batch_whose_block_was_replaced_before_the_indexer_reached_it_is_sent_again_and_settles_once(pool: PgPool) {
    reorged_batch_is_sent_again_and_settles_once(pool, false).await;
}

/// A payment settles; the block holding its batch is replaced by a longer chain without it, after the indexer
/// confirmed it (`indexed`) or before the indexer ever stored it; the running batcher sends the same bytes again.
async fn reorged_batch_is_sent_again_and_settles_once(pool: PgPool, indexed: bool) {
    let env = Env::new(pool).await;
    let payer = env.payer(1_000).await;
    let payment = env.payment(&payer, 100, later(), 1);
    index_to_head(&env).await;
    let before = env.chain.provider.anvil_snapshot().await.unwrap();

    let batcher = env.batcher(&fast_config()).await;
    let settler = env.settler(&fast_config()).await;
    let first = spawn_settle(&settler, &payment).await.unwrap();
    let mined = env.wait_for_row(&payment, is_final).await.tx_hash.unwrap();
    assert!(matches!(first, SettleResult::Settled { .. }), "{first:?}");
    if indexed {
        index_to_head(&env).await;
        assert_eq!(env.row(&payment).await.status, SettlementStatus::Confirmed, "indexed at depth");
    }

    assert!(env.chain.provider.anvil_revert(before).await.unwrap());
    env.chain.provider.anvil_mine(Some(3), None).await.unwrap();
    assert_eq!(env.balance(payer.address()).await, U256::from(1_000), "the payment is gone from the chain");
    index_to_head(&env).await;

    // The indexer reopened the batch; the running batcher adopts it and re-sends the recorded bytes.
    let row = env.wait_for_row(&payment, |row| row.status == SettlementStatus::Settled).await;
    batcher.shutdown().await;
    assert_eq!(row.tx_hash, Some(mined), "the same transaction, not a new signature");
    assert_eq!(env.recorded_hashes().await, vec![mined], "nothing signed anew");
    assert_eq!(env.balance(payer.address()).await, U256::from(900), "paid exactly once");
    index_to_head(&env).await;
    assert_eq!(env.row(&payment).await.status, SettlementStatus::Confirmed, "confirmed on the new chain");
}
