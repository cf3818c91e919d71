//! Verify's per-block answer cache on a real anvil: answers are reused while their block is the head and only then,
//! and a payment this facilitator holds is never answered from a block read before it may have been mined.

use std::{sync::Arc, sync::atomic::Ordering};

use alloy::{primitives::U256, signers::local::PrivateKeySigner};
use clearing_facilitator::{CoalescerConfig, SystemClock, http::HttpConfig};
use clearing_testkit::SignedPayment;
use serde_json::Value;

use crate::harness::{Harness, USDC, pay};

/// A poller that never polls on its own within a test: only verify's own needs (and `sync`) move the head.
fn lazy_head() -> CoalescerConfig {
    CoalescerConfig { head_poll_ms: 600_000, ..CoalescerConfig::default() }
}

fn reason(answer: &Value) -> &str {
    answer["invalidReason"].as_str().unwrap_or_else(|| panic!("valid, or no reason: {answer}"))
}

/// Uses `payment`'s authorization on chain, as a batch would.
pub(crate) async fn use_on_chain(harness: &Harness, payment: &SignedPayment) {
    harness.chain.transfer_with_authorization(&payment.settle_payment()).await;
}

fn calls(harness: &Harness) -> u64 {
    harness.metrics.chain_read_calls.load(Ordering::Relaxed)
}

#[tokio::test]
async fn an_answer_is_reused_while_its_block_is_the_head_and_dropped_when_it_moves() {
    let harness = Harness::with_reads(Arc::new(SystemClock), HttpConfig::default(), lazy_head()).await;
    let payer = PrivateKeySigner::random();
    harness.mint(payer.address(), 5_000).await;
    let payment = pay(&payer, 1_000);

    assert_eq!(harness.verify(&payment.body()).await["isValid"], true);
    let after_first = calls(&harness);
    assert_eq!(harness.verify(&payment.body()).await["isValid"], true);
    assert_eq!(calls(&harness), after_first, "the same payment at the same head costs no call");
    assert_eq!(harness.metrics.chain_read_cache_hits.load(Ordering::Relaxed), 1);

    // Someone else's settlement of it: until the head is polled again the block read is still the head we know,
    // and once it is, the answer of the old block is never served.
    use_on_chain(&harness, &payment).await;
    harness.sync().await;
    assert_eq!(reason(&harness.verify(&payment.body()).await), "invalid_exact_evm_nonce_already_used");
    assert_eq!(calls(&harness), after_first + 1, "a new head needs a new read");
}

#[tokio::test]
async fn a_payment_in_flight_is_never_answered_from_a_block_read_before_it_was_mined() {
    let harness = Harness::with_reads(Arc::new(SystemClock), HttpConfig::default(), lazy_head()).await;
    let payer = PrivateKeySigner::random();
    harness.mint(payer.address(), 5_000).await;
    let payment = pay(&payer, 1_000);
    assert_eq!(harness.verify(&payment.body()).await["isValid"], true, "cached at the current head");

    // Queued by settle, then mined; the poller has not looked since (its interval is ten minutes).
    harness.inflight.add(31337, USDC, payer.address(), payment.nonce(), U256::from(1_000));
    use_on_chain(&harness, &payment).await;
    assert_eq!(
        reason(&harness.verify(&payment.body()).await),
        "invalid_exact_evm_nonce_already_used",
        "in flight: verify polls the head first"
    );

    // Final: the settle path stops counting it; the answer still comes from a head polled after that.
    harness.inflight.remove(31337, USDC, payer.address(), payment.nonce());
    assert_eq!(reason(&harness.verify(&payment.body()).await), "invalid_exact_evm_nonce_already_used");
}

