//! automated_service jobs paid from a prepaid balance, end to end on anvil and PostgreSQL: a deposit, a job bought
//! with a credential and dispatched at once, its price held; the provider's delivery releases it to the vault's
//! `debitMany` and the job is verified from the confirmed `Debited` event, the provider paid to the unit; a second job
//! the provider fails is refunded to the balance exactly; a human_service still refuses the balance.

use std::time::Duration;

use alloy::{primitives::U256, providers::ext::AnvilApi};
use clearing_audit::{Record, RecordKind};
use clearing_chain::contracts::BalanceVault;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{
    balances::{agent, balance, buy, call_data, credential, deposit, send_from, wait_balance},
    harness::{DOLLAR, Env, code},
    jobs::{Receiver, earnings, job_status, provider, service, wait_status},
};

#[tokio::test]
async fn an_automated_job_bought_from_a_balance_is_paid_on_delivery_and_refunded_on_failure() {
    let mut env = Env::start_with("balance_jobs", |c| {
        c.allow_private_webhooks = true;
        c.reactor_interval_ms = 50;
        c.keeper_interval_ms = 50;
    })
    .await;
    env.run_background().await;
    let (receiver, url) = Receiver::start().await;
    let (_, provider_key, _, provider_wallet) = provider(&env, &url).await;
    let auto = service(&env, &provider_key, "automated_service", "0.10").await;
    let human = service(&env, &provider_key, "human_service", "0.10").await;
    let agent = agent(&env, 3 * DOLLAR).await;
    deposit(&env, &agent, "1.00").await;
    wait_balance(&env, &agent.api_key, "available", "1.000000").await;
    let token = credential(&env, &agent.api_key, json!({"name": "jobs", "max_per_request": "0.50"})).await;

    // Bought from the balance: a job, dispatched at once, its price held (not spendable again, not posted).
    let bought = buy(&env, &auto, &token, Some("job-1")).await;
    assert_eq!(bought.status, StatusCode::CREATED, "{}", bought.body);
    assert_eq!(
        (bought.body["status"].as_str(), bought.body["paid_by"].as_str()),
        (Some("dispatched"), Some("balance"))
    );
    assert_eq!(bought.body["balance"]["hold"], "held");
    assert!(bought.headers.get("payment-response").is_none(), "no x402 settlement");
    let id = bought.body["job_id"].as_str().unwrap().to_owned();
    let again = buy(&env, &auto, &token, Some("job-1")).await;
    assert_eq!((again.status, again.body["job_id"].as_str()), (StatusCode::OK, Some(id.as_str())), "the same job");
    let held = balance(&env, &agent.api_key).await;
    assert_eq!((held["available"].as_str(), held["spent"].as_str()), (Some("0.900000"), Some("0.100000")));
    let (_, _, dispatch) = receiver.wait_for("job_dispatch").await;
    assert_eq!((dispatch["job_id"].as_str(), dispatch["paid_by"].as_str()), (Some(id.as_str()), Some("balance")));
    assert_eq!(dispatch["brief"], json!({"text": "x"}));
    let vault = BalanceVault::new(env.chain.deployment.balance_vault.unwrap(), &env.chain.provider);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        vault.balanceOf(env.chain.token, agent.key.address()).call().await.unwrap(),
        U256::from(DOLLAR),
        "a held debit is never posted"
    );
    assert_eq!(earnings(&env, &provider_key).await["balance_vault"]["held_for_balance_jobs"], "0.095000");

    // No review window: the payer's release and dispute name the rule.
    let verify = env
        .send(Method::POST, &format!("/v1/jobs/{id}/verify"), None, Some(&json!({"signature": "0x00", "deadline": 1})))
        .await;
    assert_eq!((verify.status, code(&verify.body)), (StatusCode::CONFLICT, "transition_not_allowed"));
    assert!(verify.body["error"]["message"].as_str().unwrap().contains("no review window"), "{}", verify.body);

    // The provider delivers: the hold is released, the vault applies the debit, the job is verified from the event.
    let update = format!("/v1/jobs/{id}/update");
    let done = env
        .send(
            Method::POST,
            &update,
            Some(&provider_key),
            Some(&json!({"status": "completed", "deliverables": {"result": "done"}})),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.body["status"], "completed");
    let verified = wait_status(&env, &id, &agent.api_key, "verified").await;
    assert_eq!(
        (verified["balance"]["hold"].as_str(), verified["escrow"]["chain_status"].as_str()),
        (Some("applied"), Some("debited"))
    );
    let (_, _, released) = receiver.wait_for("payment_released").await;
    assert_eq!((released["job_id"].as_str(), released["amount"].as_str()), (Some(id.as_str()), Some("0.095000")));
    assert_eq!(
        vault.claimable(env.chain.token, provider_wallet.address()).call().await.unwrap(),
        U256::from(95_000u64)
    );
    assert_eq!(
        vault.balanceOf(env.chain.token, agent.key.address()).call().await.unwrap(),
        U256::from(DOLLAR - 100_000)
    );
    let earned = earnings(&env, &provider_key).await;
    assert_eq!(earned["balance_vault"]["from_balance_purchases"], "0.095000");
    assert_eq!(earned["balance_vault"]["held_for_balance_jobs"], "0.000000");
    let late = env.send(Method::POST, &update, Some(&provider_key), Some(&json!({"status": "failed"}))).await;
    assert_eq!((late.status, code(&late.body)), (StatusCode::CONFLICT, "transition_not_allowed"));

    // The applied debit is a settlement record of the audit trail, as a data_api debit is.
    let ledger = env.database.ledger();
    let mut records: Vec<Record> = Vec::new();
    for _ in 0..200 {
        env.chain.sequencer(&ledger).run_once().await.unwrap();
        records = ledger
            .audit_records(env.chain.chain_id, 0, u64::MAX >> 2)
            .await
            .unwrap()
            .iter()
            .map(Record::from)
            .filter(|r| r.kind == RecordKind::BalanceDebit)
            .collect();
        if !records.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(records.len(), 1);
    assert_eq!((records[0].payer, records[0].payee), (agent.key.address(), provider_wallet.address()));

    // A second job the provider fails: refunded, the balance back to the unit, both told.
    let second = buy(&env, &auto, &token, Some("job-2")).await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.body);
    let second_id = second.body["job_id"].as_str().unwrap().to_owned();
    assert_eq!(balance(&env, &agent.api_key).await["available"], "0.800000");
    let failed = env
        .send(
            Method::POST,
            &format!("/v1/jobs/{second_id}/update"),
            Some(&provider_key),
            Some(&json!({"status": "failed", "note": "cannot do it"})),
        )
        .await;
    assert_eq!(failed.status, StatusCode::OK, "{}", failed.body);
    assert_eq!(
        (failed.body["status"].as_str(), failed.body["balance"]["hold"].as_str()),
        (Some("refunded"), Some("refunded"))
    );
    let restored = balance(&env, &agent.api_key).await;
    assert_eq!((restored["available"].as_str(), restored["spent"].as_str()), (Some("0.900000"), Some("0.100000")));
    let (_, _, refunded) = receiver.wait_for("job_refunded").await;
    assert_eq!(
        (refunded["job_id"].as_str(), refunded["reason"].as_str()),
        (Some(second_id.as_str()), Some("provider_failed"))
    );
    assert_eq!(job_status(&env, &second_id, &agent.api_key).await["status"], "refunded");
    let done = env
        .send(
            Method::POST,
            &format!("/v1/jobs/{second_id}/update"),
            Some(&provider_key),
            Some(&json!({"status": "completed", "deliverables": {}})),
        )
        .await;
    assert_eq!((done.status, code(&done.body)), (StatusCode::CONFLICT, "transition_not_allowed"));

    // A third job whose provider never reports: once its hold's deadline has passed (moved into the past here), the
    // keeper refunds it and tells both.
    let third = buy(&env, &auto, &token, Some("job-3")).await;
    assert_eq!(third.status, StatusCode::CREATED, "{}", third.body);
    let third_id = third.body["job_id"].as_str().unwrap().to_owned();
    assert_eq!(balance(&env, &agent.api_key).await["available"], "0.800000");
    sqlx::query(
        "UPDATE escrow_actions SET held_until = now() - interval '1 second'
         WHERE id = (SELECT d.action_id FROM balance_debits d WHERE d.job_id = $1::uuid)",
    )
    .bind(&third_id)
    .execute(&env.database.pool())
    .await
    .unwrap();
    let expired = wait_status(&env, &third_id, &agent.api_key, "refunded").await;
    assert_eq!(expired["balance"]["refunded_because"], "deadline_passed");
    assert_eq!(balance(&env, &agent.api_key).await["available"], "0.900000");
    for _ in 0..400 {
        if receiver.events().iter().any(|(_, _, e)| e["job_id"] == third_id.as_str() && e["type"] == "job_refunded") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        receiver.events().iter().any(|(_, _, e)| e["job_id"] == third_id.as_str() && e["reason"] == "deadline_passed")
    );

    // The balance's history names each job's debit: applied, and refunded twice.
    let history = env.get("/v1/balance/history", Some(&agent.api_key)).await;
    let statuses: Vec<&str> = history.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "debit")
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["refunded", "refunded", "applied"], "newest first");

    // A human_service still needs the escrow.
    let refused = buy(&env, &human, &token, None).await;
    assert_eq!((refused.status, code(&refused.body)), (StatusCode::BAD_REQUEST, "balance_not_accepted"));
    assert_eq!(balance(&env, &agent.api_key).await["available"], "0.900000");
}

