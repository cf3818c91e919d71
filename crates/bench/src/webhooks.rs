//! The webhook delivery benchmark: the real [`Dispatcher`] delivering the ledger's outbox to a receiver on loopback.
//!
//! For each dispatcher concurrency asked for, on a fresh database: `endpoints` endpoints, all on one axum receiver
//! (`http://127.0.0.1:<port>/hooks/<n>`, private addresses allowed, as `clearing dev` runs), and `events` events
//! spread over `jobs` ordering keys (a job's events are delivered one after another, as in production; each job
//! belongs to one endpoint), about 400 bytes of JSON each, enqueued through the ledger before the dispatcher starts.
//!
//! - **drain**: the dispatcher starts on the full outbox; deliveries per second is events over the time from its start
//!   to the last event's arrival at the receiver, and the quantiles are each event's arrival after that start (a
//!   backlog's events all wait for the ones before them).
//! - **live**: then, with the outbox empty and the dispatcher running, events are enqueued at a fixed rate (each in
//!   its own transaction, as the market does); event-to-delivery is from the start of an event's enqueue to its
//!   arrival at the receiver.
//!
//! `receiver_delay` makes the receiver answer after a pause, as a remote one does: on loopback an attempt takes well
//! under a millisecond, so the concurrency that covers a real receiver's round trip only shows with a delay.
//!
//! CPU is counted in cores (CPU seconds per wall second) for this process (dispatcher, receiver and enqueuers),
//! PostgreSQL's processes, and the rest of the machine, from `/proc`. It only measures: the dispatcher runs with the
//! default configuration but for `concurrency`, and nothing leaves loopback.

