//! An x402 client for payers (agents and tools).
//!
//! It owns the payer's side of x402 `exact` on EVM: [`PaymentRequired::from_response`] reads a 402 answer (the v2
//! `PAYMENT-REQUIRED` header, else the v1 JSON body), [`Policy::choose`] picks the cheapest requirement the payer
//! accepts (scheme `exact`, a known EVM network, within a spending cap), [`sign_payment`] signs an EIP-3009
//! `transferWithAuthorization` for it and builds the `PAYMENT-SIGNATURE` (v2) or `X-PAYMENT` (v1) header, and
//! [`Payer`] does the whole exchange over HTTP: request, 402, pay, retry, and read the settlement from
//! `PAYMENT-RESPONSE` / `X-PAYMENT-RESPONSE`. The key stays in the signer; nothing here logs it or a signature.

mod error;
mod offer;
mod payer;
mod sign;

pub use error::{Error, Result};
pub use offer::{Offer, PaymentRequired, Policy, Refusal};
pub use payer::{Paid, Payer, Payment};
pub use sign::{PaymentHeader, VALID_AFTER_SKEW_SECS, sign_payment};
