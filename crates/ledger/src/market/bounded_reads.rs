//! The balance and the provider's vault earnings read as many rows as the account has deposits, claims and debits in
//! flight (and a page of history as many as the page reaches), not as many as the vault holds debits: each query is
//! run under `EXPLAIN ANALYZE` beside a history of applied debits and another agent's debits in flight, and every row
//! its scans read is counted.

use alloy::primitives::{Address, B256, U256};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use super::{
    balances::{
        BalanceAccount, CredentialId, DebitDecision, DebitRequest, HISTORY_PLANNER, HistoryEntry, balance_sql,
        history_sql, open_debits,
    },
    subscriptions::available_sql,
};
use crate::{
    Ledger, MIGRATOR, VaultDebit,
    earnings::{ESCROW_EARNINGS_SQL, VAULT_EARNINGS_SQL},
    index::MAIN_INDEXER,
};

const CHAIN: u64 = 31337;
const VAULT: Address = Address::repeat_byte(0x7a);
const TOKEN: Address = Address::repeat_byte(0xaa);
const AGENT: Address = Address::repeat_byte(0xa9);
/// The provider of the agent's debits in flight.
const PROVIDER: Address = Address::repeat_byte(0x0b);
/// The provider of the agent's applied history.
const OTHER: Address = Address::repeat_byte(0x0c);
/// Another agent, whose debits to `OTHER` are in flight.
const BYSTANDER: Address = Address::repeat_byte(0xb7);
/// Applied debits of the agent, each with its `debited` event, and the bystander's debits in flight: what the reads
/// must not scale with.
const HISTORY: usize = 3_000;
/// More rows than any read here may touch: the deposit, three debits in flight, and the plans' own lookups.
const BOUND: f64 = 100.0;

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

/// `count` debits of `payer` to `provider`, numbered from `first`: applied in batch 1, each with its `debited` event
/// in block 2, or (not `applied`) still queued.
async fn debits(pool: &PgPool, payer: Address, provider: Address, first: usize, count: usize, applied: bool) {
    let debits: Vec<VaultDebit> = (first..first + count)
        .map(|i| VaultDebit {
            id: B256::from(U256::from(i)),
            payer,
            provider,
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
                    u.terms, CASE WHEN $5 THEN 'settled' ELSE 'pending' END::settlement_status,
                    CASE WHEN $5 THEN 1 END
             FROM unnest($1::bytea[], $2::bytea[]) AS u(id, terms)
             RETURNING id, job_id),
         debits AS (
             INSERT INTO balance_debits (id, chain_id, vault, token, payer, provider, amount, fee, debit_id, action_id,
                                         idempotency_key)
             SELECT gen_random_uuid(), 31337, decode(repeat('7a', 20), 'hex'), decode(repeat('aa', 20), 'hex'), $3, $4,
                    10, 1, a.job_id, a.id, 'history:' || a.id
             FROM actions a)
         INSERT INTO vault_events (chain_id, block_number, log_index, tx_hash, vault, token, kind, account, provider,
                                   amount, fee, reference)
         SELECT 31337, 2, n, decode(repeat('09', 32), 'hex'), decode(repeat('7a', 20), 'hex'),
                decode(repeat('aa', 20), 'hex'), 'debited', $3, $4, 10, 1, u.id
         FROM unnest($1::bytea[]) WITH ORDINALITY AS u(id, n)
         WHERE $5",
    )
    .bind(&ids)
    .bind(&terms)
    .bind(payer.as_slice())
    .bind(provider.as_slice())
    .bind(applied)
    .execute(pool)
    .await
    .unwrap();
}

/// `HISTORY` escrow jobs of `OTHER`'s on an escrow at the vault's address (the escrow's reads are the same).
async fn escrow_jobs(pool: &PgPool) {
    sqlx::query(
        "INSERT INTO escrow_jobs (chain_id, block_number, log_index, block_hash, tx_hash, escrow, job_id, payer,
                                  provider, token, amount, fee, arbiter, funding_deadline, completion_deadline,
                                  review_window, salt)
         SELECT 31337, 3, n, decode(repeat('cd', 32), 'hex'), decode(repeat('0d', 32), 'hex'),
                decode(repeat('7a', 20), 'hex'), sha256(n::text::bytea), decode(repeat('a9', 20), 'hex'),
                decode(repeat('0c', 20), 'hex'), decode(repeat('aa', 20), 'hex'), 10, 1,
                decode(repeat('ab', 20), 'hex'), 0, 0, 0, sha256(n::text::bytea)
         FROM generate_series(1, $1) AS n",
    )
    .bind(HISTORY as i64)
    .execute(pool)
    .await
    .unwrap();
}

/// Rows `sql` read from tables and indexes (returned or filtered out, every loop of each scan), planned as
/// `plan_cache_mode` says (a prepared statement's plan turns generic after five runs).
async fn rows_touched(pool: &PgPool, sql: &str, party: Address, plan_cache_mode: &str) -> f64 {
    rows_touched_with(pool, sql, party, &[], &[], plan_cache_mode).await
}

