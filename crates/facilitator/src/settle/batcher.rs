//! The batcher: claims queued payments, sends them in `BatchSettler` transactions and resolves them.
//!
//! Per batch (each step one ledger transaction, in this order):
//!
//! 1. claim (items `pending` → `submitted`, relayer nonce reserved) under the nonce lock, which is held for
//!    nothing else, so the next batch can be claimed at the next nonce at once;
//! 2. sign at that nonce and record the signed bytes (`record_broadcast`), then send them;
//! 3. wait for a receipt of any recorded hash (every new block wakes every in-flight batch); re-send the recorded
//!    bytes when sending failed or the node lost them; replace with bumped fees after `replace_after_ms`;
//! 4. resolve every item from its own event, or requeue the batch if its nonce went to another transaction or
//!    it reverted as a whole.
//!
//! Up to `max_in_flight` batches per lane (asset and route) are between 2 and 4 at once, at consecutive nonces, each driven by its
//! own task. A batch that cannot be signed keeps its nonce and its task tries again, so the nonces after it (which
//! the node holds back until the gap is filled) are never orphaned; only the newest nonce is ever handed back.
//!
//! A restart finds every batch left between 1 and 4 (`unresolved_batches`) and continues it at the same step:
//! never signed → sign at its nonce; signed → re-send the identical bytes; mined → resolve from the receipt.
//! A running batcher also adopts, every [`ADOPT_EVERY`], any unresolved batch nobody drives: a batch the indexer
//! reopened because a reorg removed the block it was mined in. It is continued like a restarted one (its recorded
//! bytes re-sent; if its nonce went to another transaction on the new chain, it is requeued).

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use alloy::primitives::{Address, TxHash};
use clearing_chain::{BatchCall, BatchOutcome, Fees, ItemOutcome, Relayer, SignedBatch};
use clearing_ledger::{
    AbandonReason, Batch, BatchClaim, BatchId, BatchTransaction, EscrowAction, ItemResolution, Ledger, Mined,
    RouteKind, Settlement, TxFees,
};
use clearing_x402::Reason;
use tokio::{
    sync::{Mutex, Notify, mpsc, watch},
    task::{JoinHandle, JoinSet},
    time::Instant,
};
use tracing::{debug, error, info, warn};

use super::{
    SettleConfig,
    call::{action_call, batch_call},
};
use crate::{Error, Metrics, Result};

/// How long an in-flight batch waits for a new block before it looks at its transactions anyway: nothing but its
/// timers (replacement, re-sending) can change while no block arrives, and they need no finer grain.
const IDLE_STEP: Duration = Duration::from_secs(1);

/// How often the batcher looks for unresolved batches nobody drives (batches a reorg reopened).
pub(crate) const ADOPT_EVERY: Duration = Duration::from_secs(2);

/// One stream of batches: the payments of one asset on one route (each batch is one call to one contract).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Lane {
    asset: Address,
    route: RouteKind,
}

impl std::fmt::Display for Lane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.asset, self.route)
    }
}

/// Relays queued payments of some assets from one relayer key. Dropping it leaves its tasks running; stop it
/// with [`Batcher::shutdown`] (or [`Batcher::abort`], which is what a crash looks like).
#[derive(Debug)]
pub struct Batcher {
    tasks: Vec<JoinHandle<()>>,
    shutdown: watch::Sender<bool>,
}

impl Batcher {
    /// Continues every unresolved batch of the relayer, then starts one batch loop per asset and route: the
    /// settle route always, the escrow routes when the relayer has an escrow.
    pub async fn start(ledger: Ledger, relayer: Relayer, assets: &[Address], config: SettleConfig) -> Result<Self> {
        Self::start_with_metrics(ledger, relayer, assets, config, Arc::default()).await
    }

