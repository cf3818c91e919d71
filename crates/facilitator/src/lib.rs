//! The x402 facilitator.
//!
//! This crate owns `/verify`, `/settle` and `/supported`: verifying x402 `exact` payments (the pure checks of
//! `clearing-x402`, then one coalesced chain read for nonce, balance, code and ERC-1271), and settling them
//! through the durable queue in `clearing-ledger` and `BatchSettler` transactions from `clearing-chain`. It holds
//! no SQL and no contract bindings of its own; configuration arrives as typed values, never from argv or the
//! environment.

mod clock;
mod inflight;
mod metrics;
mod service;

pub mod http;
pub mod verify;

pub use clock::{Clock, FixedClock, SystemClock};
pub use inflight::InFlight;
pub use metrics::{Histogram, Metrics, Outcomes};
pub use service::{Facilitator, FacilitatorConfig};
pub use verify::{CoalescerConfig, ReadCoalescer, ReadError, Verifier};
