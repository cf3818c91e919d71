//! The dispatcher: claims due events from the ledger, delivers them concurrently and records every attempt.
//!
//! Per event (each ledger step one transaction): claim (leased, `FOR UPDATE SKIP LOCKED`, so dispatchers in any
//! number of processes share the outbox without ever taking the same event while its lease holds) → attempt →
//! record the attempt and the event's next step. Results are recorded in batches by one task; a result recorded
//! after its lease ran out is logged but moves nothing, since another dispatcher owns the event by then.
//!
//! Crash contract: an attempt whose result was not recorded (the process died between sending and recording) is
//! sent again once its lease runs out, with the same `webhook-id`: delivery is at least once, and receivers
//! deduplicate on the id.
//!
//! Waking: an event enqueued through this process's ledger wakes the claim loop at once; so does every recorded
//! batch (the next event of an ordering key may have become due) and every finished attempt (a slot came free).
//! Everything else (retries coming due, other processes' events) is found by polling every `poll_ms`, sooner when
//! a retry this process scheduled is due first.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use clearing_ledger::{ClaimedWebhook, Ledger, NextStep, WebhookAttempt};
use tokio::{
    sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, watch},
    task::{JoinHandle, JoinSet},
    time::Instant,
};
use tracing::{debug, error, info, warn};

use crate::{Result, WebhooksConfig, deliver::Sender, schedule::Schedule};

/// Most results recorded in one transaction.
const MAX_RECORD_BATCH: usize = 256;

/// How often a failed recording is tried again before its results are dropped (their events are sent again
/// when their leases run out), and the first wait between tries (doubling).
const RECORD_TRIES: u32 = 5;
const RECORD_BACKOFF: Duration = Duration::from_millis(200);

/// Delivers the ledger's webhook outbox. Dropping it leaves its tasks running; stop it with
/// [`Dispatcher::shutdown`] (or [`Dispatcher::abort`], which is what a crash looks like).
#[derive(Debug)]
pub struct Dispatcher {
    tasks: Vec<JoinHandle<()>>,
    shutdown: watch::Sender<bool>,
}

impl Dispatcher {
    /// Starts claiming and delivering due events; call it inside a Tokio runtime. Fails only on an invalid
    /// configuration.
    pub fn start(ledger: Ledger, config: WebhooksConfig) -> Result<Self> {
        config.validate()?;
        let shared = Arc::new(Shared {
            sender: Sender::new(&config)?,
            schedule: Schedule::new(&config.retry_schedule_ms, Duration::from_secs(config.max_retry_after_secs)),
            ledger,
            config,
            recorded: Notify::new(),
            next_retry: Mutex::new(None),
        });
        info!(
            concurrency = shared.config.concurrency,
            allow_private = shared.config.allow_private,
            "webhook dispatcher starting"
        );
        let (shutdown, stop) = watch::channel(false);
        let (results, pending) = mpsc::channel(shared.config.concurrency * 4);
        let tasks =
            vec![tokio::spawn(claim_loop(shared.clone(), results, stop)), tokio::spawn(record_loop(shared, pending))];
        Ok(Self { tasks, shutdown })
    }

    /// Handles on its long-lived tasks, for `/health` to see whether any has stopped.
    pub fn task_handles(&self) -> Vec<tokio::task::AbortHandle> {
        self.tasks.iter().map(JoinHandle::abort_handle).collect()
    }

    /// Stops claiming, lets the attempts in flight finish and records them.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }

    /// Stops at once, wherever each attempt is (a crash, as far as the ledger and the receivers can tell): the
    /// claimed events are taken by another dispatcher when their leases run out.
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
    config: WebhooksConfig,
    sender: Sender,
    schedule: Schedule,
    /// Signalled after each recorded batch: an ordering key's next event may be due now.
    recorded: Notify,
    /// The earliest retry this process scheduled that has not been claimed since.
    next_retry: Mutex<Option<Instant>>,
}

impl Shared {
    /// How long the claim loop may sleep: the poll interval, or less if a retry we scheduled comes due first.
    fn idle_wait(&self) -> Duration {
        let poll = self.config.poll();
        let mut next = self.next_retry.lock().expect("never poisoned: no panics under it");
        match *next {
            Some(at) if at <= Instant::now() => {
                *next = None;
                Duration::ZERO
            }
            Some(at) => poll.min(at - Instant::now()),
            None => poll,
        }
    }

    fn retry_scheduled(&self, delay: Duration) {
        let at = Instant::now() + delay;
        let mut next = self.next_retry.lock().expect("never poisoned: no panics under it");
        if next.is_none_or(|earliest| at < earliest) {
            *next = Some(at);
        }
    }
}

