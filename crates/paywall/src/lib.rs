//! The x402 resource-server side for axum (and any tower stack): [`Paywall`] prices a route, answers 402 with
//! both the v1 JSON body and the v2 `PAYMENT-REQUIRED` header, verifies a payment through a facilitator's
//! `POST /verify`, runs the handler, settles through `POST /settle`, and attaches `PAYMENT-RESPONSE` (v2) or
//! `X-PAYMENT-RESPONSE` (v1).
//!
//! It must never hand out a resource whose payment did not settle: by default the handler runs first and its
//! (successful, 2xx) response is held back until settlement succeeds, and dropped if it does not; with
//! [`Paywall::settle_before_handler`] the handler runs only after settlement succeeded. It owns no keys and no chain
//! access: verification and settlement are the facilitator's ([`FacilitatorClient`], plain HTTP). Its one piece of
//! state is the payloads whose settle got no answer (the facilitator may have settled them and lost the reply): a
//! retry of such a payload answered `invalid_exact_evm_nonce_already_used` with the transaction is served, once.

mod client;
mod error;
mod paywall;
mod response;
mod unanswered;

pub use client::{DEFAULT_FACILITATOR_TIMEOUT, FacilitatorClient};
pub use error::{Error, Result};
pub use paywall::{DEFAULT_PENDING_RETRIES, Paywall, PaywallService};
// What a route costs and the 402 offering it are `clearing-x402`'s, shared with the market's in-process edge.
pub use clearing_x402::{BASE_SEPOLIA_USDC, BASE_USDC, DEFAULT_MAX_TIMEOUT_SECONDS, Price};
pub use response::FACILITATOR_ERROR;
