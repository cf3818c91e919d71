//! `clearing serve` killed with SIGKILL while settling, then restarted: every payment settles exactly once on chain,
//! every payment's settle ends with one final answer, and no payment is ever broadcast in two transactions.
//!
//! Black-box: anvil, a fresh database, the `clearing` binary as a child process. Each round starts the facilitator,
//! sends new payments and re-sends every earlier one concurrently, and kills it at a different moment, read from the
//! ledger and paced by mining blocks by hand: while payments are queued or claimed; once a batch transaction is
//! recorded, nothing mined; just after that batch is mined; once receipts are being resolved. What was broadcast is
//! mined while the facilitator is down. A last run (a block a second) re-sends everything until each payment has
//! its final answer; then the chain, the answers and the ledger are checked against each other.

use std::{
    collections::{HashMap, HashSet},
    net::{SocketAddr, TcpListener},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use alloy::{
    eips::BlockNumberOrTag,
    primitives::{Address, B256, TxHash, U256},
    providers::Provider,
    signers::local::PrivateKeySigner,
    sol_types::SolEvent,
};
use clearing_chain::contracts::{BatchSettler, MockUSDC};
use clearing_ledger::{BatchId, Ledger, PaymentKey, SettlementStatus};
use clearing_testkit::{Chain, DEPLOYER, Terms, TestDatabase};
use serde_json::{Value, json};
use tokio::sync::Mutex;

/// Payers; each signs several payments, so in-flight balances are exercised too.
const PAYERS: usize = 12;
/// New payments per killed round.
const PAYMENTS_PER_ROUND: usize = 30;
/// When each killed round ends.
#[derive(Debug, Clone, Copy)]
enum Kill {
    /// After a delay from the first request.
    After(Duration),
    /// As soon as one of the round's new payments is in the queue (before the batcher's timer claims it).
    WhenQueued,
    /// As soon as a batch transaction is recorded (sent or about to be), with nothing mined.
    WhenBroadcast,
    /// A delay after a recorded batch was mined, while its receipt is being looked for.
    AfterMined(Duration),
}

/// The killed rounds: payments queued or claimed; a batch recorded and broadcast, unmined; a batch mined whose
/// receipt the batcher polls for (every 250 ms by default); a batch just resolved, its answers on the way out.
const KILLS: [Kill; 5] = [
    Kill::After(Duration::from_millis(150)),
    Kill::WhenQueued,
    Kill::WhenBroadcast,
    Kill::AfterMined(Duration::from_millis(20)),
    Kill::AfterMined(Duration::from_millis(400)),
];
/// Minted to each payer, atomic units.
const PAYER_BALANCE: u64 = 1_000_000;
/// The whole test must end within this.
const DEADLINE: Duration = Duration::from_secs(90);

/// One signed payment and what the facilitator answered for it.
struct Payment {
    payer: Address,
    nonce: B256,
    value: u64,
    body: String,
}

/// One `/settle` answer, reduced to what the checks need.
#[derive(Debug)]
struct Answer {
    success: bool,
    reason: Option<String>,
    transaction: Option<TxHash>,
}

impl Answer {
    /// Success, or settled before and told to an earlier caller.
    fn is_final(&self) -> bool {
        self.success || self.reason.as_deref() == Some("invalid_exact_evm_nonce_already_used")
    }
}

#[derive(Debug, Default)]
struct Answers {
    /// Per payment (index), every answer received.
    by_payment: HashMap<usize, Vec<Answer>>,
}

/// The chain, the database and the facilitator's configuration.
pub(crate) struct Setup {
    pub(crate) chain: Chain,
    pub(crate) database: TestDatabase,
    pub(crate) pay_to: Address,
    config: PathBuf,
    pub(crate) listen: SocketAddr,
    relayer_key: String,
    dir: tempfile::TempDir,
}

impl Setup {
    /// The relayer `clearing serve` signs with: anvil account 0, which deployed the suite.
    pub(crate) fn relayer(&self) -> Address {
        self.chain.address(DEPLOYER)
    }

    /// The test's own directory (the config file is in it), removed with the setup.
    pub(crate) fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// The ledger key of `payment`.
    fn key(&self, payment: &Payment) -> PaymentKey {
        PaymentKey {
            chain_id: self.chain.chain_id,
            asset: self.chain.token,
            payer: payment.payer,
            nonce: payment.nonce,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn settles_survive_sigkill_at_any_moment_and_pay_exactly_once() {
    let started = Instant::now();
    let setup = set_up("crash").await;
    let payers: Vec<PrivateKeySigner> = (0..PAYERS).map(|_| PrivateKeySigner::random()).collect();
    for payer in &payers {
        setup.chain.mint(payer.address(), PAYER_BALANCE).await;
    }
    // Every relayer transaction after this block is the facilitator's.
    let scan_from = setup.chain.provider.get_block_number().await.unwrap() + 1;
    // Blocks only when the test mines one, so a broadcast batch stays unmined until then.
    let _: Value = setup.chain.provider.raw_request("evm_setAutomine".into(), (false,)).await.unwrap();

    let rounds = KILLS.len();
    let payments: Arc<Vec<Payment>> =
        Arc::new((0..rounds * PAYMENTS_PER_ROUND).map(|i| sign(&setup, &payers[i % PAYERS], i)).collect());
    let answers = Arc::new(Mutex::new(Answers::default()));
    let ledger = Ledger::connect(setup.database.url(), 2).await.unwrap();

    let mut states = Vec::new();
    let mut seen_batches = HashSet::new();
    for (round, kill) in KILLS.into_iter().enumerate() {
        let mut facilitator = start(&setup);
        // This round's new payments and a re-send of every earlier one, all at once.
        let tasks: Vec<_> = (0..(round + 1) * PAYMENTS_PER_ROUND)
            .map(|i| tokio::spawn(settle_once(setup.listen, payments.clone(), answers.clone(), i)))
            .collect();
        match kill {
            Kill::After(delay) => tokio::time::sleep(delay).await,
            Kill::WhenQueued => {
                let new = &payments[round * PAYMENTS_PER_ROUND..(round + 1) * PAYMENTS_PER_ROUND];
                wait_for_queued(&setup, &ledger, new).await;
            }
            Kill::WhenBroadcast => wait_for_new_batch(&setup, &ledger, &mut seen_batches).await,
            Kill::AfterMined(delay) => {
                wait_for_new_batch(&setup, &ledger, &mut seen_batches).await;
                mine(&setup).await;
                tokio::time::sleep(delay).await;
            }
        }
        facilitator.kill().expect("SIGKILL");
        facilitator.wait().unwrap();
        for task in tasks {
            // Requests cut by the kill end with an I/O error; that is the point.
            let _ = task.await;
        }
        let state = state_at_kill(&setup, &ledger, &payments[..(round + 1) * PAYMENTS_PER_ROUND]).await;
        eprintln!("killed {kill:?}: {state:?}");
        states.push(state);
        // What was broadcast before the kill lands while the facilitator is down.
        mine(&setup).await;
    }
    // The kills landed where recovery has work to do: payments queued and never claimed or claimed and never
    // sent, and batches recorded (maybe broadcast) but not resolved.
    assert!(states.iter().any(|s| s.pending + s.submitted_unsent > 0), "no kill caught unsent work: {states:?}");
    assert!(states.iter().any(|s| s.sent_unresolved > 0), "no kill caught a recorded batch unresolved: {states:?}");

    // From now on a block a second.
    let _: Value = setup.chain.provider.raw_request("evm_setIntervalMining".into(), (1,)).await.unwrap();
    // The last run: re-send every payment until each has a final answer.
    let mut facilitator = start(&setup);
    let mut open: Vec<usize> = (0..payments.len()).collect();
    while !open.is_empty() {
        assert!(started.elapsed() < DEADLINE, "payments without a final answer after {DEADLINE:?}: {open:?}");
        let tasks: Vec<_> = open
            .iter()
            .map(|&i| tokio::spawn(settle_once(setup.listen, payments.clone(), answers.clone(), i)))
            .collect();
        let mut still_open = Vec::new();
        for (task, &i) in tasks.into_iter().zip(&open) {
            match task.await.unwrap() {
                Some(answer) if is_final(&answer) => {}
                _ => still_open.push(i),
            }
        }
        open = still_open;
        if !open.is_empty() {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    facilitator.kill().unwrap();
    facilitator.wait().unwrap();

    check_chain(&setup, &payments, &payers).await;
    let (mined, batches) = mined_relayer_batches(&setup, scan_from).await;
    let named = check_answers_and_ledger(&setup, &ledger, &payments, &*answers.lock().await, &mined).await;
    ledger.close().await;
    assert_eq!(named, batches, "every batch transaction the relayer got mined is the one the ledger names");
    eprintln!("crash test took {:.1} s", started.elapsed().as_secs_f64());
}

/// Anvil, the token and the suite, the database (named for `test`) and the config file.
pub(crate) async fn set_up(test: &str) -> Setup {
    set_up_with(test, "").await
}

/// [`set_up`] with `extra` appended to the config file (TOML sections of its own).
pub(crate) async fn set_up_with(test: &str, extra: &str) -> Setup {
    let chain = Chain::start().await;
    let database = TestDatabase::create(test).await;
    let relayer_key = format!("0x{}", alloy::hex::encode(chain.key(DEPLOYER).to_bytes()));
    let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("clearing.toml");
    let text = format!(
        "[chain]\nrpc_url = \"{rpc}\"\n\n[chain.usdc]\naddress = \"{usdc}\"\nname = \"USDC\"\nversion = \"2\"\n\n\
         [chain.deployment]\n{deployment}\n[facilitator]\nlisten = \"{listen}\"\n\n[facilitator.settle]\n\
         max_wait_ms = 100\n\n{extra}",
        rpc = chain.endpoint(),
        usdc = chain.token,
        deployment = toml::to_string(&chain.deployment).unwrap(),
    );
    std::fs::write(&config, text).unwrap();
    Setup { chain, database, pay_to: Address::repeat_byte(0x7a), config, listen, relayer_key, dir }
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0)).unwrap().local_addr().unwrap().port()
}

/// `clearing serve`, once it listens.
pub(crate) fn start(setup: &Setup) -> Child {
    start_on(setup, setup.listen, None)
}

/// `clearing serve --listen listen`, once it listens; its logs go to the test's stderr, or at `info` to the end of
/// the file `log`.
pub(crate) fn start_on(setup: &Setup, listen: SocketAddr, log: Option<&std::path::Path>) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_clearing"));
    if let Some(log) = log {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
        command.env("RUST_LOG", "info").env("NO_COLOR", "1").stderr(file);
    }
    let mut child = command
        .arg("--config")
        .arg(&setup.config)
        .arg("serve")
        .arg("--listen")
        .arg(listen.to_string())
        .env("CLEARING_DATABASE_URL", setup.database.url())
        .env("CLEARING_RELAYER_KEY", &setup.relayer_key)
        .env_remove("DATABASE_URL")
        .env_remove("CLEARING_RPC_URL")
        .stdout(Stdio::piped())
        .spawn()
        .expect("clearing runs");
    let stdout = child.stdout.take().unwrap();
    let line = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut lines = std::io::BufReader::new(stdout).lines();
        let first = lines.find_map(|line| line.ok().filter(|l| l.contains("facilitator listening on")));
        // Keep draining so the child never blocks on a full pipe.
        lines.for_each(drop);
        first
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(listen).is_err() {
        if let Some(status) = child.try_wait().unwrap() {
            let logged = log.map(|log| std::fs::read_to_string(log).unwrap_or_default()).unwrap_or_default();
            panic!("clearing serve exited at startup with {status}: {:?}\n{logged}", line.join());
        }
        assert!(Instant::now() < deadline, "clearing serve did not listen on {listen} within 30 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// `payer`'s payment `i` (of 1,000 + `i`), signed by the product's client within an hour.
fn sign(setup: &Setup, payer: &PrivateKeySigner, i: usize) -> Payment {
    let value = 1_000 + i as u64;
    let payment = Terms::new(setup.chain.domain(), setup.pay_to, value).with_max_timeout(3_600).pay(payer);
    Payment { payer: payer.address(), nonce: payment.nonce(), value, body: payment.body_string() }
}

/// POSTs payment `i` to `/settle` once and records the answer; `None` if the connection broke (a kill).
async fn settle_once(
    listen: SocketAddr,
    payments: Arc<Vec<Payment>>,
    answers: Arc<Mutex<Answers>>,
    i: usize,
) -> Option<Value> {
    let answer = post(listen, "/settle", &payments[i].body).await.ok()?;
    let transaction = answer["transaction"].as_str().filter(|tx| !tx.is_empty()).map(|tx| tx.parse().unwrap());
    let record = Answer {
        success: answer["success"] == true,
        reason: answer["errorReason"].as_str().map(str::to_owned),
        transaction,
    };
    answers.lock().await.by_payment.entry(i).or_default().push(record);
    Some(answer)
}

/// Success, or the payment was settled before (a later caller's answer); anything else is not final.
fn is_final(answer: &Value) -> bool {
    match answer["errorReason"].as_str() {
        None => answer["success"] == true,
        Some("settlement_pending") => false,
        Some("invalid_exact_evm_nonce_already_used") => true,
        Some(other) => panic!("a valid payment was refused with {other}: {answer}"),
    }
}

/// One HTTP/1.1 POST with `Connection: close`, the answer's JSON body.
async fn post(address: SocketAddr, path: &str, body: &str) -> std::io::Result<Value> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_string(&mut response)).await??;
    let (head, json) = response.split_once("\r\n\r\n").ok_or(std::io::ErrorKind::UnexpectedEof)?;
    assert!(head.starts_with("HTTP/1.1 200"), "{response}");
    serde_json::from_str(json).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// What a kill left behind, from the ledger.
#[derive(Debug, Default)]
#[allow(dead_code)] // Read through Debug.
struct KillState {
    /// Payments without a row (their request was cut before it was queued).
    unknown: usize,
    /// Queued, in no batch.
    pending: usize,
    /// In a batch with no transaction recorded yet.
    submitted_unsent: usize,
    /// In a batch whose transaction was recorded (and maybe broadcast), not resolved.
    sent_unresolved: usize,
    /// Resolved settled.
    settled: usize,
}

async fn state_at_kill(setup: &Setup, ledger: &Ledger, payments: &[Payment]) -> KillState {
    let mut state = KillState::default();
    let unresolved = ledger.unresolved_batches(setup.chain.chain_id, setup.relayer()).await.unwrap();
    for payment in payments {
        match ledger.settlement(&setup.key(payment)).await.unwrap() {
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
                other => panic!("a valid payment ended {other:?}"),
            },
        }
    }
    state
}

/// Waits until the ledger records a transaction for an unresolved batch not in `seen`, and adds it.
/// Waits until any of `payments` is in the queue.
async fn wait_for_queued(setup: &Setup, ledger: &Ledger, payments: &[Payment]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        for payment in payments {
            if ledger.settlement(&setup.key(payment)).await.unwrap().is_some() {
                return;
            }
        }
        assert!(Instant::now() < deadline, "no payment queued within 20 s");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn wait_for_new_batch(setup: &Setup, ledger: &Ledger, seen: &mut HashSet<BatchId>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let batches = ledger.unresolved_batches(setup.chain.chain_id, setup.relayer()).await.unwrap();
        if let Some(batch) = batches.iter().find(|batch| !batch.transactions.is_empty() && !seen.contains(&batch.id)) {
            seen.insert(batch.id);
            return;
        }
        assert!(Instant::now() < deadline, "no batch transaction recorded within 20 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Mines one block of whatever is in the mempool.
pub(crate) async fn mine(setup: &Setup) {
    let _: Value = setup.chain.provider.raw_request("evm_mine".into(), ()).await.unwrap();
}

/// Every nonce used, every amount moved exactly once.
async fn check_chain(setup: &Setup, payments: &[Payment], payers: &[PrivateKeySigner]) {
    let usdc = MockUSDC::new(setup.chain.token, &setup.chain.provider);
    for payment in payments {
        let used = usdc.authorizationState(payment.payer, payment.nonce).call().await.unwrap();
        assert!(used, "nonce {} of {} is unused on chain", payment.nonce, payment.payer);
    }
    let total: u64 = payments.iter().map(|p| p.value).sum();
    assert_eq!(usdc.balanceOf(setup.pay_to).call().await.unwrap(), U256::from(total), "payTo got each payment once");
    for payer in payers {
        let spent: u64 = payments.iter().filter(|p| p.payer == payer.address()).map(|p| p.value).sum();
        let balance = usdc.balanceOf(payer.address()).call().await.unwrap();
        assert_eq!(balance, U256::from(PAYER_BALANCE - spent), "payer {} paid each payment once", payer.address());
    }
}

/// The relayer's mined transactions: (payer, nonce) settled → the transaction, checking that each went to
/// BatchSettler, succeeded, refused nothing, and that no payment is in two of them.
async fn mined_relayer_batches(setup: &Setup, scan_from: u64) -> (HashMap<(Address, B256), TxHash>, usize) {
    let head = setup.chain.provider.get_block_number().await.unwrap();
    let mut settled = HashMap::new();
    let mut batches = 0;
    for number in scan_from..=head {
        let receipts =
            setup.chain.provider.get_block_receipts(BlockNumberOrTag::Number(number).into()).await.unwrap().unwrap();
        for receipt in receipts.into_iter().filter(|r| r.from == setup.relayer()) {
            let tx = receipt.transaction_hash;
            assert_eq!(
                receipt.to,
                Some(setup.chain.deployment.batch_settler),
                "relayer transaction {tx} is not a batch"
            );
            batches += 1;
            assert!(receipt.status(), "batch {tx} reverted");
            for log in receipt.inner.logs() {
                if let Ok(event) = BatchSettler::PaymentSettled::decode_log(&log.inner) {
                    let earlier = settled.insert((event.payer, event.nonce), tx);
                    assert!(earlier.is_none(), "{} {} settled in {tx} and {earlier:?}", event.payer, event.nonce);
                }
                if let Ok(event) = BatchSettler::PaymentFailed::decode_log(&log.inner) {
                    panic!(
                        "batch {tx} carried {} {} again (or refused it): {:?}",
                        event.payer, event.nonce, event.reason
                    );
                }
            }
        }
    }
    let pending: Value = setup.chain.provider.raw_request("txpool_status".into(), ()).await.unwrap();
    assert_eq!(pending["pending"], json!("0x0"), "transactions left unmined: {pending}");
    eprintln!("{batches} batch transactions carried {} payments", settled.len());
    (settled, batches)
}

/// At most one success per payment, every final answer names the transaction that settled it, and the ledger
/// agrees with the chain.
async fn check_answers_and_ledger(
    setup: &Setup,
    ledger: &Ledger,
    payments: &[Payment],
    answers: &Answers,
    mined: &HashMap<(Address, B256), TxHash>,
) -> usize {
    assert_eq!(mined.len(), payments.len(), "every payment settled by exactly one batch");
    let mut referenced = HashSet::new();
    for (i, payment) in payments.iter().enumerate() {
        let tx = mined[&(payment.payer, payment.nonce)];
        referenced.insert(tx);
        let got = answers.by_payment.get(&i).map(Vec::as_slice).unwrap_or_default();
        let successes = got.iter().filter(|answer| answer.success).count();
        assert!(successes <= 1, "payment {i} was answered success {successes} times");
        for answer in got.iter().filter(|answer| answer.is_final()) {
            assert_eq!(answer.transaction, Some(tx), "payment {i}'s final answer names another transaction");
        }
        assert!(got.iter().any(Answer::is_final), "payment {i} never got a final answer: {got:?}");
        let row = ledger
            .settlement(&setup.key(payment))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("payment {i} has no ledger row"));
        // Settled, or already confirmed by the indexer `serve` runs.
        assert!(
            matches!(row.status, SettlementStatus::Settled | SettlementStatus::Confirmed),
            "payment {i}'s row is {:?}",
            row.status
        );
        assert_eq!(row.tx_hash, Some(tx), "payment {i}'s row names the transaction that settled it");
        if successes == 1 {
            assert!(row.success_reported, "payment {i} was answered success but its row does not say so");
        }
    }
    let unresolved = ledger.unresolved_batches(setup.chain.chain_id, setup.relayer()).await.unwrap();
    assert!(unresolved.is_empty(), "batches left unresolved: {unresolved:?}");
    referenced.len()
}
