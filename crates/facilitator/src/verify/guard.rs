//! Whether a token's rules may have changed since a block, read from the token's own logs.
//!
//! Verify simulates each payment's `transferWithAuthorization` with the token's code. A success at block S stays a
//! success at a later head H as long as nothing the simulation depended on changed, and verify reads the balance,
//! the nonce and the payer's code again at H anyway. What is left is the token's own state: pause, blacklists, an
//! upgrade, new rules. Every such change on FiatToken emits a log from the token's address (`Pause`, `Blacklisted`,
//! `Upgraded`, …), so when the token emitted nothing but transfers, approvals, mints, burns and authorization logs
//! between S and H, the success is carried to H without running the transfer again, which is most of what a verify
//! read costs the node.
//!
//! The head poller scans the watched tokens' logs for each new head before it reports it ([`TokenGuard::scan`]), so
//! every head a read is pinned to has been scanned. A scan that fails stops all carrying until scans cover the
//! range again. Blocks within [`REORG_DEPTH`] of a simulation are scanned too: a shallow reorg that brings a
//! blacklisting into a block the simulation saw differently still stops the carry.

use std::sync::{Mutex, atomic::Ordering};

use alloy::{
    primitives::{
        Address, B256,
        map::{HashMap, HashSet},
    },
    providers::Provider,
    rpc::types::Filter,
    sol_types::SolEvent,
};
use clearing_chain::ChainProvider;

use crate::Metrics;

alloy::sol! {
    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);
    event AuthorizationUsed(address indexed authorizer, bytes32 indexed nonce);
    event AuthorizationCanceled(address indexed authorizer, bytes32 indexed nonce);
    event Mint(address indexed minter, address indexed to, uint256 amount);
    event Burn(address indexed burner, uint256 amount);
}

/// Blocks below a simulation's that are scanned as well, in case a reorg replaced them.
pub(crate) const REORG_DEPTH: u64 = 8;

/// Logs that move balances or use nonces: verify reads both again at every head, so they never stop a carry.
const BALANCE_AND_NONCE_EVENTS: [B256; 6] = [
    Transfer::SIGNATURE_HASH,
    Approval::SIGNATURE_HASH,
    AuthorizationUsed::SIGNATURE_HASH,
    AuthorizationCanceled::SIGNATURE_HASH,
    Mint::SIGNATURE_HASH,
    Burn::SIGNATURE_HASH,
];

/// The tokens whose logs are scanned and what the scans found; shared by the head poller and the coalescer.
#[derive(Debug, Default)]
pub(crate) struct TokenGuard {
    state: Mutex<GuardState>,
}

#[derive(Debug, Default)]
struct GuardState {
    /// Tokens to scan from the next head on.
    watched: HashSet<Address>,
    /// For each token, the first block of the unbroken run of successful scans that covers it up to `scanned_through`.
    covered_since: HashMap<Address, u64>,
    /// The last block the latest successful scan covered; `None` after a failed scan.
    scanned_through: Option<u64>,
    /// For each token, the highest block holding one of its logs that could change its rules.
    last_rule_change: HashMap<Address, u64>,
    /// The head of the latest scan.
    last_head: Option<u64>,
}

impl TokenGuard {
    /// Scans `token`'s logs from the next head on.
    pub(crate) fn watch(&self, token: Address) {
        self.lock().watched.insert(token);
    }

    /// Whether a successful simulation of a `token` transfer at block `simulated_at` still holds at `head`: every
    /// block from `REORG_DEPTH` below the simulation up to `head` was scanned and none holds a rule change.
    pub(crate) fn holds(&self, token: Address, simulated_at: u64, head: u64) -> bool {
        let state = self.lock();
        let floor = simulated_at.saturating_sub(REORG_DEPTH);
        state.scanned_through.is_some_and(|through| through >= head)
            && state.covered_since.get(&token).is_some_and(|&since| since <= floor)
            && state.last_rule_change.get(&token).is_none_or(|&block| block < floor)
    }

