//! Prepaid balances in the ledger: a debit is accepted only against the confirmed balance, racing debits never spend
//! more than it, a repeat of an idempotency key pays once, the daily cap holds, and a debit the vault refuses gives
//! its amount back to the balance and to its credential's day (and takes it again when a reorg reopens its batch).

use alloy::primitives::{Address, B256, Bytes, U256};
use clearing_ledger::{
    BatchClaim, BatchTransaction, ItemResolution, Ledger, MIGRATOR, Mined, RouteKind, SettlementStatus, TxFees,
    market::{
        BalanceAccount, CredentialId, DebitDecision, DebitRequest, HistoryEntry, NewCredential, ServiceId, ServiceType,
    },
};
use clearing_x402::Reason;
use sqlx::PgPool;
use uuid::Uuid;

use crate::market::{provider, service};

pub(crate) const CHAIN: u64 = 31337;
pub(crate) const VAULT: Address = Address::repeat_byte(0x7a);
pub(crate) const TOKEN: Address = Address::repeat_byte(0xaa);
const AGENT: Address = Address::repeat_byte(0xa9);

pub(crate) fn account() -> BalanceAccount {
    BalanceAccount { chain_id: CHAIN, vault: VAULT, token: TOKEN, account: AGENT }
}

/// A provider, its data_api service and a credential of the provider's (any participant may hold one).
pub(crate) async fn setup(ledger: &Ledger, max_per_day: Option<u64>) -> (ServiceId, CredentialId) {
    let owner = provider(ledger, 0x31).await;
    let listed = ledger.create_service(&service(owner, "data", ServiceType::DataApi, 100)).await.unwrap();
    let credential = NewCredential {
        id: CredentialId(Uuid::new_v4()),
        participant_id: owner,
        token_hash: [0x42; 32],
        name: "test".into(),
        max_per_request: None,
        max_per_day: max_per_day.map(U256::from),
        services: None,
        expires_at: None,
    };
    (listed.id, ledger.insert_credential(&credential).await.unwrap().id)
}

/// A deposit of `amount` confirmed at block 1 (the main indexer's checkpoint confirms it).
pub(crate) async fn deposit(pool: &PgPool, amount: u64) {
    sqlx::query(
        "INSERT INTO indexer_checkpoints (chain_id, indexer, block_number, block_hash, confirmed_block)
         VALUES ($1, 'clearing', 1, $2, 1)",
    )
    .bind(CHAIN as i64)
    .bind(B256::repeat_byte(1).as_slice())
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO vault_events (chain_id, block_number, log_index, tx_hash, vault, token, kind, account, amount)
         VALUES ($1, 1, 0, $2, $3, $4, 'deposited', $5, $6::numeric)",
    )
    .bind(CHAIN as i64)
    .bind(B256::repeat_byte(2).as_slice())
    .bind(VAULT.as_slice())
    .bind(TOKEN.as_slice())
    .bind(AGENT.as_slice())
    .bind(amount.to_string())
    .execute(pool)
    .await
    .unwrap();
}

