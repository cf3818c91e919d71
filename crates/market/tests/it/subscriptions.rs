//! Plans and subscriptions end to end on anvil and PostgreSQL, through the HTTP API and the real batcher, indexer,
//! keeper and Subscriptions contract: a provider's plan, subscribe with period 0 paid from the balance, covered
//! purchases up to the plan's cap, a renewal at the period's end (anvil time travel), a renewal the balance cannot pay
//! going past due and succeeding on the retry a top-up triggers, pause and resume, cancel keeping access to the
//! period's end and stopping renewals, a subscription with no top-up expiring after the grace, webhooks to both sides,
//! and the vault agreeing with the ledger to the unit.

use std::time::Duration;

use alloy::{
    network::TransactionBuilder,
    primitives::{Address, U256},
    providers::{Provider, ext::AnvilApi},
    rpc::types::TransactionRequest,
    signers::local::PrivateKeySigner,
    sol_types::SolCall,
};
use clearing_audit::{AnchorPolicy, Record, RecordKind, RecordStatus, VerifyTarget, record_proof, verify_record};
use clearing_chain::contracts::{BalanceVault, MockUSDC};
use clearing_ledger::market::{
    BalanceAccount, NewParticipant, Participant, ParticipantId, ParticipantKind, Registration,
};
use clearing_market::{ApiKey, WebhookSecret};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use clearing_client::{Payer, Policy};

use crate::{
    harness::{Answer, DOLLAR, Env, json as paid_json},
    jobs::{Receiver, provider, service},
};

const MONTH: u64 = 30 * 86_400;
const GRACE: u64 = 3 * 86_400;

/// An agent whose wallet holds USDC and gas, with its API key.
async fn agent(env: &Env, webhook_url: &str) -> (Participant, String, PrivateKeySigner) {
    let key = env.chain.payer(100_000_000).await;
    env.chain.provider.anvil_set_balance(key.address(), U256::from(10u64).pow(U256::from(18u64))).await.unwrap();
    let api_key = ApiKey::generate().unwrap();
    let new = NewParticipant {
        id: ParticipantId::random(),
        wallet: key.address(),
        kind: ParticipantKind::Agent,
        name: "Subscriber".into(),
        description: String::new(),
        webhook_url: Some(webhook_url.to_owned()),
        capabilities: Vec::new(),
        api_key_hash: api_key.hash(),
        api_key_prefix: api_key.prefix().to_owned(),
        webhook_secret: WebhookSecret::generate().unwrap().expose().to_owned(),
        registration_nonce: PrivateKeySigner::random().to_bytes(),
    };
    match env.market.ledger().register_participant(&new).await.unwrap() {
        Registration::Created(participant) => (participant, api_key.expose().to_owned(), key),
        Registration::Existing(_) => panic!("a random wallet registered twice"),
    }
}

/// Deposits `amount` into the vault straight from the agent's wallet (approve, then `deposit`).
async fn deposit(env: &Env, key: &PrivateKeySigner, amount: u64) {
    let vault = env.chain.deployment.balance_vault.unwrap();
    let sender = clearing_chain::connect_with_signer(&env.chain.endpoint(), key.clone()).unwrap();
    for (to, data) in [
        (env.chain.token, MockUSDC::approveCall { spender: vault, value: U256::from(amount) }.abi_encode()),
        (vault, BalanceVault::depositCall { token: env.chain.token, amount: U256::from(amount) }.abi_encode()),
    ] {
        let request = TransactionRequest::default().with_to(to).with_input(data);
        let receipt = sender.send_transaction(request).await.unwrap().get_receipt().await.unwrap();
        assert!(receipt.status(), "the deposit's call to {to} reverted");
    }
}

fn account(env: &Env, wallet: Address) -> BalanceAccount {
    BalanceAccount {
        chain_id: env.chain.chain_id,
        vault: env.chain.deployment.balance_vault.unwrap(),
        token: env.chain.token,
        account: wallet,
    }
}

async fn available(env: &Env, wallet: Address) -> U256 {
    env.market.ledger().balance(&account(env, wallet)).await.unwrap().available
}

