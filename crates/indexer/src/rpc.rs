//! The node, as the indexer uses it: the head, block headers and logs, each call retried with capped exponential
//! backoff, and range or size errors of `eth_getLogs` told apart so the caller can split the range.

use std::time::Duration;

use alloy::{
    eips::BlockNumberOrTag,
    primitives::{Address, B256},
    providers::Provider,
    rpc::types::{Filter, Log},
    sol_types::SolEvent,
    transports::{RpcError, TransportError, TransportErrorKind},
};
use clearing_chain::{ChainProvider, contracts::MockUSDC};
use clearing_ledger::BlockRef;
use tracing::debug;

use crate::{Error, IndexerConfig, Result};

/// How an `eth_getLogs` failure is handled.
#[derive(Debug)]
pub(crate) enum LogsFault {
    /// The node refuses the range or the size of its answer: split it.
    TooLarge,
    /// Anything else: retry later.
    Other(TransportError),
}

/// The node with the indexer's retry policy.
#[derive(Debug, Clone)]
pub(crate) struct Rpc {
    provider: ChainProvider,
    initial: Duration,
    max: Duration,
    attempts: u32,
}

impl Rpc {
    pub(crate) fn new(provider: ChainProvider, config: &IndexerConfig) -> Self {
        Self {
            provider,
            initial: Duration::from_millis(config.retry_initial_ms.max(1)),
            max: Duration::from_millis(config.retry_max_ms.max(config.retry_initial_ms.max(1))),
            attempts: config.retry_attempts.max(1),
        }
    }

    pub(crate) const fn provider(&self) -> &ChainProvider {
        &self.provider
    }

    /// Waits before retry `attempt` (1-based): doubling from the initial delay, capped, with up to 25% jitter.
    pub(crate) async fn backoff(&self, attempt: u32) {
        let base = self.initial.saturating_mul(1 << attempt.min(16).saturating_sub(1)).min(self.max);
        let jitter = base.as_micros() as u64 / 4;
        let noise = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let extra = if jitter == 0 { 0 } else { u64::from(noise) % jitter };
        tokio::time::sleep(base + Duration::from_micros(extra)).await;
    }

    async fn retry<T, F, Fut>(&self, method: &'static str, mut call: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, TransportError>>,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match call().await {
                Ok(value) => return Ok(value),
                Err(source) if attempt >= self.attempts => {
                    return Err(Error::Rpc { method, attempts: attempt, source });
                }
                Err(e) => {
                    debug!(method, attempt, error = %e, "rpc call failed; retrying");
                    self.backoff(attempt).await;
                }
            }
        }
    }

    pub(crate) async fn chain_id(&self) -> Result<u64> {
        self.retry("eth_chainId", || self.provider.get_chain_id()).await
    }

    pub(crate) async fn head(&self) -> Result<u64> {
        self.retry("eth_blockNumber", || self.provider.get_block_number()).await
    }

    /// Block `number`'s header; a node that does not know it yet is asked again.
    pub(crate) async fn block(&self, number: u64) -> Result<BlockRef> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let block = self
                .retry("eth_getBlockByNumber", || {
                    self.provider.get_block_by_number(BlockNumberOrTag::Number(number)).into_future()
                })
                .await?;
            if let Some(block) = block {
                let header = &block.header;
                return Ok(BlockRef {
                    number: header.number,
                    hash: header.hash,
                    parent_hash: header.parent_hash,
                    timestamp: header.timestamp,
                });
            }
            if attempt >= self.attempts {
                return Err(Error::MissingBlock { number });
            }
            self.backoff(attempt).await;
        }
    }

    /// Every followed log in `from..=to`, ordered by position, once (no retry: the caller splits or retries).
    pub(crate) async fn logs(&self, follow: &Follow, from: u64, to: u64) -> Result<Vec<Log>, LogsFault> {
        let mut logs = Vec::new();
        for filter in follow.filters(from, to) {
            let got = self.provider.get_logs(&filter).await.map_err(classify)?;
            logs.extend(got.into_iter().filter(|l| !l.removed));
        }
        logs.sort_by_key(|l| (l.block_number, l.log_index));
        logs.dedup_by_key(|l| (l.block_hash, l.log_index));
        Ok(logs)
    }
}

/// The log filters of one indexer: its contracts, and the token's logs touching the followed accounts.
#[derive(Debug, Clone)]
pub(crate) struct Follow {
    contracts: Vec<Address>,
    token: Option<Address>,
    accounts: Vec<B256>,
}

impl Follow {
    pub(crate) fn new(contracts: Vec<Address>, token: Option<Address>, accounts: &[Address]) -> Self {
        Self { contracts, token, accounts: accounts.iter().map(|a| a.into_word()).collect() }
    }

    fn filters(&self, from: u64, to: u64) -> Vec<Filter> {
        let range = Filter::new().from_block(from).to_block(to);
        let mut filters = vec![range.clone().address(self.contracts.clone())];
        if let Some(token) = self.token {
            // Transfers from and authorizations used by an account share topic1; transfers to it are topic2.
            filters.push(
                range
                    .clone()
                    .address(token)
                    .event_signature(vec![
                        MockUSDC::Transfer::SIGNATURE_HASH,
                        MockUSDC::AuthorizationUsed::SIGNATURE_HASH,
                    ])
                    .topic1(self.accounts.clone()),
            );
            filters.push(
                range.address(token).event_signature(MockUSDC::Transfer::SIGNATURE_HASH).topic2(self.accounts.clone()),
            );
        }
        filters
    }
}

/// Range and size refusals as the common nodes word them (geth, reth, Alchemy, Infura, QuickNode, anvil);
/// rate limits are retried, not split.
fn classify(error: TransportError) -> LogsFault {
    let message = match &error {
        RpcError::ErrorResp(payload) => payload.message.to_lowercase(),
        RpcError::Transport(TransportErrorKind::HttpError(http)) => {
            if http.status == 413 {
                return LogsFault::TooLarge;
            }
            return LogsFault::Other(error);
        }
        _ => return LogsFault::Other(error),
    };
    let rate_limited = message.contains("rate") || message.contains("too many requests");
    let too_large = ["range", "more than", "too many", "too large", "limit", "exceed", "size", "timeout", "timed out"]
        .iter()
        .any(|needle| message.contains(needle));
    if too_large && !rate_limited { LogsFault::TooLarge } else { LogsFault::Other(error) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(code: i64, message: &str) -> TransportError {
        RpcError::ErrorResp(serde_json::from_value(serde_json::json!({"code": code, "message": message})).unwrap())
    }

    #[test]
    fn range_and_size_errors_split_rate_limits_retry() {
        for message in [
            "query returned more than 10000 results",
            "block range is too wide",
            "exceed maximum block range: 5000",
            "Log response size exceeded.",
        ] {
            assert!(matches!(classify(response(-32005, message)), LogsFault::TooLarge), "{message}");
        }
        for message in ["rate limit exceeded", "header not found", "internal error"] {
            assert!(matches!(classify(response(-32005, message)), LogsFault::Other(_)), "{message}");
        }
    }
}
