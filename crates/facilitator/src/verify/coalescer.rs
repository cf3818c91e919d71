//! Coalesces the chain reads of concurrent verifies into few RPC calls.
//!
//! Each verify submits one [`VerifyRead`] and awaits its answer. A background task takes the first waiting read,
//! gathers more, and answers the whole batch with one deployless `eth_call`
//! ([`clearing_chain::read_verify_batch`]). A batch goes out as soon as no call is under way (an idle reader adds
//! no wait), else when it is full (`max_batch` reads, or as many bytes as EIP-3860 lets one call's creation code
//! carry) or its window (`max_wait`) closes: under load, reads gather while
//! earlier calls run, so the RPC cost per verify falls as the load rises without a fixed delay on every verify.
//! At most `max_in_flight` calls run at once; reads arriving meanwhile wait for the next batch.
//!
//! Each call is pinned to the head the poller last reported ([`HeadWatch`]), and its answers go into the
//! [`BlockCache`] of that block: a read whose pieces the cache holds at the current head is answered on the spot,
//! without a call. A read whose transfer was simulated successfully at an earlier block, with no rule change in
//! the token's logs since ([`TokenGuard`]), is sent without a simulation and keeps that success. With
//! `head_poll_ms = 0` there is no poller, no cache and no carrying, and every read goes to `latest`.

use std::{
    sync::{Arc, Mutex, atomic::Ordering},
    time::Duration,
};

use alloy::eips::BlockId;
use clearing_chain::{
    ChainProvider, MAX_VERIFY_READS, VerifyAnswer, VerifyRead, read_verify_batch, verify_batch_budget, verify_read_size,
};
use tokio::{
    sync::{Notify, Semaphore, mpsc, oneshot},
    time::Instant,
};
use tracing::warn;

use super::{cache::BlockCache, guard::TokenGuard, head::HeadWatch};
use crate::Metrics;

/// A head older than this many poll intervals is not trusted for answers: the read waits for a new poll.
const MAX_HEAD_AGE_POLLS: u32 = 8;

/// How reads are batched (`[facilitator.reads]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CoalescerConfig {
    /// Most reads in one call (at most [`MAX_VERIFY_READS`]; fewer when their bytes would pass EIP-3860's cap on
    /// creation code, about 95 of EOA payers). Default 100.
    pub max_batch: usize,
    /// How long the first read of a batch may wait for company while other calls are under way, microseconds
    /// (a reader with no call under way sends at once). Default 1,000.
    pub max_wait_us: u64,
    /// Most calls under way at once. Default 4.
    pub max_in_flight: usize,
    /// How often the block number is polled, ms; reads are pinned to it and their answers reused until it moves.
    /// 0 turns the poller and the answer cache off (every read goes to `latest`). Default 250.
    pub head_poll_ms: u64,
}

impl Default for CoalescerConfig {
    fn default() -> Self {
        Self { max_batch: MAX_VERIFY_READS, max_wait_us: 1_000, max_in_flight: 4, head_poll_ms: 250 }
    }
}

/// A chain answer and how recent it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockAnswer {
    /// What the chain said.
    pub answer: VerifyAnswer,
    /// Every transaction mined before this moment is reflected in `answer` (the send time of the block-number
    /// poll that reported the block read, or of the call itself for a read at `latest`).
    pub as_of: std::time::Instant,
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
    /// No reader for this chain id: the facilitator does not serve it.
    #[error("chain {0} is not served here")]
    UnservedChain(u64),
}

type Reply = oneshot::Sender<Result<BlockAnswer, ReadError>>;

/// The head poller and the answers of its current block.
#[derive(Debug, Clone)]
struct Cached {
    head: HeadWatch,
    answers: Arc<Mutex<BlockCache>>,
    /// Which tokens' rules changed since a block; scanned by the head poller.
    guard: Arc<TokenGuard>,
    /// A head last confirmed longer ago than this is polled again before it is used.
    max_age: Duration,
}

