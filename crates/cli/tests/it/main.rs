//! The `clearing` binary, end to end, on a real anvil and PostgreSQL.

mod audit;
mod crash;
mod dev;
#[path = "../../../chain/tests/it/eip3009.rs"]
mod eip3009;
mod lost_answer;
mod migrate;
// The audit crate's chain-and-ledger fixture; some of its helpers only the audit tests use.
#[allow(dead_code)]
#[path = "../../../audit/tests/it/support.rs"]
mod support;
