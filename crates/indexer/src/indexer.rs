//! The follow loop: take the writer lease, re-validate the remembered window against the node, then fetch ranges
//! concurrently (adaptive sizes) while writing them in order, one transaction per range, checking each range's
//! first parent hash against the checkpoint. A mismatch finds the common ancestor in the window and rolls back to
//! it in one transaction, then ingestion starts again from there.

use std::{
    collections::{HashMap, VecDeque},
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use alloy::{primitives::B256, rpc::types::Log};
use clearing_chain::{ChainProvider, contracts::Escrow};
use clearing_ledger::{BlockRef, Checkpoint, IndexerLease, Ledger, MAIN_INDEXER, RawLog};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::{
    Error, IndexerConfig, Result, Targets,
    config::default_confirmations,
    decode::{Decoder, raw},
    rpc::{Follow, LogsFault, Rpc},
};

/// How far below a range the indexer looks again for batches mined in blocks it does not have (see
/// [`Indexer::replaced_batch_blocks`]).
const RECHECKED_BLOCKS: u64 = 32;

/// A test seam called inside each write transaction after the data and before the checkpoint, with the range's
/// last block; a crash there must leave nothing behind.
pub type BeforeCheckpoint = Arc<dyn Fn(u64) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// The chain indexer of one deployment. Cheap to clone; every clone follows the same chain under one lease.
#[derive(Clone)]
pub struct Indexer {
    ledger: Ledger,
    rpc: Rpc,
    targets: Targets,
    config: IndexerConfig,
    confirmations: u64,
    decoder: Decoder,
    follow: Follow,
    name: String,
    before_checkpoint: Option<BeforeCheckpoint>,
}

impl std::fmt::Debug for Indexer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Indexer").field("targets", &self.targets).field("name", &self.name).finish_non_exhaustive()
    }
}

/// A fetched range, checked only for its own consistency.
#[derive(Debug)]
struct Chunk {
    from: u64,
    to: u64,
    /// Headers of the first and last block, or of every block when the range is inside the reorg window.
    blocks: Vec<BlockRef>,
    logs: Vec<Log>,
}

/// Why a round stopped before reaching its head.
enum Stop {
    /// The first block's parent is not the checkpoint: the chain forked under it.
    Fork,
    /// The range changed while it was fetched (a reorg raced the fetch): fetch again.
    Raced,
    /// A failure.
    Failed(Error),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Self::Failed(e)
    }
}

impl From<clearing_ledger::Error> for Stop {
    fn from(e: clearing_ledger::Error) -> Self {
        Self::Failed(e.into())
    }
}

impl Indexer {
    /// An indexer of `targets` writing to `ledger`, reading from `provider`. Checks the node's chain id and reads
    /// the escrow's (immutable) fee recipient.
    pub async fn new(
        ledger: Ledger,
        provider: ChainProvider,
        targets: Targets,
        config: &IndexerConfig,
    ) -> Result<Self> {
        let rpc = Rpc::new(provider, config);
        let got = rpc.chain_id().await?;
        if got != targets.chain_id {
            return Err(Error::WrongChain { expected: targets.chain_id, got });
        }
        let escrow = Escrow::new(targets.escrow, rpc.provider().clone());
        let mut attempt = 0;
        let fee_recipient = loop {
            attempt += 1;
            match escrow.feeRecipient().call().await {
                Ok(fee) => break fee,
                Err(e) if attempt >= config.retry_attempts.max(1) => {
                    let source = match e {
                        alloy::contract::Error::TransportError(t) => t,
                        other => alloy::transports::TransportErrorKind::custom_str(&other.to_string()),
                    };
                    return Err(Error::Rpc { method: "eth_call", attempts: attempt, source });
                }
                Err(_) => rpc.backoff(attempt).await,
            }
        };
        let decoder = Decoder {
            batch_settler: targets.batch_settler,
            escrow: targets.escrow,
            anchor_registry: targets.anchor_registry,
            balance_vault: targets.balance_vault,
            subscriptions: targets.subscriptions,
            fee_recipient,
        };
        let mut accounts = vec![targets.escrow];
        accounts.extend(targets.balance_vault);
        accounts.extend(config.token_accounts.iter().copied().filter(|a| !accounts.contains(a)).collect::<Vec<_>>());
        let mut contracts = vec![targets.batch_settler, targets.escrow, targets.anchor_registry];
        contracts.extend(targets.balance_vault);
        contracts.extend(targets.subscriptions);
        let follow = Follow::new(contracts, targets.token, &accounts);
        let confirmations = config.confirmations.unwrap_or_else(|| default_confirmations(targets.chain_id));
        let mut config = config.clone();
        config.reorg_window = config.reorg_window.max(confirmations).max(1);
        config.initial_range = config.initial_range.clamp(1, config.max_range.max(1));
        Ok(Self {
            ledger,
            rpc,
            targets,
            config,
            confirmations,
            decoder,
            follow,
            name: MAIN_INDEXER.to_owned(),
            before_checkpoint: None,
        })
    }

