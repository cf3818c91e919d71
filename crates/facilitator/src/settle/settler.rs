use std::sync::Arc;

use clearing_ledger::{Ledger, Settlement, SettlementId, SettlementStatus};
use clearing_x402::Reason;
use tokio::{
    sync::broadcast::{self, error::RecvError},
    task::JoinHandle,
    time::Instant,
};
use tracing::{debug, info, warn};

use super::{PaymentToSettle, SettleConfig, SettleOutcome, SettleResult};
use crate::{Error, Result};

/// Buffered resolution notifications per waiter before it falls back to re-reading its row.
const WAKE_BUFFER: usize = 4_096;

/// The front of the settle pipeline: queues payments and waits for their outcomes. Cheap to clone.
///
/// Waiters wake on the ledger's resolution notifications (from any process running a [`super::Batcher`]) and
/// re-read their row every `waiter_poll_ms` in case one was lost.
#[derive(Debug, Clone)]
pub struct Settler {
    ledger: Ledger,
    config: SettleConfig,
    wake: broadcast::Sender<SettlementId>,
    _listener: Arc<AbortOnDrop>,
}

#[derive(Debug)]
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Settler {
    /// Starts listening for resolutions and returns the settler.
    pub async fn start(ledger: Ledger, config: SettleConfig) -> Result<Self> {
        config.validate()?;
        let mut listener = ledger.listen_resolutions().await?;
        let (wake, _) = broadcast::channel(WAKE_BUFFER);
        let sender = wake.clone();
        let retry = config.waiter_poll();
        let task = tokio::spawn(async move {
            loop {
                match listener.recv().await {
                    Ok(id) => {
                        // No receiver is fine: nobody in this process waits for that payment.
                        let _ = sender.send(id);
                    }
                    Err(error) => {
                        warn!(%error, "resolution listener failed; waiters fall back to polling until it reconnects");
                        tokio::time::sleep(retry).await;
                    }
                }
            }
        });
        Ok(Self { ledger, config, wake, _listener: Arc::new(AbortOnDrop(task)) })
    }

    /// Queues `payment` (once per authorization) and waits up to the settle timeout for its outcome.
    ///
    /// A payment already final is answered from its row at once: a settled one answers success to the first
    /// caller to see it and `invalid_exact_evm_nonce_already_used` with the original transaction to every other.
    pub async fn settle(&self, payment: &PaymentToSettle) -> Result<SettleOutcome> {
        let deadline = Instant::now() + self.config.settle_timeout();
        // Subscribe before queueing, so a resolution right after the insert is not missed.
        let mut wake = self.wake.subscribe();
        let (mut row, inserted) = self.ledger.enqueue_settlement(&payment.to_new_settlement()).await?;
        if inserted {
            info!(payer = %payment.payer, nonce = %payment.nonce, id = %row.id, "settlement queued");
        } else {
            debug!(payer = %payment.payer, nonce = %payment.nonce, id = %row.id, status = ?row.status, "settlement already queued");
        }
        loop {
            if row.status.is_final() {
                return self.answer_final(row).await;
            }
            let woken = tokio::select! {
                woken = wake.recv() => woken,
                () = tokio::time::sleep(self.config.waiter_poll()) => Err(RecvError::Lagged(0)),
                () = tokio::time::sleep_until(deadline) => {
                    let row = self.reread(row.id).await?;
                    if row.status.is_final() {
                        return self.answer_final(row).await;
                    }
                    info!(payer = %payment.payer, nonce = %payment.nonce, tx = ?row.tx_hash, "settle timed out: pending");
                    return Ok(outcome(&row, SettleResult::Pending { transaction: row.tx_hash }));
                }
            };
            match woken {
                Ok(id) if id != row.id => continue,
                Ok(_) | Err(RecvError::Lagged(_)) => row = self.reread(row.id).await?,
                Err(RecvError::Closed) => {
                    tokio::time::sleep(
                        self.config.waiter_poll().min(deadline.saturating_duration_since(Instant::now())),
                    )
                    .await;
                    row = self.reread(row.id).await?;
                }
            }
        }
    }

    async fn reread(&self, id: SettlementId) -> Result<Settlement> {
        self.ledger.settlement_by_id(id).await?.ok_or(Error::Inconsistent { id, what: "the row disappeared" })
    }

    async fn answer_final(&self, row: Settlement) -> Result<SettleOutcome> {
        let result = match row.status {
            SettlementStatus::Settled | SettlementStatus::Confirmed => {
                let transaction =
                    row.tx_hash.ok_or(Error::Inconsistent { id: row.id, what: "settled without a transaction" })?;
                if self.ledger.claim_success_report(row.id).await? {
                    SettleResult::Settled { transaction }
                } else {
                    SettleResult::Failed { reason: Reason::NonceAlreadyUsed, transaction: Some(transaction) }
                }
            }
            SettlementStatus::Expired => {
                SettleResult::Failed { reason: stored_reason(&row, Reason::ValidBefore), transaction: None }
            }
            SettlementStatus::Failed => SettleResult::Failed {
                reason: stored_reason(&row, Reason::UnexpectedSettleError),
                transaction: row.tx_hash,
            },
            SettlementStatus::Pending | SettlementStatus::Submitted => {
                SettleResult::Pending { transaction: row.tx_hash }
            }
        };
        Ok(outcome(&row, result))
    }
}

fn outcome(row: &Settlement, result: SettleResult) -> SettleOutcome {
    SettleOutcome {
        payer: row.payment.key.payer,
        network: row.payment.network.clone(),
        x402_version: row.payment.x402_version,
        amount: row.payment.value,
        result,
    }
}

/// The reason a final row records (as its wire string), or `default` for a row that names none.
fn stored_reason(row: &Settlement, default: Reason) -> Reason {
    row.failure_reason.as_deref().and_then(Reason::from_wire).unwrap_or(default)
}
