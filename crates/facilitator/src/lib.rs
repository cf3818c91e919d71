//! The x402 facilitator.
//!
//! This crate owns `/verify`, `/settle` and `/supported`. Today it holds the settle pipeline below the HTTP layer
//! ([`settle`]): [`Settler`] queues a verified payment durably (keyed by its on-chain identity) and waits for its
//! one outcome, and [`Batcher`] relays queued payments through `BatchSettler` from the relayer key, recording every
//! transaction before sending it and recovering in-flight batches after a restart. It holds no SQL (that is
//! `clearing-ledger`) and no contract bindings (that is `clearing-chain`); it never verifies signatures itself
//! (the verify path does, before `settle` is called).

mod error;
pub mod settle;

pub use error::{Error, Result};
pub use settle::{Batcher, PaymentToSettle, SettleConfig, SettleOutcome, SettleResult, Settler};