#[tokio::test]
async fn the_agents_exit_wins_over_a_hold_and_the_job_says_the_provider_is_unpaid() {
    let mut env = Env::start_with("balance_jobs_exit", |c| {
        c.allow_private_webhooks = true;
        c.reactor_interval_ms = 50;
    })
    .await;
    env.run_background().await;
    let (_, url) = Receiver::start().await;
    let (_, provider_key, _, provider_wallet) = provider(&env, &url).await;
    let auto = service(&env, &provider_key, "automated_service", "0.10").await;
    let agent = agent(&env, 3 * DOLLAR).await;
    deposit(&env, &agent, "1.00").await;
    wait_balance(&env, &agent.api_key, "available", "1.000000").await;
    let token = credential(&env, &agent.api_key, json!({"name": "jobs"})).await;
    let bought = buy(&env, &auto, &token, Some("held")).await;
    assert_eq!(bought.status, StatusCode::CREATED, "{}", bought.body);
    let id = bought.body["job_id"].as_str().unwrap().to_owned();

    // The agent leaves with its whole vault balance, the held price included: no hold can stop it.
    let vault_address = env.chain.deployment.balance_vault.unwrap();
    let exit = env.get("/v1/balance/withdrawal", Some(&agent.api_key)).await.body;
    send_from(&env, &agent.key, vault_address, call_data(&exit["request"])).await;
    for _ in 0..400 {
        if !balance(&env, &agent.api_key).await["withdrawal_pending"].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    env.chain.provider.anvil_increase_time(86_400 + 1).await.unwrap();
    env.chain.mine(1).await;
    send_from(&env, &agent.key, vault_address, call_data(&exit["withdraw"])).await;
    wait_balance(&env, &agent.api_key, "withdrawn", "1.000000").await;

    // The provider delivers after it: the released debit is refused by the vault, and the job says so.
    let done = env
        .send(
            Method::POST,
            &format!("/v1/jobs/{id}/update"),
            Some(&provider_key),
            Some(&json!({"status": "completed", "deliverables": {"result": "late"}})),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let unpaid = wait_status(&env, &id, &agent.api_key, "unpaid").await;
    assert_eq!(unpaid["balance"]["hold"], "refused");
    let vault = BalanceVault::new(vault_address, &env.chain.provider);
    assert_eq!(vault.claimable(env.chain.token, provider_wallet.address()).call().await.unwrap(), U256::ZERO);
    let after = balance(&env, &agent.api_key).await;
    assert_eq!((after["spent"].as_str(), after["available"].as_str()), (Some("0.000000"), Some("0.000000")));
}

#[tokio::test]
async fn a_market_with_a_review_window_for_automated_jobs_refuses_balances_for_them() {
    let env = Env::start_with("balance_jobs_review", |c| c.automated_review_secs = 3_600).await;
    let (_, url) = Receiver::start().await;
    let (_, provider_key, _, _) = provider(&env, &url).await;
    let automated = service(&env, &provider_key, "automated_service", "0.10").await;
    let agent = agent(&env, DOLLAR).await;
    let token = credential(&env, &agent.api_key, json!({"name": "jobs"})).await;
    let refused = buy(&env, &automated, &token, None).await;
    assert_eq!((refused.status, code(&refused.body)), (StatusCode::BAD_REQUEST, "balance_not_accepted"));
    assert!(refused.body["error"]["message"].as_str().unwrap().contains("review window"), "{}", refused.body);
}
