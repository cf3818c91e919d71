//! Signed webhooks to Clearing's marketplace participants.
//!
//! This crate owns how an event leaves Clearing: the signature headers ([`sign`]: Standard Webhooks' `webhook-id`,
//! `webhook-timestamp` and `webhook-signature`, beside the402's `X-Webhook-Timestamp` and `X-Webhook-Signature`),
//! endpoint secrets ([`generate_secret`]), the guard that keeps deliveries off private networks ([`check_url`] at
//! registration, and the same rules at every connection, pinned to the addresses checked), and the [`Dispatcher`]
//! that delivers the ledger's outbox: concurrently, with retries on Standard Webhooks' schedule, `Retry-After`
//! honoured, 410 disabling the endpoint, in order per ordering key, and safely beside other processes' dispatchers
//! (all coordination is claims and leases in PostgreSQL). [`WebhooksConfig`] is the configuration's `[webhooks]`
//! section. It holds no SQL (the ledger's webhooks module does), never logs a secret or a body, never puts an API
//! key in a header, and knows nothing of the market's routes (the market registers endpoints and enqueues events
//! through `clearing-ledger`). docs/WEBHOOKS.md is the receiver's guide.

mod config;
mod deliver;
mod dispatcher;
mod error;
mod guard;
mod schedule;
mod sign;

pub use clearing_ledger::{WebhookEventId, WebhookSecret};
pub use config::WebhooksConfig;
pub use dispatcher::Dispatcher;
pub use error::{Error, Result};
pub use guard::{UrlRefused, check_url, refused_range};
pub use schedule::{STANDARD_RETRY_SCHEDULE_MS, parse_retry_after};
pub use sign::{
    LEGACY_SIGNATURE, LEGACY_TIMESTAMP, SignedHeaders, WEBHOOK_ID, WEBHOOK_SIGNATURE, WEBHOOK_TIMESTAMP,
    generate_secret, sign,
};
