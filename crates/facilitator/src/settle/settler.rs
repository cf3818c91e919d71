use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::{Arc, Mutex, PoisonError},
};

use clearing_ledger::{Ledger, Settlement, SettlementId, SettlementStatus};
use clearing_x402::Reason;
use tokio::{sync::watch, task::JoinHandle, time::Instant};
use tracing::{debug, info, warn};

use super::{PaymentToSettle, SettleConfig, SettleOutcome, SettleResult, answers::Answers};
use crate::{Error, Result};

/// How many of the latest resolved ids are remembered, so a waiter that registers just after its resolution
/// was announced still sees it (it re-reads its row at once instead of waiting for the fallback poll).
const RECENT_RESOLUTIONS: usize = 16_384;

/// The front of the settle pipeline: queues payments and waits for their outcomes. Cheap to clone.
///
/// Waiters wake on the ledger's resolution notifications (from any process running a [`super::Batcher`]), each
/// only for its own settlement, and re-read their row every `waiter_poll_ms` in case one was lost.
#[derive(Debug, Clone)]
pub struct Settler {
    ledger: Ledger,
    config: SettleConfig,
    waiters: Arc<Waiters>,
    answers: Answers,
    _tasks: Arc<[AbortOnDrop; 2]>,
}

#[derive(Debug)]
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The `/settle` calls waiting in this process, by settlement id: a resolution wakes only its own waiters.
#[derive(Debug, Default)]
struct Waiters {
    inner: Mutex<WaitersInner>,
}

#[derive(Debug, Default)]
struct WaitersInner {
    /// One wake-up channel per waited-for settlement, shared by every call waiting for it.
    by_id: HashMap<SettlementId, watch::Sender<()>>,
    /// The latest resolved ids, oldest first, and the same as a set.
    recent: VecDeque<SettlementId>,
    recent_set: HashSet<SettlementId>,
}

impl Waiters {
    fn lock(&self) -> std::sync::MutexGuard<'_, WaitersInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a waiter for `id`; the bool says `id` was resolved lately (so the caller's copy may be stale).
    fn register(self: &Arc<Self>, id: SettlementId) -> (Waiter, bool) {
        let mut inner = self.lock();
        let receiver = inner.by_id.entry(id).or_insert_with(|| watch::Sender::new(())).subscribe();
        let recent = inner.recent_set.contains(&id);
        (Waiter { waiters: self.clone(), id, receiver: Some(receiver) }, recent)
    }

    /// Wakes the waiters of `id`, if any, and remembers it among the recent resolutions.
    fn resolved(&self, id: SettlementId) {
        let mut inner = self.lock();
        if let Some(sender) = inner.by_id.get(&id) {
            sender.send_replace(());
        }
        if inner.recent_set.insert(id) {
            inner.recent.push_back(id);
            if inner.recent.len() > RECENT_RESOLUTIONS
                && let Some(oldest) = inner.recent.pop_front()
            {
                inner.recent_set.remove(&oldest);
            }
        }
    }

    /// Wakes every waiter (after notifications may have been lost), so each re-reads its row.
    fn wake_all(&self) {
        for sender in self.lock().by_id.values() {
            sender.send_replace(());
        }
    }
}

/// One call's registration; dropping it unregisters the settlement once nobody waits for it.
#[derive(Debug)]
struct Waiter {
    waiters: Arc<Waiters>,
    id: SettlementId,
    receiver: Option<watch::Receiver<()>>,
}

impl Waiter {
    /// Returns once the settlement was announced resolved since the last call (or the registration).
    async fn woken(&mut self) {
        match self.receiver.as_mut() {
            // The sender lives as long as a receiver does, so this never reports it closed.
            Some(receiver) => {
                let _ = receiver.changed().await;
            }
            None => std::future::pending().await,
        }
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        drop(self.receiver.take());
        let mut inner = self.waiters.lock();
        if inner.by_id.get(&self.id).is_some_and(|sender| sender.receiver_count() == 0) {
            inner.by_id.remove(&self.id);
        }
    }
}

