//! Subscriptions end to end on anvil and PostgreSQL, through the market's engine (`clearing_market::subscriptions`)
//! and the real batcher, indexer and Subscriptions contract: subscribe with period 0 paid from the balance, covered
//! requests up to the plan's cap, a renewal at the period's end (anvil time travel), a renewal the balance cannot pay
//! going past due and succeeding on the retry a top-up triggers, pause and resume, cancel keeping access to the
//! period's end and stopping renewals, and a subscription with no top-up expiring after the grace.

use std::time::Duration;

use alloy::{
    network::TransactionBuilder,
    primitives::{Address, U256},
    providers::{Provider, ext::AnvilApi},
    rpc::types::TransactionRequest,
    signers::local::PrivateKeySigner,
    sol_types::SolCall,
};
use clearing_chain::contracts::{BalanceVault, MockUSDC};
use clearing_ledger::market::{
    BalanceAccount, NewParticipant, NewPlan, OperationKind, Participant, ParticipantId, ParticipantKind, Plan, PlanId,
    PlanInterval, Registration, ServiceId, SubscriptionView,
};
use clearing_market::{ApiKey, WebhookSecret, subscriptions};
use uuid::Uuid;

use crate::{harness::Env, jobs::service};

const MONTH: u64 = 30 * 86_400;
const GRACE: u64 = 3 * 86_400;

