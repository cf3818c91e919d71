//! Subscriptions in the ledger, raced: two subscribes to one plan open one subscription; a subscribe and purchases
//! racing for one balance never promise more than it holds; concurrent covered requests never pass the plan's cap;
//! two keepers queue a due charge once; and a charge's hold on the balance ends with its outcome event and comes
//! back when a reorg removes that event.

use alloy::primitives::{Address, B256, Bytes, U256};
use clearing_ledger::{
    BatchClaim, BatchTransaction, ItemResolution, Ledger, MIGRATOR, Mined, RouteKind, TxFees,
    market::{
        BalanceAccount, ChargeQueued, CredentialId, DebitDecision, DebitRequest, DueCharge, NewCredential, NewPlan,
        NewSubscription, ParticipantId, PlanId, PlanInterval, PlanUpdate, ServiceId, ServiceType, SubscribeDecision,
    },
};
use sqlx::PgPool;
use uuid::Uuid;

use crate::market::{provider, service};

const CHAIN: u64 = 31337;
const VAULT: Address = Address::repeat_byte(0x7a);
const TOKEN: Address = Address::repeat_byte(0xaa);
const AGENT: Address = Address::repeat_byte(0xa9);
const CONTRACT: Address = Address::repeat_byte(0x5b);
const PRICE: u64 = 1_050;

fn account() -> BalanceAccount {
    BalanceAccount { chain_id: CHAIN, vault: VAULT, token: TOKEN, account: AGENT }
}

/// A confirmed deposit of `amount` at `block` (the main indexer's checkpoint confirms up to it), at chain time `time`.
async fn deposit(pool: &PgPool, block: i64, amount: u64, time: i64) {
    sqlx::query(
        "INSERT INTO indexer_checkpoints (chain_id, indexer, block_number, block_hash, confirmed_block)
         VALUES ($1, 'clearing', $2, $3, $2)
         ON CONFLICT (chain_id, indexer) DO UPDATE SET block_number = $2, confirmed_block = $2",
    )
    .bind(CHAIN as i64)
    .bind(block)
    .bind(B256::repeat_byte(1).as_slice())
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO chain_blocks (chain_id, number, hash, parent_hash, timestamp) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(CHAIN as i64)
    .bind(block)
    .bind(B256::left_padding_from(&block.to_be_bytes()).as_slice())
    .bind(B256::ZERO.as_slice())
    .bind(time)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO vault_events (chain_id, block_number, log_index, tx_hash, vault, token, kind, account, amount)
         VALUES ($1, $2, 0, $3, $4, $5, 'deposited', $6, $7::numeric)",
    )
    .bind(CHAIN as i64)
    .bind(block)
    .bind(B256::repeat_byte(2).as_slice())
    .bind(VAULT.as_slice())
    .bind(TOKEN.as_slice())
    .bind(AGENT.as_slice())
    .bind(amount.to_string())
    .execute(pool)
    .await
    .unwrap();
}

/// A provider's plan over one data_api service, and an agent participant holding `AGENT`.
async fn setup(ledger: &Ledger, max_requests: Option<u32>) -> (PlanId, ParticipantId, ServiceId) {
    let owner = provider(ledger, 0x31).await;
    let listed = ledger.create_service(&service(owner, "data", ServiceType::DataApi, 100)).await.unwrap();
    let plan = NewPlan {
        id: PlanId(Uuid::new_v4()),
        provider_id: owner,
        name: "Pro".into(),
        description: String::new(),
        interval: PlanInterval::Monthly,
        price: U256::from(1_000),
        service_ids: vec![listed.id],
        max_requests,
    };
    let plan = ledger.create_plan(&plan).await.unwrap();
    let agent = provider(ledger, AGENT.0[0]).await;
    (plan.new.id, agent, listed.id)
}

