//! The indexer on a real anvil (the npm binary) and PostgreSQL (`DATABASE_URL`; each test gets its own database
//! from `#[sqlx::test]`): live indexing through reorgs of depth 1, 5 and 64, a crash between the data and the
//! checkpoint, a flaky RPC proxy, and the facilitator's queue items confirmed at depth and
//! reopened by a reorg; after each, the projections equal a rebuild from chain data.

mod faults;
mod proxy;
mod reorg;
mod settlement;
mod support;
