//! The facilitator on a real anvil (the npm binary, through `clearing-testkit`) and PostgreSQL (`DATABASE_URL`;
//! settle tests get their own database from `#[sqlx::test]`, and those that leave a whole facilitator running to the
//! end one from `TestDatabase`): HTTP through `tower::ServiceExt::oneshot`, verify, and the settle pipeline.

mod carried_simulation;
mod escrow_routes;
mod forged_settle;
mod griefing;
mod harness;
mod health;
mod http;
mod http_server;
mod http_settle;
mod openapi;
mod pipeline;
mod recovery;
mod refusals;
mod settle;
mod support;
mod verify;
mod verify_cache;
