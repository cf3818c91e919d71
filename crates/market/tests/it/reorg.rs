//! A reorganisation that removes a job's funding block, on anvil (snapshot, revert, a longer chain) with the indexer
//! following at depth 0: the provider hears `job_retracted`, the batcher sends the same funding again, the job is
//! dispatched again on the new chain, funded once there, and released once; nobody is paid twice.

use std::time::Duration;

use alloy::{
    primitives::U256,
    providers::{Provider, ext::AnvilApi},
    rpc::types::Filter,
    sol_types::SolEvent,
};
use clearing_chain::contracts::{Escrow, MockUSDC};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{
    harness::{DOLLAR, Env, json as paid_json},
    jobs::{Receiver, provider, service, wait_status},
};

/// How many `event` logs of the escrow the canonical chain holds now.
async fn count_logs(env: &Env, signature: alloy::primitives::B256) -> usize {
    let filter = Filter::new().address(env.chain.deployment.escrow).event_signature(signature).from_block(0);
    env.chain.provider.get_logs(&filter).await.unwrap().len()
}

#[tokio::test]
async fn a_reorg_that_removes_a_funding_retracts_the_job_and_it_is_funded_once_again() {
    let mut env = Env::start_with("market_reorg", |c| {
        c.allow_private_webhooks = true;
        c.reactor_interval_ms = 50;
    })
    .await;
    env.run_background().await;
    let (hooks, url) = Receiver::start().await;
    let (_, key, _, wallet) = provider(&env, &url).await;
    let service = service(&env, &key, "automated_service", "0.50").await;
    let (_, agent) = env.payer(DOLLAR).await;

    let before = env.chain.provider.anvil_snapshot().await.unwrap();
    let fork = env.chain.head().await;
    let paid =
        env.pay(&agent, &format!("/v1/services/{service}/purchase"), &json!({"brief": {"text": "x"}}), None).await;
    assert_eq!(paid.status, 201, "{}", String::from_utf8_lossy(&paid.body));
    let id = paid_json(&paid)["job_id"].as_str().unwrap().to_owned();
    wait_status(&env, &id, &key, "dispatched").await;
    hooks.wait_for("job_dispatch").await;
    let orphaned_head = env.chain.head().await;

    // The funding block leaves the chain: back to before the purchase, then a longer chain without it (its
    // transaction is not included again by the node: only the batcher can bring it back).
    assert!(env.chain.provider.anvil_revert(before).await.unwrap());
    assert_eq!(count_logs(&env, Escrow::JobFunded::SIGNATURE_HASH).await, 0, "the funding is gone");
    env.chain.mine(orphaned_head - fork + 1).await;
    hooks.wait_for("job_retracted").await;

    // The batcher sends the same funding again; the job is dispatched again on the new chain.
    let dispatches = || hooks.events().into_iter().filter(|e| e.2["type"] == "job_dispatch").count();
    for attempt in 0.. {
        if dispatches() >= 2 && count_logs(&env, Escrow::JobFunded::SIGNATURE_HASH).await == 1 {
            break;
        }
        assert!(
            attempt < 400,
            "the funding was not sent again: {:?}",
            hooks.events().iter().map(|e| e.2["type"].clone()).collect::<Vec<_>>()
        );
        env.chain.mine(1).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wait_status(&env, &id, &key, "dispatched").await;
    let usdc = MockUSDC::new(env.chain.token, &env.chain.provider);
    let escrow = env.chain.deployment.escrow;
    assert_eq!(usdc.balanceOf(escrow).call().await.unwrap(), U256::from(500_000u64), "funded once, not twice");

    // Completed and released once; the provider is paid its net once.
    let update = json!({"status": "completed", "deliverables": {"summary": "done"}});
    let answer = env.send(Method::POST, &format!("/v1/jobs/{id}/update"), Some(&key), Some(&update)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    wait_status(&env, &id, &key, "verified").await;
    assert_eq!(count_logs(&env, Escrow::JobFunded::SIGNATURE_HASH).await, 1);
    assert_eq!(count_logs(&env, Escrow::JobReleased::SIGNATURE_HASH).await, 1);
    let escrow = Escrow::new(escrow, &env.chain.provider);
    assert_eq!(escrow.claimable(env.chain.token, wallet.address()).call().await.unwrap(), U256::from(475_000u64));
}
