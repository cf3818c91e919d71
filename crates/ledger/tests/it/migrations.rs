use clearing_ledger::{Ledger, MIGRATOR};
use sqlx::PgPool;

#[sqlx::test(migrations = false)]
async fn migrate_applies_every_migration_and_is_idempotent(pool: PgPool) {
    let ledger = Ledger::from_pool(pool);
    ledger.migrate().await.unwrap();
    assert_eq!(ledger.schema_version().await.unwrap(), Ledger::latest_migration());
    ledger.migrate().await.unwrap();
    assert_eq!(ledger.schema_version().await.unwrap(), Ledger::latest_migration());
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_schema_has_the_tables_the_engine_needs(pool: PgPool) {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    for table in [
        "audit_anchors",
        "audit_heads",
        "audit_records",
        "chain_blocks",
        "chain_logs",
        "indexer_checkpoints",
        "market_catalog_counts",
        "market_catalog_price_counts",
        "market_participants",
        "market_search_term_counts",
        "market_search_terms",
        "market_services",
        "settlement_batch_transactions",
        "settlement_batches",
        "settlements",
        "webhook_deliveries",
        "webhook_endpoints",
        "webhook_events",
    ] {
        assert!(tables.iter().any(|t| t == table), "missing table {table}; have {tables:?}");
    }
}

const INSERT_SETTLEMENT: &str = "INSERT INTO settlements
    (chain_id, asset, payer, nonce, pay_to, value, valid_after, valid_before, signature, x402_version, network)
    VALUES (31337, $1, $2, $3, $1, 1000, 0, 99999999999, '\\x00', 2, 'eip155:31337')";

#[sqlx::test(migrator = "MIGRATOR")]
async fn one_authorization_is_queued_at_most_once(pool: PgPool) {
    let (asset, payer, nonce) = ([0x11u8; 20].to_vec(), [0x22u8; 20].to_vec(), [0x33u8; 32].to_vec());
    sqlx::query(INSERT_SETTLEMENT).bind(&asset).bind(&payer).bind(&nonce).execute(&pool).await.unwrap();
    let err = sqlx::query(INSERT_SETTLEMENT).bind(&asset).bind(&payer).bind(&nonce).execute(&pool).await.unwrap_err();
    let constraint = err.as_database_error().and_then(|e| e.constraint()).map(str::to_owned);
    assert_eq!(constraint.as_deref(), Some("settlements_authorization_key"));

    // Another nonce of the same payer is another authorization.
    sqlx::query(INSERT_SETTLEMENT).bind(&asset).bind(&payer).bind([0x34u8; 32].to_vec()).execute(&pool).await.unwrap();
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn malformed_identities_are_refused(pool: PgPool) {
    // A 19-byte payer is not an address.
    let err = sqlx::query(INSERT_SETTLEMENT)
        .bind([0x11u8; 20].to_vec())
        .bind([0x22u8; 19].to_vec())
        .bind([0x33u8; 32].to_vec())
        .execute(&pool)
        .await
        .unwrap_err();
    assert!(err.as_database_error().is_some_and(|e| e.is_check_violation()), "{err}");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_submitted_settlement_must_name_its_batch(pool: PgPool) {
    let (asset, payer, nonce) = ([0x11u8; 20].to_vec(), [0x22u8; 20].to_vec(), [0x33u8; 32].to_vec());
    sqlx::query(INSERT_SETTLEMENT).bind(&asset).bind(&payer).bind(&nonce).execute(&pool).await.unwrap();
    let err = sqlx::query("UPDATE settlements SET status = 'submitted'").execute(&pool).await.unwrap_err();
    let constraint = err.as_database_error().and_then(|e| e.constraint()).map(str::to_owned);
    assert_eq!(constraint.as_deref(), Some("settlements_submitted_has_batch"));
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_log_is_stored_once_per_block_hash_and_index(pool: PgPool) {
    let insert = "INSERT INTO chain_logs
        (chain_id, block_number, block_hash, log_index, tx_hash, tx_index, address, topics, data)
        VALUES (31337, 7, $1, 0, $2, 0, $3, ARRAY[$2]::bytea[], '\\x')";
    let (block, tx, address) = ([0xaau8; 32].to_vec(), [0xbbu8; 32].to_vec(), [0xccu8; 20].to_vec());
    sqlx::query(insert).bind(&block).bind(&tx).bind(&address).execute(&pool).await.unwrap();
    let err = sqlx::query(insert).bind(&block).bind(&tx).bind(&address).execute(&pool).await.unwrap_err();
    assert!(err.as_database_error().is_some_and(|e| e.is_unique_violation()), "{err}");
    // The same position in a competing block (another hash) is another log.
    sqlx::query(insert).bind([0xabu8; 32].to_vec()).bind(&tx).bind(&address).execute(&pool).await.unwrap();
}

#[sqlx::test(migrator = "clearing_ledger::MIGRATOR")]
async fn a_constraint_violation_is_not_transient_and_a_lost_connection_is(pool: PgPool) {
    // The schema's own check refuses a negative block number: retrying would refuse it again.
    let refused = sqlx::query(
        "INSERT INTO chain_blocks (chain_id, number, hash, parent_hash, timestamp)
         VALUES (1, -1, decode(repeat('00', 32), 'hex'), decode(repeat('00', 32), 'hex'), 0)",
    )
    .execute(&pool)
    .await
    .unwrap_err();
    assert!(!clearing_ledger::Error::from(refused).is_transient());

    pool.close().await;
    let closed = sqlx::query("SELECT 1").execute(&pool).await.unwrap_err();
    assert!(clearing_ledger::Error::from(closed).is_transient());
}
