//! The market's background work, safe with any number of `clearing serve` processes on one database:
//!
//! - the **reactor** turns confirmed chain events of the market's jobs into signed webhook events: each event once,
//!   however many processes react (the per-chain cursor row is locked for the reaction and advanced in the same
//!   transaction as the webhook events it enqueued), and a funding removed by a reorg deeper than the confirmation
//!   depth into `job_retracted`;
//! - the **keeper** queues the release of every completed job whose review window has ended (the clock is the
//!   authority; the escrow lets anyone release then), once per job (the escrow action's unique key), and refunds
//!   the balance-paid jobs whose hold passed its deadline (`[market] balance_job_hold_secs`), each once, and books
//!   the payments someone front-ran into the vault or the escrow ([`crate::front_runs::recover`]);
//! - the **subscription keeper** ([`crate::subscriptions::keep`], when subscriptions are on) queues due renewals,
//!   their retries and expiries, each once (the action's unique key).

use std::time::Duration;

use alloy_primitives::U256;
use clearing_ledger::{
    Action, NewAction, NewWebhookEvent, StepKind,
    market::{EndedHold, JobChainEvent, ParticipantId, Reaction, RefundCause},
};
use clearing_x402::Usdc;
use serde_json::{Value, json};
use tokio::{sync::watch, task::JoinHandle};
use tracing::{debug, info, warn};

use crate::Market;

/// Events handled per reaction transaction.
const REACTION_BATCH: u32 = 500;
/// Jobs the keeper releases per round.
const KEEPER_BATCH: u32 = 500;

/// The reactor, the keeper and the subscription keeper of one market, running until [`Background::shutdown`].
#[derive(Debug)]
pub struct Background {
    tasks: Vec<JoinHandle<()>>,
    stop: watch::Sender<bool>,
}

impl Background {
    /// Starts the reactor and the keeper.
    pub fn start(market: &Market) -> Self {
        let (stop, stopped) = watch::channel(false);
        let config = market.config();
        let reactor = every(Duration::from_millis(config.reactor_interval_ms), stopped.clone(), {
            let market = market.clone();
            move || {
                let market = market.clone();
                async move { react(&market).await }
            }
        });
        let keeper = every(Duration::from_millis(config.keeper_interval_ms), stopped.clone(), {
            let market = market.clone();
            move || {
                let market = market.clone();
                async move { keep(&market).await }
            }
        });
        let mut tasks = vec![reactor, keeper];
        if market.subscriptions().is_ok() {
            tasks.push(every(Duration::from_millis(config.subscription_keeper_interval_ms), stopped, {
                let market = market.clone();
                move || {
                    let market = market.clone();
                    async move {
                        crate::subscriptions::keep(&market).await;
                    }
                }
            }));
        }
        Self { tasks, stop }
    }

    /// Handles on the tasks, for `/health`.
    pub fn task_handles(&self) -> Vec<tokio::task::AbortHandle> {
        self.tasks.iter().map(JoinHandle::abort_handle).collect()
    }

    /// Stops both after the round under way.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

fn every<F, Fut>(interval: Duration, mut stop: watch::Receiver<bool>, mut round: F) -> JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                _ = tick.tick() => round().await,
            }
        }
    })
}

/// Reacts until no confirmed event is left.
async fn react(market: &Market) {
    loop {
        match react_once(market).await {
            Ok(0) => return,
            Ok(handled) => debug!(handled, "reacted to chain events"),
            Err(e) => {
                warn!(error = %e, "reacting to chain events failed; trying again next round");
                return;
            }
        }
    }
}

/// One reaction: retractions first, then up to [`REACTION_BATCH`] confirmed events; how many were handled.
pub async fn react_once(market: &Market) -> clearing_ledger::Result<usize> {
    let mut reaction = market.ledger().begin_reaction(market.edge().chain_id()).await?;
    let retracted = reaction.take_retracted().await?;
    for (job, provider) in &retracted {
        info!(%job, "funding removed by a reorganisation: job retracted");
        let payload = json!({
            "type": "job_retracted",
            "job_id": job,
            "message": "the funding transaction left the chain in a reorganisation; it is being sent again",
        });
        enqueue(&mut reaction, *provider, "job_retracted", &job.to_string(), payload).await?;
    }
    let events = reaction.events(REACTION_BATCH).await?;
    let cursor = events.last().map_or(reaction.cursor, |e| (e.block_number, e.log_index));
    for event in &events {
        handle(market, &mut reaction, event).await?;
    }
    reaction.commit(cursor).await?;
    if !events.is_empty() || !retracted.is_empty() {
        market.ledger().announce_webhooks();
    }
    Ok(retracted.len() + events.len())
}

