//! Reads waiting settles' rows and claims their `success` answers in shared statements.
//!
//! When a batch resolves, every waiting `/settle` of its payments re-reads its row and, if it settled, claims the
//! one `success` answer, a write that must be durable before the answer goes out. One commit per caller would
//! queue a block's worth of callers behind as many flushes; instead, every request that arrives while a statement
//! runs shares the next one ([`Ledger::settlement_answers`]), which claims each settlement at most once. Among the
//! callers of one settlement in one statement, only the first asking is given the claim. The claim must be durable
//! before the answer leaves, so a crash between the two loses that answer (the payer is charged once and every
//! repeat is told `invalid_exact_evm_nonce_already_used` with the transaction; README "Settle"): the claim is
//! therefore made as late as possible, in the statement whose result is the answer, and a claim whose caller left
//! before being told (its request was dropped) is given back instead of spent.

use std::collections::HashMap;

use clearing_ledger::{Ledger, Settlement, SettlementId};
use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
};
use tracing::{debug, warn};

use crate::{Error, Result};

/// Most settlements read in one statement.
const MAX_PER_STATEMENT: usize = 500;

type Reply = oneshot::Sender<Result<(Settlement, bool)>>;

/// The handle callers ask through; cheap to clone.
#[derive(Debug, Clone)]
pub(super) struct Answers {
    ledger: Ledger,
    requests: mpsc::UnboundedSender<(SettlementId, Reply)>,
}

impl Answers {
    /// Starts the task that serves the requests.
    pub(super) fn spawn(ledger: Ledger) -> (Self, JoinHandle<()>) {
        let (requests, received) = mpsc::unbounded_channel();
        let task = tokio::spawn(serve(ledger.clone(), received));
        (Self { ledger, requests }, task)
    }

    /// The row of `id` as it stands and whether this caller claimed its one `success` answer (true only for the
    /// first caller to see it settled).
    pub(super) async fn get(&self, id: SettlementId) -> Result<(Settlement, bool)> {
        let (reply, answer) = oneshot::channel();
        if self.requests.send((id, reply)).is_ok()
            && let Ok(answer) = answer.await
        {
            return answer;
        }
        // The task is gone (the runtime is shutting down): ask alone.
        alone(&self.ledger, id).await
    }
}

async fn serve(ledger: Ledger, mut received: mpsc::UnboundedReceiver<(SettlementId, Reply)>) {
    let mut batch = Vec::new();
    while received.recv_many(&mut batch, MAX_PER_STATEMENT).await > 0 {
        let mut ids: Vec<SettlementId> = batch.iter().map(|(id, _)| *id).collect();
        ids.sort_unstable();
        ids.dedup();
        match ledger.settlement_answers(&ids).await {
            Ok(rows) => {
                let mut rows: HashMap<SettlementId, (Settlement, bool)> =
                    rows.into_iter().map(|(row, claimed)| (row.id, (row, claimed))).collect();
                for (id, reply) in batch.drain(..) {
                    let Some((row, claimed)) = rows.get_mut(&id) else {
                        let _ = reply.send(Err(Error::Inconsistent { id, what: "the row disappeared" }));
                        continue;
                    };
                    // The first caller takes the claim; any later one in this statement sees it taken. A caller
                    // that left (its request was dropped) passes the claim on to the next.
                    let mine = std::mem::take(claimed);
                    if reply.send(Ok((row.clone(), mine))).is_err() && mine {
                        *claimed = true;
                    }
                }
                // Claimed for callers that all left before they could be told: give the claims back, so that the
                // `success` is not spent on an answer nobody received.
                let untold: Vec<SettlementId> =
                    rows.iter().filter(|(_, (_, claimed))| *claimed).map(|(id, _)| *id).collect();
                if !untold.is_empty() {
                    match ledger.release_success_reports(&untold).await {
                        Ok(()) => debug!(settlements = untold.len(), "released success claims of departed callers"),
                        Err(error) => {
                            warn!(%error, settlements = untold.len(), "releasing untold success claims failed")
                        }
                    }
                }
            }
            Err(error) => {
                warn!(%error, settlements = ids.len(), "shared settlement read failed; each asks alone");
                for (id, reply) in batch.drain(..) {
                    let _ = reply.send(alone(&ledger, id).await);
                }
            }
        }
    }
}

async fn alone(ledger: &Ledger, id: SettlementId) -> Result<(Settlement, bool)> {
    ledger.settlement_answer(id).await?.ok_or(Error::Inconsistent { id, what: "the row disappeared" })
}
