//! The facilitator's queue items through the indexer: a batch settled by a real BatchSettler transaction moves from
//! `settled` to `confirmed` only when its `PaymentSettled` logs are indexed at the confirmation depth, and a reorg
//! that removes the batch's block reopens the batch and puts its items back to `submitted`; a payment a batch the
//! batcher gave up on did settle is confirmed there, whether it was queued again or failed as used in a later batch.

use alloy::{
    consensus::Transaction as _,
    eips::Encodable2718,
    primitives::{Address, B256, Bytes},
    providers::{Provider, ext::AnvilApi},
};
use clearing_chain::contracts::BatchSettler;
use clearing_ledger::{
    AbandonReason, BatchClaim, BatchTransaction, ItemResolution, Ledger, MAIN_INDEXER, Mined, NewSettlement,
    PaymentKey, SettlementStatus, TxFees,
};
use clearing_testkit::{Chain, now};
use clearing_x402::{Network, Reason, X402Version};
use sqlx::PgPool;

use crate::support::{Activity, assert_rebuild_equal, caught_up, start, test_config};

/// The queue items of `payments`, as the facilitator would have queued them.
fn queued(chain: &Chain, payments: &[BatchSettler::Payment]) -> Vec<NewSettlement> {
    payments
        .iter()
        .map(|p| NewSettlement {
            key: PaymentKey { chain_id: 31337, asset: chain.token, payer: p.from, nonce: p.nonce },
            pay_to: p.to,
            value: p.value,
            valid_after: p.validAfter,
            valid_before: p.validBefore,
            signature: p.signature.clone(),
            x402_version: X402Version::V2,
            network: Network::ANVIL,
            route: clearing_ledger::Route::Transfer,
        })
        .collect()
}

async fn statuses(ledger: &Ledger, items: &[NewSettlement]) -> Vec<SettlementStatus> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        out.push(ledger.settlement(&item.key).await.unwrap().unwrap().status);
    }
    out
}

#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn settled_items_confirm_at_depth_and_go_back_to_submitted_when_a_reorg_removes_their_batch(pool: PgPool) {
    let chain = start().await;
    let ledger = Ledger::from_pool(pool);
    let config = test_config();
    let depth = config.confirmations.unwrap();
    let live = chain.indexer_through(&chain.endpoint(), &ledger, &config).await;
    let task = tokio::spawn(async move { live.run(std::future::pending()).await });
    chain.activity(0).await;
    caught_up(&ledger, &chain).await;

    // The facilitator's path, step by step: queue, claim a batch, send it, record it, resolve it from the receipt.
    let payments = chain.payments(1, 3);
    let mut items = queued(&chain, &payments);
    // The first as the queue holds it pays another payee than the payment the chain settles under its nonce (its
    // payer signed twice under one nonce): that event confirms the other payment, never this one.
    items[0].pay_to = Address::repeat_byte(0x99);
    for item in &items {
        assert!(ledger.enqueue_settlement(item).await.unwrap().1);
    }
    let relayer = chain.address(0);
    let tx_nonce = chain.provider.get_transaction_count(relayer).await.unwrap();
    let claim = BatchClaim {
        chain_id: 31337,
        asset: chain.token,
        route: clearing_ledger::RouteKind::Transfer,
        relayer,
        tx_nonce,
        limit: 100,
        cutoff: now(),
        now: now() + 1,
    };
    let (batch, claimed) = ledger.claim_batch(&claim).await.unwrap().unwrap();
    assert_eq!(claimed.len(), items.len());

    let snapshot = chain.provider.anvil_snapshot().await.unwrap();
    let receipt = chain.settle_batch(payments).await;
    assert!(receipt.status());
    ledger.record_broadcast(batch, &recorded(&chain, receipt.transaction_hash).await).await.unwrap();
    let mined_at = receipt.block_number.unwrap();
    let mined =
        Mined { tx_hash: receipt.transaction_hash, block_number: mined_at, block_hash: receipt.block_hash.unwrap() };
    let outcomes: Vec<_> = claimed.iter().map(|s| (s.id, ItemResolution::Settled)).collect();
    ledger.resolve_batch(batch, &mined, &outcomes).await.unwrap();

    // Indexed but not at depth: settled, not confirmed.
    for _ in 0..depth {
        caught_up(&ledger, &chain).await;
        let checkpoint = ledger.indexer_checkpoint(31337, MAIN_INDEXER).await.unwrap().unwrap();
        assert!(checkpoint.block_number >= mined_at);
        assert!(checkpoint.confirmed_block.is_none_or(|c| c < mined_at), "{checkpoint:?}");
        assert_eq!(statuses(&ledger, &items).await, vec![SettlementStatus::Settled; items.len()]);
        chain.mine(1).await;
    }
    // The batch's block at depth: confirmed.
    caught_up(&ledger, &chain).await;
    let checkpoint = ledger.indexer_checkpoint(31337, MAIN_INDEXER).await.unwrap().unwrap();
    assert_eq!(checkpoint.confirmed_block, Some(mined_at));
    let mut confirmed = vec![SettlementStatus::Confirmed; items.len()];
    confirmed[0] = SettlementStatus::Settled;
    assert_eq!(statuses(&ledger, &items).await, confirmed);

    // A reorg deeper than the confirmation depth replaces the batch's block with a longer chain without it.
    let orphaned_head = chain.head().await;
    assert!(chain.provider.anvil_revert(snapshot).await.unwrap());
    chain.activity(1).await;
    let now_head = chain.head().await;
    chain.mine((orphaned_head + 1).saturating_sub(now_head)).await;
    caught_up(&ledger, &chain).await;
    assert_eq!(statuses(&ledger, &items).await, vec![SettlementStatus::Submitted; items.len()]);
    for item in &items {
        let settlement = ledger.settlement(&item.key).await.unwrap().unwrap();
        assert_eq!(settlement.batch_id, Some(batch));
        assert_eq!(settlement.failure_reason, None);
    }
    // The reopened batch is the batcher's recovery's to look up again: unresolved, with its transaction.
    let open = ledger.unresolved_batches(31337, relayer).await.unwrap();
    let reopened = open.iter().find(|b| b.id == batch).expect("the batch is open again");
    assert_eq!(reopened.transactions.len(), 1);
    assert_eq!(reopened.transactions[0].tx_hash, receipt.transaction_hash);
    assert_eq!(reopened.items.len(), items.len());
    assert_rebuild_equal(&ledger, &chain).await;

    assert!(!task.is_finished());
    task.abort();
}

