//! Test fixtures shared by Clearing's crates; a dev-dependency only (and the benchmark's payment source).
//!
//! This crate owns what tests need from outside the crate under test: an anvil from the repository's
//! `node_modules` with MockUSDC and the suite deployed ([`Chain`]) and its accounts' roles, funded payers, real
//! chain activity (BatchSettler batches, escrow jobs, anchors), EIP-3009 authorizations signed through
//! `clearing-x402`'s digests ([`sign`]), x402 payments signed by the product's client `clearing-client` with the
//! `/verify` and `/settle` bodies that carry them ([`Terms`], [`SignedPayment`]), throwaway ledger databases
//! migrated by `clearing-ledger` ([`TestDatabase`]), and a router's route table ([`routed_paths`]) for the tests that
//! walk it against its OpenAPI document. It asserts nothing about the product: a fixture that
//! cannot be set up panics with what went wrong.

mod activity;
mod chain;
mod database;
mod payment;
mod routes;
pub mod sign;

pub use activity::{ESCROW_PAYER, ESCROW_PROVIDER, Job};
pub use chain::{ANCHORER, Chain, ChainOptions, DEPLOYER, MINTER, TOKEN_NAME, TOKEN_VERSION, anvil, anvil_binary};
pub use database::{TestDatabase, database_url};
pub use payment::{DEFAULT_MAX_TIMEOUT_SECONDS, RESOURCE, SignedPayment, Terms, pay, pay_at};
pub use routes::routed_paths;
pub use sign::{now, unique};
