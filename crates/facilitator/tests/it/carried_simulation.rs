//! A payment's successful transfer simulation carried to later heads on a real anvil: reused while the token's
//! logs show only transfers and mints, and never past a blacklisting or a pause.

use std::sync::{Arc, atomic::Ordering};

use alloy::signers::local::PrivateKeySigner;
use clearing_chain::contracts::MockUSDC;
use clearing_facilitator::{CoalescerConfig, SystemClock, http::HttpConfig};
use clearing_testkit::{DEPLOYER, SignedPayment};
use serde_json::Value;

use crate::{
    harness::{Harness, USDC, pay},
    verify_cache::use_on_chain,
};

/// `verify::guard::REORG_DEPTH`: blocks below a simulation whose logs are scanned too.
const REORG_DEPTH: u64 = 8;

/// A poller that never polls on its own within a test: only `sync` and verify's own needs move the head.
fn lazy_head() -> CoalescerConfig {
    CoalescerConfig { head_poll_ms: 600_000, ..CoalescerConfig::default() }
}

fn carried(harness: &Harness) -> u64 {
    harness.metrics.chain_read_simulations_carried.load(Ordering::Relaxed)
}

fn reason(answer: &Value) -> &str {
    answer["invalidReason"].as_str().unwrap_or_else(|| panic!("valid, or no reason: {answer}"))
}

/// A block whose only token logs move balances: a mint to someone else.
async fn quiet_block(harness: &Harness) {
    harness.mint(PrivateKeySigner::random().address(), 1).await;
}

/// The token as its owner, who pauses and blacklists.
fn usdc_as_owner(harness: &Harness) -> MockUSDC::MockUSDCInstance<clearing_chain::ChainProvider> {
    MockUSDC::new(USDC, harness.chain.as_account(DEPLOYER))
}

async fn harness_with_payment() -> (Harness, PrivateKeySigner, SignedPayment) {
    let harness = Harness::with_reads(Arc::new(SystemClock), HttpConfig::default(), lazy_head()).await;
    let payer = PrivateKeySigner::random();
    harness.mint(payer.address(), 5_000).await;
    // The token's deployment set its rules (owner, blacklist, proxy): blocks within the reorg margin of those logs
    // never carry, so the test starts past them.
    harness.chain.mine(REORG_DEPTH + 1).await;
    harness.sync().await;
    let payment = pay(&payer, 1_000);
    assert_eq!(harness.verify(&payment.body()).await["isValid"], true, "simulated at the first head");
    (harness, payer, payment)
}

#[tokio::test]
async fn a_success_is_carried_across_quiet_blocks_and_a_blacklisting_ends_it() {
    let (harness, payer, payment) = harness_with_payment().await;
    assert_eq!(carried(&harness), 0);

    quiet_block(&harness).await;
    assert_eq!(harness.verify(&payment.body()).await["isValid"], true);
    assert_eq!(carried(&harness), 1, "a block of transfers and mints does not need the transfer run again");
    quiet_block(&harness).await;
    assert_eq!(harness.verify(&payment.body()).await["isValid"], true);
    assert_eq!(carried(&harness), 2, "carried again from the same first simulation");
    assert!(harness.metrics.chain_log_scans.load(Ordering::Relaxed) >= 2, "each new head was scanned");

    usdc_as_owner(&harness).blacklist(payer.address()).send().await.unwrap().get_receipt().await.unwrap();
    harness.sync().await;
    assert_eq!(reason(&harness.verify(&payment.body()).await), "invalid_exact_evm_payer_blacklisted");
    assert_eq!(carried(&harness), 2, "the blacklisting's log ended the carry");
}

#[tokio::test]
async fn a_pause_ends_the_carry_and_the_unpaused_token_is_simulated_again() {
    let (harness, _, payment) = harness_with_payment().await;
    let usdc = usdc_as_owner(&harness);
    usdc.pause().send().await.unwrap().get_receipt().await.unwrap();
    harness.sync().await;
    assert_eq!(reason(&harness.verify(&payment.body()).await), "invalid_exact_evm_token_paused");

    let usdc = usdc_as_owner(&harness);
    usdc.unpause().send().await.unwrap().get_receipt().await.unwrap();
    harness.sync().await;
    assert_eq!(harness.verify(&payment.body()).await["isValid"], true);
    quiet_block(&harness).await;
    assert_eq!(harness.verify(&payment.body()).await["isValid"], true);
    assert_eq!(carried(&harness), 0, "a success simulated just after a rule change is simulated again");
}

#[tokio::test]
async fn a_carried_success_still_answers_a_spent_balance_and_a_used_nonce() {
    let (harness, payer, payment) = harness_with_payment().await;
    // Someone else's payment empties the payer's balance: a Transfer log, which does not end the carry, so the
    // fresh balance read is what refuses.
    let other = pay(&payer, 4_500);
    use_on_chain(&harness, &other).await;
    harness.sync().await;
    assert_eq!(reason(&harness.verify(&payment.body()).await), "invalid_exact_evm_insufficient_balance");
    assert_eq!(carried(&harness), 1, "refused by the fresh balance read, though the success was carried");

    harness.mint(payer.address(), 5_000).await;
    assert_eq!(harness.verify(&payment.body()).await["isValid"], true);
    use_on_chain(&harness, &payment).await;
    harness.sync().await;
    assert_eq!(reason(&harness.verify(&payment.body()).await), "invalid_exact_evm_nonce_already_used");
}