fn new_subscription(plan: PlanId, agent: ParticipantId, service: ServiceId, salt: u8) -> NewSubscription {
    let id = B256::repeat_byte(salt);
    // An Operation as operateMany decodes it: kind 0 (Open), then the id; the rest is not read by the ledger.
    let mut open = vec![0u8; 32];
    open.extend_from_slice(id.as_slice());
    open.extend_from_slice(&[0u8; 32 * 9]);
    NewSubscription {
        id,
        account: account(),
        contract: CONTRACT,
        plan_id: plan,
        participant_id: agent,
        provider: Address::repeat_byte(0x31),
        price: U256::from(PRICE),
        fee: U256::from(50),
        period: 30 * 86_400,
        start: 1_000,
        grace: 3 * 86_400,
        salt: B256::repeat_byte(salt),
        service_ids: vec![service],
        // As setup's plan has it, unless a test's plan says otherwise.
        max_requests: None,
        open: open.into(),
    }
}

async fn spent(pool: &PgPool) -> U256 {
    let spent: String = sqlx::query_scalar("SELECT spent::text FROM balance_accounts WHERE account = $1")
        .bind(AGENT.as_slice())
        .fetch_one(pool)
        .await
        .unwrap();
    spent.parse().unwrap()
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn two_subscribes_to_one_plan_open_one_and_hold_its_price_once(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    let (plan, agent, service) = setup(&ledger, None).await;
    deposit(&pool, 1, 10 * PRICE, 1_000).await;
    let tasks: Vec<_> = (0..8u8)
        .map(|salt| {
            let ledger = ledger.clone();
            tokio::spawn(async move { ledger.subscribe(&new_subscription(plan, agent, service, salt + 1)).await })
        })
        .collect();
    let mut queued = 0;
    for task in tasks {
        match task.await.unwrap().unwrap() {
            SubscribeDecision::Queued(_) => queued += 1,
            SubscribeDecision::AlreadySubscribed(_) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(queued, 1, "one live subscription per agent and plan");
    assert_eq!(spent(&pool).await, U256::from(PRICE), "one period held back");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_subscribe_racing_purchases_never_promises_more_than_the_balance(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    let (plan, agent, service) = setup(&ledger, None).await;
    let credential = NewCredential {
        id: CredentialId(Uuid::new_v4()),
        participant_id: agent,
        token_hash: [0x42; 32],
        name: "test".into(),
        max_per_request: None,
        max_per_day: None,
        services: None,
        expires_at: None,
    };
    let credential = ledger.insert_credential(&credential).await.unwrap().id;
    // Enough for the subscription or for ten purchases of 105, not both.
    deposit(&pool, 1, PRICE + 500, 1_000).await;
    let subscribing = {
        let ledger = ledger.clone();
        tokio::spawn(async move { ledger.subscribe(&new_subscription(plan, agent, service, 9)).await })
    };
    let buying: Vec<_> = (0..10)
        .map(|i| {
            let ledger = ledger.clone();
            tokio::spawn(async move {
                let request = DebitRequest {
                    account: account(),
                    provider: Address::repeat_byte(0x0b),
                    amount: U256::from(105),
                    fee: U256::from(5),
                    credential,
                    max_per_day: None,
                    idempotency_key: format!("k{i}"),
                    also_matches: None,
                    service_id: Some(service),
                };
                ledger.debit_balance(&request).await
            })
        })
        .collect();
    let subscribed = matches!(subscribing.await.unwrap().unwrap(), SubscribeDecision::Queued(_));
    let mut bought = 0u64;
    for task in buying {
        if let DebitDecision::Accepted(_) = task.await.unwrap().unwrap() {
            bought += 1;
        }
    }
    let promised = bought * 105 + if subscribed { PRICE } else { 0 };
    assert!(promised <= PRICE + 500, "promised {promised} of {}", PRICE + 500);
    assert_eq!(spent(&pool).await, U256::from(promised), "every promise held back, nothing else");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn concurrent_covered_requests_never_pass_the_cap_and_a_due_charge_is_queued_once(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    let (plan, agent, service) = setup(&ledger, Some(5)).await;
    deposit(&pool, 1, 3 * PRICE, 1_000).await;
    let sub = NewSubscription { max_requests: Some(5), ..new_subscription(plan, agent, service, 7) };
    assert!(matches!(ledger.subscribe(&sub).await.unwrap(), SubscribeDecision::Queued(_)));
    assert_eq!(spent(&pool).await, U256::from(PRICE));

    // The chain's answer: Subscribed and period 0 charged (with the vault's Charged) at block 2; the hold ends.
    let event = |log: i64, kind: &str, period: Option<i64>, at: Option<i64>| {
        sqlx::query(
            "INSERT INTO subscription_events (chain_id, block_number, log_index, tx_hash, contract, subscription_id,
                                              kind, period, at)
             VALUES ($1, 2, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(CHAIN as i64)
        .bind(log)
        .bind(B256::repeat_byte(3).as_slice())
        .bind(CONTRACT.as_slice())
        .bind(sub.id.as_slice())
        .bind(kind.to_owned())
        .bind(period)
        .bind(at)
    };
    event(0, "subscribed", None, None).execute(&pool).await.unwrap();
    event(1, "charged", Some(0), Some(1_000 + 30 * 86_400)).execute(&pool).await.unwrap();
    sqlx::query(
        "INSERT INTO vault_events (chain_id, block_number, log_index, tx_hash, vault, token, kind, account, amount,
                                   reference)
         VALUES ($1, 2, 2, $2, $3, $4, 'charged', $5, $6::numeric, $7)",
    )
    .bind(CHAIN as i64)
    .bind(B256::repeat_byte(3).as_slice())
    .bind(VAULT.as_slice())
    .bind(TOKEN.as_slice())
    .bind(AGENT.as_slice())
    .bind(PRICE.to_string())
    .bind(sub.id.as_slice())
    .execute(&pool)
    .await
    .unwrap();
    assert_eq!(spent(&pool).await, U256::ZERO, "the outcome released the hold");
    let balance = ledger.balance(&account()).await.unwrap();
    assert_eq!(balance.available, U256::from(2 * PRICE), "the charge counts once, as soon as it is indexed");

    // A request made with a balance credential counts only while the credential is live: revoked or expired (the
    // market's copy of it older than that), it is not covered, and nothing is counted.
    let live = |n: u8, expires_at: Option<i64>| NewCredential {
        id: CredentialId(Uuid::new_v4()),
        participant_id: agent,
        token_hash: [n; 32],
        name: format!("credential {n}"),
        max_per_request: None,
        max_per_day: None,
        services: None,
        expires_at,
    };
    let revoked = ledger.insert_credential(&live(0x51, None)).await.unwrap().id;
    assert!(ledger.revoke_credential(agent, revoked).await.unwrap());
    let expired = ledger.insert_credential(&live(0x52, Some(1))).await.unwrap().id;
    for dead in [revoked, expired] {
        assert!(ledger.use_subscription(agent, service, Some(dead)).await.unwrap().is_none(), "{dead:?}");
    }
    let another = provider(&ledger, 0x77).await;
    let theirs = NewCredential { participant_id: another, ..live(0x53, None) };
    let theirs = ledger.insert_credential(&theirs).await.unwrap().id;
    assert!(ledger.use_subscription(agent, service, Some(theirs)).await.unwrap().is_none(), "not the agent's");
    let current = ledger.insert_credential(&live(0x54, None)).await.unwrap().id;
    let used = ledger.use_subscription(agent, service, Some(current)).await.unwrap().expect("covered");
    assert_eq!(used.used, 1, "the refused requests counted nothing");

    // 20 requests race for the 4 left of a cap of 5.
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let ledger = ledger.clone();
            tokio::spawn(async move { ledger.use_subscription(agent, service, None).await })
        })
        .collect();
    let mut covered = 0;
    for task in tasks {
        if task.await.unwrap().unwrap().is_some() {
            covered += 1;
        }
    }
    assert_eq!(covered, 4);

    // A reorg removes the charge: the hold comes back until the chain answers again.
    sqlx::query("DELETE FROM subscription_events WHERE block_number = 2 AND kind = 'charged'")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(spent(&pool).await, U256::from(PRICE), "held again");
    event(1, "charged", Some(0), Some(1_000 + 30 * 86_400)).execute(&pool).await.unwrap();
    assert_eq!(spent(&pool).await, U256::ZERO);

    // While the open is in flight the keeper leaves the subscription alone; the batcher's bookkeeping is not under
    // test here, so the open is taken out of flight by hand.
    deposit(&pool, 3, 0, 1_000 + 30 * 86_400).await;
    assert!(ledger.due_charges(CHAIN, 10).await.unwrap().is_empty(), "the open is in flight");
    sqlx::query("UPDATE escrow_actions SET status = 'expired' WHERE kind = 'subscription_operation'")
        .execute(&pool)
        .await
        .unwrap();

    // A month on, the period is due: two keepers queue its charge once, its price held back once.
    let due = ledger.due_charges(CHAIN, 10).await.unwrap();
    assert_eq!(due.len(), 1, "{due:?}");
    assert_eq!((due[0].period, due[0].attempts, due[0].lapsed), (1, 0, false));
    let (one, two) = tokio::join!(ledger.queue_charge(&due[0]), ledger.queue_charge(&due[0]));
    let mut outcomes = [one.unwrap(), two.unwrap()];
    outcomes.sort_by_key(|o| *o == ChargeQueued::AlreadyQueued);
    assert_eq!(outcomes, [ChargeQueued::Reserved, ChargeQueued::AlreadyQueued]);
    assert_eq!(spent(&pool).await, U256::from(PRICE));
    assert!(ledger.due_charges(CHAIN, 10).await.unwrap().is_empty(), "in flight: not due again");

    // The batcher applies it in block 4 while the indexer stands at block 3: its outcome is not indexed yet, so it is
    // not due again (a keeper round that met only such charges used to end there, leaving the rest for the next).
    let claim = BatchClaim {
        chain_id: CHAIN,
        asset: TOKEN,
        route: RouteKind::SubscriptionCharge,
        relayer: Address::repeat_byte(0x4e),
        tx_nonce: 0,
        limit: 100,
        cutoff: 0,
        now: 0,
    };
    let (batch, actions) = ledger.claim_action_batch(&claim).await.unwrap().unwrap();
    let sent = BatchTransaction {
        tx_hash: B256::repeat_byte(9),
        raw_tx: Bytes::from(vec![9; 100]),
        gas_limit: 1_000_000,
        fees: TxFees { max_fee_per_gas: 2_000_000_000, max_priority_fee_per_gas: 1_000_000 },
    };
    ledger.record_broadcast(batch, &sent).await.unwrap();
    let mined = Mined { tx_hash: B256::repeat_byte(9), block_number: 4, block_hash: B256::repeat_byte(0xcc) };
    ledger.resolve_action_batch(batch, &mined, &[(actions[0].id, ItemResolution::Settled)]).await.unwrap();
    assert!(ledger.due_charges(CHAIN, 10).await.unwrap().is_empty(), "applied, its block not indexed yet");
    // Once the indexer has passed its block, the state is the chain's word again (here: no event, so still due).
    sqlx::query("UPDATE indexer_checkpoints SET block_number = 4 WHERE indexer = 'clearing'")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(ledger.due_charges(CHAIN, 10).await.unwrap().len(), 1);
}

/// A block at chain time `time`, nothing else.
async fn block(pool: &PgPool, number: i64, time: i64) {
    sqlx::query(
        "INSERT INTO chain_blocks (chain_id, number, hash, parent_hash, timestamp) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(CHAIN as i64)
    .bind(number)
    .bind(B256::left_padding_from(&number.to_be_bytes()).as_slice())
    .bind(B256::ZERO.as_slice())
    .bind(time)
    .execute(pool)
    .await
    .unwrap();
}

/// A Subscriptions event of `id` at (`block`, `log`).
async fn sub_event(pool: &PgPool, id: B256, block: i64, log: i64, kind: &str, period: Option<i64>) {
    sqlx::query(
        "INSERT INTO subscription_events (chain_id, block_number, log_index, tx_hash, contract, subscription_id, kind,
                                          period)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(CHAIN as i64)
    .bind(block)
    .bind(log)
    .bind(B256::repeat_byte(3).as_slice())
    .bind(CONTRACT.as_slice())
    .bind(id.as_slice())
    .bind(kind.to_owned())
    .bind(period)
    .execute(pool)
    .await
    .unwrap();
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_refused_renewal_is_retried_three_times_over_the_grace_at_once_after_a_deposit_then_expired(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    let (plan, agent, service) = setup(&ledger, None).await;
    deposit(&pool, 1, PRICE, 1_000).await;
    let sub = new_subscription(plan, agent, service, 5);
    assert!(matches!(ledger.subscribe(&sub).await.unwrap(), SubscribeDecision::Queued(_)));
    sub_event(&pool, sub.id, 2, 0, "subscribed", None).await;
    sub_event(&pool, sub.id, 2, 1, "charged", Some(0)).await;
    sqlx::query("UPDATE escrow_actions SET status = 'expired'").execute(&pool).await.unwrap();
    let (due, quarter) = (1_000 + 30 * 86_400, 3 * 86_400 / 4);
    let due_now = || async { ledger.due_charges(CHAIN, 10).await.unwrap() };

    // Period 1 is due: charged at once; the chain refuses it (past due, attempt 1).
    block(&pool, 3, due).await;
    assert_eq!(due_now().await.len(), 1);
    sub_event(&pool, sub.id, 3, 0, "past_due", Some(1)).await;
    assert!(due_now().await.is_empty(), "a quarter of the grace before the next try");
    block(&pool, 4, due + quarter - 1).await;
    assert!(due_now().await.is_empty());
    block(&pool, 5, due + quarter).await;
    let retry = due_now().await;
    assert_eq!((retry.len(), retry[0].attempts, retry[0].lapsed), (1, 1, false), "the first retry");

    // Refused again: a deposit landing after the refusal makes it due at once.
    sub_event(&pool, sub.id, 5, 0, "past_due", Some(1)).await;
    assert!(due_now().await.is_empty());
    deposit(&pool, 6, 10, due + quarter + 1).await;
    assert_eq!(due_now().await.len(), 1, "retried at once after a top-up");

    // Two more refusals: no fifth try until the grace is over, then one charge that writes the expiry.
    sub_event(&pool, sub.id, 6, 1, "past_due", Some(1)).await;
    sub_event(&pool, sub.id, 6, 2, "past_due", Some(1)).await;
    block(&pool, 7, due + 3 * 86_400 - 1).await;
    assert!(due_now().await.is_empty(), "three retries used");
    block(&pool, 8, due + 3 * 86_400).await;
    let last = due_now().await;
    assert_eq!((last.len(), last[0].lapsed), (1, true), "the expiry is written");
    assert_eq!(ledger.queue_charge(&last[0]).await.unwrap(), ChargeQueued::Unreserved, "an expiry holds nothing");
    sqlx::query("UPDATE escrow_actions SET status = 'expired'").execute(&pool).await.unwrap();
    sub_event(&pool, sub.id, 8, 0, "expired", Some(1)).await;
    assert!(due_now().await.is_empty(), "expired for good");
    assert_eq!(ledger.subscription(sub.id).await.unwrap().unwrap().status, "expired");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_keeper_batch_holds_each_agents_balance_in_order_and_queues_each_charge_once(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    deposit(&pool, 1, 2 * PRICE + 100, 1_000).await;
    let other = BalanceAccount { account: Address::repeat_byte(0xb7), ..account() };
    let due = |account: BalanceAccount, salt: u8, lapsed: bool| DueCharge {
        subscription: B256::repeat_byte(salt),
        contract: CONTRACT,
        account,
        period: 1,
        price: U256::from(PRICE),
        attempts: 0,
        lapsed,
    };
    // Interleaved agents: the one with no balance first; ours can pay two of its three periods.
    let batch = [due(other, 9, false), due(account(), 1, false), due(account(), 2, false), due(account(), 3, false)];
    let decided = ledger.queue_charges(&batch).await.unwrap();
    assert_eq!(
        decided,
        [ChargeQueued::Unreserved, ChargeQueued::Reserved, ChargeQueued::Reserved, ChargeQueued::Unreserved],
        "each sees the holds of the ones before it, in the order given"
    );
    assert_eq!(spent(&pool).await, U256::from(2 * PRICE));
    let actions: i64 = sqlx::query_scalar("SELECT count(*) FROM escrow_actions WHERE kind = 'subscription_charge'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(actions, 4);

    // Again (a second keeper, or the next round): nothing new queued or held.
    let again = ledger.queue_charges(&batch).await.unwrap();
    assert_eq!(again, [ChargeQueued::AlreadyQueued; 4]);
    assert_eq!(spent(&pool).await, U256::from(2 * PRICE));
}

/// The vault's `Charged` of `amount` from the agent at `block`.
async fn vault_charged(tx: impl sqlx::PgExecutor<'_>, block: i64, amount: u64) {
    sqlx::query(
        "INSERT INTO vault_events (chain_id, block_number, log_index, tx_hash, vault, token, kind, account, amount)
         VALUES ($1, $2, 100, $3, $4, $5, 'charged', $6, $7::numeric)",
    )
    .bind(CHAIN as i64)
    .bind(block)
    .bind(B256::repeat_byte(4).as_slice())
    .bind(VAULT.as_slice())
    .bind(TOKEN.as_slice())
    .bind(AGENT.as_slice())
    .bind(amount.to_string())
    .execute(tx)
    .await
    .unwrap();
}

/// A paused subscription's due renewal is held back like an active one's: its subscriber may resume it and charge it
/// in one block, before the indexer ever sees it active.
#[sqlx::test(migrator = "MIGRATOR")]
async fn a_paused_due_renewal_is_held_back(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    let (plan, agent, service) = setup(&ledger, None).await;
    deposit(&pool, 1, 2 * PRICE, 1_000).await;
    let sub = new_subscription(plan, agent, service, 7);
    assert!(matches!(ledger.subscribe(&sub).await.unwrap(), SubscribeDecision::Queued(_)));
    sub_event(&pool, sub.id, 2, 0, "subscribed", None).await;
    vault_charged(&pool, 2, PRICE).await;
    sub_event(&pool, sub.id, 2, 1, "charged", Some(0)).await;
    sub_event(&pool, sub.id, 2, 2, "paused", None).await;
    let balance = ledger.balance(&account()).await.unwrap();
    assert_eq!((balance.available, balance.renewals_due), (U256::from(PRICE), U256::ZERO), "not due yet");

    block(&pool, 3, 1_000 + 30 * 86_400).await;
    let balance = ledger.balance(&account()).await.unwrap();
    assert_eq!((balance.available, balance.renewals_due), (U256::ZERO, U256::from(PRICE)));
    let credential = NewCredential {
        id: CredentialId(Uuid::new_v4()),
        participant_id: agent,
        token_hash: [0x43; 32],
        name: "test".into(),
        max_per_request: None,
        max_per_day: None,
        services: None,
        expires_at: None,
    };
    let credential = ledger.insert_credential(&credential).await.unwrap().id;
    let debit = crate::balances::request(service, credential, "after-due", 1);
    assert_eq!(ledger.debit_balance(&debit).await.unwrap(), DebitDecision::Insufficient { available: U256::ZERO });
}

/// A subscribe is made on the plan's terms as they were read: a plan repriced, given fewer requests or other
/// services, or deleted since is refused, holding nothing back from the balance.
#[sqlx::test(migrator = "MIGRATOR")]
async fn a_subscribe_to_a_plan_changed_since_it_was_read_is_refused(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    let (plan, agent, service) = setup(&ledger, None).await;
    deposit(&pool, 1, 100 * PRICE, 1_000).await;
    let read = ledger.plan(plan).await.unwrap().unwrap();
    let update = |price: u64, max_requests: Option<u32>| PlanUpdate {
        name: None,
        description: None,
        price: Some(U256::from(price)),
        service_ids: None,
        max_requests: Some(max_requests),
    };
    let changes = [update(50_000, None), update(1_000, Some(1))];
    for (salt, change) in changes.iter().enumerate() {
        assert!(ledger.update_plan(plan, read.new.provider_id, change).await.unwrap().is_some());
        let quoted = new_subscription(plan, agent, service, 20 + salt as u8);
        assert_eq!(ledger.subscribe(&quoted).await.unwrap(), SubscribeDecision::PlanChanged, "{change:?}");
        let balance = ledger.balance(&account()).await.unwrap();
        assert_eq!(balance.available, U256::from(100 * PRICE), "nothing held");
    }
    // Back to the terms as read: subscribed.
    assert!(ledger.update_plan(plan, read.new.provider_id, &update(1_000, None)).await.unwrap().is_some());
    assert!(matches!(
        ledger.subscribe(&new_subscription(plan, agent, service, 30)).await.unwrap(),
        SubscribeDecision::Queued(_)
    ));
    // Deleted: no new subscriber, on any terms.
    let other = NewPlan { id: PlanId(Uuid::new_v4()), name: "Other".into(), ..read.new.clone() };
    let other = ledger.create_plan(&other).await.unwrap().new.id;
    assert!(ledger.delete_plan(other, read.new.provider_id).await.unwrap());
    let late = new_subscription(other, agent, service, 31);
    assert_eq!(ledger.subscribe(&late).await.unwrap(), SubscribeDecision::PlanChanged);
}

/// A subscribe that waits on the agent's row while the indexer commits a charge (its `Charged` event, and the
/// release of the charge's hold from `spent`) reads both, never the hold released without the charge.
#[sqlx::test(migrator = "MIGRATOR")]
async fn a_subscribe_waiting_on_a_charges_indexing_sees_the_charge_too(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    let (plan, agent, service) = setup(&ledger, None).await;
    deposit(&pool, 1, PRICE, 1_000).await;
    let first = new_subscription(plan, agent, service, 8);
    assert!(matches!(ledger.subscribe(&first).await.unwrap(), SubscribeDecision::Queued(_)));
    assert_eq!(spent(&pool).await, U256::from(PRICE));
    let other = NewPlan {
        id: PlanId(Uuid::new_v4()),
        provider_id: ledger.plan(plan).await.unwrap().unwrap().new.provider_id,
        name: "Other".into(),
        description: String::new(),
        interval: PlanInterval::Monthly,
        price: U256::from(1_000),
        service_ids: vec![service],
        max_requests: None,
    };
    let other = ledger.create_plan(&other).await.unwrap().new.id;

    // The indexer's transaction holds the agent's row (as the release of a hold does) while the subscribe starts, then
    // writes period 0's charge and releases its hold, and commits.
    let mut indexing = pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM balance_accounts WHERE account = $1 FOR UPDATE")
        .bind(AGENT.as_slice())
        .execute(&mut *indexing)
        .await
        .unwrap();
    let subscribing = tokio::spawn({
        let ledger = ledger.clone();
        let second = new_subscription(other, agent, service, 9);
        async move { ledger.subscribe(&second).await.unwrap() }
    });
    loop {
        let waiting: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
            .fetch_one(&pool)
            .await
            .unwrap();
        if waiting > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    vault_charged(&mut *indexing, 2, PRICE).await;
    for (log, kind, period) in [(0, "subscribed", None), (1, "charged", Some(0i64))] {
        sqlx::query(
            "INSERT INTO subscription_events (chain_id, block_number, log_index, tx_hash, contract, subscription_id,
                                              kind, period)
             VALUES ($1, 2, $2, $3, $4, $5, $6, $7)",
        )
        .bind(CHAIN as i64)
        .bind(log)
        .bind(B256::repeat_byte(3).as_slice())
        .bind(CONTRACT.as_slice())
        .bind(first.id.as_slice())
        .bind(kind)
        .bind(period)
        .execute(&mut *indexing)
        .await
        .unwrap();
    }
    indexing.commit().await.unwrap();
    assert_eq!(subscribing.await.unwrap(), SubscribeDecision::Insufficient { available: U256::ZERO });
    assert_eq!(spent(&pool).await, U256::ZERO, "nothing held for money that is gone");
}