    /// [`Batcher::start`], recording batch sizes in `metrics`.
    pub async fn start_with_metrics(
        ledger: Ledger,
        relayer: Relayer,
        assets: &[Address],
        config: SettleConfig,
        metrics: Arc<Metrics>,
    ) -> Result<Self> {
        config.validate()?;
        let Some(&first) = assets.first() else {
            return Err(Error::InvalidConfig { field: "assets", requirement: "must name at least one token" });
        };
        let unresolved = ledger.unresolved_batches(relayer.chain_id(), relayer.address()).await?;
        let pending = relayer.pending_nonce().await?;
        let next = unresolved.iter().map(|b| b.tx_nonce + 1).max().unwrap_or(0).max(pending);
        info!(relayer = %relayer.address(), unresolved = unresolved.len(), next_nonce = next, "batcher starting");

        // The settle route always; each contract's routes when the relayer sends to it.
        let mut routes = vec![RouteKind::Transfer];
        if relayer.escrow().is_some() {
            routes.extend(RouteKind::ESCROW);
        }
        if relayer.vault().is_some() {
            routes.extend(RouteKind::VAULT);
        }
        if relayer.subscriptions().is_some() {
            routes.extend(RouteKind::SUBSCRIPTIONS);
        }
        let lanes: Vec<Lane> =
            assets.iter().flat_map(|&asset| routes.iter().map(move |&route| Lane { asset, route })).collect();
        let first = Lane { asset: first, route: RouteKind::Transfer };
        let driven: HashSet<BatchId> = unresolved.iter().map(|batch| batch.id).collect();
        let mut recovered: HashMap<Lane, Vec<InFlight>> = HashMap::new();
        for batch in unresolved {
            let lane = Lane { asset: batch.asset, route: batch.route };
            let home = if lanes.contains(&lane) { lane } else { first };
            recovered.entry(home).or_default().push(InFlight::recovered(batch));
        }
        let signals: HashMap<Lane, Arc<QueueSignal>> =
            lanes.iter().map(|lane| (*lane, Arc::new(QueueSignal::default()))).collect();
        let listener = ledger.listen_queued();
        let (head_sender, head) = watch::channel(relayer.block_number().await?);
        let shared = Arc::new(Shared {
            ledger,
            relayer,
            config,
            metrics,
            next_nonce: Mutex::new(next),
            driven: std::sync::Mutex::new(driven),
            head,
        });
        let (shutdown, stop) = watch::channel(false);
        let mut adopters = HashMap::new();
        let mut tasks: Vec<_> = lanes
            .iter()
            .map(|lane| {
                let batches = recovered.remove(lane).unwrap_or_default();
                let signal = signals[lane].clone();
                let (adopt, adopted) = mpsc::unbounded_channel();
                adopters.insert(*lane, adopt);
                tokio::spawn(run_lane(shared.clone(), *lane, batches, signal, adopted, stop.clone()))
            })
            .collect();
        tasks.push(tokio::spawn(count_queued(listener, shared.clone(), signals, stop.clone())));
        tasks.push(tokio::spawn(adopt_orphans(shared.clone(), adopters, first, stop.clone())));
        tasks.push(tokio::spawn(follow_head(shared.clone(), head_sender, stop)));
        Ok(Self { tasks, shutdown })
    }

    /// Handles on its long-lived tasks, for `/health` to see whether any has stopped.
    pub(crate) fn task_handles(&self) -> Vec<tokio::task::AbortHandle> {
        self.tasks.iter().map(JoinHandle::abort_handle).collect()
    }

    /// Stops claiming and waits for every in-flight batch to resolve.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }

    /// Stops at once, wherever each task is (a crash, as far as the ledger and the chain can tell).
    pub async fn abort(self) {
        for task in &self.tasks {
            task.abort();
        }
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

#[derive(Debug)]
struct Shared {
    ledger: Ledger,
    relayer: Relayer,
    config: SettleConfig,
    metrics: Arc<Metrics>,
    /// The next relayer nonce for a new batch, held while a batch is claimed at it (and while a never-sent batch
    /// hands it back).
    next_nonce: Mutex<u64>,
    /// The batches a driver task follows. A batch joins under `next_nonce` (when claimed, or when adopted) and
    /// leaves when its driver ends, so an adopter holding `next_nonce` never takes a batch that has a driver.
    driven: std::sync::Mutex<HashSet<BatchId>>,
    /// The newest block number seen; every change wakes every in-flight batch.
    head: watch::Receiver<u64>,
}

/// Payments queued for one lane since its last claim, as announced by the ledger; wakes the lane's loop
/// early when they fill a batch.
#[derive(Debug, Default)]
struct QueueSignal {
    queued: AtomicU32,
    full: Notify,
}

async fn count_queued(
    mut listener: clearing_ledger::QueueListener,
    shared: Arc<Shared>,
    signals: HashMap<Lane, Arc<QueueSignal>>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let queued = tokio::select! {
            _ = stop.changed() => return,
            queued = listener.recv() => queued,
        };
        match queued {
            Some((chain_id, asset, route)) if chain_id == shared.relayer.chain_id() => {
                if let Some(signal) = signals.get(&Lane { asset, route })
                    && signal.queued.fetch_add(1, Ordering::Relaxed) + 1 >= shared.config.batch_size
                {
                    signal.full.notify_one();
                }
            }
            Some(_) => {}
            // Every ledger handle is gone: nothing can be queued any more; the timer claims what is left.
            None => return,
        }
    }
}

/// Polls the chain head every `receipt_poll_ms` and announces each new block to the in-flight batches.
async fn follow_head(shared: Arc<Shared>, head: watch::Sender<u64>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(shared.config.receipt_poll());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tick.tick() => {}
        }
        match shared.relayer.block_number().await {
            Ok(number) => {
                head.send_if_modified(|seen| {
                    let new = number != *seen;
                    *seen = number;
                    new
                });
            }
            Err(e) => debug!(error = %e, "reading the block number failed"),
        }
    }
}