#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn payments_our_given_up_batch_settled_are_confirmed_there_whether_queued_again_or_failed_as_used(pool: PgPool) {
    let chain = start().await;
    let ledger = Ledger::from_pool(pool);
    let depth = test_config().confirmations.unwrap();
    let live = chain.indexer_through(&chain.endpoint(), &ledger, &test_config()).await;
    let task = tokio::spawn(async move { live.run(std::future::pending()).await });
    caught_up(&ledger, &chain).await;

    let payments = chain.payments(1, 2);
    let items = queued(&chain, &payments);
    for item in &items {
        assert!(ledger.enqueue_settlement(item).await.unwrap().1);
    }
    let relayer = chain.address(0);
    let tx_nonce = chain.provider.get_transaction_count(relayer).await.unwrap();
    let claim = |tx_nonce, limit| BatchClaim {
        chain_id: 31337,
        asset: chain.token,
        route: clearing_ledger::RouteKind::Transfer,
        relayer,
        tx_nonce,
        limit,
        cutoff: now(),
        now: now() + 1,
    };
    let (given_up, claimed) = ledger.claim_batch(&claim(tx_nonce, 100)).await.unwrap().unwrap();
    assert_eq!(claimed.len(), 2);
    let receipt = chain.settle_batch(payments.clone()).await;
    assert!(receipt.status());
    ledger.record_broadcast(given_up, &recorded(&chain, receipt.transaction_hash).await).await.unwrap();
    // Its receipt never came within the grace (a lagging RPC): the batcher gave it up and queued both again.
    ledger.requeue_batch(given_up, AbandonReason::NonceConsumedElsewhere, None).await.unwrap();
    assert_eq!(statuses(&ledger, &items).await, vec![SettlementStatus::Pending; 2]);

    // The first is sent again in a later batch, still in flight while the paying transaction reaches depth.
    let (later, resent) = ledger.claim_batch(&claim(tx_nonce + 1, 1)).await.unwrap().unwrap();
    assert_eq!(resent.len(), 1);
    // Sent again, the token refuses it as already used (`PaymentFailed`).
    let again = chain.settle_batch(vec![payments[0].clone()]).await;
    ledger.record_broadcast(later, &recorded(&chain, again.transaction_hash).await).await.unwrap();
    chain.mine(depth).await;
    caught_up(&ledger, &chain).await;
    assert_eq!(statuses(&ledger, &items).await, vec![SettlementStatus::Submitted, SettlementStatus::Confirmed]);

    // The later batch's receipt, read late (its block is already at depth), says the first failed as already used:
    // it is failed until the next indexed block, then confirmed under the transaction that paid it.
    let mined = Mined {
        tx_hash: again.transaction_hash,
        block_number: again.block_number.unwrap(),
        block_hash: again.block_hash.unwrap(),
    };
    let used = ItemResolution::Failed { reason: Reason::NonceAlreadyUsed, revert: Bytes::new() };
    ledger.resolve_batch(later, &mined, &[(resent[0].id, used)]).await.unwrap();
    assert_eq!(statuses(&ledger, &items).await, vec![SettlementStatus::Failed, SettlementStatus::Confirmed]);
    chain.mine(1).await;
    caught_up(&ledger, &chain).await;
    assert_eq!(statuses(&ledger, &items).await, vec![SettlementStatus::Confirmed; 2]);
    for item in &items {
        let settlement = ledger.settlement(&item.key).await.unwrap().unwrap();
        assert_eq!(settlement.batch_id, Some(given_up), "attributed to the transaction that paid it");
        assert_eq!((settlement.failure_reason, settlement.tx_hash), (None, Some(receipt.transaction_hash)));
    }

    assert!(!task.is_finished());
    task.abort();
}

/// `tx` as the facilitator records a broadcast: its raw bytes and fees.
async fn recorded(chain: &Chain, tx: B256) -> BatchTransaction {
    let sent = chain.provider.get_transaction_by_hash(tx).await.unwrap().unwrap();
    let fees = TxFees {
        max_fee_per_gas: sent.inner.max_fee_per_gas(),
        max_priority_fee_per_gas: sent.inner.max_priority_fee_per_gas().unwrap_or_default(),
    };
    BatchTransaction {
        tx_hash: tx,
        raw_tx: sent.inner.inner().encoded_2718().into(),
        gas_limit: sent.inner.gas_limit(),
        fees,
    }
}