use std::{
    collections::HashMap,
    fmt,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use axum::{Router, extract::State, http::HeaderMap, http::StatusCode};
use clearing_ledger::{Ledger, NewWebhookEvent, WebhookSecret, market::ParticipantId};
use clearing_webhooks::{Dispatcher, WebhooksConfig};
use serde_json::json;
use tokio::sync::Semaphore;
use url::Url;
use uuid::Uuid;

use crate::load::{machine_busy_time, process_cpu_time};

/// How long the drain and the live phase may take before the run is called failed.
const PHASE_TIMEOUT: Duration = Duration::from_secs(600);
/// The live phase's pacing tick.
const TICK: Duration = Duration::from_millis(10);
/// Event types, in turn.
const EVENT_TYPES: [&str; 4] = ["job_dispatch", "job_completed", "payment_released", "job_refunded"];

/// What to run.
#[derive(Debug, Clone)]
pub struct WebhookOptions {
    /// The PostgreSQL server the throwaway databases are made on.
    pub database_url: String,
    /// Events in the outbox before the dispatcher starts.
    pub events: usize,
    /// Endpoints (participants) they go to.
    pub endpoints: usize,
    /// Ordering keys (jobs) they are spread over; each job's events go to one endpoint, in order.
    pub jobs: usize,
    /// `[webhooks] concurrency` values to run, each on a fresh outbox.
    pub concurrency: Vec<usize>,
    /// The ledger's connection pool (`[database] max_connections`, 10 by default in `clearing serve`).
    pub pool: u32,
    /// Concurrent enqueues while filling the outbox.
    pub fill_tasks: usize,
    /// Events per second offered in the live phase; 0 skips it.
    pub live_rate: u32,
    /// Seconds of the live phase.
    pub live_secs: u64,
    /// How long the receiver takes to answer each request: 0 is loopback's own speed; a remote receiver's round trip
    /// and work is tens to hundreds of milliseconds, and that is what the dispatcher's concurrency must cover.
    pub receiver_delay: Duration,
}

/// One concurrency setting's figures.
#[derive(Debug, Clone)]
pub struct WebhookRow {
    /// `[webhooks] concurrency`.
    pub concurrency: usize,
    /// Events enqueued per second while filling (concurrent single-event transactions).
    pub fill_per_second: f64,
    /// Drain: events delivered per second, start to last arrival.
    pub per_second: f64,
    /// Drain: from the dispatcher's start to the last arrival.
    pub drain: Duration,
    /// Drain: until every attempt was recorded (the outbox empty).
    pub recorded: Duration,
    /// Drain: arrival after the start, p50 and p99, ms.
    pub drain_p50_ms: f64,
    /// 99th percentile.
    pub drain_p99_ms: f64,
    /// Requests the receiver got beyond one per event (an event sent twice).
    pub duplicates: u64,
    /// Drain CPU, in cores: this process, PostgreSQL, everything else.
    pub cores: Cores,
    /// The live phase, if run.
    pub live: Option<LiveRow>,
}

/// CPU in cores over a phase.
#[derive(Debug, Clone, Copy)]
pub struct Cores {
    /// This process: dispatcher, receiver, enqueuers.
    pub bench: f64,
    /// PostgreSQL's processes.
    pub postgres: f64,
    /// The rest of the machine.
    pub other: f64,
}

/// The live phase.
#[derive(Debug, Clone)]
pub struct LiveRow {
    /// Offered events per second.
    pub offered: u32,
    /// Events enqueued.
    pub events: usize,
    /// Enqueued per second, achieved.
    pub enqueued_per_second: f64,
    /// Event-to-delivery quantiles, ms.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Highest.
    pub max_ms: f64,
    /// CPU over the phase.
    pub cores: Cores,
}

/// The whole run.
#[derive(Debug, Clone)]
pub struct WebhookReport {
    /// Events per drain.
    pub events: usize,
    /// Endpoints.
    pub endpoints: usize,
    /// Jobs (ordering keys).
    pub jobs: usize,
    /// The machine.
    pub machine: String,
    /// Load average (1 min) before the first run.
    pub load_before: String,
    /// The receiver's answer delay.
    pub receiver_delay: Duration,
    /// One row per concurrency.
    pub rows: Vec<WebhookRow>,
}

impl fmt::Display for WebhookReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "webhooks: {} events over {} endpoints and {} jobs, the receiver answering after {} ms; {}; load average \
             before: {}",
            self.events,
            self.endpoints,
            self.jobs,
            self.receiver_delay.as_millis(),
            self.machine,
            self.load_before
        )?;
        writeln!(
            f,
            "| concurrency | filled/s | drain deliveries/s | drained in s | recorded in s | since start p50 / p99 ms | dup | CPU cores: bench / postgres / other |"
        )?;
        writeln!(f, "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")?;
        for row in &self.rows {
            writeln!(
                f,
                "| {} | {:.0} | **{:.0}** | {:.2} | {:.2} | {:.0} / {:.0} | {} | {:.2} / {:.2} / {:.2} |",
                row.concurrency,
                row.fill_per_second,
                row.per_second,
                row.drain.as_secs_f64(),
                row.recorded.as_secs_f64(),
                row.drain_p50_ms,
                row.drain_p99_ms,
                row.duplicates,
                row.cores.bench,
                row.cores.postgres,
                row.cores.other,
            )?;
        }
        if self.rows.iter().any(|r| r.live.is_some()) {
            writeln!(f)?;
            writeln!(
                f,
                "| concurrency | offered/s | events | enqueued/s | event-to-delivery p50 / p99 / max ms | CPU cores: bench / postgres / other |"
            )?;
            writeln!(f, "| ---: | ---: | ---: | ---: | ---: | ---: |")?;
            for row in &self.rows {
                if let Some(live) = &row.live {
                    writeln!(
                        f,
                        "| {} | {} | {} | {:.0} | **{:.1} / {:.1}** / {:.1} | {:.2} / {:.2} / {:.2} |",
                        row.concurrency,
                        live.offered,
                        live.events,
                        live.enqueued_per_second,
                        live.p50_ms,
                        live.p99_ms,
                        live.max_ms,
                        live.cores.bench,
                        live.cores.postgres,
                        live.cores.other,
                    )?;
                }
            }
        }
        Ok(())
    }
}