pub(crate) fn request(service: ServiceId, credential: CredentialId, key: &str, amount: u64) -> DebitRequest {
    DebitRequest {
        account: account(),
        provider: Address::repeat_byte(0x0b),
        amount: U256::from(amount),
        fee: U256::from(amount / 20),
        credential,
        max_per_day: None,
        idempotency_key: key.to_owned(),
        also_matches: None,
        service_id: Some(service),
    }
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn racing_debits_never_spend_more_than_the_confirmed_balance(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    let (service, credential) = setup(&ledger, None).await;
    let refused = ledger.debit_balance(&request(service, credential, "before", 100)).await.unwrap();
    assert_eq!(refused, DebitDecision::Insufficient { available: U256::ZERO }, "nothing confirmed yet");
    deposit(&pool, 1_000).await;

    // 30 debits of 100 race for 1,000.
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let ledger = ledger.clone();
            tokio::spawn(
                async move { ledger.debit_balance(&request(service, credential, &format!("k{i}"), 100)).await },
            )
        })
        .collect();
    let mut accepted = Vec::new();
    for task in tasks {
        match task.await.unwrap().unwrap() {
            DebitDecision::Accepted(debit) => accepted.push(debit.idempotency_key),
            DebitDecision::Insufficient { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(accepted.len(), 10);
    let balance = ledger.balance(&account()).await.unwrap();
    assert_eq!(
        (balance.available, balance.spent, balance.pending_debits),
        (U256::ZERO, U256::from(1_000), U256::from(1_000))
    );

    // A repeat of an accepted key (which ones won the race varies) pays nothing more and answers the debit it made.
    let key = &accepted[0];
    let DebitDecision::Repeat(repeat) = ledger.debit_balance(&request(service, credential, key, 100)).await.unwrap()
    else {
        panic!("{key} was accepted, so its repeat is a repeat");
    };
    assert_eq!(&repeat.idempotency_key, key);
    assert_eq!(ledger.balance(&account()).await.unwrap().spent, U256::from(1_000));
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_refused_debit_gives_its_amount_back_and_a_reopened_one_takes_it_again(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    let (service, credential) = setup(&ledger, None).await;
    deposit(&pool, 300).await;
    let DebitDecision::Accepted(first) = ledger.debit_balance(&request(service, credential, "a", 200)).await.unwrap()
    else {
        panic!("accepted");
    };
    assert!(matches!(
        ledger.debit_balance(&request(service, credential, "b", 200)).await.unwrap(),
        DebitDecision::Insufficient { available } if available == U256::from(100)
    ));

    // The batcher posts it; the vault refuses it (say, the agent's withdrawal unlocked first).
    let claim = BatchClaim {
        chain_id: CHAIN,
        asset: TOKEN,
        route: RouteKind::VaultDebit,
        relayer: Address::repeat_byte(0x4e),
        tx_nonce: 0,
        limit: 100,
        cutoff: 0,
        now: 0,
    };
    let (batch, actions) = ledger.claim_action_batch(&claim).await.unwrap().unwrap();
    assert_eq!(actions.iter().map(|a| a.id).collect::<Vec<_>>(), [first.action_id]);
    let sent = BatchTransaction {
        tx_hash: B256::repeat_byte(9),
        raw_tx: Bytes::from(vec![9; 100]),
        gas_limit: 1_000_000,
        fees: TxFees { max_fee_per_gas: 2_000_000_000, max_priority_fee_per_gas: 1_000_000 },
    };
    ledger.record_broadcast(batch, &sent).await.unwrap();
    let mined = Mined { tx_hash: B256::repeat_byte(9), block_number: 2, block_hash: B256::repeat_byte(0xcc) };
    let refused = ItemResolution::Failed { reason: Reason::UnexpectedSettleError, revert: Bytes::from(vec![1]) };
    ledger.resolve_action_batch(batch, &mined, &[(first.action_id, refused)]).await.unwrap();
    let debit = ledger.balance_debit(first.id).await.unwrap().unwrap();
    assert_eq!(debit.status, SettlementStatus::Failed, "visible as refused, never dropped");
    let balance = ledger.balance(&account()).await.unwrap();
    assert_eq!((balance.available, balance.spent), (U256::from(300), U256::ZERO), "the amount is back");

    // A reorg reopens the batch: the debit is in flight again and holds its amount again.
    sqlx::query("UPDATE escrow_actions SET status = 'submitted' WHERE id = $1")
        .bind(first.action_id.0)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(ledger.balance(&account()).await.unwrap().available, U256::from(100));
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_daily_cap_counts_every_accepted_debit_of_the_credential(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    let (service, credential) = setup(&ledger, Some(250)).await;
    deposit(&pool, 1_000).await;
    let capped = |key: &str, amount| DebitRequest {
        max_per_day: Some(U256::from(250)),
        ..request(service, credential, key, amount)
    };
    assert!(matches!(ledger.debit_balance(&capped("1", 100)).await.unwrap(), DebitDecision::Accepted(_)));
    assert!(matches!(ledger.debit_balance(&capped("2", 100)).await.unwrap(), DebitDecision::Accepted(_)));
    assert_eq!(
        ledger.debit_balance(&capped("3", 100)).await.unwrap(),
        DebitDecision::OverDailyCap { spent: U256::from(200), cap: U256::from(250) }
    );
    assert!(matches!(ledger.debit_balance(&capped("4", 50)).await.unwrap(), DebitDecision::Accepted(_)));
    assert_eq!(ledger.balance(&account()).await.unwrap().spent, U256::from(250));

    // A debit that ends unpaid (here the first one's action fails, as a refunded hold's does) leaves the day's
    // count as it leaves the balance: the credential may spend it again today.
    let first = match ledger.debit_balance(&capped("1", 100)).await.unwrap() {
        DebitDecision::Repeat(debit) => debit,
        other => panic!("a repeat, not {other:?}"),
    };
    sqlx::query("UPDATE escrow_actions SET status = 'failed' WHERE id = $1")
        .bind(first.action_id.0)
        .execute(&pool)
        .await
        .unwrap();
    assert!(matches!(ledger.debit_balance(&capped("5", 100)).await.unwrap(), DebitDecision::Accepted(_)));
    assert_eq!(
        ledger.debit_balance(&capped("6", 1)).await.unwrap(),
        DebitDecision::OverDailyCap { spent: U256::from(250), cap: U256::from(250) }
    );
}

/// Debits accepted within one second are listed newest first: the history orders by the debit's exact time, not by
/// whole seconds (three jobs bought in one second once came back oldest first).
#[sqlx::test(migrator = "MIGRATOR")]
async fn the_history_lists_debits_of_one_second_newest_first(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    let (service, credential) = setup(&ledger, None).await;
    deposit(&pool, 1_000).await;
    let mut ids = Vec::new();
    for (key, tenths) in [("a", 1), ("b", 5), ("c", 9)] {
        let DebitDecision::Accepted(debit) =
            ledger.debit_balance(&request(service, credential, key, 100)).await.unwrap()
        else {
            panic!("{key} was not accepted")
        };
        sqlx::query(
            "UPDATE balance_debits SET created_at = timestamptz '2026-12-06 12:00:00+00' + $2 * interval '100 ms'
             WHERE id = $1",
        )
        .bind(debit.id)
        .bind(f64::from(tenths))
        .execute(&pool)
        .await
        .unwrap();
        ids.push(debit.id);
    }
    let listed: Vec<Uuid> = ledger
        .balance_history(&account(), 10, 0)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|entry| match entry {
            HistoryEntry::Debit(debit) => Some(debit.id),
            HistoryEntry::Chain { .. } => None,
        })
        .collect();
    ids.reverse();
    assert_eq!(listed, ids, "newest first");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_deposit_counts_at_its_own_chains_confirmed_height_not_another_chains(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    let (service, credential) = setup(&ledger, None).await;
    // The agent's chain has confirmed block 1; another chain under the same indexer name has confirmed block 100.
    deposit(&pool, 1_000).await;
    sqlx::query(
        "INSERT INTO indexer_checkpoints (chain_id, indexer, block_number, block_hash, confirmed_block)
         VALUES (8453, 'clearing', 100, $1, 100)",
    )
    .bind(B256::repeat_byte(3).as_slice())
    .execute(&pool)
    .await
    .unwrap();
    // A second deposit at block 5 of the agent's chain: indexed, not confirmed.
    sqlx::query(
        "INSERT INTO vault_events (chain_id, block_number, log_index, tx_hash, vault, token, kind, account, amount)
         VALUES ($1, 5, 0, $2, $3, $4, 'deposited', $5, 500)",
    )
    .bind(CHAIN as i64)
    .bind(B256::repeat_byte(4).as_slice())
    .bind(VAULT.as_slice())
    .bind(TOKEN.as_slice())
    .bind(AGENT.as_slice())
    .execute(&pool)
    .await
    .unwrap();

    let balance = ledger.balance(&account()).await.unwrap();
    assert_eq!((balance.deposited, balance.available), (U256::from(1_000), U256::from(1_000)));
    let refused = ledger.debit_balance(&request(service, credential, "over", 1_100)).await.unwrap();
    assert_eq!(refused, DebitDecision::Insufficient { available: U256::from(1_000) });
    let history = ledger.balance_history(&account(), 10, 0).await.unwrap();
    assert_eq!(history.len(), 1, "only the confirmed deposit: {history:?}");
}