/// [`rows_touched`], with `page` bound after the account (a limit and an offset, or a height), planned under
/// `settings` too.
async fn rows_touched_with(
    pool: &PgPool,
    sql: &str,
    party: Address,
    page: &[i64],
    settings: &[&str],
    plan_cache_mode: &str,
) -> f64 {
    // Rows read from storage: what each scan of a table or an index returned or filtered out, every loop of it.
    fn walk(node: &Value) -> f64 {
        let count = |field: &str| node[field].as_f64().unwrap_or(0.0);
        let scan = node.get("Relation Name").is_some() || node.get("Index Name").is_some();
        let rows = if scan {
            count("Actual Rows") + count("Rows Removed by Filter") + count("Rows Removed by Index Recheck")
        } else {
            0.0
        };
        let children: f64 = node["Plans"].as_array().map_or(0.0, |plans| plans.iter().map(walk).sum());
        rows * node["Actual Loops"].as_f64().unwrap_or(1.0) + children
    }
    let mut tx = pool.begin().await.unwrap();
    let mode = format!("SET LOCAL plan_cache_mode = {plan_cache_mode}");
    for setting in std::iter::once(mode.as_str()).chain(settings.iter().copied()) {
        sqlx::query(sqlx::AssertSqlSafe(setting)).execute(&mut *tx).await.unwrap();
    }
    let explain = format!("EXPLAIN (ANALYZE, FORMAT JSON) {sql}");
    let mut query = sqlx::query_scalar::<_, Value>(sqlx::AssertSqlSafe(explain))
        .bind(CHAIN as i64)
        .bind(VAULT.as_slice())
        .bind(TOKEN.as_slice())
        .bind(party.as_slice());
    if sql == VAULT_EARNINGS_SQL {
        query = query.bind(MAIN_INDEXER);
    }
    for value in page {
        query = query.bind(*value);
    }
    let plan = query.fetch_one(&mut *tx).await.unwrap();
    walk(&plan[0]["Plan"])
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn balance_and_earnings_read_what_is_in_flight_not_the_history(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    let credential = seed(&pool).await;
    debits(&pool, AGENT, OTHER, 1, HISTORY, true).await;
    debits(&pool, BYSTANDER, OTHER, HISTORY + 1, HISTORY, false).await;
    escrow_jobs(&pool).await;
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
    let history = U256::from(9 * HISTORY as u64);
    assert_eq!((other.from_purchases, other.accepted), (history, history), "applied, and the bystander's in flight");

    // The count sees history: the agent's debits in flight summed as before 0031, through every debit it made.
    let scan = "SELECT coalesce(sum(d.amount), 0) FROM balance_debits d JOIN escrow_actions a ON a.id = d.action_id
                WHERE d.chain_id = $1 AND d.vault = $2 AND d.token = $3 AND d.payer = $4
                  AND a.status IN ('pending', 'submitted')";
    let control = rows_touched(&pool, scan, AGENT, "auto").await;
    assert!(control >= HISTORY as f64, "a scan of the history is counted: {control} rows");

    // A page of the history reads as far as it reaches; the last page still finds the deposit.
    let first = ledger.balance_history(&account(), 5, 0).await.unwrap();
    let ids: Vec<_> = first
        .iter()
        .map(|entry| match entry {
            HistoryEntry::Debit(debit) => debit.id,
            HistoryEntry::Chain { .. } => panic!("debits come first"),
        })
        .collect();
    assert_eq!(ids[..3], [in_flight[2].id, in_flight[1].id, in_flight[0].id], "newest first");
    let last = ledger.balance_history(&account(), 5, HISTORY as u32 - 1).await.unwrap();
    assert_eq!(last.len(), 5);
    assert!(matches!(last[4], HistoryEntry::Chain { ref kind, .. } if kind == "deposited"), "{last:?}");

    for (read, sql, party, page, settings) in [
        ("the balance", balance_sql(), AGENT, &[][..], &[][..]),
        ("the debits in flight", format!("SELECT EXISTS ({})", open_debits("$4")), AGENT, &[], &[]),
        ("what a subscribe may spend", available_sql(), AGENT, &[], &[]),
        ("a page of the history", history_sql(), AGENT, &[20, 0], &HISTORY_PLANNER[..]),
        ("the provider's earnings", VAULT_EARNINGS_SQL.to_owned(), PROVIDER, &[], &[]),
        ("the provider's escrow earnings", ESCROW_EARNINGS_SQL.to_owned(), PROVIDER, &[10], &[]),
    ] {
        for plan_cache_mode in ["force_custom_plan", "force_generic_plan"] {
            let touched = rows_touched_with(&pool, &sql, party, page, settings, plan_cache_mode).await;
            assert!(
                touched < BOUND,
                "{read} ({plan_cache_mode}) touched {touched} rows beside {HISTORY} applied debits"
            );
        }
    }
}
