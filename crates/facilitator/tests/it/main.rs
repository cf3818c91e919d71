//! The settle pipeline on a real anvil (the npm binary) and PostgreSQL (`DATABASE_URL`; each test gets its own
//! database from `#[sqlx::test]`).

#[path = "../../../chain/tests/it/eip3009.rs"]
mod eip3009;
mod recovery;
mod settle;
mod support;
