//! The marketplace API, served under `/v1` beside the facilitator by `clearing serve` and `clearing dev`.
//!
//! This crate owns the market's HTTP surface: participants and their API keys (registration and key rotation paid
//! through x402), the services providers list, the catalog agents search, purchases and jobs, digital products (files
//! sold for one x402 payment, kept content-addressed behind `clearing-storage`'s [`ContentStore`]), prepaid balances
//! (x402 deposits into the vault, scoped credentials, purchases debited from PostgreSQL at once), and each
//! participant's webhook delivery log with manual redelivery. Its seams for what comes next (threads, quotes) are [`Market`] (the
//! shared state; its [`Market::router`] merges each module's routes), [`MarketError`] (the one error shape of `/v1`),
//! [`Authenticated`] (the `X-API-Key` extractor) and [`X402Edge`] (a paid route's price, its 402, and its payment
//! verified and settled in this process through the facilitator's queue). It holds no SQL (that is
//! `clearing-ledger`'s `market` and `webhooks` modules) and reads no file, argv or environment: [`MarketConfig`]
//! arrives typed. Amounts are [`clearing_x402::Usdc`] inside and six-decimal strings on the wire.

mod auth;
mod balance;
mod body;
mod catalog;
mod catalog_index;
mod config;
mod edge;
mod error;
pub mod fees;
mod front_runs;
mod jobs;
mod limit;
mod openapi;
mod participants;
mod products;
mod schema;
mod services;
mod state;
pub mod subscriptions;
pub mod webhook_url;
mod webhooks;

pub use auth::{API_KEY_HEADER, API_KEY_PREFIX, ApiKey, Authenticated, WebhookSecret};
pub use balance::{
    credentials::{BALANCE_AUTH_HEADER, CREDENTIAL_PREFIX},
    purchase::{BALANCE_REFUSED_HEADER, IDEMPOTENCY_KEY_HEADER},
};
pub use body::JsonBody;
pub use catalog::{CatalogCache, DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET};
pub use clearing_storage::ContentStore;
pub use config::MarketConfig;
pub use edge::{Payment, PaymentDemand, Settled, Verified, X402Edge};
pub use error::{ErrorCode, MarketError, Result};
pub use jobs::{
    JobStatus,
    reactor::{Background, react_once},
};
pub use limit::Limits;
pub use openapi::openapi;
pub use schema::{check_instance, check_schema};
pub use services::MAX_PRICE;
pub use state::Market;