/// Runs the benchmark: one fresh database per concurrency, dropped after.
pub async fn run_webhooks(options: WebhookOptions) -> anyhow::Result<WebhookReport> {
    anyhow::ensure!(options.endpoints > 0 && options.jobs > 0 && options.events > 0, "nothing to deliver");
    let load_before = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut rows = Vec::new();
    for &concurrency in &options.concurrency {
        let mut url = Url::parse(&options.database_url).context("DATABASE_URL is not a URL")?;
        url.set_path(&format!("clearing_webhook_bench_{}_{concurrency}", std::process::id()));
        let database_url = url.to_string();
        let row = run_one(&options, concurrency, &database_url).await;
        if let Err(e) = Ledger::drop_database_if_exists(&database_url).await {
            eprintln!("dropping the bench database failed: {e}");
        }
        rows.push(row?);
    }
    Ok(WebhookReport {
        events: options.events,
        endpoints: options.endpoints,
        jobs: options.jobs,
        machine: crate::machine(),
        load_before: load_before.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
        receiver_delay: options.receiver_delay,
        rows,
    })
}

async fn run_one(options: &WebhookOptions, concurrency: usize, database_url: &str) -> anyhow::Result<WebhookRow> {
    Ledger::create_database_if_missing(database_url).await?;
    let ledger = Ledger::connect(database_url, options.pool).await?;
    ledger.migrate().await?;
    let receiver = Receiver::start(options.receiver_delay).await?;

    let mut endpoints = Vec::with_capacity(options.endpoints);
    for n in 0..options.endpoints {
        let participant = ParticipantId(Uuid::new_v4());
        let url = Url::parse(&format!("{}/hooks/{n}", receiver.base))?;
        let secret = WebhookSecret::from_key(&[u8::try_from(n % 251).unwrap_or(0) + 1; 32]).context("a secret")?;
        ledger.upsert_webhook_endpoint(participant, &url, &secret).await?;
        endpoints.push(participant);
    }
    let jobs: Vec<(Uuid, ParticipantId)> =
        (0..options.jobs).map(|j| (Uuid::new_v4(), endpoints[j % endpoints.len()])).collect();
    let jobs = Arc::new(jobs);

    let filling = Instant::now();
    let ids = fill(&ledger, &jobs, options.events, options.fill_tasks).await?;
    let fill_per_second = ids.len() as f64 / filling.elapsed().as_secs_f64();
    eprintln!("concurrency {concurrency}: {} events enqueued ({fill_per_second:.0}/s); delivering", ids.len());

    let config = WebhooksConfig { concurrency, allow_private: true, ..WebhooksConfig::default() };
    let meter = Meter::start();
    let started = receiver.epoch.elapsed();
    let dispatcher = Dispatcher::start(ledger.clone(), config)?;
    receiver.wait_for(&ids).await?;
    let deadline = Instant::now() + PHASE_TIMEOUT;
    while ledger.webhook_backlog().await? > 0 {
        anyhow::ensure!(Instant::now() < deadline, "the outbox never emptied");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let recorded = receiver.epoch.elapsed() - started;
    let cores = meter.cores();
    let arrivals = receiver.arrivals(&ids);
    let last = arrivals.iter().copied().max().unwrap_or(started);
    let drain = last.saturating_sub(started);
    let mut since_start: Vec<f64> = arrivals.iter().map(|a| ms(a.saturating_sub(started))).collect();
    since_start.sort_by(f64::total_cmp);

    let live = match options.live_rate {
        0 => None,
        rate => Some(live(&ledger, &receiver, &jobs, rate, Duration::from_secs(options.live_secs)).await?),
    };
    dispatcher.shutdown().await;
    let duplicates = receiver.duplicates.load(Ordering::Relaxed);
    Ok(WebhookRow {
        concurrency,
        fill_per_second,
        per_second: ids.len() as f64 / drain.as_secs_f64(),
        drain,
        recorded,
        drain_p50_ms: quantile(&since_start, 0.50),
        drain_p99_ms: quantile(&since_start, 0.99),
        duplicates,
        cores,
        live,
    })
}

/// Event `n`'s body: about 400 bytes, like a `job_dispatch`.
fn event(n: usize, jobs: &[(Uuid, ParticipantId)]) -> NewWebhookEvent {
    let (job, participant) = jobs[n % jobs.len()];
    let event_type = EVENT_TYPES[(n / jobs.len()) % EVENT_TYPES.len()];
    NewWebhookEvent {
        participant,
        event_type: event_type.to_owned(),
        ordering_key: Some(job.to_string()),
        payload: json!({
            "type": event_type,
            "job_id": job,
            "service_id": "5d8ea8a1-0c4b-4f43-9f0b-6a3c2f1e9d70",
            "brief": {"text": "summarise this document in three sentences for a busy reader"},
            "price": "0.500000",
            "provider_net": "0.475000",
            "callback_url": format!("https://clearing.example/v1/jobs/{job}/update"),
            "n": n,
        }),
    }
}

/// Enqueues `events` events from `tasks` concurrent tasks, each event in its own transaction; their ids.
async fn fill(
    ledger: &Ledger,
    jobs: &Arc<Vec<(Uuid, ParticipantId)>>,
    events: usize,
    tasks: usize,
) -> anyhow::Result<Vec<i64>> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    for _ in 0..tasks.max(1) {
        let (ledger, jobs, next) = (ledger.clone(), jobs.clone(), next.clone());
        handles.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= events {
                    return anyhow::Ok(ids);
                }
                let enqueued = ledger.enqueue_webhook(&event(n, &jobs)).await?.context("the endpoint exists")?;
                ids.push(enqueued.id.0);
            }
        }));
    }
    let mut ids = Vec::with_capacity(events);
    for handle in handles {
        ids.extend(handle.await??);
    }
    Ok(ids)
}

