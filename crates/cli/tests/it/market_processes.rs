//! The marketplace as `clearing serve` runs it, killed and doubled: black-box, with the `clearing` binary as child
//! processes on anvil and PostgreSQL, purchases paid by the Rust x402 client (`clearing-client`), and the chain, the
//! answers and the ledger checked against each other at the end.
//!
//! - SIGKILL while purchases' fundings are queued, then while a funding batch is broadcast and unmined (blocks are
//!   mined by hand, as in `crash.rs`), a restart, and every purchase re-sent with the very payment header it was
//!   first sent with: each paid purchase has one job, one `JobFunded` on chain for its (payer, nonce), and is
//!   dispatched; a retry finds its own job.
//! - Two `clearing serve` processes on one database and one relayer key, each running the indexer, the reactor, the
//!   keeper and the webhook dispatcher: purchases and completions through both, one SIGKILLed mid-run, the survivor
//!   finishes: each job funded once and released once, every webhook event delivered at least once.

use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use alloy::{primitives::U256, providers::Provider, signers::local::PrivateKeySigner};
use clearing_chain::contracts::{Escrow, MockUSDC};
use clearing_ledger::{
    Action, BatchId, Ledger, PaymentKey, SettlementStatus, StepKind,
    market::{Job, ProviderStatus},
};
use serde_json::{Value, json};
use tokio::{sync::Mutex, task::JoinHandle};

use crate::{
    crash::{Setup, free_port, mine, set_up_with},
    market_support::{
        MARKET_CONFIG, Purchase, Receiver, Server, automated_service, escrow_logs, eventually, provider, request,
        sign_purchase,
    },
};

/// Purchases in the kill test: half sent before the first kill, the rest before the second.
const PURCHASES: usize = 40;
/// Agent wallets; each buys several times, concurrently.
const AGENTS: usize = 8;
/// The service's price, and what the provider nets of it (5% fee).
const PRICE: &str = "0.50";
const PRICE_UNITS: u64 = 500_000;
const NET_UNITS: u64 = 475_000;
/// Minted to each agent.
const AGENT_BALANCE: u64 = 10_000_000;

/// What the purchases were answered: per purchase, every (status, job id) of a 200 or 201.
type Answers = Arc<Mutex<HashMap<usize, Vec<(u16, String)>>>>;

/// Sends purchase `i` once to `server` and keeps a 200/201's job id; the status and, for a 402, its reason
/// (`None` if the connection broke).
async fn buy(
    http: reqwest::Client,
    server: String,
    purchases: Arc<Vec<Purchase>>,
    answers: Answers,
    i: usize,
) -> Option<(u16, String)> {
    let (status, body) = purchases[i].send(&http, &server).await.ok()?;
    if status == 200 || status == 201 {
        let job = body["job_id"].as_str();
        let job = job.unwrap_or_else(|| panic!("purchase {i} answered {status} without a job: {body}"));
        answers.lock().await.entry(i).or_default().push((status, job.to_owned()));
    }
    Some((status, body["error"].as_str().map(str::to_owned).unwrap_or_default()))
}

/// Agents holding [`AGENT_BALANCE`].
async fn agents(setup: &Setup, count: usize) -> Vec<PrivateKeySigner> {
    let agents: Vec<PrivateKeySigner> = (0..count).map(|_| PrivateKeySigner::random()).collect();
    for agent in &agents {
        setup.chain.mint(agent.address(), AGENT_BALANCE).await;
    }
    agents
}

fn key(setup: &Setup, purchase: &Purchase) -> PaymentKey {
    PaymentKey {
        chain_id: setup.chain.chain_id,
        asset: setup.chain.token,
        payer: purchase.payer,
        nonce: purchase.nonce,
    }
}

/// Where the purchases' fundings stood at a kill, from the ledger.
#[derive(Debug, Default)]
#[allow(dead_code)] // Read through Debug.
struct KillState {
    /// No settlement row: the request was cut before its payment was queued.
    unknown: usize,
    /// Queued, in no batch.
    pending: usize,
    /// In a batch with no transaction recorded.
    submitted_unsent: usize,
    /// In a batch whose transaction was recorded (maybe broadcast), unmined.
    sent_unresolved: usize,
    /// Funded.
    settled: usize,
}

