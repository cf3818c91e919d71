//! The x402 facilitator.
//!
//! This crate owns `/verify`, `/settle` and `/supported`. Verify runs the pure checks of `clearing-x402`, then
//! one coalesced chain read for nonce, balance, code and ERC-1271, pinned to a polled head and reused while that
//! block is the head ([`verify`]). Settle ([`settle`]): [`Settler`]
//! queues a verified payment durably (keyed by its on-chain identity) and waits for its one outcome, and
//! [`Batcher`] relays queued payments through `BatchSettler` from the relayer key, recording every transaction
//! before sending it and recovering in-flight batches after a restart. It holds no SQL (that is
//! `clearing-ledger`) and no contract bindings (that is `clearing-chain`); configuration arrives as typed values,
//! never from argv or the environment.

mod clock;
mod error;
mod health;
mod inflight;
mod metrics;
mod service;

pub mod http;
pub mod settle;
pub mod verify;

pub use clock::{Clock, FixedClock, SystemClock};
pub use error::{Error, Result};
pub use health::{DATABASE_TIMEOUT, Health, HealthReport, PartState};
pub use inflight::InFlight;
pub use metrics::{Histogram, Metrics, Outcomes};
pub use service::{Facilitator, FacilitatorConfig, SettleSetup};
pub use settle::{Batcher, PaymentToSettle, SettleConfig, SettleOutcome, SettleResult, Settler};
pub use verify::{
    CoalescerConfig, ReadCoalescer, ReadError, USED_BY_LOOKBACK_BLOCKS, UsedBy, Verifier, WalletSignature,
};