impl Settler {
    /// Starts listening for resolutions and returns the settler.
    pub async fn start(ledger: Ledger, config: SettleConfig) -> Result<Self> {
        config.validate()?;
        let mut listener = ledger.listen_resolutions().await?;
        let waiters = Arc::new(Waiters::default());
        let wake = waiters.clone();
        let retry = config.waiter_poll();
        let task = tokio::spawn(async move {
            loop {
                match listener.recv().await {
                    Ok(id) => wake.resolved(id),
                    Err(error) => {
                        warn!(%error, "resolution listener failed; waiters re-read their rows until it reconnects");
                        wake.wake_all();
                        tokio::time::sleep(retry).await;
                        wake.wake_all();
                    }
                }
            }
        });
        let (answers, answering) = Answers::spawn(ledger.clone());
        let tasks = Arc::new([AbortOnDrop(task), AbortOnDrop(answering)]);
        Ok(Self { ledger, config, waiters, answers, _tasks: tasks })
    }

    /// Queues `payment` (once per authorization) and waits up to the settle timeout for its outcome.
    ///
    /// A payment already final is answered from its row at once: a settled one answers success to the first
    /// caller to see it and `invalid_exact_evm_nonce_already_used` with the original transaction to every other.
    /// A payment whose key is queued for another payment (other terms or signature bytes) is answered
    /// [`SettleResult::NonceTaken`] and never shares that payment's outcome.
    pub async fn settle(&self, payment: &PaymentToSettle) -> Result<SettleOutcome> {
        Ok(self.settle_queued(payment).await?.0)
    }

    /// [`Settler::settle`], saying also whether this call queued the payment (rather than finding it queued).
    pub async fn settle_queued(&self, payment: &PaymentToSettle) -> Result<(SettleOutcome, bool)> {
        let deadline = Instant::now() + self.config.settle_timeout();
        let (row, inserted) = self.ledger.enqueue_settlement(&payment.to_new_settlement()).await?;
        if inserted {
            info!(payer = %payment.payer, nonce = %payment.nonce, id = %row.id, "settlement queued");
        } else if !payment.is_queued_as(&row.payment) {
            info!(payer = %payment.payer, nonce = %payment.nonce, id = %row.id, "nonce taken by another payment");
            return Ok((outcome(payment, SettleResult::NonceTaken), false));
        } else {
            debug!(payer = %payment.payer, nonce = %payment.nonce, id = %row.id, status = ?row.status, "settlement already queued");
        }
        Ok((self.wait(payment, row, deadline).await?, inserted))
    }

    /// Waits for the queued settlement of exactly `payment`, never queueing it: `None` when nothing is queued under
    /// its key or what is queued is another payment. For a repeat of a queued payment that no longer verifies
    /// (its nonce is used by that very payment now); anything that is not the same payment gets nothing from it.
    pub async fn join(&self, payment: &PaymentToSettle) -> Result<Option<SettleOutcome>> {
        let deadline = Instant::now() + self.config.settle_timeout();
        match self.ledger.settlement(&payment.key()).await? {
            Some(row) if payment.is_queued_as(&row.payment) => {
                debug!(payer = %payment.payer, nonce = %payment.nonce, id = %row.id, status = ?row.status, "joining queued settlement");
                Ok(Some(self.wait(payment, row, deadline).await?))
            }
            _ => Ok(None),
        }
    }

    /// Waits until `deadline` for the outcome of `row`, which holds `payment`.
    async fn wait(&self, payment: &PaymentToSettle, mut row: Settlement, deadline: Instant) -> Result<SettleOutcome> {
        if row.status.is_final() {
            let (row, claimed) = self.reread(row.id).await?;
            return answer(payment, &row, claimed);
        }
        // A resolution announced between the read above and this registration is among the recent ones.
        let (mut waiter, recently_resolved) = self.waiters.register(row.id);
        let mut claimed = false;
        if recently_resolved {
            (row, claimed) = self.reread(row.id).await?;
        }
        loop {
            if row.status.is_final() {
                return answer(payment, &row, claimed);
            }
            tokio::select! {
                () = waiter.woken() => {}
                () = tokio::time::sleep(self.config.waiter_poll()) => {}
                () = tokio::time::sleep_until(deadline) => {
                    let (row, claimed) = self.reread(row.id).await?;
                    if !row.status.is_final() {
                        info!(payer = %payment.payer, nonce = %payment.nonce, tx = ?row.tx_hash, "settle timed out: pending");
                    }
                    return answer(payment, &row, claimed);
                }
            }
            (row, claimed) = self.reread(row.id).await?;
        }
    }

