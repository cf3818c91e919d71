//! The `clearing` binary, end to end, on a real anvil and PostgreSQL.

mod dev;
mod migrate;
