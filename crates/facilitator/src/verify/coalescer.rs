//! Coalesces the chain reads of concurrent verifies into few RPC calls.
//!
//! Each verify submits one [`VerifyRead`] and awaits its answer. A background task takes the first waiting read,
//! gathers more, and answers the whole batch with one deployless `eth_call`
//! ([`clearing_chain::read_verify_batch`]). A batch goes out as soon as no call is under way (an idle reader adds
//! no wait), else when it is full (`max_batch`) or its window (`max_wait`) closes: under load, reads gather while
//! earlier calls run, so the RPC cost per verify falls as the load rises without a fixed delay on every verify.
//! At most `max_in_flight` calls run at once; reads arriving meanwhile wait for the next batch.

use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use clearing_chain::{ChainProvider, MAX_VERIFY_READS, VerifyAnswer, VerifyRead, read_verify_batch};
use tokio::{
    sync::{Notify, Semaphore, mpsc, oneshot},
    time::Instant,
};
use tracing::warn;

use crate::Metrics;

/// How reads are batched (`[facilitator.reads]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CoalescerConfig {
    /// Most reads in one call (at most [`MAX_VERIFY_READS`]). Default 100.
    pub max_batch: usize,
    /// How long the first read of a batch may wait for company while other calls are under way, microseconds
    /// (a reader with no call under way sends at once). Default 1,000.
    pub max_wait_us: u64,
    /// Most calls under way at once. Default 4.
    pub max_in_flight: usize,
}

impl Default for CoalescerConfig {
    fn default() -> Self {
        Self { max_batch: MAX_VERIFY_READS, max_wait_us: 1_000, max_in_flight: 4 }
    }
}

/// Why a read got no answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ReadError {
    /// The RPC call failed; the message is the node's or the transport's.
    #[error("chain read failed: {0}")]
    Rpc(String),
    /// The coalescer stopped (the facilitator is shutting down).
    #[error("chain reader stopped")]
    Stopped,
}

type Reply = oneshot::Sender<Result<VerifyAnswer, ReadError>>;

/// A handle on one chain's read coalescer; cheap to clone.
#[derive(Debug, Clone)]
pub struct ReadCoalescer {
    requests: mpsc::Sender<(VerifyRead, Reply)>,
}

impl ReadCoalescer {
    /// Starts the coalescing task for `provider`'s chain.
    pub fn spawn(provider: ChainProvider, config: CoalescerConfig, metrics: Arc<Metrics>) -> Self {
        let (requests, receiver) = mpsc::channel(config.max_batch.max(1) * 64);
        tokio::spawn(run(provider, config, metrics, receiver));
        Self { requests }
    }

    /// The chain's answer to `read`, batched with whatever else is waiting.
    pub async fn read(&self, read: VerifyRead) -> Result<VerifyAnswer, ReadError> {
        let (reply, answer) = oneshot::channel();
        self.requests.send((read, reply)).await.map_err(|_| ReadError::Stopped)?;
        answer.await.map_err(|_| ReadError::Stopped)?
    }
}

async fn run(
    provider: ChainProvider,
    config: CoalescerConfig,
    metrics: Arc<Metrics>,
    mut receiver: mpsc::Receiver<(VerifyRead, Reply)>,
) {
    let max_batch = config.max_batch.clamp(1, MAX_VERIFY_READS);
    let max_in_flight = config.max_in_flight.max(1);
    let permits = Arc::new(Semaphore::new(max_in_flight));
    // Signalled whenever a call finishes, so a gathering batch can go out once the reader is idle.
    let finished = Arc::new(Notify::new());
    while let Some(first) = receiver.recv().await {
        let mut batch = Vec::with_capacity(max_batch);
        batch.push(first);
        let deadline = Instant::now() + Duration::from_micros(config.max_wait_us);
        loop {
            while batch.len() < max_batch {
                match receiver.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            // Full, or nothing under way: waiting longer would only add latency.
            if batch.len() >= max_batch || permits.available_permits() == max_in_flight {
                break;
            }
            tokio::select! {
                next = receiver.recv() => match next {
                    Some(next) => batch.push(next),
                    None => break,
                },
                () = finished.notified() => {}
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
        let Ok(permit) = permits.clone().acquire_owned().await else { break };
        // Reads that arrived while waiting for a permit join this batch.
        while batch.len() < max_batch {
            match receiver.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let provider = provider.clone();
        let metrics = metrics.clone();
        let finished = finished.clone();
        tokio::spawn(async move {
            let (reads, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
            metrics.chain_read_calls.fetch_add(1, Ordering::Relaxed);
            metrics.chain_reads.fetch_add(reads.len() as u64, Ordering::Relaxed);
            metrics.chain_read_batch.observe(reads.len() as f64);
            match read_verify_batch(&provider, &reads, None).await {
                Ok(answers) => {
                    for (reply, answer) in replies.into_iter().zip(answers) {
                        let _ = reply.send(Ok(answer));
                    }
                }
                Err(e) => {
                    warn!(error = %e, reads = reads.len(), "verify chain read failed");
                    let error = ReadError::Rpc(e.to_string());
                    for reply in replies {
                        let _ = reply.send(Err(error.clone()));
                    }
                }
            }
            drop(permit);
            finished.notify_one();
        });
    }
}