/// An agent whose wallet holds USDC and gas.
async fn agent(env: &Env) -> (Participant, PrivateKeySigner) {
    let key = env.chain.payer(100_000_000).await;
    env.chain.provider.anvil_set_balance(key.address(), U256::from(10u64).pow(U256::from(18u64))).await.unwrap();
    let api_key = ApiKey::generate().unwrap();
    let new = NewParticipant {
        id: ParticipantId::random(),
        wallet: key.address(),
        kind: ParticipantKind::Agent,
        name: "Subscriber".into(),
        description: String::new(),
        webhook_url: None,
        capabilities: Vec::new(),
        api_key_hash: api_key.hash(),
        api_key_prefix: api_key.prefix().to_owned(),
        webhook_secret: WebhookSecret::generate().unwrap().expose().to_owned(),
        registration_nonce: PrivateKeySigner::random().to_bytes(),
    };
    match env.market.ledger().register_participant(&new).await.unwrap() {
        Registration::Created(participant) => (participant, key),
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

/// Polls until `check` holds for the subscription.
async fn wait_for(env: &Env, id: alloy::primitives::B256, what: &str, check: impl Fn(&SubscriptionView) -> bool) {
    for _ in 0..600 {
        let view = env.market.ledger().subscription(id).await.unwrap().unwrap();
        if check(&view) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} never happened: {:?}", env.market.ledger().subscription(id).await.unwrap());
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

async fn plan(env: &Env, provider: ParticipantId, service: ServiceId, price: u64, max_requests: Option<u32>) -> Plan {
    let new = NewPlan {
        id: PlanId(Uuid::new_v4()),
        provider_id: provider,
        name: "Monthly".into(),
        description: "every call, every month".into(),
        interval: PlanInterval::Monthly,
        price: U256::from(price),
        service_ids: vec![service],
        max_requests,
    };
    env.market.ledger().create_plan(&new).await.unwrap()
}

#[tokio::test]
async fn subscriptions_renew_go_past_due_recover_pause_cancel_and_expire_on_chain() {
    let mut env = Env::start_with("subscriptions_flow", |c| {
        c.subscription_keeper_interval_ms = 100;
        c.subscription_grace_secs = GRACE;
    })
    .await;
    env.run_background().await;
    let (provider, provider_key) = env.participant(ParticipantKind::Provider, "Plans").await;
    let svc = ServiceId(service(&env, &provider_key, "data_api", "0.005").await.parse().unwrap());
    // $10 a month to the provider: the subscriber pays $10.50 with the 5% fee.
    let monthly = plan(&env, provider.id, svc, 10_000_000, Some(3)).await;
    let (agent, agent_key) = agent(&env).await;
    let wallet = agent.wallet;

    // Period 0 from the balance: queued with its price held back, then paid on chain by operateMany's Open.
    deposit(&env, &agent_key, 21_000_000).await;
    wait_available(&env, wallet, 21_000_000).await;
    let a = subscriptions::subscribe(&env.market, &monthly, &provider, &agent).await.unwrap();
    assert_eq!(available(&env, wallet).await, U256::from(10_500_000), "period 0 held back at once");
    wait_for(&env, a, "period 0 paid", |s| s.status == "active" && s.periods_charged == 1).await;
    assert_eq!(available(&env, wallet).await, U256::from(10_500_000), "charged once, the hold released");
    let again = subscriptions::subscribe(&env.market, &monthly, &provider, &agent).await.unwrap_err();
    assert_eq!(again.code(), Some(clearing_market::ErrorCode::AlreadySubscribed));

    // Covered requests: three per period, then none.
    for used in 1..=3 {
        let covered = env.market.ledger().use_subscription(agent.id, svc).await.unwrap().expect("covered");
        assert_eq!((covered.subscription, covered.period, covered.used), (a, 0, used));
    }
    assert!(env.market.ledger().use_subscription(agent.id, svc).await.unwrap().is_none(), "the cap");

    // The renewal at the period's end, by the keeper.
    travel(&env, MONTH).await;
    wait_for(&env, a, "the renewal", |s| s.periods_charged == 2 && s.status == "active").await;
    wait_available(&env, wallet, 0).await;
    let covered = env.market.ledger().use_subscription(agent.id, svc).await.unwrap().expect("a new period");
    assert_eq!((covered.period, covered.used), (1, 1), "a fresh count each period");

    // A renewal the balance cannot pay goes past due; a top-up makes the keeper retry at once, and it is paid.
    travel(&env, MONTH).await;
    wait_for(&env, a, "past due", |s| s.status == "past_due" && s.attempts == 1).await;
    assert!(env.market.ledger().use_subscription(agent.id, svc).await.unwrap().is_none(), "unpaid: not covered");
    deposit(&env, &agent_key, 10_500_000).await;
    wait_for(&env, a, "the retry paid", |s| s.status == "active" && s.periods_charged == 3).await;
    wait_available(&env, wallet, 0).await;

    // A second plan, paid from a small top-up; paused and resumed.
    let small = plan(&env, provider.id, svc, 1_000_000, None).await;
    deposit(&env, &agent_key, 1_050_000).await;
    wait_available(&env, wallet, 1_050_000).await;
    let b = subscriptions::subscribe(&env.market, &small, &provider, &agent).await.unwrap();
    wait_for(&env, b, "b paid", |s| s.status == "active" && s.periods_charged == 1).await;
    let view = env.market.ledger().subscription(b).await.unwrap().unwrap();
    subscriptions::operate(&env.market, &view, OperationKind::Pause).await.unwrap();
    wait_for(&env, b, "paused", |s| s.status == "paused").await;
    let view = env.market.ledger().subscription(b).await.unwrap().unwrap();
    let refused = subscriptions::operate(&env.market, &view, OperationKind::Pause).await.unwrap_err();
    assert_eq!(refused.code(), Some(clearing_market::ErrorCode::SubscriptionStatusConflict));
    subscriptions::operate(&env.market, &view, OperationKind::Resume).await.unwrap();
    wait_for(&env, b, "resumed", |s| s.status == "active").await;

    // Cancel a: access lasts to the end of the paid period, and it is never charged again.
    let view = env.market.ledger().subscription(a).await.unwrap().unwrap();
    subscriptions::operate(&env.market, &view, OperationKind::Cancel).await.unwrap();
    wait_for(&env, a, "cancelled", |s| s.status == "cancelled").await;
    assert!(env.market.ledger().use_subscription(agent.id, svc).await.unwrap().is_some(), "paid period still covered");

    // Past the period and its whole grace with no top-up: b expires (written on chain by the keeper's last charge);
    // a, cancelled, is not charged.
    deposit(&env, &agent_key, 500_000).await;
    wait_available(&env, wallet, 500_000).await;
    travel(&env, MONTH + GRACE + 1).await;
    wait_for(&env, b, "b expired", |s| s.status == "expired").await;
    let expired = env.market.ledger().subscription(b).await.unwrap().unwrap();
    assert_eq!(expired.periods_charged, 1, "never renewed");
    let cancelled = env.market.ledger().subscription(a).await.unwrap().unwrap();
    assert_eq!((cancelled.status.as_str(), cancelled.periods_charged), ("cancelled", 3), "no charge after cancel");
    assert_eq!(available(&env, wallet).await, U256::from(500_000), "nothing taken after the cancel or the expiry");
    let vault = BalanceVault::new(env.chain.deployment.balance_vault.unwrap(), &env.chain.provider);
    let on_chain = vault.balanceOf(env.chain.token, wallet).call().await.unwrap();
    assert_eq!(on_chain, U256::from(500_000), "the vault agrees with the ledger to the unit");
}