/// A handle on one chain's read coalescer; cheap to clone.
#[derive(Debug, Clone)]
pub struct ReadCoalescer {
    requests: mpsc::Sender<(VerifyRead, Reply)>,
    /// For the rare reads that are not batched (an authorization's use, [`super::used`]).
    provider: ChainProvider,
    cached: Option<Cached>,
    metrics: Arc<Metrics>,
}

impl ReadCoalescer {
    /// Starts the coalescing task (and, unless `head_poll_ms` is 0, the head poller) for `provider`'s chain.
    pub fn spawn(provider: ChainProvider, config: CoalescerConfig, metrics: Arc<Metrics>) -> Self {
        let (requests, receiver) = mpsc::channel(config.max_batch.max(1) * 64);
        let cached = (config.head_poll_ms > 0).then(|| {
            let interval = Duration::from_millis(config.head_poll_ms);
            let guard = Arc::new(TokenGuard::default());
            Cached {
                head: HeadWatch::spawn(provider.clone(), interval, metrics.clone(), guard.clone()),
                answers: Arc::default(),
                guard,
                max_age: interval * MAX_HEAD_AGE_POLLS,
            }
        });
        tokio::spawn(run(provider.clone(), config, metrics.clone(), cached.clone(), receiver));
        Self { requests, provider, cached, metrics }
    }

    /// The chain's answer to `read`: from the current block's answers if they hold it, else batched with whatever
    /// else is waiting and read at the current head.
    pub async fn read(&self, read: VerifyRead) -> Result<BlockAnswer, ReadError> {
        if let Some(cached) = &self.cached {
            let head = match cached.head.current() {
                Some(head) if head.confirmed_at.elapsed() <= cached.max_age => head,
                // No head yet, or the node stopped answering the poller: wait for a current one.
                _ => {
                    let now = std::time::Instant::now();
                    cached.head.after(now.checked_sub(cached.max_age).unwrap_or(now)).await?
                }
            };
            let hit = cached.answers.lock().unwrap_or_else(|e| e.into_inner()).get(head.number, &read);
            if let Some(answer) = hit {
                self.metrics.chain_read_cache_hits.fetch_add(1, Ordering::Relaxed);
                return Ok(BlockAnswer { answer, as_of: head.confirmed_at });
            }
        }
        let (reply, answer) = oneshot::channel();
        self.requests.send((read, reply)).await.map_err(|_| ReadError::Stopped)?;
        answer.await.map_err(|_| ReadError::Stopped)?
    }

    /// The chain's RPC, for reads that are not batched.
    pub(crate) const fn provider(&self) -> &ChainProvider {
        &self.provider
    }

    /// Like [`ReadCoalescer::read`], but the answer reflects every transaction mined before `moment` (the head
    /// is polled again if the latest poll was sent earlier).
    pub async fn read_after(&self, read: VerifyRead, moment: std::time::Instant) -> Result<BlockAnswer, ReadError> {
        self.sync_after(moment).await?;
        self.read(read).await
    }

    /// Waits until answers reflect every transaction mined before this call.
    pub async fn sync(&self) -> Result<(), ReadError> {
        self.sync_after(std::time::Instant::now()).await
    }

    async fn sync_after(&self, moment: std::time::Instant) -> Result<(), ReadError> {
        match &self.cached {
            Some(cached) => cached.head.after(moment).await.map(drop),
            // Reads go to `latest`, sent after this.
            None => Ok(()),
        }
    }
}

