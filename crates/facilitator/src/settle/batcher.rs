//! The batcher: claims queued payments, sends them in `BatchSettler` transactions and resolves them.
//!
//! Per batch (each step one ledger transaction, in this order):
//!
//! 1. claim (items `pending` → `submitted`, relayer nonce reserved) under the nonce lock;
//! 2. sign at that nonce and record the signed bytes (`record_broadcast`), then send them;
//! 3. poll for a receipt of any recorded hash; replace with bumped fees after `replace_after_ms`;
//! 4. resolve every item from its own event, or requeue the batch if its nonce went to another transaction or
//!    it reverted as a whole.
//!
//! A restart finds every batch left between 1 and 4 (`unresolved_batches`) and continues it at the same step:
//! never signed → sign at its nonce; signed → re-send the identical bytes; mined → resolve from the receipt.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
};

use alloy::primitives::Address;
use clearing_chain::{BatchOutcome, Fees, ItemOutcome, Relayer, SettlePayment, SignedBatch};
use clearing_ledger::{
    AbandonReason, Batch, BatchClaim, BatchId, BatchTransaction, ItemResolution, Ledger, Mined, Settlement, TxFees,
};
use clearing_x402::Reason;
use tokio::{
    sync::{Mutex, Notify, watch},
    task::{JoinHandle, JoinSet},
    time::Instant,
};
use tracing::{debug, error, info, warn};

use super::SettleConfig;
use crate::{Error, Metrics, Result};

/// Relays queued payments of some assets from one relayer key. Dropping it leaves its tasks running; stop it
/// with [`Batcher::shutdown`] (or [`Batcher::abort`], which is what a crash looks like).
#[derive(Debug)]
pub struct Batcher {
    tasks: Vec<JoinHandle<()>>,
    shutdown: watch::Sender<bool>,
}

impl Batcher {
    /// Continues every unresolved batch of the relayer, then starts one batch loop per asset.
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

        let mut recovered: HashMap<Address, Vec<InFlight>> = HashMap::new();
        for batch in unresolved {
            let home = if assets.contains(&batch.asset) { batch.asset } else { first };
            recovered.entry(home).or_default().push(InFlight::recovered(batch));
        }
        let signals: HashMap<Address, Arc<QueueSignal>> =
            assets.iter().map(|asset| (*asset, Arc::new(QueueSignal::default()))).collect();
        let listener = ledger.listen_queued().await?;
        let shared = Arc::new(Shared { ledger, relayer, config, metrics, next_nonce: Mutex::new(next) });
        let (shutdown, stop) = watch::channel(false);
        let mut tasks: Vec<_> = assets
            .iter()
            .map(|asset| {
                let batches = recovered.remove(asset).unwrap_or_default();
                let signal = signals[asset].clone();
                tokio::spawn(run_asset(shared.clone(), *asset, batches, signal, stop.clone()))
            })
            .collect();
        tasks.push(tokio::spawn(count_queued(listener, shared.clone(), signals, stop)));
        Ok(Self { tasks, shutdown })
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
    /// The next relayer nonce for a new batch, held across claim, sign, record and send.
    next_nonce: Mutex<u64>,
}

/// Payments queued for one asset since its last claim, as announced by the ledger; wakes the asset's loop
/// early when they fill a batch.
#[derive(Debug, Default)]
struct QueueSignal {
    queued: AtomicU32,
    full: Notify,
}

async fn count_queued(
    mut listener: clearing_ledger::QueueListener,
    shared: Arc<Shared>,
    signals: HashMap<Address, Arc<QueueSignal>>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let queued = tokio::select! {
            _ = stop.changed() => return,
            queued = listener.recv() => queued,
        };
        match queued {
            Ok((chain_id, asset)) if chain_id == shared.relayer.chain_id() => {
                if let Some(signal) = signals.get(&asset)
                    && signal.queued.fetch_add(1, Ordering::Relaxed) + 1 >= shared.config.batch_size
                {
                    signal.full.notify_one();
                }
            }
            Ok(_) => {}
            Err(e) => {
                // The timer still claims every max_wait_ms; only the early wake-up is lost meanwhile.
                warn!(error = %e, "queue listener failed");
                tokio::time::sleep(shared.config.max_wait()).await;
            }
        }
    }
}