async fn enqueue(
    reaction: &mut Reaction,
    to: ParticipantId,
    kind: &str,
    key: &str,
    payload: Value,
) -> clearing_ledger::Result<()> {
    let event =
        NewWebhookEvent { participant: to, event_type: kind.to_owned(), ordering_key: Some(key.to_owned()), payload };
    reaction.enqueue_webhook(&event).await
}

fn usdc(amount: Option<U256>) -> Option<Usdc> {
    amount.map(|a| Usdc::from_atomic(u128::try_from(a).unwrap_or(u128::MAX)))
}

async fn handle(market: &Market, reaction: &mut Reaction, event: &JobChainEvent) -> clearing_ledger::Result<()> {
    if event.subscription.is_some() {
        return handle_subscription(market, reaction, event).await;
    }
    let tx = event.tx_hash.to_string();
    let key = event.job.map_or_else(|| format!("claims:{}", event.provider_id.0), |job| job.to_string());
    let base = market.public_base();
    let job = event.job;
    let (kind, payload, to_payer) = match event.kind.as_str() {
        "funded" => {
            let Some(id) = job else { return Ok(()) };
            reaction.mark_dispatched(id, event.block_number).await?;
            let details = market.ledger().job(id).await?;
            let payload = json!({
                "type": "job_dispatch",
                "job_id": id,
                "service_id": details.as_ref().map(|j| j.new.service_id),
                "brief": details.as_ref().map(|j| j.new.brief.clone()),
                "price": details.as_ref().map(|j| usdc(Some(j.new.amount))),
                "provider_net": details.as_ref().map(|j| usdc(Some(j.new.amount.saturating_sub(j.new.fee)))),
                "callback_url": format!("{base}/v1/jobs/{id}/update"),
                "funding_tx": tx,
            });
            ("job_dispatch", payload, false)
        }
        "completed" => ("job_completed", json!({"type": "job_completed", "job_id": job, "tx_hash": tx}), true),
        "released" => (
            "payment_released",
            json!({"type": "payment_released", "job_id": job, "amount": usdc(event.provider_amount), "tx_hash": tx}),
            true,
        ),
        // A balance-paid job's debit applied by the vault: the provider is paid (claimable in the vault).
        "debited" => (
            "payment_released",
            json!({"type": "payment_released", "job_id": job, "amount": usdc(event.provider_amount), "tx_hash": tx,
                   "paid_by": "balance"}),
            true,
        ),
        "credited" => (
            "payment_released",
            json!({"type": "payment_released", "job_id": job, "amount": usdc(event.provider_amount), "tx_hash": tx}),
            false,
        ),
        "disputed" => ("dispute_opened", json!({"type": "dispute_opened", "job_id": job, "tx_hash": tx}), true),
        "resolved" => (
            "dispute_resolved",
            json!({"type": "dispute_resolved", "job_id": job, "provider_amount": usdc(event.provider_amount),
                   "payer_amount": usdc(event.payer_amount), "tx_hash": tx}),
            true,
        ),
        "refunded" => (
            "job_refunded",
            json!({"type": "job_refunded", "job_id": job, "payer_amount": usdc(event.payer_amount), "tx_hash": tx}),
            true,
        ),
        "claimed" => (
            "earnings_claimed",
            json!({"type": "earnings_claimed", "amount": usdc(event.provider_amount), "tx_hash": tx}),
            false,
        ),
        other => {
            warn!(kind = other, "an unknown job event kind");
            return Ok(());
        }
    };
    enqueue(reaction, event.provider_id, kind, &key, payload.clone()).await?;
    if to_payer && let Some(payer) = event.payer_id {
        enqueue(reaction, payer, kind, &key, payload).await?;
    }
    Ok(())
}