    /// Writes under another indexer name (a rebuild beside the live index uses its own lease).
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Calls `hook` in each write transaction between the data and the checkpoint (crash tests).
    #[must_use]
    pub fn with_before_checkpoint(mut self, hook: BeforeCheckpoint) -> Self {
        self.before_checkpoint = Some(hook);
        self
    }

    /// The confirmation depth in use.
    pub const fn confirmations(&self) -> u64 {
        self.confirmations
    }

    /// Follows the head until `shutdown` resolves. Transient failures (the node, the database) are logged and
    /// followed again after a pause; a lost lease, a reorg deeper than the window or a wrong chain end it.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) -> Result<()> {
        tokio::select! {
            result = self.follow_until(None) => result.map(|_| ()),
            () = shutdown => Ok(()),
        }
    }

    /// Indexes until the checkpoint reaches `target` (or the head, if lower, stays there) and returns it.
    pub async fn sync_to(&self, target: u64) -> Result<Checkpoint> {
        self.follow_until(Some(target)).await
    }

    async fn follow_until(&self, target: Option<u64>) -> Result<Checkpoint> {
        let mut failures = 0;
        loop {
            match self.follow(target).await {
                Ok(checkpoint) => return Ok(checkpoint),
                Err(e) if e.is_transient() => {
                    failures += 1;
                    warn!(chain_id = self.targets.chain_id, error = %e, failures, "indexer round failed; following again");
                    self.rpc.backoff(failures).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn acquire(&self) -> Result<IndexerLease> {
        let start = self.targets.start_block.max(1);
        let genesis = self.rpc.block(start - 1).await?;
        let mut attempt = 0;
        loop {
            match self.ledger.acquire_indexer(self.targets.chain_id, &self.name, genesis).await {
                Ok(lease) => return Ok(lease),
                Err(clearing_ledger::Error::IndexerLocked { .. }) => {
                    attempt += 1;
                    if attempt == 1 {
                        info!(chain_id = self.targets.chain_id, indexer = %self.name, "another writer holds the lock; standing by");
                    }
                    tokio::time::sleep(Duration::from_millis(self.config.poll_interval_ms.max(100))).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    async fn follow(&self, target: Option<u64>) -> Result<Checkpoint> {
        let lease = self.acquire().await?;
        let result = self.follow_with(&lease, target).await;
        let _ = lease.release().await;
        result
    }

    async fn follow_with(&self, lease: &IndexerLease, target: Option<u64>) -> Result<Checkpoint> {
        // Re-validate the remembered window: a fork while we were down shows at the checkpoint.
        let mut checkpoint = self.revalidate(lease, lease.checkpoint()).await?;
        let poll = Duration::from_millis(self.config.poll_interval_ms.max(1));
        loop {
            let head = self.rpc.head().await?;
            let until = target.map_or(head, |t| t.min(head));
            if head < checkpoint.block_number {
                checkpoint = self.rollback(lease, checkpoint).await?;
                continue;
            }
            if checkpoint.block_number >= until {
                if target.is_some() {
                    return Ok(checkpoint);
                }
                // Caught up: a reorg that keeps the height shows only as a new hash at the checkpoint.
                checkpoint = self.revalidate(lease, checkpoint).await?;
                tokio::time::sleep(poll).await;
                continue;
            }
            match self.round(lease, checkpoint, until, head).await {
                Ok(reached) => checkpoint = reached,
                Err((reached, Stop::Fork)) => checkpoint = self.rollback(lease, reached).await?,
                Err((reached, Stop::Raced)) => {
                    checkpoint = reached;
                    tokio::time::sleep(poll.min(Duration::from_millis(100))).await;
                }
                Err((_, Stop::Failed(e))) => return Err(e),
            }
        }
    }

    /// Rolls back to the common ancestor if the checkpoint is no longer canonical.
    async fn revalidate(&self, lease: &IndexerLease, checkpoint: Checkpoint) -> Result<Checkpoint> {
        if self.rpc.head().await? < checkpoint.block_number {
            return self.rollback(lease, checkpoint).await;
        }
        let canonical = self.rpc.block(checkpoint.block_number).await?;
        if canonical.hash == checkpoint.block_hash { Ok(checkpoint) } else { self.rollback(lease, checkpoint).await }
    }

    /// Finds the newest remembered block the node still has, and rolls everything above it back.
    async fn rollback(&self, lease: &IndexerLease, checkpoint: Checkpoint) -> Result<Checkpoint> {
        let chain_id = self.targets.chain_id;
        let window = self.ledger.block_window(chain_id, checkpoint.block_number, self.config.reorg_window + 1).await?;
        let head = self.rpc.head().await?;
        let mut ancestor = None;
        for stored in window {
            // Blocks above the node's head are gone (the chain got shorter).
            if stored.number > head {
                continue;
            }
            if self.rpc.block(stored.number).await?.hash == stored.hash {
                ancestor = Some(stored);
                break;
            }
        }
        let Some(ancestor) = ancestor else {
            return Err(Error::ReorgTooDeep {
                chain_id,
                checkpoint: checkpoint.block_number,
                window: self.config.reorg_window,
            });
        };
        let started = Instant::now();
        let mut tx = self.ledger.begin_index(lease).await?;
        let depth = checkpoint_depth(&tx.checkpoint(), ancestor);
        let removed = tx.rollback_to(ancestor).await?;
        let checkpoint = tx.checkpoint();
        tx.commit().await?;
        warn!(
            chain_id,
            ancestor = ancestor.number,
            depth,
            removed_logs = removed,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "reorg: rolled back to the common ancestor"
        );
        Ok(checkpoint)
    }

    /// Fetches `checkpoint + 1 ..= until` in ranges, up to `fetch_concurrency` at once, and writes them in order.
    async fn round(
        &self,
        lease: &IndexerLease,
        mut checkpoint: Checkpoint,
        until: u64,
        head: u64,
    ) -> Result<Checkpoint, (Checkpoint, Stop)> {
        let size = Arc::new(AtomicU64::new(self.config.initial_range));
        let mut next = checkpoint.block_number + 1;
        // Each fetch with the end it was asked for: a fetch that stops short (too many logs) leaves the rest of its
        // range to a fetch queued in its place, so writes stay in order.
        let mut inflight: VecDeque<(u64, JoinHandle<Result<Chunk>>)> = VecDeque::new();
        let abort = |inflight: &mut VecDeque<(u64, JoinHandle<Result<Chunk>>)>| {
            inflight.drain(..).for_each(|(_, h)| h.abort());
        };
        let confirmed = head.checked_sub(self.confirmations);
        let tip = |to: u64| to + self.config.reorg_window >= head;
        // One fetch at a time until the first answer has shown how dense the logs are, so ranges in flight are
        // sized by it and memory stays near `fetch_concurrency` times `max_logs_per_range`.
        let mut sized = false;
        loop {
            let concurrency = if sized { self.config.fetch_concurrency.max(1) } else { 1 };
            while inflight.len() < concurrency && next <= until {
                let to = until.min(next + size.load(Ordering::Relaxed).max(1) - 1);
                inflight.push_back((to, tokio::spawn(fetch(self.clone(), next, to, tip(to), size.clone()))));
                next = to + 1;
            }
            let Some((asked, handle)) = inflight.pop_front() else { return Ok(checkpoint) };
            let chunk = match handle.await {
                Ok(Ok(chunk)) => chunk,
                Ok(Err(e)) => {
                    abort(&mut inflight);
                    return Err((checkpoint, Stop::Failed(e)));
                }
                Err(join) => {
                    abort(&mut inflight);
                    std::panic::resume_unwind(join.into_panic());
                }
            };
            sized = true;
            if chunk.to < asked {
                let from = chunk.to + 1;
                inflight.push_front((asked, tokio::spawn(fetch(self.clone(), from, asked, tip(asked), size.clone()))));
            }
            match self.write(lease, checkpoint, chunk, confirmed).await {
                Ok(reached) => checkpoint = reached,
                Err(stop) => {
                    abort(&mut inflight);
                    return Err((checkpoint, stop));
                }
            }
        }
    }

    /// Checks one range against the checkpoint and itself, then writes it in one transaction.
    async fn write(
        &self,
        lease: &IndexerLease,
        checkpoint: Checkpoint,
        chunk: Chunk,
        confirmed: Option<u64>,
    ) -> Result<Checkpoint, Stop> {
        let first = chunk.blocks.first().copied().ok_or(Stop::Raced)?;
        let last = chunk.blocks.last().copied().ok_or(Stop::Raced)?;
        if first.number != checkpoint.block_number + 1 || last.number != chunk.to {
            return Err(Stop::Raced);
        }
        if first.parent_hash != checkpoint.block_hash {
            return Err(Stop::Fork);
        }
        if chunk.blocks.windows(2).any(|w| w[1].number == w[0].number + 1 && w[1].parent_hash != w[0].hash) {
            return Err(Stop::Raced);
        }
        let hashes: HashMap<u64, B256> = chunk.blocks.iter().map(|b| (b.number, b.hash)).collect();
        let logs: Vec<RawLog> = chunk.logs.iter().map(raw).collect::<Result<_>>()?;
        if logs.iter().any(|l| hashes.get(&l.position.block_number).is_some_and(|h| *h != l.position.block_hash)) {
            return Err(Stop::Raced);
        }
        let projections = self.decoder.project(&logs);
        let mut known = hashes;
        known.extend(logs.iter().map(|l| (l.position.block_number, l.position.block_hash)));
        let replaced = self.replaced_batch_blocks(&chunk, &known).await?;
        let mut tx = self.ledger.begin_index(lease).await?;
        tx.write_data((checkpoint.block_number, checkpoint.block_hash), &chunk.blocks, &logs, &projections).await?;
        if tx.reopen_replaced_batches(&replaced).await? > 0 {
            warn!(chain_id = self.targets.chain_id, blocks = ?replaced, "batches mined in replaced blocks reopened");
        }
        if let Some(hook) = &self.before_checkpoint {
            hook(last.number).await;
        }
        tx.advance(last, confirmed, self.config.reorg_window).await?;
        let reached = tx.checkpoint();
        tx.commit().await?;
        debug!(chain_id = self.targets.chain_id, from = chunk.from, to = chunk.to, logs = logs.len(), "indexed range");
        Ok(reached)
    }
}

impl Indexer {
    /// The heights, up to the end of `chunk`, at which a batch was recorded as mined (from its receipt) in a block
    /// the chain does not have there, each with the block it has. A reorg that replaced the block before the indexer
    /// stored it leaves no trace for [`clearing_ledger::IndexTx::rollback_to`]; this finds it. The trailing
    /// [`RECHECKED_BLOCKS`] cover a receipt recorded after the indexer passed its height (a lagging node). The hash
    /// comes from the range's headers and logs (`known`), else the stored chain, else the node.
    async fn replaced_batch_blocks(&self, chunk: &Chunk, known: &HashMap<u64, B256>) -> Result<Vec<(u64, B256)>> {
        let from = chunk.from.saturating_sub(RECHECKED_BLOCKS);
        let unseen = self.ledger.batch_blocks_unseen(self.targets.chain_id, from, chunk.to).await?;
        let mut replaced = Vec::new();
        for mined in unseen {
            let known = if mined.number >= chunk.from { known.get(&mined.number).copied() } else { mined.stored };
            let hash = match known {
                Some(hash) => hash,
                None => self.rpc.block(mined.number).await?.hash,
            };
            if hash != mined.hash {
                replaced.push((mined.number, hash));
            }
        }
        Ok(replaced)
    }
}

fn checkpoint_depth(before: &Checkpoint, ancestor: BlockRef) -> u64 {
    before.block_number.saturating_sub(ancestor.number)
}

/// Fetches the logs and headers of `from..=end`, `end` at most `to`: a range or size error halves the range asked
/// for, and an answer with more than `max_logs_per_range` logs is cut after the last whole block that fits (a
/// single block with more is taken whole), so no chunk holds more and nothing fetched is fetched again; the caller
/// fetches the rest. Adapts the shared range size: halved on a range error, and otherwise doubled up to
/// `max_range` but never past the number of blocks that, at the density just seen, hold `max_logs_per_range` logs.
async fn fetch(indexer: Indexer, from: u64, to: u64, tip: bool, size: Arc<AtomicU64>) -> Result<Chunk> {
    let config = &indexer.config;
    let max_logs = config.max_logs_per_range.max(1);
    let mut end = to;
    let mut attempt = 0;
    let logs = loop {
        match indexer.rpc.logs(&indexer.follow, from, end).await {
            Ok(mut got) => {
                let dense = (max_logs as u64).saturating_mul(end - from + 1) / (got.len() as u64).max(1);
                if got.len() > max_logs {
                    // Logs come ordered by block: keep the whole blocks that fit, and at least the first block.
                    let first_out = got[max_logs].block_number.unwrap_or(end);
                    let cut = if first_out > from {
                        end = first_out - 1;
                        got.partition_point(|l| l.block_number.is_none_or(|n| n <= end))
                    } else {
                        end = from;
                        got.partition_point(|l| l.block_number.is_none_or(|n| n <= from))
                    };
                    got.truncate(cut);
                    got.shrink_to_fit();
                }
                let grown = size.load(Ordering::Relaxed).saturating_mul(2).min(dense).min(config.max_range);
                size.store(grown.max(1), Ordering::Relaxed);
                break got;
            }
            Err(LogsFault::TooLarge) if end > from => {
                end = from + (end - from) / 2;
                size.store((end - from + 1).max(1), Ordering::Relaxed);
            }
            Err(LogsFault::TooLarge) => {
                attempt += 1;
                if attempt >= config.retry_attempts.max(1) {
                    let source = alloy::transports::TransportErrorKind::custom_str("one block's logs are too large");
                    return Err(Error::Rpc { method: "eth_getLogs", attempts: attempt, source });
                }
                indexer.rpc.backoff(attempt).await;
            }
            Err(LogsFault::Other(source)) => {
                attempt += 1;
                if attempt >= config.retry_attempts.max(1) {
                    return Err(Error::Rpc { method: "eth_getLogs", attempts: attempt, source });
                }
                indexer.rpc.backoff(attempt).await;
            }
        }
    };
    let numbers: Vec<u64> = if tip { (from..=end).collect() } else { vec![from, end] };
    let mut blocks = Vec::with_capacity(numbers.len());
    for number in numbers {
        if blocks.last().is_some_and(|b: &BlockRef| b.number == number) {
            continue;
        }
        blocks.push(indexer.rpc.block(number).await?);
    }
    Ok(Chunk { from, to: end, blocks, logs })
}
