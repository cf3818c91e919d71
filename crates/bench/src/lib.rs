//! Clearing's facilitator and indexer benchmarks.
//!
//! This crate owns the numbers behind `script/bench`: it starts anvil as a child, deploys MockUSDC and the suite,
//! mints to many payers, runs the facilitator in-process on a free loopback port with a fresh database, and
//! measures verify throughput and latency over HTTP, RPC calls per verify, settled payments per second through
//! `POST /settle`, and gas per payment from the batch receipts. It only measures: it must not change how the
//! facilitator behaves (it sets configuration, nothing else), and it never leaves loopback. [`run_index`] measures the
//! indexer the same way: a backlog of events on anvil ingested into a fresh database, then a reorg; [`run_market`] the
//! marketplace's catalog: 100,000 services listed, then `GET /v1/services/catalog` under load; [`run_webhooks`] the
//! webhook dispatcher draining an outbox of 20,000 events to a receiver on loopback, then delivering live ones;
//! [`run_purchases`] the marketplace's purchases: `POST /v1/services/{id}/purchase` paid into the escrow, jobs funded
//! per second on anvil with 1 s blocks; [`run_balances`] purchases paid from a prepaid balance (`X-BALANCE-AUTH`),
//! answered from PostgreSQL, and how long the vault's batches take to apply them.

mod anvil;
mod balance;
mod index;
mod load;
mod market;
mod payments;
mod purchase;
mod purchase_report;
mod renewal;
mod report;
mod run;
mod webhooks;

pub use anvil::{AnvilChild, BLOCK_GAS_LIMIT};
pub use balance::{BalanceOptions, BalanceRow, CpuPerPurchase, run_balances};
pub use index::{IndexOptions, IndexReport, run_index};
pub use load::{Carry, Load, LoadResult, Plan};
pub use market::{MarketOptions, MarketReport, MarketRow, VOCABULARY, run_market};
pub use payments::{REPEAT_GAP, VALIDITY_SECS, repeated, signed_bodies};
pub use purchase::{PRICE, PurchaseOptions, run_purchases};
pub use purchase_report::{PurchaseReport, PurchaseRow};
pub use renewal::{RenewalOptions, RenewalReport, run_renewals};
pub use report::{Report, SettleRow, VerifyRow, machine};
pub use run::{Options, run};
pub use webhooks::{Cores, LiveRow, WebhookOptions, WebhookReport, WebhookRow, run_webhooks};
