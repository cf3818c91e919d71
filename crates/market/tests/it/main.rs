//! The market on a real anvil (the npm binary, through `clearing-testkit`) and PostgreSQL (`DATABASE_URL`; each test
//! gets a database of its own from `TestDatabase`), served over real HTTP as `clearing serve` assembles it; paid routes
//! are paid by `clearing-client` and settled by the facilitator's batcher.

mod balance_jobs;
mod balances;
mod catalog;
mod catalog_index;
mod disputes;
mod front_run_fees;
mod front_runs;
mod harness;
mod hostile;
mod jobs;
mod limits;
mod openapi;
mod product_balance;
mod products;
mod register;
mod reorg;
mod services;
mod signatures;
mod subscriptions;
mod webhooks;
