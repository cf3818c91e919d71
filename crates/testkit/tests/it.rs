//! The kit's fixtures against a real anvil and PostgreSQL (`DATABASE_URL`): what tests rely on them for.

use alloy::{
    primitives::{Address, U256, address},
    providers::Provider,
};
use clearing_chain::contracts::{AnchorRegistry, Escrow};
use clearing_ledger::Ledger;
use clearing_testkit::{ANCHORER, Chain, ChainOptions, DEPLOYER, Terms, TestDatabase};
use sqlx::migrate::MigrateDatabase;

#[tokio::test]
async fn a_chain_has_mockusdc_first_and_the_suite_with_its_roles() {
    let chain = Chain::start().await;
    assert_eq!(chain.token, address!("5FbDB2315678afecb367f032d93F642f64180aa3"), "account 0's first CREATE");
    let registry = AnchorRegistry::new(chain.deployment.anchor_registry, &chain.provider);
    assert_eq!(registry.anchorer().call().await.unwrap(), chain.address(ANCHORER));
    assert_eq!(registry.admin().call().await.unwrap(), chain.address(DEPLOYER));
    let escrow = Escrow::new(chain.deployment.escrow, &chain.provider);
    assert_eq!(escrow.operator().call().await.unwrap(), chain.address(DEPLOYER));

    let payer = chain.payer(1_234).await;
    assert_eq!(chain.balance(payer.address()).await, U256::from(1_234));
    // A payment the client signed moves on chain as it says.
    let payment = Terms::new(chain.domain(), Address::repeat_byte(0x7a), 1_000).pay(&payer);
    chain.transfer_with_authorization(&payment.settle_payment()).await;
    assert_eq!(chain.balance(payer.address()).await, U256::from(234));
    assert_eq!(chain.balance(Address::repeat_byte(0x7a)).await, U256::from(1_000));
}

#[tokio::test]
async fn a_chain_can_start_at_a_given_time() {
    let chain =
        Chain::start_with(ChainOptions { genesis_timestamp: Some(1_795_246_000), ..ChainOptions::default() }).await;
    let genesis = chain.provider.get_block_by_number(0.into()).await.unwrap().unwrap();
    assert_eq!(genesis.header.timestamp, 1_795_246_000);
}

#[tokio::test]
async fn a_test_database_is_migrated_and_dropped_with_its_handle() {
    let database = TestDatabase::create("testkit_fixture").await;
    let url = database.url().to_owned();
    assert!(database.name().starts_with("clearing_test_testkit_fixture_"), "{}", database.name());
    assert_eq!(database.ledger().schema_version().await.unwrap(), Ledger::latest_migration());
    drop(database);
    assert!(!sqlx::Postgres::database_exists(&url).await.unwrap(), "dropped with its handle");
}