/// Every [`ADOPT_EVERY`], hands each unresolved batch of the relayer that no driver follows to its lane's loop:
/// a batch the indexer reopened because a reorg removed its block, or one of another process relaying from the same
/// key (driven here too, so the batch finishes if that process dies; whichever driver resolves it first ends the
/// other's).
async fn adopt_orphans(
    shared: Arc<Shared>,
    adopters: HashMap<Lane, mpsc::UnboundedSender<InFlight>>,
    first: Lane,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(ADOPT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tick.tick() => {}
        }
        if let Err(e) = shared.adopt(&adopters, first).await {
            debug!(error = %e, "looking for unresolved batches failed");
        }
    }
}

/// Removes a batch from [`Shared::driven`] when its driver ends, however it ends.
struct Driving {
    shared: Arc<Shared>,
    id: BatchId,
}

impl Drop for Driving {
    fn drop(&mut self) {
        self.shared.driven.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.id);
    }
}

/// A batch between claim and resolution.
#[derive(Debug)]
struct InFlight {
    id: BatchId,
    lane: Lane,
    nonce: u64,
    /// The payments of a payment route.
    items: Vec<Settlement>,
    /// The escrow actions of an action route.
    actions: Vec<EscrowAction>,
    /// Recorded transactions, oldest first.
    txs: Vec<BatchTransaction>,
    /// When its newest transaction was signed (or the batch recovered): the replacement timer starts here.
    signed_at: Instant,
    /// When the node was last asked whether it still has the batch's transactions.
    checked_at: Instant,
    /// Re-send the newest recorded bytes before waiting (after a restart, or when sending them failed).
    resend: bool,
    /// Since when the relayer nonce has been seen used while no recorded hash had a receipt.
    consumed_since: Option<Instant>,
}

impl InFlight {
    fn recovered(batch: Batch) -> Self {
        Self {
            id: batch.id,
            lane: Lane { asset: batch.asset, route: batch.route },
            nonce: batch.tx_nonce,
            items: batch.items,
            actions: batch.actions,
            txs: batch.transactions,
            signed_at: Instant::now(),
            checked_at: Instant::now(),
            resend: true,
            consumed_since: None,
        }
    }

    fn call(&self) -> BatchCall {
        if self.lane.route.carries_actions() {
            action_call(self.lane.route, self.lane.asset, &self.actions)
        } else {
            batch_call(self.lane.route, self.lane.asset, &self.items)
        }
    }

    fn len(&self) -> usize {
        self.items.len() + self.actions.len()
    }
}

/// What a step of an in-flight batch left to do.
enum Step {
    Wait,
    Done,
}