async fn state_at_kill(setup: &Setup, ledger: &Ledger, purchases: &[Purchase]) -> KillState {
    let mut state = KillState::default();
    let unresolved = ledger.unresolved_batches(setup.chain.chain_id, setup.relayer()).await.unwrap();
    for purchase in purchases {
        match ledger.settlement(&key(setup, purchase)).await.unwrap() {
            None => state.unknown += 1,
            Some(row) => match row.status {
                SettlementStatus::Pending => state.pending += 1,
                SettlementStatus::Submitted => {
                    let batch = unresolved.iter().find(|batch| Some(batch.id) == row.batch_id);
                    if batch.is_some_and(|batch| !batch.transactions.is_empty()) {
                        state.sent_unresolved += 1;
                    } else {
                        state.submitted_unsent += 1;
                    }
                }
                SettlementStatus::Settled | SettlementStatus::Confirmed => state.settled += 1,
                other => panic!("a paid purchase's funding ended {other:?}"),
            },
        }
    }
    state
}

/// Waits (bounded, polling every millisecond) until one of `purchases` is in a batch whose transaction is recorded
/// (and maybe broadcast), unmined.
async fn wait_for_sent(setup: &Setup, ledger: &Ledger, purchases: &[Purchase]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let batches = ledger.unresolved_batches(setup.chain.chain_id, setup.relayer()).await.unwrap();
        let sent: HashSet<BatchId> = batches.iter().filter(|b| !b.transactions.is_empty()).map(|b| b.id).collect();
        if !sent.is_empty() {
            for purchase in purchases {
                let row = ledger.settlement(&key(setup, purchase)).await.unwrap();
                if row.and_then(|row| row.batch_id).is_some_and(|batch| sent.contains(&batch)) {
                    return;
                }
            }
        }
        assert!(Instant::now() < deadline, "no batch of these purchases recorded within 20 s");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn join_all<T>(tasks: Vec<JoinHandle<T>>) -> Vec<T> {
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    statuses
}

#[tokio::test(flavor = "multi_thread")]
async fn purchases_survive_sigkill_with_fundings_queued_and_each_payment_funds_one_job() {
    let started = Instant::now();
    let setup = set_up_with("market_kill", MARKET_CONFIG).await;
    let agents = agents(&setup, AGENTS).await;
    let http = reqwest::Client::new();
    let ledger = Ledger::connect(setup.database.url(), 2).await.unwrap();
    let (_, url) = Receiver::start(Duration::ZERO).await;
    let (_, api_key, _) = provider(&setup, &url).await;

    let mut server = Server::start(&setup, setup.listen, "serve");
    let service = automated_service(&http, &server.base, &api_key, PRICE).await;
    let path = format!("/v1/services/{service}/purchase");
    let mut purchases = Vec::new();
    for i in 0..PURCHASES {
        purchases.push(sign_purchase(&http, &server.base, &path, &agents[i % AGENTS]).await);
    }
    let purchases = Arc::new(purchases);
    let answers = Answers::default();
    // From here blocks are mined only when the test says: a broadcast batch stays unmined until then.
    setup.chain.set_automine(false).await;

    // Round 1: the first half, killed as soon as one of their fundings is queued.
    let half = PURCHASES / 2;
    let send = |range: std::ops::Range<usize>, server: &Server| -> Vec<JoinHandle<Option<(u16, String)>>> {
        range
            .map(|i| tokio::spawn(buy(http.clone(), server.base.clone(), purchases.clone(), answers.clone(), i)))
            .collect()
    };
    let tasks = send(0..half, &server);
    // One cheap statement a millisecond, so the kill lands before the batcher's next round (100 ms) claims it.
    let deadline = Instant::now() + Duration::from_secs(20);
    let pool = setup.database.pool();
    while sqlx::query_scalar::<_, i64>("SELECT count(*) FROM settlements").fetch_one(&pool).await.unwrap() == 0 {
        assert!(Instant::now() < deadline, "no funding queued within 20 s");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    server.kill();
    join_all(tasks).await;
    let queued = state_at_kill(&setup, &ledger, &purchases[..half]).await;
    eprintln!("killed with fundings queued: {queued:?}");
    mine(&setup).await;

    // Round 2: the first half again (same payments) and the second half, killed once a funding batch is recorded,
    // nothing mined.
    let mut server = Server::start(&setup, setup.listen, "serve");
    let tasks = send(0..PURCHASES, &server);
    wait_for_sent(&setup, &ledger, &purchases[half..]).await;
    server.kill();
    join_all(tasks).await;
    let broadcast = state_at_kill(&setup, &ledger, &purchases).await;
    eprintln!("killed with a funding batch unmined: {broadcast:?}");
    let states = [&queued, &broadcast];
    assert!(states.iter().any(|s| s.pending + s.submitted_unsent > 0), "no kill caught a queued funding: {states:?}");
    assert!(broadcast.sent_unresolved > 0, "the second kill caught no recorded batch: {broadcast:?}");
    // What was broadcast lands while nothing runs.
    mine(&setup).await;

    // The last run, blocks mined as transactions come: every purchase re-sent with its payment until each is
    // answered with its job.
    setup.chain.set_automine(true).await;
    let server = Server::start(&setup, setup.listen, "serve");
    let mut open: Vec<usize> = (0..PURCHASES).collect();
    let mut refused = HashMap::<(u16, String), usize>::new();
    let last_run = Instant::now();
    while !open.is_empty() {
        assert!(
            last_run.elapsed() < Duration::from_secs(30),
            "purchases never answered with their job: {open:?}, {refused:?}"
        );
        let tasks = open
            .iter()
            .map(|&i| tokio::spawn(buy(http.clone(), server.base.clone(), purchases.clone(), answers.clone(), i)))
            .collect();
        let statuses = join_all(tasks).await;
        let mut still = Vec::new();
        for (&i, status) in open.iter().zip(statuses) {
            match status {
                Some((200 | 201, _)) => {}
                Some(other) => {
                    *refused.entry(other).or_default() += 1;
                    still.push(i);
                }
                None => still.push(i),
            }
        }
        open = still;
        if !open.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    // Each purchase: one job id in every answer, one job in the ledger, dispatched once its funding is indexed.
    let answers = answers.lock().await;
    let mut jobs = Vec::new();
    for (i, purchase) in purchases.iter().enumerate() {
        let ids: HashSet<&str> = answers[&i].iter().map(|(_, id)| id.as_str()).collect();
        assert_eq!(ids.len(), 1, "purchase {i} was answered with several jobs: {:?}", answers[&i]);
        let created = answers[&i].iter().filter(|(status, _)| *status == 201).count();
        assert!(created <= 1, "purchase {i} was answered 201 (a new job) {created} times");
        let of_payment: Vec<Job> = ledger
            .payer_jobs(purchase.payer, 100, 0)
            .await
            .unwrap()
            .into_iter()
            .filter(|job| job.new.nonce == purchase.nonce)
            .collect();
        assert_eq!(of_payment.len(), 1, "purchase {i} has {} jobs in the ledger", of_payment.len());
        assert_eq!(
            of_payment[0].new.id.to_string(),
            *ids.iter().next().unwrap(),
            "purchase {i}'s answers name its job"
        );
        jobs.push(of_payment[0].new.id.to_string());
    }
    let statuses: HashMap<u16, usize> = answers.values().flatten().fold(HashMap::new(), |mut counts, (status, _)| {
        *counts.entry(*status).or_default() += 1;
        counts
    });
    drop(answers);
    for id in &jobs {
        eventually(Duration::from_secs(20), &format!("job {id} dispatched"), || async {
            let url = format!("{}/v1/jobs/{id}", server.base);
            let (status, job) = request(&http, reqwest::Method::GET, &url, Some(&api_key), &Value::Null).await.ok()?;
            assert_eq!(status, 200, "{job}");
            (job["status"] == "dispatched").then_some(())
        })
        .await;
    }

    // The chain: one JobFunded per (payer, nonce), nothing carried twice, the escrow holds exactly what was paid.
    let logs = escrow_logs(&setup).await;
    for (i, purchase) in purchases.iter().enumerate() {
        let funded = logs.funded.get(&(purchase.payer, purchase.nonce)).map_or(0, Vec::len);
        assert_eq!(funded, 1, "purchase {i} was funded {funded} times on chain");
        let usdc = MockUSDC::new(setup.chain.token, &setup.chain.provider);
        assert!(usdc.authorizationState(purchase.payer, purchase.nonce).call().await.unwrap(), "purchase {i}'s nonce");
    }
    assert_eq!(logs.funded.len(), PURCHASES, "JobFunded only for the purchases");
    assert_eq!(logs.fund_failed, 0, "no authorization was carried a second time (or refused)");
    let usdc = MockUSDC::new(setup.chain.token, &setup.chain.provider);
    let held = usdc.balanceOf(setup.chain.deployment.escrow).call().await.unwrap();
    let paid: U256 = purchases.iter().map(|p| p.amount).sum();
    assert_eq!(paid, U256::from(PRICE_UNITS * PURCHASES as u64));
    assert_eq!((held, logs.funded_total), (paid, paid), "the escrow holds each purchase once");
    for agent in &agents {
        let spent: U256 = purchases.iter().filter(|p| p.payer == agent.address()).map(|p| p.amount).sum();
        let balance = usdc.balanceOf(agent.address()).call().await.unwrap();
        assert_eq!(balance, U256::from(AGENT_BALANCE) - spent, "agent {} paid each purchase once", agent.address());
    }
    let pending: Value = setup.chain.provider.raw_request("txpool_status".into(), ()).await.unwrap();
    assert_eq!(pending["pending"], json!("0x0"), "transactions left unmined: {pending}");
    ledger.close().await;
    eprintln!(
        "{PURCHASES} purchases, answers {statuses:?}, refusals before the last answer {refused:?}, {} JobFunded; \
         took {:.1} s",
        logs.funded.len(),
        started.elapsed().as_secs_f64()
    );
}

/// Jobs in the two-process test.
const JOBS: usize = 24;

#[tokio::test(flavor = "multi_thread")]
async fn two_processes_on_one_database_fund_release_and_notify_each_job_once() {
    let started = Instant::now();
    let setup = set_up_with("market_two", MARKET_CONFIG).await;
    let agents = agents(&setup, AGENTS).await;
    let http = reqwest::Client::new();
    let ledger = Ledger::connect(setup.database.url(), 2).await.unwrap();
    // Slow answers, so deliveries are under way when a process dies.
    let (hooks, url) = Receiver::start(Duration::from_millis(100)).await;
    let (_, api_key, wallet) = provider(&setup, &url).await;

    // Two processes, one database, one relayer key; each runs the indexer, reactor, keeper and dispatcher.
    let mut servers = [
        Server::start(&setup, setup.listen, "one"),
        Server::start(&setup, SocketAddr::from(([127, 0, 0, 1], free_port())), "two"),
    ];
    let bases = [servers[0].base.clone(), servers[1].base.clone()];
    let service = automated_service(&http, &bases[0], &api_key, PRICE).await;
    let path = format!("/v1/services/{service}/purchase");
    let mut purchases = Vec::new();
    for i in 0..JOBS {
        purchases.push(sign_purchase(&http, &bases[i % 2], &path, &agents[i % AGENTS]).await);
    }
    let purchases = Arc::new(purchases);
    let answers = Answers::default();

    // Purchases through both at once.
    let tasks = (0..JOBS)
        .map(|i| tokio::spawn(buy(http.clone(), bases[i % 2].clone(), purchases.clone(), answers.clone(), i)))
        .collect();
    let statuses = join_all(tasks).await;
    assert!(statuses.iter().all(|s| s.as_ref().map(|s| s.0) == Some(201)), "every purchase bought a job: {statuses:?}");
    let jobs: Vec<String> = {
        let answers = answers.lock().await;
        (0..JOBS).map(|i| answers[&i][0].1.clone()).collect()
    };
    let job_ids: Vec<uuid::Uuid> = jobs.iter().map(|id| id.parse().unwrap()).collect();
    for id in &job_ids {
        eventually(Duration::from_secs(20), &format!("job {id} dispatched"), || async {
            let job = ledger.job(*id).await.unwrap().unwrap();
            job.escrow.as_ref().is_some_and(|e| e.status == "funded").then_some(())
        })
        .await;
    }

    // The provider completes each job through either process; one is killed once the first half is in and the
    // first completions are on chain (releases queued or sent, webhooks being delivered): the one that has sent
    // more batches, so the survivor is the process that relayed less (a batcher left behind on the relayer's
    // nonces would now have to catch up).
    let update = json!({"status": "completed", "deliverables": {"summary": "done"}});
    let complete = |i: usize, base: String| {
        let (http, update, key, id) = (http.clone(), update.clone(), api_key.clone(), jobs[i].clone());
        tokio::spawn(async move {
            let url = format!("{base}/v1/jobs/{id}/update");
            request(&http, reqwest::Method::POST, &url, Some(&key), &update).await.ok().map(|(status, _)| status)
        })
    };
    let half = JOBS / 2;
    let first: Vec<_> = (0..half).map(|i| complete(i, bases[i % 2].clone())).collect();
    eventually(Duration::from_secs(20), "a release applied and its webhook under way", || async {
        (hooks.of_kind("job_completed") > 0 || hooks.of_kind("payment_released") > 0).then_some(())
    })
    .await;
    let sent = |server: &Server| server.log_lines("broadcasting batch").len();
    let victim = usize::from(sent(&servers[1]) > sent(&servers[0]));
    let survivor = 1 - victim;
    let sent_before_kill = [sent(&servers[0]), sent(&servers[1])];
    servers[victim].kill();
    let killed_at = Instant::now();
    let mut statuses = join_all(first).await;
    // The rest through the survivor.
    let rest: Vec<_> = (half..JOBS).map(|i| complete(i, bases[survivor].clone())).collect();
    statuses.extend(join_all(rest).await);
    // An update the kill cut off is sent again; one the dead process had taken is answered 409 now.
    for (i, status) in statuses.iter().enumerate() {
        if *status == Some(200) {
            continue;
        }
        let retried = join_all(vec![complete(i, bases[survivor].clone())]).await;
        let job = ledger.job(job_ids[i]).await.unwrap().unwrap();
        assert!(
            retried[0] == Some(200) || (retried[0] == Some(409) && job.provider_status == ProviderStatus::Completed),
            "job {i}'s completion was lost: first {status:?}, again {retried:?}"
        );
    }

    // The survivor finishes: every job released on chain, every webhook event delivered.
    let escrow = setup.chain.deployment.escrow;
    for id in &job_ids {
        eventually(Duration::from_secs(30), &format!("job {id} released"), || async {
            let job = ledger.job(*id).await.unwrap().unwrap();
            job.escrow.as_ref().is_some_and(|e| e.status == "released").then_some(())
        })
        .await;
    }
    let events: Vec<(i64, String, String)> = eventually(Duration::from_secs(30), "every webhook delivered", || async {
        let rows: Vec<(i64, String, String)> =
            sqlx::query_as("SELECT id, event_type, status::text FROM webhook_events ORDER BY id")
                .fetch_all(&setup.database.pool())
                .await
                .unwrap();
        let received = hooks.counts();
        let done = rows.len() >= 3 * JOBS
            && rows.iter().all(|(id, _, status)| status == "delivered" && received.contains_key(&format!("msg_{id}")));
        done.then_some(rows)
    })
    .await;
    let settled_in = killed_at.elapsed();
    let received = hooks.counts();
    let mut kinds = HashMap::<&str, usize>::new();
    for (_, kind, _) in &events {
        *kinds.entry(kind.as_str()).or_default() += 1;
    }
    for kind in ["job_dispatch", "job_completed", "payment_released"] {
        assert_eq!(kinds.get(kind), Some(&JOBS), "one {kind} event per job: {kinds:?}");
    }
    let repeats: usize = received.values().map(|n| n - 1).sum();
    let unknown: Vec<_> =
        received.keys().filter(|id| !events.iter().any(|(event, _, _)| format!("msg_{event}") == **id)).collect();
    assert!(unknown.is_empty(), "deliveries of events the ledger does not have: {unknown:?}");

    // The chain: each job funded once and released once; the ledger: one applied release per job.
    let logs = escrow_logs(&setup).await;
    let mut failed_releases = 0;
    for (i, purchase) in purchases.iter().enumerate() {
        let funded = &logs.funded[&(purchase.payer, purchase.nonce)];
        assert_eq!(funded.len(), 1, "job {i} was funded {} times", funded.len());
        assert_eq!(logs.released.get(&funded[0]), Some(&1), "job {i} released once on chain");
        let job = ledger.job(job_ids[i]).await.unwrap().unwrap();
        let (escrow_job, _) = job.new.escrow_job.clone().unwrap();
        assert_eq!(escrow_job.0, funded[0], "job {i}'s escrow id");
        // The release is on chain; its batch is resolved in the ledger by whichever process drives it (the
        // survivor adopts the killed one's batches within a few seconds).
        let actions = eventually(Duration::from_secs(30), &format!("job {i}'s release resolved"), || async {
            let actions = ledger.job_actions(setup.chain.chain_id, escrow, escrow_job).await.unwrap();
            let in_flight = actions.iter().any(|a| {
                matches!(a.action.action, Action::Step { kind: StepKind::Release, .. })
                    && matches!(a.status, SettlementStatus::Pending | SettlementStatus::Submitted)
            });
            (!in_flight).then_some(actions)
        })
        .await;
        let releases: Vec<_> = actions
            .iter()
            .filter(|a| matches!(a.action.action, Action::Step { kind: StepKind::Release, .. }))
            .collect();
        let applied = releases.iter().filter(|a| a.status == SettlementStatus::Settled).count();
        assert_eq!(applied, 1, "job {i}: one applied release row: {releases:?}");
        failed_releases += releases.len() - applied;
    }
    assert_eq!((logs.funded.len(), logs.fund_failed), (JOBS, 0), "JobFunded once per purchase, none refused");
    let claimable =
        Escrow::new(escrow, &setup.chain.provider).claimable(setup.chain.token, wallet).call().await.unwrap();
    assert_eq!(claimable, U256::from(NET_UNITS * JOBS as u64), "the provider is owed each net amount once");
    let usdc = MockUSDC::new(setup.chain.token, &setup.chain.provider);
    let held = usdc.balanceOf(escrow).call().await.unwrap();
    assert_eq!(held, U256::from(PRICE_UNITS * JOBS as u64), "the escrow holds each payment once");
    let taken = |server: &Server| server.log_lines("relayer nonce taken by another process").len();
    let nonces_taken = taken(&servers[0]) + taken(&servers[1]);
    let sent_after_kill = sent(&servers[survivor]) - sent_before_kill[survivor];
    ledger.close().await;
    eprintln!(
        "{JOBS} jobs through two processes: {} webhook events ({kinds:?}), {} deliveries ({repeats} repeats), \
         {} StepFailed, {failed_releases} failed release rows; batches sent before the kill {sent_before_kill:?}, \
         by the survivor after it {sent_after_kill}, nonces found taken {nonces_taken}; settled {:.1} s after the \
         kill; took {:.1} s",
        events.len(),
        received.values().sum::<usize>(),
        logs.steps_failed,
        settled_in.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}
