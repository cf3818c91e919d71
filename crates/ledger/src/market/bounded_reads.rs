//! The balance and the provider's vault earnings read as many rows as the account has deposits, claims and debits in
//! flight, not as many as the vault holds debits: each query is run under `EXPLAIN ANALYZE` beside a history of
//! applied debits, and every row its plan produced or filtered out is counted.

use alloy::primitives::{Address, B256, U256};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use super::balances::{BalanceAccount, CredentialId, DebitDecision, DebitRequest, balance_sql, open_debits};
use crate::{Ledger, MIGRATOR, VaultDebit, earnings::VAULT_EARNINGS_SQL, index::MAIN_INDEXER};

const CHAIN: u64 = 31337;
const VAULT: Address = Address::repeat_byte(0x7a);
const TOKEN: Address = Address::repeat_byte(0xaa);
const AGENT: Address = Address::repeat_byte(0xa9);
/// The provider of the agent's debits in flight.
const PROVIDER: Address = Address::repeat_byte(0x0b);
/// The provider of the agent's applied history.
const OTHER: Address = Address::repeat_byte(0x0c);
/// Applied debits of the agent, each with its `debited` event: what the reads must not scale with.
const HISTORY: usize = 3_000;
/// More rows than any read here may touch: the deposit, three debits in flight, and the plans' own lookups.
const BOUND: u64 = 100;

fn account() -> BalanceAccount {
    BalanceAccount { chain_id: CHAIN, vault: VAULT, token: TOKEN, account: AGENT }
}

/// A credential of a participant, and a confirmed deposit of the agent's.
async fn seed(pool: &PgPool) -> CredentialId {
    let credential = Uuid::new_v4();
    for statement in [
        "INSERT INTO market_participants (id, wallet, kind, name, description, capabilities, api_key_hash,
                                          api_key_prefix, webhook_secret, registration_nonce)
         VALUES ('00000000-0000-0000-0000-00000000000a', decode(repeat('a9', 20), 'hex'), 'agent', 'agent', '', '{}',
                 decode(repeat('01', 32), 'hex'), 'clr_a', 'whsec_a', decode(repeat('02', 32), 'hex'))",
        "INSERT INTO indexer_checkpoints (chain_id, indexer, block_number, block_hash, confirmed_block)
         VALUES (31337, 'clearing', 10, decode(repeat('06', 32), 'hex'), 10)",
        "INSERT INTO vault_events (chain_id, block_number, log_index, tx_hash, vault, token, kind, account, amount)
         VALUES (31337, 1, 0, decode(repeat('07', 32), 'hex'), decode(repeat('7a', 20), 'hex'),
                 decode(repeat('aa', 20), 'hex'), 'deposited', decode(repeat('a9', 20), 'hex'), 1000000000)",
        "INSERT INTO settlement_batches (id, chain_id, relayer, tx_nonce, asset, route, block_number, block_hash,
                                         tx_hash)
         VALUES (1, 31337, decode(repeat('4e', 20), 'hex'), 0, decode(repeat('aa', 20), 'hex'), 'vault_debit', 2,
                 decode(repeat('cc', 32), 'hex'), decode(repeat('09', 32), 'hex'))",
    ] {
        sqlx::query(statement).execute(pool).await.unwrap();
    }
    sqlx::query(
        "INSERT INTO balance_credentials (id, participant_id, token_hash, name)
         VALUES ($1, '00000000-0000-0000-0000-00000000000a', decode(repeat('05', 32), 'hex'), 'worker')",
    )
    .bind(credential)
    .execute(pool)
    .await
    .unwrap();
    CredentialId(credential)
}