/// Offers `rate` events a second for `length`, each enqueued in its own transaction as it comes due; waits for them
/// all to arrive and measures each from the start of its enqueue.
async fn live(
    ledger: &Ledger,
    receiver: &Receiver,
    jobs: &Arc<Vec<(Uuid, ParticipantId)>>,
    rate: u32,
    length: Duration,
) -> anyhow::Result<LiveRow> {
    let meter = Meter::start();
    let total = usize::try_from(u64::from(rate) * length.as_secs()).unwrap_or(usize::MAX);
    let started = Instant::now();
    let enqueued = Arc::new(Mutex::new(Vec::with_capacity(total)));
    // Enqueues in flight at once: a database that falls behind shows as a lower achieved rate, not unbounded tasks.
    let in_flight = Arc::new(Semaphore::new(256));
    let mut tasks = tokio::task::JoinSet::new();
    let mut ticker = tokio::time::interval(TICK);
    let mut sent = 0usize;
    while sent < total {
        ticker.tick().await;
        // Events due by now at the offered rate.
        let due = (started.elapsed().as_secs_f64() * f64::from(rate)) as usize;
        while sent < due.min(total) {
            let permit = in_flight.clone().acquire_owned().await?;
            let (ledger, jobs, enqueued, epoch) = (ledger.clone(), jobs.clone(), enqueued.clone(), receiver.epoch);
            // Numbered past the drain's events so their bodies differ.
            let n = 1_000_000_000 + sent;
            tasks.spawn(async move {
                let at = epoch.elapsed();
                let id = ledger.enqueue_webhook(&event(n, &jobs)).await?.context("the endpoint exists")?.id.0;
                enqueued.lock().expect("never poisoned").push((id, at));
                drop(permit);
                anyhow::Ok(())
            });
            sent += 1;
        }
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let enqueue_secs = started.elapsed().as_secs_f64();
    let enqueued = std::mem::take(&mut *enqueued.lock().expect("never poisoned"));
    let ids: Vec<i64> = enqueued.iter().map(|(id, _)| *id).collect();
    receiver.wait_for(&ids).await?;
    let cores = meter.cores();
    let arrivals = receiver.arrivals(&ids);
    let mut latencies: Vec<f64> =
        enqueued.iter().zip(&arrivals).map(|((_, at), arrived)| ms(arrived.saturating_sub(*at))).collect();
    latencies.sort_by(f64::total_cmp);
    Ok(LiveRow {
        offered: rate,
        events: ids.len(),
        enqueued_per_second: ids.len() as f64 / enqueue_secs,
        p50_ms: quantile(&latencies, 0.50),
        p99_ms: quantile(&latencies, 0.99),
        max_ms: latencies.last().copied().unwrap_or(0.0),
        cores,
    })
}

/// The receiver: answers every POST 200 at once and keeps when each `webhook-id` first arrived.
#[derive(Clone)]
struct Receiver {
    base: String,
    epoch: Instant,
    arrived: Arc<Mutex<HashMap<i64, Duration>>>,
    duplicates: Arc<AtomicU64>,
    delay: Duration,
}

impl Receiver {
    async fn start(delay: Duration) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let receiver = Self {
            base: format!("http://{}", listener.local_addr()?),
            epoch: Instant::now(),
            arrived: Arc::new(Mutex::new(HashMap::new())),
            duplicates: Arc::new(AtomicU64::new(0)),
            delay,
        };
        let app = Router::new().fallback(receive).with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(receiver)
    }

    /// Returns once every id in `ids` has arrived.
    async fn wait_for(&self, ids: &[i64]) -> anyhow::Result<()> {
        let deadline = Instant::now() + PHASE_TIMEOUT;
        loop {
            let missing = {
                let arrived = self.arrived.lock().expect("never poisoned");
                ids.iter().filter(|id| !arrived.contains_key(id)).count()
            };
            if missing == 0 {
                return Ok(());
            }
            anyhow::ensure!(Instant::now() < deadline, "{missing} of {} events never arrived", ids.len());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// When each of `ids` first arrived, since the epoch.
    fn arrivals(&self, ids: &[i64]) -> Vec<Duration> {
        let arrived = self.arrived.lock().expect("never poisoned");
        ids.iter().map(|id| arrived.get(id).copied().unwrap_or_default()).collect()
    }
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap) -> StatusCode {
    let at = receiver.epoch.elapsed();
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("msg_"))
        .and_then(|v| v.parse::<i64>().ok());
    let Some(id) = id else { return StatusCode::BAD_REQUEST };
    let first = receiver.arrived.lock().expect("never poisoned").insert(id, at).is_none();
    if !first {
        receiver.duplicates.fetch_add(1, Ordering::Relaxed);
    }
    if !receiver.delay.is_zero() {
        tokio::time::sleep(receiver.delay).await;
    }
    StatusCode::OK
}

/// CPU use from a starting point: this process, PostgreSQL's processes and the whole machine.
struct Meter {
    at: Instant,
    bench: Duration,
    /// Each PostgreSQL process's CPU time at the start, by pid.
    postgres: HashMap<u32, Duration>,
    machine: Duration,
}

impl Meter {
    fn start() -> Self {
        Self {
            at: Instant::now(),
            bench: process_cpu_time(),
            postgres: postgres_cpu_times(),
            machine: machine_busy_time(),
        }
    }

    fn cores(&self) -> Cores {
        let wall = self.at.elapsed().as_secs_f64();
        let bench = process_cpu_time().saturating_sub(self.bench).as_secs_f64();
        // Per process: a backend that started meanwhile counts from zero; one that ended is lost (an undercount).
        let postgres: Duration = postgres_cpu_times()
            .into_iter()
            .map(|(pid, now)| now.saturating_sub(self.postgres.get(&pid).copied().unwrap_or_default()))
            .sum();
        let postgres = postgres.as_secs_f64();
        let machine = machine_busy_time().saturating_sub(self.machine).as_secs_f64();
        Cores { bench: bench / wall, postgres: postgres / wall, other: (machine - bench - postgres).max(0.0) / wall }
    }
}

/// The CPU time of every process named `postgres` (the server and its backends, every client's), from `/proc`.
fn postgres_cpu_times() -> HashMap<u32, Duration> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return HashMap::new() };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()))
        .filter(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|comm| comm.trim() == "postgres"))
        .map(|pid| (pid, crate::load::child_cpu_time(pid)))
        .collect()
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1_000.0
}

/// The `q` quantile of sorted `values` (nearest rank).
fn quantile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let rank = ((values.len() as f64 * q).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}
