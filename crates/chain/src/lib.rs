//! Clearing's contracts, seen from Rust.
//!
//! This crate owns the alloy bindings of the contracts in `contracts/src` (compiled by `build.rs` with
//! foundry-compilers through the repository's solc-js wrapper, so the bindings can never drift from the
//! Solidity), the one place a provider stack is built, and the deployment of the suite to any RPC endpoint.
//! The [`Relayer`] signs, sends and follows batch transactions ([`BatchCall`]: `BatchSettler` settlements and the
//! escrow's batched fundings and credits) with explicit nonces, and [`reason`] maps a
//! token's revert data to x402 reason codes. A configured private key is held as a [`Secret`], which never prints.
//! It holds no SQL and no HTTP; other crates reach the chain only through what is exported here.

mod batch;
mod deploy;
mod error;
mod provider;
mod reader;
mod relayer;
mod secret;

pub mod contracts;
pub mod reason;

pub use batch::{
    BatchCall, BatchOutcome, Debit, DirectPayment, ItemOutcome, JobTerms, MinedTx, SettlePayment, Step, StepKind,
    SubscriptionOperation, SubscriptionTerms, TransferDeposit, TransferFunding, TransferredDeposit, decode_receipt,
    job_id, subscription_id,
};
pub use deploy::{DeployConfig, Deployment, deploy_mock_usdc, deploy_suite, mint_mock_usdc};
pub use error::{Error, Result};
pub use provider::{ChainProvider, connect, connect_with_signer};
pub use reader::{
    MAX_VERIFY_READS, Simulation, TokenRefusal, VerifyAnswer, VerifyRead, read_code, read_verify_batch,
    verify_batch_budget, verify_read_size,
};
pub use relayer::{
    CONTRACT_ITEM_GAS_REQUIRED, Fees, ITEM_GAS_REQUIRED, MAX_BATCH_GAS, Relayer, SignedBatch, batch_gas_limit,
};
pub use secret::Secret;
