use alloy::primitives::Address;
use serde::{Deserialize, Serialize};

/// Confirmation depth on anvil (chain 31337): blocks are mined on demand and reorgs happen only when a test asks,
/// so two blocks keep the observed/confirmed phases visible without slowing development down.
pub const ANVIL_CONFIRMATIONS: u64 = 2;
/// Confirmation depth on Base Sepolia (84532): 30 blocks, about a minute at 2 s blocks.
pub const BASE_SEPOLIA_CONFIRMATIONS: u64 = 30;
/// Confirmation depth on Base (8453): 60 blocks, about 2 minutes at 2 s blocks, when the L1 batch holding them is
/// posted and the node's `safe` head passes them (docs/PROTOCOL.md, "Base finality").
pub const BASE_CONFIRMATIONS: u64 = 60;
/// Confirmation depth on any other chain.
pub const DEFAULT_CONFIRMATIONS: u64 = 64;

/// The confirmation depth used on `chain_id` when the configuration names none.
pub const fn default_confirmations(chain_id: u64) -> u64 {
    match chain_id {
        31337 => ANVIL_CONFIRMATIONS,
        84532 => BASE_SEPOLIA_CONFIRMATIONS,
        8453 => BASE_CONFIRMATIONS,
        _ => DEFAULT_CONFIRMATIONS,
    }
}

/// `[indexer]`: how the indexer follows the chain. Every field has a default; none has an environment override.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IndexerConfig {
    /// Whether `clearing serve` and `clearing dev` run the indexer beside the facilitator. Default true.
    pub enabled: bool,
    /// First block to index. Default: the deployment's `start_block`.
    pub start_block: Option<u64>,
    /// Blocks a log must be under the head to count as confirmed. Default per chain: anvil 2, Base Sepolia 30,
    /// Base 60, others 64 ([`default_confirmations`]).
    pub confirmations: Option<u64>,
    /// Blocks of (number, hash, parent hash) remembered below the checkpoint to find a fork point; a deeper reorg
    /// stops the indexer. Default 256. At least the confirmation depth.
    pub reorg_window: u64,
    /// Blocks per `eth_getLogs` range to begin with, fetched alone: its answer's density of logs sizes the ranges
    /// fetched concurrently after it, so it bounds the memory of the first answer. Default 50.
    pub initial_range: u64,
    /// Largest range: ranges double after each success up to it and halve on a range or size error. Default 5000.
    pub max_range: u64,
    /// A range returning more logs is split and fetched again, which bounds memory whatever the backlog (a single
    /// block with more logs is taken whole). Default 20000.
    pub max_logs_per_range: usize,
    /// Ranges fetched at once while the previous ones are written. Default 4.
    pub fetch_concurrency: usize,
    /// How often the head is polled once caught up, in milliseconds. Default 1000.
    pub poll_interval_ms: u64,
    /// First retry delay of a failed RPC call, in milliseconds; doubles up to `retry_max_ms`. Default 100.
    pub retry_initial_ms: u64,
    /// Longest retry delay, in milliseconds. Default 5000.
    pub retry_max_ms: u64,
    /// Attempts of one RPC call before the round is abandoned and started again. Default 8.
    pub retry_attempts: u32,
    /// Accounts whose token `Transfer`s (from or to) and `AuthorizationUsed`s are followed. Default: none beyond
    /// the escrow, which is always followed.
    pub token_accounts: Vec<Address>,
}

impl Default for IndexerConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            start_block: None,
            confirmations: None,
            reorg_window: 256,
            initial_range: 50,
            max_range: 5000,
            max_logs_per_range: 20_000,
            fetch_concurrency: 4,
            poll_interval_ms: 1000,
            retry_initial_ms: 100,
            retry_max_ms: 5000,
            retry_attempts: 8,
            token_accounts: Vec::new(),
        }
    }
}

/// The contracts one indexer follows on one chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Targets {
    /// The chain.
    pub chain_id: u64,
    /// The block before the first one indexed is the checkpoint of a new index.
    pub start_block: u64,
    /// `BatchSettler`.
    pub batch_settler: Address,
    /// `Escrow`.
    pub escrow: Address,
    /// `AnchorRegistry`.
    pub anchor_registry: Address,
    /// `BalanceVault`, if deployed.
    pub balance_vault: Option<Address>,
    /// `Subscriptions`, if deployed.
    pub subscriptions: Option<Address>,
    /// The token whose `Transfer` and `AuthorizationUsed` logs are followed for the escrow and `token_accounts`;
    /// none follows no token logs.
    pub token: Option<Address>,
}