/// A batch between claim and resolution.
#[derive(Debug)]
struct InFlight {
    id: BatchId,
    asset: Address,
    nonce: u64,
    items: Vec<Settlement>,
    /// Recorded transactions, oldest first.
    txs: Vec<BatchTransaction>,
    last_sent: Instant,
    /// Re-send the newest recorded bytes before waiting (after a restart).
    resend: bool,
    /// Since when the relayer nonce has been seen used while no recorded hash had a receipt.
    consumed_since: Option<Instant>,
}

impl InFlight {
    fn recovered(batch: Batch) -> Self {
        Self {
            id: batch.id,
            asset: batch.asset,
            nonce: batch.tx_nonce,
            items: batch.items,
            txs: batch.transactions,
            last_sent: Instant::now(),
            resend: true,
            consumed_since: None,
        }
    }

    fn payments(&self) -> Vec<SettlePayment> {
        self.items.iter().map(payment).collect()
    }
}

/// What a step of an in-flight batch left to do.
enum Step {
    Wait,
    Done,
}

async fn run_asset(
    shared: Arc<Shared>,
    asset: Address,
    recovered: Vec<InFlight>,
    signal: Arc<QueueSignal>,
    mut stop: watch::Receiver<bool>,
) {
    let mut drivers = JoinSet::new();
    for batch in recovered {
        info!(batch = %batch.id, nonce = batch.nonce, txs = batch.txs.len(), "continuing unresolved batch");
        drivers.spawn(drive(shared.clone(), batch));
    }
    let mut tick = tokio::time::interval(shared.config.max_wait());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let max_in_flight = usize::try_from(shared.config.max_in_flight).unwrap_or(usize::MAX);
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            Some(joined) = drivers.join_next() => {
                if let Err(e) = joined { error!(%asset, error = %e, "batch driver panicked") }
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
        if let Err(e) = shared.expire(asset).await {
            warn!(%asset, error = %e, "expiring queued payments failed");
        }
        while drivers.len() < max_in_flight {
            match shared.claim_and_send(asset).await {
                Ok(Some((batch, full))) => {
                    drivers.spawn(drive(shared.clone(), batch));
                    if !full {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    warn!(%asset, error = %e, "claiming a batch failed");
                    break;
                }
            }
        }
    }
    while drivers.join_next().await.is_some() {}
}

async fn drive(shared: Arc<Shared>, mut batch: InFlight) {
    loop {
        match shared.step(&mut batch).await {
            Ok(Step::Done) => return,
            Ok(Step::Wait) => {}
            Err(e) => {
                warn!(batch = %batch.id, nonce = batch.nonce, error = %e, "in-flight batch step failed; retrying")
            }
        }
        tokio::time::sleep(shared.config.receipt_poll()).await;
    }
}

impl Shared {
    async fn expire(&self, asset: Address) -> Result<()> {
        let cutoff = unix_now() + self.config.expiry_margin_secs;
        for item in self.ledger.expire_pending(self.relayer.chain_id(), cutoff, Reason::ValidBefore.as_str()).await? {
            let key = item.payment.key;
            info!(%asset, payer = %key.payer, nonce = %key.nonce, "expired while queued; never broadcast");
        }
        Ok(())
    }

    /// Claims one batch at the next nonce, signs, records and sends it; the bool says it was full.
    async fn claim_and_send(&self, asset: Address) -> Result<Option<(InFlight, bool)>> {
        let now = unix_now();
        let mut next = self.next_nonce.lock().await;
        let nonce = *next;
        let claim = BatchClaim {
            chain_id: self.relayer.chain_id(),
            asset,
            relayer: self.relayer.address(),
            tx_nonce: nonce,
            limit: self.config.batch_size,
            cutoff: now + self.config.expiry_margin_secs,
            now,
        };
        let Some((id, items)) = self.ledger.claim_batch(&claim).await? else {
            return Ok(None);
        };
        self.metrics.batch_size.observe(items.len() as f64);
        let full = items.len() >= usize::try_from(self.config.batch_size).unwrap_or(usize::MAX);
        let mut batch = InFlight {
            id,
            asset,
            nonce,
            items,
            txs: Vec::new(),
            last_sent: Instant::now(),
            resend: false,
            consumed_since: None,
        };
        let signed = match self.relayer.prepare(asset, &batch.payments(), nonce, None).await {
            Ok(signed) => signed,
            Err(e) => {
                // Nothing was sent and the nonce is still ours: give the items back and reuse the nonce.
                self.ledger.requeue_batch(id, AbandonReason::NeverSent, None).await?;
                return Err(e.into());
            }
        };
        *next += 1;
        drop(next);
        let tx = ledger_transaction(&signed);
        if let Err(e) = self.ledger.record_broadcast(id, &tx).await {
            // The batch holds the nonce but nothing was sent: its driver signs again and records.
            warn!(batch = %id, nonce, error = %e, "recording the batch transaction failed; retrying");
            return Ok(Some((batch, full)));
        }
        info!(batch = %id, nonce, tx = %signed.tx_hash, items = batch.items.len(), "broadcasting batch");
        self.broadcast(&signed.raw, id).await;
        batch.txs.push(tx);
        batch.last_sent = Instant::now();
        Ok(Some((batch, full)))
    }

    async fn step(&self, batch: &mut InFlight) -> Result<Step> {
        if batch.txs.is_empty() {
            if self.relayer.mined_nonce().await? > batch.nonce {
                return self.requeue_consumed(batch).await;
            }
            let signed = self.relayer.prepare(batch.asset, &batch.payments(), batch.nonce, None).await?;
            self.record_and_send(batch, &signed).await?;
            return Ok(Step::Wait);
        }
        if self.resolve_if_mined(batch).await? {
            return Ok(Step::Done);
        }
        if self.relayer.mined_nonce().await? > batch.nonce {
            // The nonce is used. A node may serve the new nonce a moment before the receipt of the transaction
            // that used it, so only a nonce used for the whole grace period with none of our receipts proves
            // that another transaction took it.
            let since = *batch.consumed_since.get_or_insert_with(Instant::now);
            if self.resolve_if_mined(batch).await? {
                return Ok(Step::Done);
            }
            if since.elapsed() >= self.config.requeue_grace() {
                return self.requeue_consumed(batch).await;
            }
            return Ok(Step::Wait);
        }
        let Some(newest) = batch.txs.last() else { return Ok(Step::Wait) };
        if batch.resend {
            info!(batch = %batch.id, nonce = batch.nonce, tx = %newest.tx_hash, "re-sending recorded transaction");
            self.broadcast(&newest.raw_tx, batch.id).await;
            batch.resend = false;
            batch.last_sent = Instant::now();
        } else if batch.last_sent.elapsed() >= self.config.replace_after() {
            let last = newest.fees;
            let floor =
                Fees { max_fee_per_gas: last.max_fee_per_gas, max_priority_fee_per_gas: last.max_priority_fee_per_gas }
                    .bumped(self.config.fee_bump_percent);
            let signed = self.relayer.prepare(batch.asset, &batch.payments(), batch.nonce, Some(floor)).await?;
            info!(batch = %batch.id, nonce = batch.nonce, tx = %signed.tx_hash, max_fee = signed.fees.max_fee_per_gas,
                "replacing stuck transaction");
            self.record_and_send(batch, &signed).await?;
        }
        Ok(Step::Wait)
    }

    async fn record_and_send(&self, batch: &mut InFlight, signed: &SignedBatch) -> Result<()> {
        let tx = ledger_transaction(signed);
        self.ledger.record_broadcast(batch.id, &tx).await?;
        batch.txs.push(tx);
        self.broadcast(&signed.raw, batch.id).await;
        batch.last_sent = Instant::now();
        Ok(())
    }

    /// Sends signed bytes; a failure is logged only, since the batch's driver re-sends or replaces.
    async fn broadcast(&self, raw: &[u8], batch: BatchId) {
        if let Err(e) = self.relayer.broadcast(raw).await {
            debug!(%batch, error = %e, "broadcast refused or failed");
        }
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
        let keys: Vec<_> = batch.items.iter().map(|s| (s.payment.key.payer, s.payment.key.nonce)).collect();
        let (mined, outcome) = match self.relayer.decode_receipt(&receipt, batch.asset, &keys) {
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
                            ItemResolution::Failed { reason: reason.as_str().to_owned(), revert }
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

fn payment(item: &Settlement) -> SettlePayment {
    let p = &item.payment;
    SettlePayment {
        from: p.key.payer,
        to: p.pay_to,
        value: p.value,
        validAfter: p.valid_after,
        validBefore: p.valid_before,
        nonce: p.key.nonce,
        signature: p.signature.clone(),
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