#[tokio::test]
async fn a_just_final_settlement_counts_against_a_balance_read_before_it() {
    let harness = Harness::with_reads(Arc::new(SystemClock), HttpConfig::default(), lazy_head()).await;
    let payer = PrivateKeySigner::random();
    harness.mint(payer.address(), 1_500).await;
    let first = pay(&payer, 1_000);
    let second = pay(&payer, 1_000);
    harness.inflight.add(31337, USDC, payer.address(), first.nonce(), U256::from(1_000));
    assert_eq!(reason(&harness.verify(&second.body()).await), "invalid_exact_evm_insufficient_balance");

    // The first settles on chain and becomes final, but the head verify knows is still the one before it: the
    // cached balance (1,500) must not be taken without the 1,000 that has left it.
    use_on_chain(&harness, &first).await;
    harness.inflight.remove(31337, USDC, payer.address(), first.nonce());
    assert_eq!(reason(&harness.verify(&second.body()).await), "invalid_exact_evm_insufficient_balance");

    // At a head polled after it, the balance read (500) already shows the debit, and it is not counted twice.
    harness.sync().await;
    let smaller = pay(&payer, 500);
    assert_eq!(harness.verify(&smaller.body()).await["isValid"], true);
    assert_eq!(reason(&harness.verify(&second.body()).await), "invalid_exact_evm_insufficient_balance");
}

#[tokio::test]
async fn with_the_cache_off_every_verify_reads_latest() {
    let reads = CoalescerConfig { head_poll_ms: 0, ..CoalescerConfig::default() };
    let harness = Harness::with_reads(Arc::new(SystemClock), HttpConfig::default(), reads).await;
    let payer = PrivateKeySigner::random();
    harness.mint(payer.address(), 5_000).await;
    let payment = pay(&payer, 1_000);
    assert_eq!(harness.verify(&payment.body()).await["isValid"], true);
    assert_eq!(harness.verify(&payment.body()).await["isValid"], true);
    assert_eq!(calls(&harness), 2);
    assert_eq!(harness.metrics.chain_head_calls.load(Ordering::Relaxed), 0);
    use_on_chain(&harness, &payment).await;
    assert_eq!(reason(&harness.verify(&payment.body()).await), "invalid_exact_evm_nonce_already_used");
}

#[tokio::test]
async fn a_payer_funded_a_moment_ago_is_not_refused_from_the_block_before() {
    let harness = Harness::with_reads(Arc::new(SystemClock), HttpConfig::default(), lazy_head()).await;
    let payer = PrivateKeySigner::random();
    let payment = pay(&payer, 1_000);
    harness.sync().await;
    assert_eq!(reason(&harness.verify(&payment.body()).await), "invalid_exact_evm_insufficient_balance");

    // Funded behind the poller's back (no sync): the cached block says 0, but a refusal must come from a head
    // polled after the request, and that one has the funds.
    harness.chain.mint(payer.address(), 1_000).await;
    assert_eq!(harness.verify(&payment.body()).await["isValid"], true);
}

#[tokio::test]
async fn a_full_batch_of_reads_is_split_to_fit_the_nodes_initcode_cap() {
    // One call at a time and a long window: the 150 reads gather into batches of up to 100, whose encoded queries
    // and the reader's code would exceed EIP-3860's 49,152 bytes in one call (about 95 reads fit).
    let reads = CoalescerConfig { max_wait_us: 300_000, max_in_flight: 1, ..lazy_head() };
    let harness = Arc::new(Harness::with_reads(Arc::new(SystemClock), HttpConfig::default(), reads).await);
    let payer = PrivateKeySigner::random();
    harness.mint(payer.address(), 10_000).await;
    let mut verifies = tokio::task::JoinSet::new();
    for _ in 0..150 {
        let (harness, payment) = (harness.clone(), pay(&payer, 1));
        verifies.spawn(async move { harness.verify(&payment.body()).await });
    }
    while let Some(answer) = verifies.join_next().await {
        let answer = answer.unwrap();
        assert_eq!(answer["isValid"], true, "{answer}");
    }
    // The 150 reads went out in at least two calls, none over the cap (a call over it fails every read in it).
    assert!(calls(&harness) >= 2, "{} calls", calls(&harness));
}