/// `HISTORY` debits of the agent to `OTHER`, applied in batch 1, each with its `debited` event in block 2.
async fn applied_history(pool: &PgPool) {
    let debits: Vec<VaultDebit> = (0..HISTORY)
        .map(|i| VaultDebit {
            id: B256::from(U256::from(i + 1)),
            payer: AGENT,
            provider: OTHER,
            amount: U256::from(10),
            fee: U256::from(1),
        })
        .collect();
    let ids: Vec<Vec<u8>> = debits.iter().map(|d| d.id.to_vec()).collect();
    let terms: Vec<Vec<u8>> = debits.iter().map(VaultDebit::abi_encode).collect();
    sqlx::query(
        "WITH actions AS (
             INSERT INTO escrow_actions (chain_id, escrow, asset, kind, job_id, terms, status, batch_id)
             SELECT 31337, decode(repeat('7a', 20), 'hex'), decode(repeat('aa', 20), 'hex'), 'vault_debit', u.id,
                    u.terms, 'settled', 1
             FROM unnest($1::bytea[], $2::bytea[]) AS u(id, terms)
             RETURNING id, job_id),
         debits AS (
             INSERT INTO balance_debits (id, chain_id, vault, token, payer, provider, amount, fee, debit_id, action_id,
                                         idempotency_key)
             SELECT gen_random_uuid(), 31337, decode(repeat('7a', 20), 'hex'), decode(repeat('aa', 20), 'hex'),
                    decode(repeat('a9', 20), 'hex'), decode(repeat('0c', 20), 'hex'), 10, 1, a.job_id, a.id,
                    'history:' || a.id
             FROM actions a)
         INSERT INTO vault_events (chain_id, block_number, log_index, tx_hash, vault, token, kind, account, provider,
                                   amount, fee, reference)
         SELECT 31337, 2, n, decode(repeat('09', 32), 'hex'), decode(repeat('7a', 20), 'hex'),
                decode(repeat('aa', 20), 'hex'), 'debited', decode(repeat('a9', 20), 'hex'),
                decode(repeat('0c', 20), 'hex'), 10, 1, u.id
         FROM unnest($1::bytea[]) WITH ORDINALITY AS u(id, n)",
    )
    .bind(&ids)
    .bind(&terms)
    .execute(pool)
    .await
    .unwrap();
}

/// Rows `sql` produced or read and filtered out, over every node of its plan and every loop of each.
async fn rows_touched(pool: &PgPool, sql: &str, provider: Address) -> u64 {
    fn walk(node: &Value) -> u64 {
        let loops = node["Actual Loops"].as_u64().unwrap_or(1);
        let rows = node["Actual Rows"].as_u64().unwrap_or(0) + node["Rows Removed by Filter"].as_u64().unwrap_or(0);
        let children = node["Plans"].as_array().map_or(0, |plans| plans.iter().map(walk).sum());
        rows * loops + children
    }
    let explain = format!("EXPLAIN (ANALYZE, FORMAT JSON) {sql}");
    let mut query = sqlx::query_scalar::<_, Value>(sqlx::AssertSqlSafe(explain))
        .bind(CHAIN as i64)
        .bind(VAULT.as_slice())
        .bind(TOKEN.as_slice())
        .bind(if sql == VAULT_EARNINGS_SQL { provider.as_slice() } else { AGENT.as_slice() });
    if sql == VAULT_EARNINGS_SQL {
        query = query.bind(MAIN_INDEXER);
    }
    let plan = query.fetch_one(pool).await.unwrap();
    walk(&plan[0]["Plan"])
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn balance_and_earnings_read_what_is_in_flight_not_the_history(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    let credential = seed(&pool).await;
    applied_history(&pool).await;
    let mut in_flight = Vec::new();
    for key in ["one", "two", "three"] {
        let request = DebitRequest {
            account: account(),
            provider: PROVIDER,
            amount: U256::from(1_000),
            fee: U256::from(50),
            credential,
            max_per_day: None,
            idempotency_key: key.into(),
            also_matches: None,
            service_id: None,
        };
        let DebitDecision::Accepted(debit) = ledger.debit_balance(&request).await.unwrap() else {
            panic!("accepted");
        };
        in_flight.push(debit);
    }
    // One held for a balance-paid job, one in a batch not yet mined, one queued.
    sqlx::query("UPDATE escrow_actions SET held_until = now() + interval '1 hour' WHERE id = $1")
        .bind(in_flight[0].action_id.0)
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE escrow_actions SET status = 'submitted', batch_id = 1 WHERE id = $1")
        .bind(in_flight[1].action_id.0)
        .execute(&pool)
        .await
        .unwrap();

    let balance = ledger.balance(&account()).await.unwrap();
    assert_eq!(balance.pending_debits, U256::from(3_000), "the three debits in flight, and none of the history");
    let earnings = ledger.vault_earnings(CHAIN, VAULT, TOKEN, PROVIDER).await.unwrap();
    assert_eq!((earnings.accepted, earnings.held), (U256::from(1_900), U256::from(950)));
    assert_eq!(earnings.from_purchases, U256::ZERO, "nothing of this provider's is applied yet");
    let other = ledger.vault_earnings(CHAIN, VAULT, TOKEN, OTHER).await.unwrap();
    assert_eq!((other.from_purchases, other.accepted), (U256::from(9 * HISTORY as u64), U256::ZERO));

    for (read, sql, provider) in [
        ("the balance", balance_sql(), PROVIDER),
        ("the debits in flight", format!("SELECT EXISTS ({})", open_debits("$4")), PROVIDER),
        ("the provider's earnings", VAULT_EARNINGS_SQL.to_owned(), PROVIDER),
    ] {
        let touched = rows_touched(&pool, &sql, provider).await;
        assert!(touched < BOUND, "{read} touched {touched} rows beside {HISTORY} applied debits");
    }
}
