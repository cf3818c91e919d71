//! Balance debits decided in batches (`migrations/0015_balance_batch.sql`): a batch applies the rules request by
//! request (a key repeated inside it pays once, each agent's balance and each credential's cap count what the batch
//! accepted before), the credential's revocation and expiry and the service's listing are checked by the batch
//! itself, and debit queues of two processes racing on one agent never spend more than its balance.

use alloy::primitives::{Address, B256, U256};
use clearing_ledger::{
    Ledger,
    market::{BalanceAccount, CredentialId, DebitDecision, DebitQueue, DebitRequest, NewCredential},
};
use sqlx::{PgPool, postgres::PgPoolOptions};
use uuid::Uuid;

use crate::balances::{CHAIN, TOKEN, VAULT, account, deposit, request, setup};

/// A deposit of `amount` for `agent`, confirmed (the checkpoint [`deposit`] made confirms block 1).
async fn deposit_for(pool: &PgPool, agent: Address, log_index: i64, amount: u64) {
    sqlx::query(
        "INSERT INTO vault_events (chain_id, block_number, log_index, tx_hash, vault, token, kind, account, amount)
         VALUES ($1, 1, $2, $3, $4, $5, 'deposited', $6, $7::numeric)",
    )
    .bind(CHAIN as i64)
    .bind(log_index)
    .bind(B256::repeat_byte(3).as_slice())
    .bind(VAULT.as_slice())
    .bind(TOKEN.as_slice())
    .bind(agent.as_slice())
    .bind(amount.to_string())
    .execute(pool)
    .await
    .unwrap();
}

fn accepted_id(decision: &DebitDecision) -> Uuid {
    match decision {
        DebitDecision::Accepted(debit) => debit.id,
        other => panic!("not accepted: {other:?}"),
    }
}

async fn stored_debits(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM balance_debits").fetch_one(pool).await.unwrap()
}

#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn a_batch_holding_one_key_twice_pays_once(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    let (service, credential) = setup(&ledger, None).await;
    deposit(&pool, 1_000).await;
    let batch = [
        request(service, credential, "k1", 100),
        request(service, credential, "k1", 100),
        request(service, credential, "k2", 100),
        // Matches k2 by its second key (a derived key's previous window).
        DebitRequest { also_matches: Some("k2".into()), ..request(service, credential, "k3", 100) },
    ];
    let decisions = ledger.debit_balances(&batch, false).await.unwrap();
    let first = accepted_id(&decisions[0]);
    let DebitDecision::Repeat(repeat) = &decisions[1] else { panic!("{:?}", decisions[1]) };
    assert_eq!((repeat.id, repeat.idempotency_key.as_str()), (first, "k1"), "the debit the first one made");
    let second = accepted_id(&decisions[2]);
    let DebitDecision::Repeat(also) = &decisions[3] else { panic!("{:?}", decisions[3]) };
    assert_eq!(also.id, second);
    assert_eq!(ledger.balance(&account()).await.unwrap().spent, U256::from(200));
    assert_eq!(stored_debits(&pool).await, 2);

    // A later batch finds both, stored.
    let again = ledger.debit_balances(&batch[..1], false).await.unwrap();
    assert!(matches!(&again[0], DebitDecision::Repeat(d) if d.id == first));
    assert_eq!(ledger.balance(&account()).await.unwrap().spent, U256::from(200));
}

#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn a_key_refused_earlier_in_a_batch_is_decided_again_and_pays_once(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    let (service, credential) = setup(&ledger, None).await;
    deposit(&pool, 150).await;
    let batch = [
        request(service, credential, "big", 200),
        request(service, credential, "big", 100),
        request(service, credential, "big", 100),
    ];
    let decisions = ledger.debit_balances(&batch, false).await.unwrap();
    assert_eq!(decisions[0], DebitDecision::Insufficient { available: U256::from(150) });
    let id = accepted_id(&decisions[1]);
    assert!(matches!(&decisions[2], DebitDecision::Repeat(d) if d.id == id), "{:?}", decisions[2]);
    assert_eq!(ledger.balance(&account()).await.unwrap().spent, U256::from(100));
}

