//! `clearing-chain` against a real anvil from the repository's `node_modules`.

mod deploy;
mod eip3009;
mod reader;
mod relayer;

use std::path::PathBuf;

use alloy::node_bindings::{Anvil, AnvilInstance};

/// A fresh anvil (the npm binary) on a free port.
pub(crate) fn anvil() -> AnvilInstance {
    let binary = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../node_modules/.bin/anvil");
    assert!(binary.exists(), "{} is missing: run `npm ci`", binary.display());
    Anvil::at(binary).spawn()
}