/// Polls `GET /v1/subscriptions/{id}` until `check` holds.
async fn wait_for(env: &Env, key: &str, id: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..600 {
        let answer = env.get(&format!("/v1/subscriptions/{id}"), Some(key)).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        if check(&answer.body) {
            return answer.body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} never happened: {}", env.get(&format!("/v1/subscriptions/{id}"), Some(key)).await.body);
}

async fn wait_available(env: &Env, wallet: Address, expected: u64) {
    for _ in 0..600 {
        if available(env, wallet).await == U256::from(expected) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("available never read {expected}: {}", available(env, wallet).await);
}

/// Moves the chain's clock on by `seconds` and mines a block at the new time.
async fn travel(env: &Env, seconds: u64) {
    env.chain.provider.anvil_increase_time(seconds).await.unwrap();
    env.chain.provider.anvil_mine(Some(1), None).await.unwrap();
}

/// `POST /v1/services/{service}/purchase` with the agent's API key and no payment.
async fn purchase(env: &Env, service: &str, key: &str) -> Answer {
    env.send(
        Method::POST,
        &format!("/v1/services/{service}/purchase"),
        Some(key),
        Some(&json!({"brief": {"text": "x"}})),
    )
    .await
}

fn code(answer: &Answer) -> &str {
    answer.body["error"]["code"].as_str().unwrap_or_default()
}

/// Both receivers got a `kind` webhook about `id`.
async fn both_told(hooks: [&Receiver; 2], kind: &str, id: &str) {
    for receiver in hooks {
        let (_, _, event) = receiver.wait_for(kind).await;
        assert_eq!(event["subscription_id"], id, "{event}");
    }
}

#[tokio::test]
async fn plans_and_subscriptions_renew_go_past_due_recover_pause_cancel_and_expire_on_chain() {
    let mut env = Env::start_with("subscriptions_flow", |c| {
        c.allow_private_webhooks = true;
        c.reactor_interval_ms = 50;
        c.subscription_keeper_interval_ms = 100;
        c.subscription_grace_secs = GRACE;
    })
    .await;
    env.run_background().await;
    let (provider_hooks, provider_url) = Receiver::start().await;
    let (agent_hooks, agent_url) = Receiver::start().await;
    let hooks = [&provider_hooks, &agent_hooks];
    let (_, provider_key, _, provider_wallet) = provider(&env, &provider_url).await;
    let svc = service(&env, &provider_key, "data_api", "0.005").await;
    let (agent, agent_key, agent_wallet) = agent(&env, &agent_url).await;
    let wallet = agent.wallet;

    // The provider's plan: $10 a month to it, $10.50 with the fee, three covered requests a period.
    let body = json!({"name": "Pro", "description": "three calls a month", "interval": "monthly", "price": "10.00",
                      "service_ids": [svc], "max_requests": 3});
    let made = env.send(Method::POST, "/v1/plans", Some(&provider_key), Some(&body)).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    assert_eq!((made.body["agent_price"].as_str(), made.body["fee"].as_str()), (Some("10.500000"), Some("0.500000")));
    let plan_a = made.body["id"].as_str().unwrap().to_owned();
    // A plan covers data_api services only: a job is paid for each time.
    let human = service(&env, &provider_key, "human_service", "0.005").await;
    let jobs = json!({"name": "Jobs", "interval": "monthly", "price": "1.00", "service_ids": [svc, human]});
    let refused = env.send(Method::POST, "/v1/plans", Some(&provider_key), Some(&jobs)).await;
    assert_eq!((refused.status, code(&refused)), (StatusCode::BAD_REQUEST, "invalid_field"), "{}", refused.body);
    assert_eq!(refused.body["error"]["field"], "service_ids");
    // An agent that names the price it read is never charged another: the plan costs 10.50 with the fee.
    let path = format!("/v1/plans/{plan_a}/subscribe");
    let pinned = env.send(Method::POST, &path, Some(&agent_key), Some(&json!({"agent_price": "10.00"}))).await;
    assert_eq!((pinned.status, code(&pinned)), (StatusCode::CONFLICT, "plan_changed"), "{}", pinned.body);
    let by_agent = env.send(Method::POST, "/v1/plans", Some(&agent_key), Some(&body)).await;
    assert_eq!((by_agent.status, code(&by_agent)), (StatusCode::FORBIDDEN, "providers_only"));
    let listed = env.get(&format!("/v1/plans?provider={}", provider_wallet.address()), None).await;
    assert_eq!(listed.body["plans"][0]["id"], plan_a.as_str(), "{}", listed.body);

    // Period 0 from the balance: refused while the balance is short; then queued (202, pending) with its price held
    // back at once, and paid on chain by operateMany's Open.
    let subscribe = |plan: String| {
        let env = &env;
        let key = agent_key.clone();
        async move { env.send(Method::POST, &format!("/v1/plans/{plan}/subscribe"), Some(&key), None).await }
    };
    // With no balance, the first period is asked for through x402: exactly agent_price into the vault, from the
    // subscriber's own wallet (another wallet's payment would credit that wallet's balance, so it is refused).
    let short = subscribe(plan_a.clone()).await;
    assert_eq!(short.status, StatusCode::PAYMENT_REQUIRED, "{}", short.body);
    assert_eq!(short.headers["x-balance-refused"], "insufficient_balance");
    let (stranger, _) = env.payer(20 * DOLLAR).await;
    let stranger = Payer::new(stranger, Policy::at_most(U256::from(20 * DOLLAR)));
    let theirs = env.pay(&stranger, &format!("/v1/plans/{plan_a}/subscribe"), &json!({}), Some(&agent_key)).await;
    assert_eq!(theirs.status, StatusCode::FORBIDDEN, "{}", String::from_utf8_lossy(&theirs.body));
    env.facilitator.verifier.sync().await.unwrap();
    let own = Payer::new(agent_wallet.clone(), Policy::at_most(U256::from(20 * DOLLAR)));
    let paid = env.pay(&own, &format!("/v1/plans/{plan_a}/subscribe"), &json!({}), Some(&agent_key)).await;
    assert_eq!(paid.status, StatusCode::ACCEPTED, "{}", String::from_utf8_lossy(&paid.body));
    let signed = paid.payment.as_ref().map(|p| p.authorization.value);
    assert_eq!(signed, Some(U256::from(10_500_000)), "one period, fee included");
    let queued = paid_json(&paid);
    assert_eq!(queued["status"], "pending", "{queued}");
    let a = queued["id"].as_str().unwrap().to_owned();
    assert_eq!(available(&env, wallet).await, U256::ZERO, "the deposit holds period 0");
    deposit(&env, &agent_wallet, 10_500_000).await;
    wait_available(&env, wallet, 10_500_000).await;
    let again = subscribe(plan_a.clone()).await;
    assert_eq!((again.status, code(&again)), (StatusCode::CONFLICT, "already_subscribed"));
    wait_for(&env, &agent_key, &a, "period 0 paid", |s| s["status"] == "active" && s["periods_paid"] == 1).await;
    assert_eq!(available(&env, wallet).await, U256::from(10_500_000), "charged once, the hold released");
    both_told(hooks, "subscription_started", &a).await;

    // Covered purchases: three per period with the API key and no payment, then the ordinary 402.
    for used in 1..=3 {
        let covered = purchase(&env, &svc, &agent_key).await;
        assert_eq!(covered.status, StatusCode::CREATED, "{}", covered.body);
        assert_eq!(
            (covered.body["paid_by"].as_str(), covered.body["requests_used"].as_u64()),
            (Some("subscription"), Some(used))
        );
    }
    assert_eq!(purchase(&env, &svc, &agent_key).await.status, StatusCode::PAYMENT_REQUIRED, "past the cap: pay");

    // The renewal at the period's end, by the keeper.
    travel(&env, MONTH).await;
    wait_for(&env, &agent_key, &a, "the renewal", |s| s["periods_paid"] == 2 && s["status"] == "active").await;
    both_told(hooks, "subscription_renewed", &a).await;
    wait_available(&env, wallet, 0).await;
    let covered = purchase(&env, &svc, &agent_key).await;
    assert_eq!(
        (covered.body["period"].as_u64(), covered.body["requests_used"].as_u64()),
        (Some(1), Some(1)),
        "a fresh count"
    );

    // A renewal the balance cannot pay goes past due; a top-up makes the keeper retry at once, and it is paid.
    travel(&env, MONTH).await;
    wait_for(&env, &agent_key, &a, "past due", |s| s["status"] == "past_due" && s["failed_attempts"] == 1).await;
    both_told(hooks, "subscription_past_due", &a).await;
    assert_eq!(purchase(&env, &svc, &agent_key).await.status, StatusCode::PAYMENT_REQUIRED, "unpaid: not covered");
    deposit(&env, &agent_wallet, 10_500_000).await;
    wait_for(&env, &agent_key, &a, "the retry paid", |s| s["status"] == "active" && s["periods_paid"] == 3).await;
    wait_available(&env, wallet, 0).await;

    // A second plan, paid from a small top-up; paused and resumed.
    let body = json!({"name": "Lite", "interval": "monthly", "price": "1.00", "service_ids": [svc]});
    let plan_b = env.send(Method::POST, "/v1/plans", Some(&provider_key), Some(&body)).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    deposit(&env, &agent_wallet, 1_050_000).await;
    wait_available(&env, wallet, 1_050_000).await;
    let b = subscribe(plan_b.clone()).await.body["id"].as_str().unwrap().to_owned();
    wait_for(&env, &agent_key, &b, "b paid", |s| s["status"] == "active" && s["periods_paid"] == 1).await;
    let operate = |id: String, op: &'static str| {
        let env = &env;
        let key = agent_key.clone();
        async move { env.send(Method::POST, &format!("/v1/subscriptions/{id}/{op}"), Some(&key), None).await }
    };
    assert_eq!(operate(b.clone(), "pause").await.status, StatusCode::ACCEPTED);
    wait_for(&env, &agent_key, &b, "paused", |s| s["status"] == "paused").await;
    both_told(hooks, "subscription_paused", &b).await;
    let twice = operate(b.clone(), "pause").await;
    assert_eq!((twice.status, code(&twice)), (StatusCode::CONFLICT, "subscription_status_conflict"));
    assert_eq!(operate(b.clone(), "resume").await.status, StatusCode::ACCEPTED);
    wait_for(&env, &agent_key, &b, "resumed", |s| s["status"] == "active").await;
    let theirs = env.send(Method::POST, &format!("/v1/subscriptions/{b}/cancel"), Some(&provider_key), None).await;
    assert_eq!(
        (theirs.status, code(&theirs)),
        (StatusCode::NOT_FOUND, "subscription_not_found"),
        "only the subscriber"
    );

    // Cancel a: access lasts to the end of the paid period, and it is never charged again.
    assert_eq!(operate(a.clone(), "cancel").await.status, StatusCode::ACCEPTED);
    wait_for(&env, &agent_key, &a, "cancelled", |s| s["status"] == "cancelled").await;
    both_told(hooks, "subscription_cancelled", &a).await;
    assert_eq!(purchase(&env, &svc, &agent_key).await.body["paid_by"], "subscription", "the paid period still covers");
    let cancelled = env.get("/v1/subscriptions?status=cancelled", Some(&agent_key)).await;
    assert_eq!(cancelled.body["subscriptions"].as_array().unwrap().len(), 1, "{}", cancelled.body);
    let subscribers = env.get("/v1/subscriptions?role=provider", Some(&provider_key)).await;
    assert_eq!(subscribers.body["subscriptions"].as_array().unwrap().len(), 2, "{}", subscribers.body);

    // Past the period and its whole grace with no top-up: b expires (written on chain by the keeper's last charge);
    // a, cancelled, is not charged.
    deposit(&env, &agent_wallet, 500_000).await;
    wait_available(&env, wallet, 500_000).await;
    travel(&env, MONTH + GRACE + 1).await;
    let expired = wait_for(&env, &agent_key, &b, "b expired", |s| s["status"] == "expired").await;
    assert_eq!(expired["periods_paid"], 1, "never renewed");
    both_told(hooks, "subscription_expired", &b).await;
    let a_now = env.get(&format!("/v1/subscriptions/{a}"), Some(&agent_key)).await.body;
    assert_eq!(
        (a_now["status"].as_str(), a_now["periods_paid"].as_u64()),
        (Some("cancelled"), Some(3)),
        "no charge after cancel"
    );
    assert_eq!(available(&env, wallet).await, U256::from(500_000), "nothing taken after the cancel or the expiry");
    let vault = BalanceVault::new(env.chain.deployment.balance_vault.unwrap(), &env.chain.provider);
    let on_chain = vault.balanceOf(env.chain.token, wallet).call().await.unwrap();
    assert_eq!(on_chain, U256::from(500_000), "the vault agrees with the ledger to the unit");

    // The provider's earnings count every charge, less the fee, claimable in the vault.
    let earnings = env.get("/v1/provider/earnings", Some(&provider_key)).await;
    let vault_part = &earnings.body["balance_vault"];
    assert_eq!(
        (vault_part["from_subscriptions"].as_str(), vault_part["claimable"].as_str()),
        (Some("31.000000"), Some("31.000000")),
        "three periods of a and one of b, less the fee: {}",
        earnings.body
    );

    // Every charge is a settlement record, anchored and checkable against the chain: four of them.
    let ledger = env.database.ledger();
    let mut charges = Vec::new();
    for _ in 0..200 {
        env.chain.sequencer(&ledger).run_once().await.unwrap();
        let records = ledger.audit_records(env.chain.chain_id, 0, u64::MAX >> 2).await.unwrap();
        charges = records.iter().map(Record::from).filter(|r| r.kind == RecordKind::SubscriptionCharge).collect();
        if charges.len() >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(charges.len(), 4, "three periods of a, one of b");
    assert!(charges.iter().all(|r| r.payer == wallet && r.payee == provider_wallet.address()));
    let policy = AnchorPolicy { every_records: 1, every: Duration::from_secs(60), max_records: 10_000 };
    env.chain.anchorer(&ledger, policy).run_once().await.unwrap().expect("anchored");
    let RecordStatus::Anchored(proof) = record_proof(&ledger, env.chain.chain_id, charges[1].seq).await.unwrap() else {
        panic!("record {} is not anchored", charges[1].seq);
    };
    verify_record(&env.chain.provider, &proof, &VerifyTarget::deployment(&env.chain.deployment, env.chain.token))
        .await
        .unwrap();

    // The provider claims it with no gas: the relayer's claimMany pays the vault balance to the provider's wallet.
    let usdc = MockUSDC::new(env.chain.token, &env.chain.provider);
    let before = usdc.balanceOf(provider_wallet.address()).call().await.unwrap();
    let claimed = env.send(Method::POST, "/v1/provider/claim", Some(&provider_key), None).await;
    assert!(claimed.status.is_success(), "{}", claimed.body);
    assert_eq!(claimed.body["claims"][0]["contract"], "balance_vault", "{}", claimed.body);
    for _ in 0..200 {
        if usdc.balanceOf(provider_wallet.address()).call().await.unwrap() > before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let after = usdc.balanceOf(provider_wallet.address()).call().await.unwrap();
    assert_eq!(after - before, U256::from(31_000_000), "every subscription's income, to the provider's own wallet");
    for _ in 0..200 {
        let earnings = env.get("/v1/provider/earnings", Some(&provider_key)).await;
        if earnings.body["balance_vault"]["claimed"] == "31.000000" {
            assert_eq!(earnings.body["balance_vault"]["claimable"], "0.000000");
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let again = env.send(Method::POST, "/v1/provider/claim", Some(&provider_key), None).await;
    assert_eq!((again.status, code(&again)), (StatusCode::CONFLICT, "transition_not_allowed"), "nothing left");

    // The provider edits, then deletes, its plan: no new subscriber.
    let edited = env
        .send(Method::PUT, &format!("/v1/plans/{plan_b}"), Some(&provider_key), Some(&json!({"price": "2.00"})))
        .await;
    assert_eq!((edited.status, edited.body["price"].as_str()), (StatusCode::OK, Some("2.000000")), "{}", edited.body);
    let deleted = env.send(Method::DELETE, &format!("/v1/plans/{plan_b}"), Some(&provider_key), None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let gone = subscribe(plan_b).await;
    assert_eq!((gone.status, code(&gone)), (StatusCode::NOT_FOUND, "plan_not_found"));
}

/// A renewal is held back from the balance from its due time, before the keeper queues it: anyone may send its
/// charge then, and a balance purchase accepted on the same money would be refused by the vault after the call it
/// paid for was answered.
#[tokio::test]
async fn a_due_renewal_is_held_back_before_the_keeper_queues_it() {
    let mut env = Env::start_with("subscriptions_due_held", |c| {
        c.allow_private_webhooks = true;
        c.reactor_interval_ms = 50;
        // The keeper's one round is at start, with nothing due: the renewal below is never queued by it.
        c.subscription_keeper_interval_ms = 3_600_000;
        c.subscription_grace_secs = GRACE;
    })
    .await;
    env.run_background().await;
    let (_hooks, url) = Receiver::start().await;
    let (_, provider_key, _, _) = provider(&env, &url).await;
    let svc = service(&env, &provider_key, "data_api", "0.60").await;
    let (_, agent_key, agent_wallet) = agent(&env, &url).await;
    let wallet = agent_wallet.address();
    let body = json!({"name": "Pro", "interval": "monthly", "price": "10.00", "service_ids": [svc]});
    let plan = env.send(Method::POST, "/v1/plans", Some(&provider_key), Some(&body)).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Two periods and a dollar; period 0 is paid at once.
    deposit(&env, &agent_wallet, 22_000_000).await;
    wait_available(&env, wallet, 22_000_000).await;
    let subscribed = env.send(Method::POST, &format!("/v1/plans/{plan}/subscribe"), Some(&agent_key), None).await;
    assert_eq!(subscribed.status, StatusCode::ACCEPTED, "{}", subscribed.body);
    let id = subscribed.body["id"].as_str().unwrap().to_owned();
    wait_for(&env, &agent_key, &id, "period 0 paid", |s| s["status"] == "active" && s["periods_paid"] == 1).await;
    wait_available(&env, wallet, 11_500_000).await;

    // Due: period 1's price is held back at once, though no charge of it is queued.
    travel(&env, MONTH).await;
    wait_available(&env, wallet, 1_000_000).await;
    let shown = env.get("/v1/balance", Some(&agent_key)).await.body;
    assert_eq!((shown["renewals_due"].as_str(), shown["available"].as_str()), (Some("10.500000"), Some("1.000000")));

    // The balance spends what is left, and no more.
    let credential = crate::balances::credential(&env, &agent_key, json!({"name": "all"})).await;
    let bought = crate::balances::buy(&env, &svc, &credential, Some("first")).await;
    assert_eq!(bought.status, StatusCode::CREATED, "{}", bought.body);
    let spent = U256::from(1_000_000) - available(&env, wallet).await;
    let short = crate::balances::buy(&env, &svc, &credential, Some("second")).await;
    assert_eq!(short.status, StatusCode::PAYMENT_REQUIRED, "{}", short.body);
    assert_eq!(short.headers["x-balance-refused"], "insufficient_balance");

    // Someone else charges the renewal straight on chain: it is paid, and the debit still lands.
    let stranger = env.chain.payer(0).await;
    env.chain.provider.anvil_set_balance(stranger.address(), U256::from(10u64).pow(U256::from(18u64))).await.unwrap();
    let sender = clearing_chain::connect_with_signer(&env.chain.endpoint(), stranger).unwrap();
    let charge = clearing_chain::contracts::Subscriptions::chargeCall { id: id.parse().unwrap() }.abi_encode();
    let request = TransactionRequest::default().with_to(env.chain.deployment.subscriptions.unwrap()).with_input(charge);
    assert!(sender.send_transaction(request).await.unwrap().get_receipt().await.unwrap().status());
    wait_for(&env, &agent_key, &id, "period 1 paid", |s| s["status"] == "active" && s["periods_paid"] == 2).await;
    let vault = BalanceVault::new(env.chain.deployment.balance_vault.unwrap(), &env.chain.provider);
    for _ in 0..600 {
        let balance = env.market.ledger().balance(&account(&env, wallet)).await.unwrap();
        if balance.pending_debits.is_zero() && balance.renewals_due.is_zero() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let history = env.get("/v1/balance/history", Some(&agent_key)).await.body;
    let debit = history["entries"].as_array().unwrap().iter().find(|e| e["kind"] == "debit").unwrap().clone();
    assert_eq!(debit["status"], "applied", "the vault applied the debit: {history}");
    let left = U256::from(1_000_000) - spent;
    assert_eq!(available(&env, wallet).await, left);
    assert_eq!(vault.balanceOf(env.chain.token, wallet).call().await.unwrap(), left, "the vault agrees to the unit");
}