async fn run_lane(
    shared: Arc<Shared>,
    lane: Lane,
    recovered: Vec<InFlight>,
    signal: Arc<QueueSignal>,
    mut adopted: mpsc::UnboundedReceiver<InFlight>,
    mut stop: watch::Receiver<bool>,
) {
    let mut drivers = JoinSet::new();
    for batch in recovered {
        info!(batch = %batch.id, nonce = batch.nonce, txs = batch.txs.len(), "continuing unresolved batch");
        drivers.spawn(drive(shared.clone(), batch, false));
    }
    let mut tick = tokio::time::interval(shared.config.max_wait());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let max_in_flight = usize::try_from(shared.config.max_in_flight).unwrap_or(usize::MAX);
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            Some(joined) = drivers.join_next() => {
                if let Err(e) = joined { error!(%lane, error = %e, "batch driver panicked") }
                continue;
            }
            Some(batch) = adopted.recv() => {
                warn!(batch = %batch.id, nonce = batch.nonce, "continuing a batch reopened by a reorg");
                drivers.spawn(drive(shared.clone(), batch, false));
                continue;
            }
            _ = tick.tick() => {}
            () = signal.full.notified() => {
                if signal.queued.load(Ordering::Relaxed) < shared.config.batch_size {
                    continue;
                }
            }
        }
        signal.queued.store(0, Ordering::Relaxed);
        if let Err(e) = shared.expire(lane).await {
            warn!(%lane, error = %e, "expiring queued payments failed");
        }
        while drivers.len() < max_in_flight {
            match shared.claim(lane).await {
                Ok(Some(batch)) => {
                    // A batch of one may be an item that goes alone (its batch reverted whole) with others waiting
                    // behind it: claim on. Any other batch short of full took everything ready.
                    let full = batch.len() >= usize::try_from(shared.config.batch_size).unwrap_or(usize::MAX);
                    let single = batch.len() == 1;
                    drivers.spawn(drive(shared.clone(), batch, true));
                    if !full && !single {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    warn!(%lane, error = %e, "claiming a batch failed");
                    break;
                }
            }
        }
    }
    while drivers.join_next().await.is_some() {}
}

/// Follows one batch from its first signature (`fresh`) or from wherever a restart found it, to its end: a step at
/// once, then one on every new block (or after [`IDLE_STEP`] without one).
async fn drive(shared: Arc<Shared>, mut batch: InFlight, fresh: bool) {
    let _driving = Driving { shared: shared.clone(), id: batch.id };
    let mut head = shared.head.clone();
    head.borrow_and_update();
    let mut first = fresh;
    loop {
        let step = if first { shared.sign_first(&mut batch, true).await } else { shared.step(&mut batch).await };
        first = false;
        match step {
            Ok(Step::Done) => return,
            Ok(Step::Wait) => {}
            // Another process relaying from the same key finished it (resolved or requeued it) first.
            Err(Error::Ledger(clearing_ledger::Error::BatchClosed(_))) => {
                debug!(batch = %batch.id, nonce = batch.nonce, "batch finished by another driver");
                return;
            }
            Err(e) => {
                warn!(batch = %batch.id, nonce = batch.nonce, error = %e, "in-flight batch step failed; retrying")
            }
        }
        tokio::select! {
            _ = head.changed() => {}
            () = tokio::time::sleep(IDLE_STEP) => {}
        }
    }
}

impl Shared {
    async fn expire(&self, lane: Lane) -> Result<()> {
        if lane.route.carries_actions() {
            return Ok(());
        }
        let cutoff = unix_now() + self.config.expiry_margin_secs;
        for item in self.ledger.expire_pending(self.relayer.chain_id(), cutoff, Reason::ValidBefore).await? {
            let key = item.payment.key;
            info!(%lane, payer = %key.payer, nonce = %key.nonce, "expired while queued; never broadcast");
        }
        Ok(())
    }

    /// Claims one batch at the next relayer nonce. Nothing is signed yet: its driver does that.
    /// Sends every unresolved batch without a driver to its lane's loop (`first`'s for a lane not served).
    async fn adopt(&self, adopters: &HashMap<Lane, mpsc::UnboundedSender<InFlight>>, first: Lane) -> Result<()> {
        let (chain_id, relayer) = (self.relayer.chain_id(), self.relayer.address());
        let _claims = self.next_nonce.lock().await;
        let ids = self.ledger.unresolved_batch_ids(chain_id, relayer).await?;
        let orphans: HashSet<BatchId> = {
            let driven = self.driven.lock().unwrap_or_else(|e| e.into_inner());
            ids.into_iter().filter(|id| !driven.contains(id)).collect()
        };
        if orphans.is_empty() {
            return Ok(());
        }
        for batch in self.ledger.unresolved_batches(chain_id, relayer).await? {
            if !orphans.contains(&batch.id) {
                continue;
            }
            let lane = Lane { asset: batch.asset, route: batch.route };
            let home = if adopters.contains_key(&lane) { lane } else { first };
            self.driven.lock().unwrap_or_else(|e| e.into_inner()).insert(batch.id);
            if adopters[&home].send(InFlight::recovered(batch)).is_err() {
                // The lane's loop has stopped (shutdown): nothing will drive it in this process.
                return Ok(());
            }
        }
        Ok(())
    }