async fn run(
    provider: ChainProvider,
    config: CoalescerConfig,
    metrics: Arc<Metrics>,
    cached: Option<Cached>,
    mut receiver: mpsc::Receiver<(VerifyRead, Reply)>,
) {
    let max_batch = config.max_batch.clamp(1, MAX_VERIFY_READS);
    let max_in_flight = config.max_in_flight.max(1);
    let permits = Arc::new(Semaphore::new(max_in_flight));
    // Signalled whenever a call finishes, so a gathering batch can go out once the reader is idle.
    let finished = Arc::new(Notify::new());
    let budget = verify_batch_budget();
    // A read that did not fit the last batch's byte budget: the first of the next.
    let mut left_over = None;
    loop {
        let first = match left_over.take() {
            Some(read) => read,
            None => match receiver.recv().await {
                Some(read) => read,
                None => break,
            },
        };
        let mut batch = Batch::new(max_batch, budget, first);
        let deadline = Instant::now() + Duration::from_micros(config.max_wait_us);
        loop {
            while !batch.full() {
                match receiver.try_recv() {
                    Ok(next) => left_over = batch.admit(next),
                    Err(_) => break,
                }
            }
            // Full, or nothing under way: waiting longer would only add latency.
            if batch.full() || permits.available_permits() == max_in_flight {
                break;
            }
            tokio::select! {
                next = receiver.recv() => match next {
                    Some(next) => left_over = batch.admit(next),
                    None => break,
                },
                () = finished.notified() => {}
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
        let Ok(permit) = permits.clone().acquire_owned().await else { break };
        // Reads that arrived while waiting for a permit join this batch.
        while !batch.full() {
            match receiver.try_recv() {
                Ok(next) => left_over = batch.admit(next),
                Err(_) => break,
            }
        }
        let batch = batch.reads;
        let provider = provider.clone();
        let metrics = metrics.clone();
        let finished = finished.clone();
        // Pinned to the latest head: every read of the batch waited for a head at least that recent.
        let head = cached.as_ref().and_then(|cached| cached.head.current());
        let cached = cached.clone();
        tokio::spawn(async move {
            let (mut reads, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
            let carried = match (&cached, head) {
                (Some(cached), Some(head)) => carried_simulations(cached, &reads, head.number),
                _ => vec![None; reads.len()],
            };
            for (read, carried) in reads.iter_mut().zip(&carried) {
                read.simulate = carried.is_none();
            }
            metrics.chain_read_calls.fetch_add(1, Ordering::Relaxed);
            metrics.chain_reads.fetch_add(reads.len() as u64, Ordering::Relaxed);
            metrics.chain_read_batch.observe(reads.len() as f64);
            let sent = std::time::Instant::now();
            let block = head.map(|head| BlockId::number(head.number));
            let answered = match read_verify_batch(&provider, &reads, block).await {
                Ok(answers) => apply_carried(&provider, &metrics, &mut reads, answers, &carried, block).await,
                Err(e) => Err(e),
            };
            match answered {
                Ok(answers) => {
                    if let (Some(cached), Some(head)) = (&cached, head) {
                        let current = cached.head.current().map_or(head.number, |current| current.number);
                        let mut cache = cached.answers.lock().unwrap_or_else(|e| e.into_inner());
                        for ((read, answer), carried) in reads.iter().zip(&answers).zip(&carried) {
                            let simulated_at = carried.filter(|_| !read.simulate).unwrap_or(head.number);
                            cache.insert(head.number, current, read, answer, simulated_at);
                            if answer.transfer == clearing_chain::Simulation::Succeeded {
                                cached.guard.watch(read.token);
                            }
                        }
                    }
                    let as_of = head.map_or(sent, |head| head.confirmed_at);
                    for (reply, answer) in replies.into_iter().zip(answers) {
                        let _ = reply.send(Ok(BlockAnswer { answer, as_of }));
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

/// For each read, the block of an earlier successful simulation of its transfer that still holds at `head`.
fn carried_simulations(cached: &Cached, reads: &[VerifyRead], head: u64) -> Vec<Option<u64>> {
    let cache = cached.answers.lock().unwrap_or_else(|e| e.into_inner());
    reads
        .iter()
        .map(|read| {
            cache
                .carried(read)
                .filter(|&simulated_at| simulated_at < head && cached.guard.holds(read.token, simulated_at, head))
        })
        .collect()
}

/// Gives each read sent without a simulation its carried success, where the fresh reads agree it still applies
/// (the token has code and the payer still has none). The others are simulated now, in a second call.
async fn apply_carried(
    provider: &ChainProvider,
    metrics: &Metrics,
    reads: &mut [VerifyRead],
    mut answers: Vec<VerifyAnswer>,
    carried: &[Option<u64>],
    block: Option<BlockId>,
) -> clearing_chain::Result<Vec<VerifyAnswer>> {
    let mut again = Vec::new();
    for (index, answer) in answers.iter_mut().enumerate() {
        if carried[index].is_none() {
            continue;
        }
        if answer.token_is_contract && !answer.payer_has_code {
            answer.transfer = clearing_chain::Simulation::Succeeded;
            metrics.chain_read_simulations_carried.fetch_add(1, Ordering::Relaxed);
        } else {
            reads[index].simulate = true;
            again.push(index);
        }
    }
    if again.is_empty() {
        return Ok(answers);
    }
    let retry: Vec<VerifyRead> = again.iter().map(|&index| reads[index].clone()).collect();
    metrics.chain_read_calls.fetch_add(1, Ordering::Relaxed);
    metrics.chain_reads.fetch_add(retry.len() as u64, Ordering::Relaxed);
    for (index, answer) in again.into_iter().zip(read_verify_batch(provider, &retry, block).await?) {
        answers[index] = answer;
    }
    Ok(answers)
}

/// The reads gathered for one call, bounded in count and in encoded bytes (EIP-3860's cap on creation code).
struct Batch {
    reads: Vec<(VerifyRead, Reply)>,
    bytes: usize,
    max_reads: usize,
    budget: usize,
    /// A read was turned away for want of bytes: the batch takes no more.
    closed: bool,
}

impl Batch {
    fn new(max_reads: usize, budget: usize, first: (VerifyRead, Reply)) -> Self {
        let bytes = verify_read_size(&first.0);
        Self { reads: vec![first], bytes, max_reads, budget, closed: false }
    }

    fn full(&self) -> bool {
        self.closed || self.reads.len() >= self.max_reads
    }

    /// Adds `next`, or hands it back when it would take the batch past its byte budget (it starts the next batch;
    /// a read too big for any batch goes alone, and only its own call fails).
    fn admit(&mut self, next: (VerifyRead, Reply)) -> Option<(VerifyRead, Reply)> {
        let size = verify_read_size(&next.0);
        if self.bytes + size > self.budget {
            self.closed = true;
            return Some(next);
        }
        self.bytes += size;
        self.reads.push(next);
        None
    }
}

#[cfg(test)]
mod tests {
    use alloy::primitives::{Address, Bytes};

    use super::*;

    fn read(signature_bytes: usize) -> (VerifyRead, Reply) {
        let read =
            VerifyRead { signature: Bytes::from(vec![1; signature_bytes]), ..VerifyRead::code_of(Address::ZERO) };
        (read, oneshot::channel().0)
    }

    #[test]
    fn a_batch_closes_at_its_byte_budget_and_hands_back_the_read_that_did_not_fit() {
        let eoa = verify_read_size(&read(65).0);
        let mut batch = Batch::new(100, 3 * eoa, read(65));
        assert!(batch.admit(read(65)).is_none());
        assert!(batch.admit(read(65)).is_none());
        assert!(!batch.full(), "three reads fit exactly; the count cap is far");
        let turned_away = batch.admit(read(65)).expect("a fourth read is over the budget");
        assert_eq!(turned_away.0.signature.len(), 65);
        assert!(batch.full(), "closed once a read was turned away, so a smaller one cannot slip in out of order");
        assert_eq!(batch.reads.len(), 3);
    }

    #[test]
    fn a_read_too_big_for_any_batch_goes_alone() {
        let budget = verify_batch_budget();
        let mut huge = Batch::new(100, budget, read(budget));
        assert!(huge.admit(read(65)).is_some(), "nothing joins a read over the budget on its own");
        assert_eq!(huge.reads.len(), 1);
        // And it never joins another batch: the read after a normal one is turned away instead.
        let mut normal = Batch::new(100, budget, read(65));
        assert!(normal.admit(read(budget)).is_some());
        assert_eq!(normal.reads.len(), 1);
    }

    #[test]
    fn about_ninety_five_eoa_reads_fit_one_call() {
        let fit = verify_batch_budget() / verify_read_size(&read(65).0);
        assert!((90..100).contains(&fit), "{fit} reads of EOA payers fit one call");
    }
}