#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn a_batch_mixing_agents_decides_each_against_its_own_balance(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    let (service, credential) = setup(&ledger, None).await;
    deposit(&pool, 250).await;
    let other = BalanceAccount { account: Address::repeat_byte(0xb7), ..account() };
    deposit_for(&pool, other.account, 1, 100).await;
    let of = |account: BalanceAccount, key: &str| DebitRequest { account, ..request(service, credential, key, 100) };
    let batch = [of(other, "b1"), of(account(), "a1"), of(account(), "a2"), of(other, "b2"), of(account(), "a3")];
    let decisions = ledger.debit_balances(&batch, false).await.unwrap();
    assert!(matches!(decisions[0], DebitDecision::Accepted(_)));
    assert!(matches!(decisions[1], DebitDecision::Accepted(_)));
    assert!(matches!(decisions[2], DebitDecision::Accepted(_)));
    assert_eq!(decisions[3], DebitDecision::Insufficient { available: U256::ZERO });
    assert_eq!(decisions[4], DebitDecision::Insufficient { available: U256::from(50) });
    let (mine, theirs) = (ledger.balance(&account()).await.unwrap(), ledger.balance(&other).await.unwrap());
    assert_eq!((mine.spent, mine.available), (U256::from(200), U256::from(50)));
    assert_eq!((theirs.spent, theirs.available), (U256::from(100), U256::ZERO));
    // The vault posts them in the order they were asked for.
    let keys: Vec<String> = sqlx::query_scalar("SELECT d.idempotency_key FROM balance_debits d ORDER BY d.action_id")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(keys, ["b1", "a1", "a2"]);
}

#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn the_daily_cap_counts_what_the_batch_accepted_before(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    let (service, credential) = setup(&ledger, Some(250)).await;
    deposit(&pool, 1_000).await;
    let capped = |key: &str, amount| DebitRequest {
        max_per_day: Some(U256::from(250)),
        ..request(service, credential, key, amount)
    };
    let decisions =
        ledger.debit_balances(&[capped("1", 100), capped("2", 100), capped("3", 100), capped("4", 50)], false).await;
    let decisions = decisions.unwrap();
    assert!(matches!(decisions[0], DebitDecision::Accepted(_)));
    assert!(matches!(decisions[1], DebitDecision::Accepted(_)));
    assert_eq!(decisions[2], DebitDecision::OverDailyCap { spent: U256::from(200), cap: U256::from(250) });
    assert!(matches!(decisions[3], DebitDecision::Accepted(_)));
    assert_eq!(
        ledger.debit_balance(&capped("5", 1)).await.unwrap(),
        DebitDecision::OverDailyCap { spent: U256::from(250), cap: U256::from(250) },
        "the day's total was stored once, with the batch"
    );
    assert_eq!(ledger.balance(&account()).await.unwrap().spent, U256::from(250));
}

#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn a_revoked_or_expired_credential_spends_nothing_whatever_copy_the_caller_holds(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    let (service, credential) = setup(&ledger, None).await;
    deposit(&pool, 1_000).await;
    assert!(matches!(
        ledger.debit_balance(&request(service, credential, "before", 100)).await.unwrap(),
        DebitDecision::Accepted(_)
    ));
    let owner = ledger.credential_by_hash(&[0x42; 32]).await.unwrap().unwrap().participant_id;
    assert!(ledger.revoke_credential(owner, credential).await.unwrap());
    // The caller still holds the credential as live (a market's kept copy): the batch refuses it, repeats too.
    let batch = [request(service, credential, "after", 100), request(service, credential, "before", 100)];
    assert_eq!(
        ledger.debit_balances(&batch, false).await.unwrap(),
        [DebitDecision::CredentialRevoked, DebitDecision::CredentialRevoked]
    );

    let expired = ledger
        .insert_credential(&NewCredential {
            id: CredentialId(Uuid::new_v4()),
            participant_id: owner,
            token_hash: [0x43; 32],
            name: "expired".into(),
            max_per_request: None,
            max_per_day: Some(U256::from(1_000)),
            services: None,
            expires_at: Some(1),
        })
        .await
        .unwrap();
    let unknown = CredentialId(Uuid::new_v4());
    let decisions = ledger
        .debit_balances(
            &[
                DebitRequest { max_per_day: Some(U256::from(1_000)), ..request(service, expired.id, "x", 100) },
                request(service, unknown, "y", 100),
                request(service, credential, "z", 100),
            ],
            false,
        )
        .await
        .unwrap();
    assert_eq!(
        decisions,
        [
            DebitDecision::CredentialExpired { at: 1 },
            DebitDecision::CredentialRevoked,
            DebitDecision::CredentialRevoked
        ]
    );
    assert_eq!(ledger.balance(&account()).await.unwrap().spent, U256::from(100));
    assert_eq!(stored_debits(&pool).await, 1);
}

