//! Ledger tests on a real PostgreSQL (`DATABASE_URL`; each test gets a fresh database from `#[sqlx::test]`).

mod audit;
mod balance_batches;
mod balance_jobs;
mod balances;
mod catalog_changes;
mod index;
mod market;
mod migrations;
mod product_sales;
mod routes;
mod scratch;
mod search_terms;
mod settlements;
mod subscriptions;
mod webhooks;
