//! Ledger tests on a real PostgreSQL (`DATABASE_URL`; each test gets a fresh database from `#[sqlx::test]`).

mod migrations;
mod settlements;