#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn at_the_listed_price_a_changed_listing_is_refused_before_anything_is_spent(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    let (service, credential) = setup(&ledger, None).await;
    deposit(&pool, 1_000).await;
    // Listed at 100.
    let decisions = ledger
        .debit_balances(&[request(service, credential, "a", 100), request(service, credential, "b", 90)], true)
        .await
        .unwrap();
    assert!(matches!(decisions[0], DebitDecision::Accepted(_)));
    assert_eq!(decisions[1], DebitDecision::ServiceChanged, "priced from a stale listing");
    for change in [
        "UPDATE market_services SET price = 120",
        "UPDATE market_services SET price = 100, status = 'inactive'",
        "UPDATE market_services SET status = 'active', deleted_at = now()",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(change)).execute(&pool).await.unwrap();
        assert_eq!(
            ledger.debit_balances(&[request(service, credential, "c", 100)], true).await.unwrap(),
            [DebitDecision::ServiceChanged],
            "after {change}"
        );
    }
    assert_eq!(ledger.balance(&account()).await.unwrap().spent, U256::from(100));
}

#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn two_processes_queues_racing_on_one_agent_never_spend_more_than_its_balance(pool: PgPool) {
    let first = Ledger::from_pool(pool.clone());
    let (service, credential) = setup(&first, None).await;
    deposit(&pool, 1_000).await;
    // A second process: its own pool on the same database, and its own queue.
    let other_pool =
        PgPoolOptions::new().max_connections(5).connect_with(pool.connect_options().as_ref().clone()).await.unwrap();
    let second = Ledger::from_pool(other_pool);
    let queues = [DebitQueue::spawn(&first, 2, 8, false), DebitQueue::spawn(&second, 2, 8, false)];

    // 30 debits of 50 with their own keys, and 10 keys each sent through both processes: 40 spends of 50 asked
    // for, 20 fit.
    let mut asked = Vec::new();
    for i in 0..30 {
        asked.push((i % 2, request(service, credential, &format!("own{i}"), 50)));
    }
    for i in 0..10 {
        asked.push((0, request(service, credential, &format!("both{i}"), 50)));
        asked.push((1, request(service, credential, &format!("both{i}"), 50)));
    }
    // Every other one through the process's queue, the rest as batches of one straight from its pool: up to eight
    // transactions of the two processes at once on the agent's row.
    let ledgers = [first.clone(), second.clone()];
    let tasks: Vec<_> = asked
        .into_iter()
        .enumerate()
        .map(|(i, (process, request))| {
            let (queue, ledger) = (queues[process].clone(), ledgers[process].clone());
            tokio::spawn(async move {
                let key = request.idempotency_key.clone();
                let decided = if i % 4 < 2 { queue.debit(request).await } else { ledger.debit_balance(&request).await };
                (key, decided.unwrap())
            })
        })
        .collect();
    let (mut accepted, mut repeats, mut refused) = (Vec::new(), Vec::new(), 0);
    for task in tasks {
        match task.await.unwrap() {
            (key, DebitDecision::Accepted(debit)) => accepted.push((key, debit.id)),
            (key, DebitDecision::Repeat(debit)) => repeats.push((key, debit.id)),
            (_, DebitDecision::Insufficient { .. }) => refused += 1,
            (_, other) => panic!("{other:?}"),
        }
    }
    assert_eq!(accepted.len(), 20, "exactly the balance: {accepted:?}");
    // A repeat is always of a key accepted once (the other send of a `both` key).
    for (key, id) in &repeats {
        assert!(key.starts_with("both"));
        assert!(accepted.contains(&(key.clone(), *id)), "{key} repeats a debit that was accepted");
    }
    assert_eq!(accepted.len() + repeats.len() + refused, 50);
    let balance = first.balance(&account()).await.unwrap();
    assert_eq!((balance.spent, balance.available), (U256::from(1_000), U256::ZERO));
    assert_eq!(stored_debits(&pool).await, 20);
    let spent: String =
        sqlx::query_scalar("SELECT sum(amount)::text FROM balance_debits").fetch_one(&pool).await.unwrap();
    assert_eq!(spent, "1000", "spent is the sum of the debits");
}