    async fn claim(&self, lane: Lane) -> Result<Option<InFlight>> {
        let now = unix_now();
        let mut next = self.next_nonce.lock().await;
        let nonce = *next;
        let claim = BatchClaim {
            chain_id: self.relayer.chain_id(),
            asset: lane.asset,
            route: lane.route,
            relayer: self.relayer.address(),
            tx_nonce: nonce,
            limit: self.config.batch_size,
            cutoff: now + self.config.expiry_margin_secs,
            now,
        };
        let claimed = if lane.route.carries_actions() {
            self.ledger.claim_action_batch(&claim).await.map(|c| c.map(|(id, actions)| (id, Vec::new(), actions)))
        } else {
            self.ledger.claim_batch(&claim).await.map(|c| c.map(|(id, items)| (id, items, Vec::new())))
        };
        let (id, items, actions) = match claimed {
            Ok(Some(claimed)) => claimed,
            Ok(None) => return Ok(None),
            Err(clearing_ledger::Error::NonceInUse { .. }) => {
                // Another process relaying from the same key holds this nonce (the database's unique index on
                // live batches keeps two from taking one): go on after every nonce in use, on chain (mined or in
                // the node's pool) or held by a batch not yet sent, and claim there at the next round.
                let pending = self.relayer.pending_nonce().await?;
                let held = self.ledger.unresolved_batches(claim.chain_id, claim.relayer).await?;
                let after_held = held.iter().map(|b| b.tx_nonce + 1).max().unwrap_or(0);
                *next = (nonce + 1).max(pending).max(after_held);
                info!(%lane, taken = nonce, next = *next, "relayer nonce taken by another process; moving past it");
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        *next += 1;
        self.driven.lock().unwrap_or_else(|e| e.into_inner()).insert(id);
        drop(next);
        let count = items.len() + actions.len();
        debug!(batch = %id, %lane, nonce, items = count, "batch claimed");
        if !lane.route.carries_actions() {
            self.metrics.batch_size.observe(count as f64);
        }
        Ok(Some(InFlight {
            id,
            lane,
            nonce,
            items,
            actions,
            txs: Vec::new(),
            signed_at: Instant::now(),
            checked_at: Instant::now(),
            resend: false,
            consumed_since: None,
        }))
    }

    /// Signs a batch that has no transaction yet at its nonce, records and sends it. If it cannot be signed, it was
    /// just claimed here (`claimed`) and no later nonce was handed out, its items go back to the queue and its nonce
    /// to the next batch; otherwise it keeps the nonce (the later batches wait for it at the node) and its driver
    /// signs again on its next step. A batch found unsigned (after a restart, or another process's) is never
    /// handed back: its claimer may be signing it at this moment.
    async fn sign_first(&self, batch: &mut InFlight, claimed: bool) -> Result<Step> {
        let call = batch.call();
        let signed = match self.relayer.prepare(&call, batch.nonce, None).await {
            Ok(signed) => signed,
            Err(e) => {
                let mut next = self.next_nonce.lock().await;
                if claimed && *next == batch.nonce + 1 {
                    // Items of a batch no transaction can carry go alone; any other failure may pass (a node's
                    // hiccup, a payment that no longer simulates), so they wait for the next batch as they were.
                    let reason = if matches!(e, clearing_chain::Error::TooHeavy { .. }) {
                        AbandonReason::TooHeavy
                    } else {
                        AbandonReason::NeverSent
                    };
                    self.ledger.requeue_batch(batch.id, reason, None).await?;
                    *next = batch.nonce;
                    warn!(batch = %batch.id, nonce = batch.nonce, error = %e, "signing failed; items requeued");
                    return Ok(Step::Done);
                }
                return Err(e.into());
            }
        };
        self.record_and_send(batch, &signed).await?;
        Ok(Step::Wait)
    }

    async fn step(&self, batch: &mut InFlight) -> Result<Step> {
        if batch.txs.is_empty() {
            // Read before the ledger: a transaction is recorded before it is sent, so one that used the nonce by
            // now is in the ledger by now, also when another process sent it.
            let consumed = self.relayer.mined_nonce().await? > batch.nonce;
            self.refresh(batch).await?;
            if batch.txs.is_empty() {
                if consumed {
                    return self.requeue_consumed(batch).await;
                }
                return self.sign_first(batch, false).await;
            }
        }
        if self.resolve_if_mined(batch).await? {
            return Ok(Step::Done);
        }
        let mined_nonce = self.relayer.mined_nonce().await?;
        if mined_nonce > batch.nonce {
            // The nonce is used. A node may serve the new nonce a moment before the receipt of the transaction
            // that used it, so only a nonce used for the whole grace period with none of our receipts proves
            // that another transaction took it.
            let since = *batch.consumed_since.get_or_insert_with(Instant::now);
            if self.resolve_if_mined(batch).await? {
                return Ok(Step::Done);
            }
            if since.elapsed() >= self.config.requeue_grace() {
                // Another process driving this batch too may have recorded a transaction since we last looked.
                self.refresh(batch).await?;
                if self.resolve_if_mined(batch).await? {
                    return Ok(Step::Done);
                }
                return self.requeue_consumed(batch).await;
            }
            return Ok(Step::Wait);
        }
        let Some(newest) = batch.txs.last() else { return Ok(Step::Wait) };
        if !batch.resend && batch.checked_at.elapsed() >= IDLE_STEP {
            // Unmined for a while: if the node lost every transaction of the batch (sending failed, or its pool
            // dropped them, as it may drop the nonces queued behind a lost one), send the newest bytes again.
            // The batches at later nonces wait at the node until this one is mined.
            batch.checked_at = Instant::now();
            let mut known = false;
            for tx in &batch.txs {
                if self.relayer.is_known(tx.tx_hash).await? {
                    known = true;
                    break;
                }
            }
            batch.resend = !known;
        }
        if batch.signed_at.elapsed() >= self.config.replace_after() {
            // A replacement also stands in for any re-send the batch still owes.
            let last = newest.fees;
            let floor =
                Fees { max_fee_per_gas: last.max_fee_per_gas, max_priority_fee_per_gas: last.max_priority_fee_per_gas }
                    .bumped(self.config.fee_bump_percent);
            let call = batch.call();
            let signed = self.relayer.prepare(&call, batch.nonce, Some(floor)).await?;
            info!(batch = %batch.id, nonce = batch.nonce, tx = %signed.tx_hash, max_fee = signed.fees.max_fee_per_gas,
                "replacing stuck transaction");
            self.record_and_send(batch, &signed).await?;
        } else if batch.resend {
            info!(batch = %batch.id, nonce = batch.nonce, tx = %newest.tx_hash, "re-sending recorded transaction");
            let (raw, hash) = (newest.raw_tx.clone(), newest.tx_hash);
            batch.resend = !self.broadcast(&raw, hash, batch.id).await;
        }
        Ok(Step::Wait)
    }

    /// Adds the transactions of `batch` recorded since it was read (by another process relaying from the same key,
    /// which drives its own batches and may drive this one); [`clearing_ledger::Error::BatchClosed`] once it is
    /// resolved or requeued.
    async fn refresh(&self, batch: &mut InFlight) -> Result<()> {
        let batches = self.ledger.unresolved_batches(self.relayer.chain_id(), self.relayer.address()).await?;
        let recorded =
            batches.into_iter().find(|b| b.id == batch.id).ok_or(clearing_ledger::Error::BatchClosed(batch.id))?;
        for tx in recorded.transactions {
            if !batch.txs.iter().any(|known| known.tx_hash == tx.tx_hash) {
                batch.txs.push(tx);
            }
        }
        Ok(())
    }

    async fn record_and_send(&self, batch: &mut InFlight, signed: &SignedBatch) -> Result<()> {
        let tx = ledger_transaction(signed);
        // Recorded durably before the bytes exist anywhere else: a crash from here on re-sends these bytes.
        self.ledger.record_broadcast(batch.id, &tx).await?;
        batch.txs.push(tx);
        info!(batch = %batch.id, lane = %batch.lane, nonce = batch.nonce, tx = %signed.tx_hash, items = batch.len(), "broadcasting batch");
        batch.resend = !self.broadcast(&signed.raw, signed.tx_hash, batch.id).await;
        (batch.signed_at, batch.checked_at) = (Instant::now(), Instant::now());
        Ok(())
    }

    /// Sends the signed bytes of `tx`; true when the node has them (it took them now or knew them already). A
    /// failure is logged only: the batch's driver sends them again on its next step.
    async fn broadcast(&self, raw: &[u8], tx: TxHash, batch: BatchId) -> bool {
        let Err(e) = self.relayer.broadcast(raw).await else { return true };
        debug!(%batch, %tx, error = %e, "broadcast refused or failed");
        self.relayer.is_known(tx).await.unwrap_or(false)
    }

    /// Resolves the batch if any recorded transaction has a receipt; true when it is finished.
    async fn resolve_if_mined(&self, batch: &InFlight) -> Result<bool> {
        let mut found = None;
        for tx in &batch.txs {
            if let Some(receipt) = self.relayer.receipt(tx.tx_hash).await? {
                found = Some(receipt);
                break;
            }
        }
        let Some(receipt) = found else { return Ok(false) };
        let call = batch.call();
        let (mined, outcome) = match self.relayer.decode_receipt(&receipt, &call) {
            Ok(decoded) => decoded,
            Err(e) => {
                // Never guess at which item an event belongs to: leave the batch for an operator.
                error!(batch = %batch.id, tx = %receipt.transaction_hash, error = %e,
                    "batch receipt does not match its items; batch left unresolved");
                return Ok(true);
            }
        };
        let mined = Mined { tx_hash: mined.tx_hash, block_number: mined.block_number, block_hash: mined.block_hash };
        match outcome {
            BatchOutcome::Reverted => {
                warn!(batch = %batch.id, tx = %mined.tx_hash, "batch transaction reverted; items requeued");
                self.ledger.requeue_batch(batch.id, AbandonReason::Reverted, Some(&mined)).await?;
            }
            BatchOutcome::Items(outcomes) if batch.lane.route.carries_actions() => {
                let resolutions: Vec<_> = batch
                    .actions
                    .iter()
                    .zip(outcomes)
                    .map(|(action, outcome)| {
                        let resolution = match outcome {
                            ItemOutcome::Settled => ItemResolution::Settled,
                            ItemOutcome::Failed { reason, revert } => {
                                info!(action = %action.id, tx = %mined.tx_hash, %reason, "escrow action refused");
                                ItemResolution::Failed { reason, revert }
                            }
                        };
                        (action.id, resolution)
                    })
                    .collect();
                self.ledger.resolve_action_batch(batch.id, &mined, &resolutions).await?;
                info!(batch = %batch.id, lane = %batch.lane, tx = %mined.tx_hash, block = mined.block_number,
                    items = resolutions.len(), "batch resolved");
            }
            BatchOutcome::Items(outcomes) => {
                let mut resolutions = Vec::with_capacity(outcomes.len());
                for (item, outcome) in batch.items.iter().zip(outcomes) {
                    let key = item.payment.key;
                    let resolution = match outcome {
                        ItemOutcome::Settled => {
                            debug!(payer = %key.payer, nonce = %key.nonce, tx = %mined.tx_hash, "settled");
                            ItemResolution::Settled
                        }
                        ItemOutcome::Failed { reason, revert } => {
                            info!(payer = %key.payer, nonce = %key.nonce, tx = %mined.tx_hash, %reason, "refused by the token");
                            ItemResolution::Failed { reason, revert }
                        }
                    };
                    resolutions.push((item.id, resolution));
                }
                self.ledger.resolve_batch(batch.id, &mined, &resolutions).await?;
                info!(batch = %batch.id, tx = %mined.tx_hash, block = mined.block_number, items = resolutions.len(),
                    "batch resolved");
            }
        }
        Ok(true)
    }

    async fn requeue_consumed(&self, batch: &InFlight) -> Result<Step> {
        warn!(batch = %batch.id, nonce = batch.nonce, "relayer nonce used by another transaction; items requeued");
        self.ledger.requeue_batch(batch.id, AbandonReason::NonceConsumedElsewhere, None).await?;
        let pending = self.relayer.pending_nonce().await?;
        let mut next = self.next_nonce.lock().await;
        *next = (*next).max(pending);
        Ok(Step::Done)
    }
}

fn ledger_transaction(signed: &SignedBatch) -> BatchTransaction {
    BatchTransaction {
        tx_hash: signed.tx_hash,
        raw_tx: signed.raw.clone(),
        gas_limit: signed.gas_limit,
        fees: TxFees {
            max_fee_per_gas: signed.fees.max_fee_per_gas,
            max_priority_fee_per_gas: signed.fees.max_priority_fee_per_gas,
        },
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
