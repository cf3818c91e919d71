//! The `clearing` binary, end to end, on a real anvil and PostgreSQL.

mod crash;
mod dev;
mod migrate;