    /// The row as it stands, with the one `success` answer claimed if it settled and nobody was told yet.
    async fn reread(&self, id: SettlementId) -> Result<(Settlement, bool)> {
        self.answers.get(id).await
    }
}

/// The answer for `row`, which holds `payment`; `claimed` says this caller claimed the one `success` answer of a
/// settled payment.
fn answer(payment: &PaymentToSettle, row: &Settlement, claimed: bool) -> Result<SettleOutcome> {
    let result = match row.status {
        SettlementStatus::Settled | SettlementStatus::Confirmed => {
            let transaction =
                row.tx_hash.ok_or(Error::Inconsistent { id: row.id, what: "settled without a transaction" })?;
            if claimed { SettleResult::Settled { transaction } } else { SettleResult::SettledEarlier { transaction } }
        }
        SettlementStatus::Expired => {
            SettleResult::Failed { reason: stored_reason(row, Reason::ValidBefore), transaction: None }
        }
        SettlementStatus::Failed => {
            SettleResult::Failed { reason: stored_reason(row, Reason::UnexpectedSettleError), transaction: row.tx_hash }
        }
        SettlementStatus::Pending | SettlementStatus::Submitted => SettleResult::Pending { transaction: row.tx_hash },
    };
    Ok(outcome(payment, result))
}

/// The outcome for this caller, in the terms its request used (the row may have been queued under another
/// network name or x402 version of the same payment).
fn outcome(payment: &PaymentToSettle, result: SettleResult) -> SettleOutcome {
    SettleOutcome {
        payer: payment.payer,
        network: payment.network.clone(),
        x402_version: payment.x402_version,
        amount: payment.value,
        result,
    }
}

/// The reason a final row records, or `default` for a row that names none.
fn stored_reason(row: &Settlement, default: Reason) -> Reason {
    row.failure_reason.unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    async fn woken_within(waiter: &mut Waiter, ms: u64) -> bool {
        tokio::time::timeout(Duration::from_millis(ms), waiter.woken()).await.is_ok()
    }

    #[tokio::test]
    async fn a_resolution_wakes_only_the_waiters_of_its_settlement() {
        let waiters = Arc::new(Waiters::default());
        let (mut one, recent) = waiters.register(SettlementId(1));
        let (mut same, _) = waiters.register(SettlementId(1));
        let (mut other, _) = waiters.register(SettlementId(2));
        assert!(!recent);
        waiters.resolved(SettlementId(1));
        assert!(woken_within(&mut one, 100).await);
        assert!(woken_within(&mut same, 100).await, "every call waiting for the payment wakes");
        assert!(!woken_within(&mut other, 50).await, "another payment's waiter sleeps on");
        waiters.wake_all();
        assert!(woken_within(&mut other, 100).await);
    }

    #[tokio::test]
    async fn a_waiter_registering_after_its_resolution_is_told_it_was_recent() {
        let waiters = Arc::new(Waiters::default());
        waiters.resolved(SettlementId(7));
        let (_, recent) = waiters.register(SettlementId(7));
        assert!(recent);
        for id in 100..100 + RECENT_RESOLUTIONS as i64 {
            waiters.resolved(SettlementId(id));
        }
        let (_, recent) = waiters.register(SettlementId(7));
        assert!(!recent, "only the latest resolutions are remembered");
        assert_eq!(waiters.lock().recent.len(), RECENT_RESOLUTIONS);
    }

    #[tokio::test]
    async fn the_last_waiter_of_a_settlement_unregisters_it() {
        let waiters = Arc::new(Waiters::default());
        let (first, _) = waiters.register(SettlementId(3));
        let (second, _) = waiters.register(SettlementId(3));
        drop(first);
        assert!(waiters.lock().by_id.contains_key(&SettlementId(3)));
        drop(second);
        assert!(waiters.lock().by_id.is_empty());
    }
}
