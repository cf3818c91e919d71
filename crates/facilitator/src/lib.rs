//! The x402 facilitator.
//!
//! This crate will own `/verify`, `/settle` and `/supported`, the durable settlement queue keyed by
//! (payer, nonce) and the batcher that relays queued payments through `BatchSettler` (issue 3). It holds no
//! SQL (that is `clearing-ledger`) and no contract bindings (that is `clearing-chain`).