/// A subscription's chain event, to its subscriber and its plan's provider: `subscription_started` (period 0 paid),
/// `subscription_renewed`, `subscription_past_due`, `subscription_expired`, `subscription_cancelled`,
/// `subscription_paused`, `subscription_resumed`.
async fn handle_subscription(
    market: &Market,
    reaction: &mut Reaction,
    event: &JobChainEvent,
) -> clearing_ledger::Result<()> {
    let Some(id) = event.subscription else { return Ok(()) };
    let kind = match (event.kind.as_str(), event.period) {
        ("subscription_charged", Some(0)) => "subscription_started",
        ("subscription_charged", _) => "subscription_renewed",
        (
            kind @ ("subscription_past_due"
            | "subscription_expired"
            | "subscription_cancelled"
            | "subscription_paused"
            | "subscription_resumed"),
            _,
        ) => kind,
        (other, _) => {
            warn!(kind = other, "an unknown subscription event kind");
            return Ok(());
        }
    };
    let key = id.to_string();
    let mut payload = json!({
        "type": kind,
        "subscription_id": key,
        "period": event.period,
        "tx_hash": event.tx_hash.to_string(),
        "links": { "subscription": format!("{}/v1/subscriptions/{id}", market.public_base()) },
    });
    match kind {
        "subscription_started" | "subscription_renewed" => {
            payload["provider_receives"] = json!(usdc(event.provider_amount));
        }
        "subscription_past_due" => {
            payload["message"] = json!(
                "the renewal could not be paid from the prepaid balance; it is retried over the grace period, at once                  after a deposit"
            );
        }
        _ => {}
    }
    enqueue(reaction, event.provider_id, kind, &key, payload.clone()).await?;
    if let Some(subscriber) = event.payer_id {
        enqueue(reaction, subscriber, kind, &key, payload).await?;
    }
    Ok(())
}

/// Queues the release of every completed job whose review window has ended, and refunds the balance-paid jobs whose
/// hold has passed its deadline.
async fn keep(market: &Market) {
    expire_holds(market).await;
    crate::front_runs::recover(market).await;
    let Ok(escrow) = market.escrow() else { return };
    let jobs = match market.ledger().jobs_due_for_release(market.edge().chain_id(), KEEPER_BATCH).await {
        Ok(jobs) => jobs,
        Err(e) => {
            warn!(error = %e, "looking for jobs to release failed");
            return;
        }
    };
    for job in jobs {
        let Some((job_id, terms)) = job.new.escrow_job.clone() else { continue };
        let action = NewAction {
            chain_id: job.new.chain_id,
            escrow,
            asset: job.new.asset,
            action: Action::Step { kind: StepKind::Release, job_id, terms, signed: None },
        };
        match market.ledger().enqueue_action(&action).await {
            Ok((_, true)) => info!(job = %job.new.id, "review window over: release queued"),
            Ok((_, false)) => {}
            Err(e) => warn!(job = %job.new.id, error = %e, "queueing a release failed"),
        }
    }
}

/// Ends the holds of balance-paid jobs whose provider did not deliver by the deadline: the money goes back to the
/// agent's balance and both parties get `job_refunded`, in one transaction per round (claimed in the database, so
/// several processes sweep without ending a hold twice).
async fn expire_holds(market: &Market) {
    let announce = |hold: &EndedHold| {
        let payload = json!({
            "type": "job_refunded",
            "job_id": hold.job,
            "payer_amount": usdc(Some(hold.amount)),
            "paid_by": "balance",
            "reason": RefundCause::DeadlinePassed.as_str(),
            "message": "the provider did not deliver before the hold's deadline: the amount is back in the agent's \
                        prepaid balance",
        });
        let mut events = vec![super::refund_event(hold.provider_id, hold.job, payload.clone())];
        if let Some(payer) = hold.payer_id {
            events.push(super::refund_event(payer, hold.job, payload));
        }
        events
    };
    match market.ledger().expire_balance_holds(KEEPER_BATCH, announce).await {
        Ok(ended) => {
            for hold in &ended {
                info!(job = %hold.job, "hold deadline passed: balance-paid job refunded");
            }
        }
        Err(e) => warn!(error = %e, "ending expired balance holds failed"),
    }
}
