//! Faults: a crash inside the write transaction, between the data and the checkpoint; a flaky RPC endpoint.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use clearing_indexer::BeforeCheckpoint;
use clearing_ledger::{Ledger, MAIN_INDEXER};
use sqlx::PgPool;

use crate::{
    proxy::FlakyProxy,
    support::{Activity, assert_rebuild_equal, caught_up, start, test_config},
};

#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn a_kill_between_the_data_and_the_checkpoint_leaves_no_duplicate_or_missing_row(pool: PgPool) {
    let chain = start().await;
    for round in 0..3 {
        chain.activity(round).await;
    }
    let ledger = Ledger::from_pool(pool);
    let mut config = test_config();
    config.initial_range = 4;
    config.max_range = 4;
    config.fetch_concurrency = 1;

    // The third range's transaction has written its data when the task is killed.
    let calls = Arc::new(AtomicU64::new(0));
    let (reached, mut killed_at) = tokio::sync::mpsc::unbounded_channel();
    let hook: BeforeCheckpoint = Arc::new(move |block| {
        let calls = calls.clone();
        let reached = reached.clone();
        Box::pin(async move {
            if calls.fetch_add(1, Ordering::SeqCst) == 2 {
                reached.send(block).unwrap();
                std::future::pending::<()>().await;
            }
        })
    });
    let doomed = chain.indexer_through(&chain.endpoint(), &ledger, &config).await.with_before_checkpoint(hook);
    let task = tokio::spawn(async move { doomed.run(std::future::pending()).await });
    let block = killed_at.recv().await.unwrap();
    task.abort();
    let _ = task.await;

    let checkpoint = ledger.indexer_checkpoint(31337, MAIN_INDEXER).await.unwrap().unwrap();
    assert!(checkpoint.block_number < block, "the checkpoint of the killed range must not be written");
    let above = ledger.projection_digest(31337, u64::MAX).await.unwrap();
    let at = ledger.projection_digest(31337, checkpoint.block_number).await.unwrap();
    assert_eq!(above, at, "no row above the checkpoint survives the kill");

    let restarted = chain.indexer_through(&chain.endpoint(), &ledger, &config).await;
    let task = tokio::spawn(async move { restarted.run(std::future::pending()).await });
    caught_up(&ledger, &chain).await;
    task.abort();
    assert_rebuild_equal(&ledger, &chain).await;
}

#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn the_indexer_converges_through_a_flaky_rpc(pool: PgPool) {
    let chain = start().await;
    let proxy = FlakyProxy::start(chain.endpoint()).await;
    let ledger = Ledger::from_pool(pool);
    let mut config = test_config();
    config.retry_attempts = 20;
    config.initial_range = 64;
    config.max_range = 64;
    // A backlog wider than the proxy's range limit, then activity while following the head.
    chain.activity(0).await;
    chain.mine(40).await;
    let live = chain.indexer_through(&proxy.url, &ledger, &config).await;
    let task = tokio::spawn(async move { live.run(std::future::pending()).await });
    for round in 1..3 {
        chain.activity(round).await;
    }
    chain.mine(5).await;
    caught_up(&ledger, &chain).await;
    assert!(!task.is_finished());
    task.abort();

    let injected = &proxy.injected;
    for (kind, count) in [
        ("dropped", &injected.dropped),
        ("failed", &injected.failed),
        ("rate limited", &injected.limited),
        ("range refused", &injected.range_refused),
    ] {
        assert!(count.load(Ordering::Relaxed) > 0, "no request was {kind}");
    }
    assert_rebuild_equal(&ledger, &chain).await;
}
