//! Reorgs of depth 1, 5 and 64, then of random depths, while the indexer follows the head; after each, the
//! projections equal a rebuild from chain data, and what a reorg removed is gone.

use alloy::providers::ext::AnvilApi;
use clearing_ledger::{Ledger, MAIN_INDEXER};
use clearing_testkit::Chain;
use sqlx::PgPool;

use crate::support::{Activity, assert_rebuild_equal, caught_up, start, test_config};

/// Replaces the newest `depth` blocks (which hold real activity) with a longer, different chain.
async fn reorg(chain: &Chain, ledger: &Ledger, depth: u64, round: usize) {
    let snapshot = chain.provider.anvil_snapshot().await.unwrap();
    let before = chain.head().await;
    chain.activity(round).await;
    let used = chain.head().await - before;
    chain.mine(depth.saturating_sub(used)).await;
    caught_up(ledger, chain).await;
    let orphaned_head = chain.head().await;
    assert_eq!(orphaned_head - before, depth.max(used));

    assert!(chain.provider.anvil_revert(snapshot).await.unwrap());
    chain.activity(round + 100).await;
    let now = chain.head().await;
    chain.mine((orphaned_head + 1).saturating_sub(now)).await;
    caught_up(ledger, chain).await;
}

#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn reorgs_of_depth_1_5_and_64_leave_projections_equal_to_a_rebuild(pool: PgPool) {
    let chain = start().await;
    let ledger = Ledger::from_pool(pool);
    let live = chain.indexer_through(&chain.endpoint(), &ledger, &test_config()).await;
    let task = tokio::spawn(async move { live.run(std::future::pending()).await });

    chain.activity(0).await;
    caught_up(&ledger, &chain).await;
    for (round, depth) in [1u64, 5, 64].into_iter().enumerate() {
        reorg(&chain, &ledger, depth, round + 1).await;
        let checkpoint = ledger.indexer_checkpoint(31337, MAIN_INDEXER).await.unwrap().unwrap();
        assert_eq!(checkpoint.confirmed_block, Some(checkpoint.block_number - 2), "depth {depth}");
        assert_rebuild_equal(&ledger, &chain).await;
    }
    assert!(!task.is_finished());
    task.abort();
}

#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn a_fork_while_stopped_is_found_on_startup(pool: PgPool) {
    let chain = start().await;
    let ledger = Ledger::from_pool(pool);
    let config = test_config();
    let snapshot = chain.provider.anvil_snapshot().await.unwrap();
    chain.activity(0).await;
    let first = chain.indexer_through(&chain.endpoint(), &ledger, &config).await;
    first.sync_to(chain.head().await).await.unwrap();
    drop(first);

    assert!(chain.provider.anvil_revert(snapshot).await.unwrap());
    chain.activity(1).await;
    chain.mine(3).await;
    let second = chain.indexer_through(&chain.endpoint(), &ledger, &config).await;
    second.sync_to(chain.head().await).await.unwrap();
    assert_rebuild_equal(&ledger, &chain).await;
}

#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn random_reorgs_leave_projections_equal_to_a_rebuild(pool: PgPool) {
    let chain = start().await;
    let ledger = Ledger::from_pool(pool);
    let live = chain.indexer_through(&chain.endpoint(), &ledger, &test_config()).await;
    let task = tokio::spawn(async move { live.run(std::future::pending()).await });

    // A fixed-seed xorshift sequence, so a failing run (its round and depth are in the message) replays exactly.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    chain.activity(0).await;
    caught_up(&ledger, &chain).await;
    for round in 1..=6 {
        let depth = 1 + next() % 12;
        reorg(&chain, &ledger, depth, round).await;
        if next() % 2 == 0 {
            // Sometimes activity on top of the new branch before the comparison.
            chain.activity(round + 200).await;
            caught_up(&ledger, &chain).await;
        }
        let checkpoint = ledger.indexer_checkpoint(31337, MAIN_INDEXER).await.unwrap().unwrap();
        assert_eq!(checkpoint.confirmed_block, Some(checkpoint.block_number - 2), "round {round}, depth {depth}");
        assert_rebuild_equal(&ledger, &chain).await;
    }
    assert!(!task.is_finished());
    task.abort();
}
