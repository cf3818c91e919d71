//! `clearing-chain` against a real anvil from the repository's `node_modules`.

mod deploy;
mod reader;
mod relayer;