/// Claims due events while slots are free and starts an attempt for each; waits when nothing is due.
async fn claim_loop(shared: Arc<Shared>, results: mpsc::Sender<WebhookAttempt>, mut stop: watch::Receiver<bool>) {
    let concurrency = shared.config.concurrency;
    let slots = Arc::new(Semaphore::new(concurrency));
    // Claiming a handful at a time costs a query per handful: while busy, wait for a quarter of the slots.
    let low_water = (concurrency / 4).max(1);
    // Dropped with this task, which aborts the attempts in flight (an abort's crash semantics).
    let mut in_flight = JoinSet::new();
    let mut announced = shared.ledger.listen_webhooks();
    let mut busy = false;
    // A dropped Dispatcher drops the sender: its tasks keep running, and `changed` must not spin.
    let mut stoppable = true;
    loop {
        if *stop.borrow() {
            break;
        }
        let free = slots.available_permits();
        if free > 0 && (free >= low_water || !busy) {
            let limit = u32::try_from(free).unwrap_or(u32::MAX);
            match shared.ledger.claim_webhooks(limit, shared.config.lease()).await {
                Ok(claimed) => {
                    busy = claimed.len() == free;
                    for event in claimed {
                        let slot = slots.clone().try_acquire_owned().expect("claimed no more than the free slots");
                        in_flight.spawn(attempt(shared.clone(), event, slot, results.clone()));
                    }
                    if busy {
                        continue;
                    }
                }
                Err(e) => {
                    warn!(error = %e, "claiming webhook events failed");
                    busy = false;
                }
            }
        }
        let wait = if busy { shared.config.poll() } else { shared.idle_wait() };
        tokio::select! {
            changed = stop.changed(), if stoppable => stoppable = changed.is_ok(),
            _ = announced.changed() => {}
            () = shared.recorded.notified() => {}
            // A finished attempt frees a slot; that matters only while slots were what held claims back.
            Some(_) = in_flight.join_next(), if busy => {}
            () = tokio::time::sleep(wait) => {}
        }
        while in_flight.try_join_next().is_some() {}
    }
    debug!(in_flight = in_flight.len(), "webhook dispatcher stopping: finishing attempts in flight");
    while in_flight.join_next().await.is_some() {}
    // `results` drops here: the recorder records what is left and ends.
}

/// Makes one attempt and hands its result to the recorder.
async fn attempt(
    shared: Arc<Shared>,
    event: ClaimedWebhook,
    slot: OwnedSemaphorePermit,
    results: mpsc::Sender<WebhookAttempt>,
) {
    let attempted_at = SystemTime::now();
    let started = Instant::now();
    let outcome = shared.sender.attempt(&event).await;
    let duration = started.elapsed();
    drop(slot);
    let next = shared.schedule.next_step(event.attempt, &outcome.response, outcome.retry_after);
    match (&outcome.response, next) {
        (_, NextStep::Delivered) => {
            debug!(event = %event.id, participant = %event.participant, attempt = event.attempt, "webhook delivered")
        }
        (response, next) => info!(
            event = %event.id,
            participant = %event.participant,
            attempt = event.attempt,
            ?next,
            outcome = %summary(response),
            "webhook attempt failed"
        ),
    }
    let result = WebhookAttempt {
        event: event.id,
        token: event.token,
        attempt: event.attempt,
        attempted_at,
        url: event.url,
        response: outcome.response,
        duration,
        next,
    };
    // Only fails once the recorder is gone (an abort): the lease then brings the event back.
    let _ = results.send(result).await;
}

/// A log line's view of a response: the status or the transport error, never the body.
fn summary(response: &clearing_ledger::AttemptResponse) -> String {
    match response {
        clearing_ledger::AttemptResponse::Http { status, .. } => format!("HTTP {status}"),
        clearing_ledger::AttemptResponse::Transport { error } => error.clone(),
    }
}

/// Records results in batches until every sender is gone, then ends.
async fn record_loop(shared: Arc<Shared>, mut pending: mpsc::Receiver<WebhookAttempt>) {
    let mut batch = Vec::with_capacity(MAX_RECORD_BATCH);
    while pending.recv_many(&mut batch, MAX_RECORD_BATCH).await > 0 {
        let mut wait = RECORD_BACKOFF;
        for tried in 1..=RECORD_TRIES {
            match shared.ledger.record_webhook_attempts(&batch).await {
                Ok(_) => {
                    // Due by the database's clock from about now: wake the claim loop then, not at the next poll.
                    for attempt in &batch {
                        if let NextStep::RetryIn(delay) = attempt.next {
                            shared.retry_scheduled(delay);
                        }
                    }
                    break;
                }
                Err(e) if e.is_transient() && tried < RECORD_TRIES => {
                    warn!(error = %e, attempts = batch.len(), "recording webhook attempts failed; trying again");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
                Err(e) => {
                    error!(
                        error = %e,
                        attempts = batch.len(),
                        "recording webhook attempts failed; their events are sent again when their leases run out"
                    );
                    break;
                }
            }
        }
        batch.clear();
        shared.recorded.notify_one();
    }
}
