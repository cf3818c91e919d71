//! The chain head as verify knows it: a poller asks the node for its block number every `head_poll_ms`, and on
//! demand when a verify needs a head newer than some moment (a nonce this facilitator has in flight, a test that
//! just changed the chain).
//!
//! Each head carries `confirmed_at`, the moment the most recent poll that reported it was *sent*: every block
//! mined before that moment is at or below the head, so a read pinned to it reflects every transaction mined
//! before `confirmed_at`. That is what lets the in-flight ledger and the answer cache agree on what a read saw.

use std::{
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use alloy::providers::Provider;
use clearing_chain::ChainProvider;
use tokio::sync::{Notify, watch};
use tracing::warn;

use super::{ReadError, guard::TokenGuard};
use crate::Metrics;

/// How long a verify waits for a head newer than a moment before it answers an error instead.
const FRESH_HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// One answer of the poller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Head {
    /// The block number the node reported.
    pub(crate) number: u64,
    /// When the latest poll that reported `number` was sent.
    pub(crate) confirmed_at: Instant,
}

/// A handle on one chain's head poller; cheap to clone. The poller stops when every handle is gone.
#[derive(Debug, Clone)]
pub(crate) struct HeadWatch {
    head: watch::Receiver<Option<Head>>,
    poke: Arc<Notify>,
}

impl HeadWatch {
    /// Starts polling `provider` every `interval` (at once, then on each tick or poke). Each new head is reported
    /// only after `guard` has scanned the watched tokens' logs up to it.
    pub(crate) fn spawn(
        provider: ChainProvider,
        interval: Duration,
        metrics: Arc<Metrics>,
        guard: Arc<TokenGuard>,
    ) -> Self {
        let (sender, head) = watch::channel(None);
        let poke = Arc::new(Notify::new());
        tokio::spawn(poll(provider, interval, metrics, sender, poke.clone(), guard));
        Self { head, poke }
    }

    /// The latest head, if a poll has answered yet.
    pub(crate) fn current(&self) -> Option<Head> {
        *self.head.borrow()
    }

    /// A head reported by a poll sent after `moment`, polling now if the latest one is older.
    pub(crate) async fn after(&self, moment: Instant) -> Result<Head, ReadError> {
        let mut head = self.head.clone();
        let fresh = |h: &Option<Head>| h.is_some_and(|h| h.confirmed_at > moment);
        if let Some(known) = *head.borrow_and_update()
            && known.confirmed_at > moment
        {
            return Ok(known);
        }
        self.poke.notify_one();
        match tokio::time::timeout(FRESH_HEAD_TIMEOUT, head.wait_for(fresh)).await {
            Ok(Ok(known)) => Ok((*known).expect("`fresh` holds only for a head")),
            Ok(Err(_)) => Err(ReadError::Stopped),
            Err(_) => Err(ReadError::Rpc(format!("no block number from the node within {FRESH_HEAD_TIMEOUT:?}"))),
        }
    }
}

async fn poll(
    provider: ChainProvider,
    interval: Duration,
    metrics: Arc<Metrics>,
    sender: watch::Sender<Option<Head>>,
    poke: Arc<Notify>,
    guard: Arc<TokenGuard>,
) {
    let mut failing = false;
    let mut scan_failing = false;
    while !sender.is_closed() {
        let sent = Instant::now();
        metrics.chain_head_calls.fetch_add(1, Ordering::Relaxed);
        match provider.get_block_number().await {
            Ok(number) => {
                failing = false;
                if sender.borrow().is_none_or(|head| head.number != number) {
                    match guard.scan(&provider, number, &metrics).await {
                        Ok(()) => scan_failing = false,
                        Err(error) if !scan_failing => {
                            scan_failing = true;
                            warn!(%error, "scanning token logs failed; verify simulates every transfer until a scan succeeds");
                        }
                        Err(_) => {}
                    }
                }
                sender.send_replace(Some(Head { number, confirmed_at: sent }));
            }
            Err(error) if !failing => {
                failing = true;
                warn!(%error, "polling the block number failed; verify reads wait for the next answer");
            }
            Err(_) => {}
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = poke.notified() => {}
        }
    }
}
