//! The `clearing` binary, end to end, on a real anvil and PostgreSQL.

mod audit;
mod crash;
mod dev;
mod lost_answer;
mod market_processes;
mod market_support;
mod migrate;
