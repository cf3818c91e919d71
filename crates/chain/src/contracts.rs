//! Bindings generated with `sol!` from the artifacts `build.rs` compiled: one module per contract, each with
//! its calls, events, errors, structs, bytecode and an `rpc` instance type.
//!
//! - [`BatchSettler`]: relays many x402 `exact` authorizations in one transaction.
//! - [`Escrow`]: marketplace jobs, funded by `receiveWithAuthorization` with the job id as nonce.
//! - [`AnchorRegistry`]: append-only Merkle roots of settlement records.
//! - [`BalanceVault`]: agents' prepaid balances: x402 deposits, the operator's batched debits, claims, the exit.
//! - [`Subscriptions`]: recurring charges from vault balances, at most once per period.
//! - [`VerifyReader`]: never deployed; its creation code answers a batch of verify reads in one `eth_call`.
//! - [`CodeReader`]: never deployed; its creation code says which of a list of accounts have code.
//! - [`MockUSDC`]: the FiatToken v2.2 stand-in deployed on dev chains: the token's interface (call it at the proxy).
//! - [`MockUSDCProxy`]: deploys MockUSDC as USDC is deployed (proxy, implementation, signature checker); its
//!   address is the token's.
//! - [`IndexerLoadEmitter`]: test and benchmark only: emits the settler's and escrow's events in bulk.
//! - [`GasBurningWallet`]: test only: a contract wallet that burns its gas on chain but not in a simulation, or
//!   spends a fixed amount in both.

#![allow(clippy::too_many_arguments, unreachable_pub)]

include!(concat!(env!("OUT_DIR"), "/bindings.rs"));