    /// Scans the watched tokens' logs for a new `head`, from `REORG_DEPTH` below the previous head (or this one)
    /// up to `head`. A failed scan stops every carry until the scans cover the range again.
    pub(crate) async fn scan(&self, provider: &ChainProvider, head: u64, metrics: &Metrics) -> Result<(), String> {
        let (tokens, from) = {
            let state = self.lock();
            if state.last_head == Some(head) && state.scanned_through.is_some() {
                return Ok(());
            }
            let previous = state.last_head.map_or(head, |last| last.min(head));
            (state.watched.iter().copied().collect::<Vec<_>>(), previous.saturating_sub(REORG_DEPTH))
        };
        if tokens.is_empty() {
            let mut state = self.lock();
            state.scanned_through = Some(head);
            state.last_head = Some(head);
            return Ok(());
        }
        metrics.chain_log_scans.fetch_add(1, Ordering::Relaxed);
        let filter = Filter::new().address(tokens.clone()).from_block(from).to_block(head);
        let logs = match provider.get_logs(&filter).await {
            Ok(logs) => logs,
            Err(error) => {
                let mut state = self.lock();
                state.covered_since.clear();
                state.scanned_through = None;
                state.last_head = None;
                return Err(error.to_string());
            }
        };
        let mut state = self.lock();
        for log in &logs {
            let changes_rules = log.topic0().is_none_or(|topic| !BALANCE_AND_NONCE_EVENTS.contains(topic));
            // A log without a block number is pending: count it at the head, the most cautious place.
            let block = log.block_number.unwrap_or(head);
            if changes_rules {
                let last = state.last_rule_change.entry(log.address()).or_insert(block);
                *last = (*last).max(block);
            }
        }
        for token in tokens {
            state.covered_since.entry(token).or_insert(from);
        }
        state.scanned_through = Some(head);
        state.last_head = Some(head);
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GuardState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: Address = Address::repeat_byte(0xaa);

    fn scanned(from: u64, through: u64, rule_change: Option<u64>) -> TokenGuard {
        let guard = TokenGuard::default();
        {
            let mut state = guard.lock();
            state.watched.insert(TOKEN);
            state.covered_since.insert(TOKEN, from);
            state.scanned_through = Some(through);
            state.last_head = Some(through);
            if let Some(block) = rule_change {
                state.last_rule_change.insert(TOKEN, block);
            }
        }
        guard
    }

    #[test]
    fn a_simulation_holds_while_every_block_since_was_scanned_and_quiet() {
        let guard = scanned(90, 120, None);
        assert!(guard.holds(TOKEN, 100, 120));
        assert!(!guard.holds(TOKEN, 100, 121), "the head was not scanned yet");
        assert!(!guard.holds(TOKEN, 97, 120), "the reorg margin below the simulation was not scanned");
        assert!(!guard.holds(Address::repeat_byte(0xbb), 100, 120), "another token was never scanned");
    }

    #[test]
    fn a_rule_change_after_or_just_before_the_simulation_stops_the_carry() {
        assert!(!scanned(0, 120, Some(110)).holds(TOKEN, 100, 120), "after the simulation");
        assert!(!scanned(0, 120, Some(95)).holds(TOKEN, 100, 120), "within the reorg margin");
        assert!(scanned(0, 120, Some(91)).holds(TOKEN, 100, 120), "well before the simulation, which saw it");
    }

    #[test]
    fn only_balance_and_nonce_logs_are_quiet() {
        assert!(BALANCE_AND_NONCE_EVENTS.contains(&Transfer::SIGNATURE_HASH));
        alloy::sol! { event Blacklisted(address indexed account); event Pause(); }
        assert!(!BALANCE_AND_NONCE_EVENTS.contains(&Blacklisted::SIGNATURE_HASH));
        assert!(!BALANCE_AND_NONCE_EVENTS.contains(&Pause::SIGNATURE_HASH));
    }
}
