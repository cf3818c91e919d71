//! `clearing dev`: up with contracts, test USDC and a migrated database; down on Ctrl-C or `kill -9` with no child,
//! directory, database or config left; any number of runs in a row, and two at once, each settling payments.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use alloy::{
    primitives::{Address, U256},
    providers::Provider,
    signers::local::PrivateKeySigner,
};
use clearing_chain::contracts::MockUSDC;
use clearing_ledger::Ledger;
use clearing_testkit::{TOKEN_NAME, TOKEN_VERSION, Terms};
use clearing_x402::TokenDomain;
use serde_json::Value;
use sqlx::migrate::MigrateDatabase;

/// `clearing dev` on a free port, its stdout collected line by line.
struct Dev {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Dev {
    fn start(config_path: &Path, extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_clearing"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            // The test command exports DATABASE_URL; `--private-postgres` must win over it.
            .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
            .args(["--config", "/nonexistent/clearing.toml", "dev", "--port", "0", "--facilitator-port", "0"])
            .arg("--write-config")
            .arg(config_path)
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .expect("clearing runs");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines, seen: Vec::new() }
    }

    /// Reads output until a line contains `needle`, failing after `timeout`.
    fn wait_for(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => {
                    panic!("no line with {needle:?} within {timeout:?}; output so far:\n{}", self.seen.join("\n"))
                }
            }
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the summary and returns what the run says about itself.
    fn wait_until_ready(&mut self) -> Ready {
        let facilitator = self.wait_for("  facilitator ", Duration::from_secs(240));
        let config = self.wait_for("  config ", Duration::from_secs(5));
        self.wait_for("Ready.", Duration::from_secs(30));
        Ready {
            facilitator: facilitator.split_whitespace().nth(1).unwrap().to_owned(),
            config: config.split_whitespace().nth(1).unwrap().into(),
        }
    }

    /// `kill -9`, then reaps it.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Sends SIGINT (Ctrl-C) and waits for a clean exit.
    fn interrupt(mut self) -> Vec<String> {
        // SAFETY: the pid is our own unreaped child.
        unsafe { libc::kill(self.pid() as libc::pid_t, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "clearing dev exited with {status}");
                break;
            }
            assert!(Instant::now() < deadline, "clearing dev did not stop within 30 s of SIGINT");
            std::thread::sleep(Duration::from_millis(50));
        }
        let lines: Vec<String> = self.lines.try_iter().collect();
        self.seen.extend(lines);
        std::mem::take(&mut self.seen)
    }
}

impl Drop for Dev {
    /// A failed test must not leave its `clearing dev` running (its watchdog then cleans up after it).
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Every live process whose parent is `pid`, from /proc.
fn children_of(pid: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            std::fs::read_to_string(format!("/proc/{child}/stat"))
                .ok()
                // Fields after the parenthesised command name: state, ppid, ...
                .and_then(|stat| stat.rsplit_once(')').map(|(_, rest)| rest.to_owned()))
                .and_then(|rest| rest.split_whitespace().nth(1)?.parse::<u32>().ok())
                == Some(pid)
        })
        .collect()
}

/// Every live descendant of `pid`.
fn descendants(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let mut parents = vec![pid];
    while let Some(parent) = parents.pop() {
        for child in children_of(parent) {
            found.push(child);
            parents.push(child);
        }
    }
    found
}

/// Running: present and not a zombie. A process orphaned by a `kill -9` is reparented to PID 1, which need not reap it
/// (this machine's does not): a zombie has exited and holds no port, file or memory.
fn is_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next()) != Some("Z"),
        Err(_) => false,
    }
}

/// Waits (on pidfds, woken by each exit) until every process in `pids` has exited; panics naming the survivors after
/// `limit`.
fn wait_until_gone(pids: &[u32], limit: Duration) {
    let deadline = Instant::now() + limit;
    let mut fds: Vec<(u32, libc::c_int)> = pids
        .iter()
        .filter_map(|&pid| {
            // SAFETY: pidfd_open takes a pid and flags; a failure means the process is gone already.
            let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
            (fd >= 0).then_some((pid, fd as libc::c_int))
        })
        .collect();
    while !fds.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut polls: Vec<libc::pollfd> =
            fds.iter().map(|&(_, fd)| libc::pollfd { fd, events: libc::POLLIN, revents: 0 }).collect();
        // SAFETY: `polls` is a valid array of pollfds for its length.
        let ready = unsafe { libc::poll(polls.as_mut_ptr(), polls.len() as libc::nfds_t, left.as_millis() as i32) };
        if ready == 0 {
            let survivors: Vec<String> = fds
                .iter()
                .map(|&(pid, _)| {
                    let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                    format!("{pid} ({})", cmdline.replace('\0', " ").trim())
                })
                .collect();
            panic!("processes still running {limit:?} after clearing dev was killed: {survivors:?}");
        }
        let mut still = Vec::new();
        for (&(pid, fd), poll) in fds.iter().zip(&polls) {
            if poll.revents == 0 {
                still.push((pid, fd));
            } else {
                // SAFETY: our own descriptor, closed once.
                unsafe { libc::close(fd) };
            }
        }
        fds = still;
    }
}

/// The `pid N` printed on a line.
fn pid_in(line: &str) -> u32 {
    let tail = line.split("pid ").nth(1).unwrap_or_else(|| panic!("no pid in {line:?}"));
    tail.trim_end_matches(')').parse().unwrap_or_else(|_| panic!("bad pid in {line:?}"))
}

/// What the summary of a run that is up says.
struct Ready {
    /// `http://127.0.0.1:PORT`
    facilitator: String,
    /// Where it wrote its config.
    config: std::path::PathBuf,
}

struct Written {
    rpc_url: String,
    database_url: String,
    facilitator_listen: String,
    usdc: Address,
    contracts: Vec<Address>,
}

fn read_config(path: &Path) -> Written {
    let table: toml::Table = std::fs::read_to_string(path).unwrap().parse().unwrap();
    let chain = table["chain"].as_table().unwrap();
    let address = |v: &toml::Value| v.as_str().unwrap().parse::<Address>().unwrap();
    let deployment = chain["deployment"].as_table().unwrap();
    Written {
        rpc_url: chain["rpc_url"].as_str().unwrap().to_owned(),
        database_url: table["database"]["url"].as_str().unwrap().to_owned(),
        facilitator_listen: table["facilitator"]["listen"].as_str().unwrap().to_owned(),
        usdc: address(&chain["usdc"]["address"]),
        contracts: ["batch_settler", "escrow", "anchor_registry"].iter().map(|k| address(&deployment[*k])).collect(),
    }
}

/// Checks what `clearing dev` promised while it is up.
async fn assert_system_is_up(written: &Written, agent_line: &str) {
    let provider = clearing_chain::connect(&written.rpc_url).unwrap();
    for address in written.contracts.iter().chain([&written.usdc]) {
        assert!(!provider.get_code_at(*address).await.unwrap().is_empty(), "no code at {address}");
    }
    let agent: Address = agent_line.split_whitespace().next().unwrap().parse().unwrap();
    let balance = MockUSDC::new(written.usdc, &provider).balanceOf(agent).call().await.unwrap();
    assert_eq!(balance, alloy::primitives::U256::from(10_000_000_000u64), "agent {agent} holds 10,000 USDC");

    let ledger = Ledger::connect(&written.database_url, 1).await.unwrap();
    assert_eq!(ledger.schema_version().await.unwrap(), Ledger::latest_migration());
    ledger.close().await;
}

/// GET `url` on loopback with a bare HTTP/1.1 request (no client dependency for one call).
async fn get_json(url: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    stream
        .write_all(format!("GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
}

#[tokio::test(flavor = "multi_thread")]
async fn dev_on_a_given_server_comes_up_in_its_own_database_and_ctrl_c_leaves_nothing() {
    let url = url::Url::parse(&server_url("given")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("dev.toml");

    let mut dev = Dev::start(&config_path, &["--database-url", url.as_str()]);
    let anvil_pid = pid_in(&dev.wait_for("ok: http://127.0.0.1:", Duration::from_secs(60)));
    let facilitator_line = dev.wait_for("facilitator ", Duration::from_secs(120));
    dev.wait_for("agents,", Duration::from_secs(30));
    let agent_line = dev.wait_for("0x", Duration::from_secs(5));
    dev.wait_for("Ready.", Duration::from_secs(30));

    let written = read_config(&config_path);
    let run_database = url::Url::parse(&written.database_url).unwrap();
    assert_eq!(run_database.host(), url.host());
    assert_eq!(run_database.port(), url.port());
    assert!(run_database.path().starts_with("/clearing_dev_"), "a database of the run's own: {run_database}");
    assert!(!database_exists(url.as_str()).await, "the database named in the URL is not the one used");
    assert_system_is_up(&written, &agent_line).await;
    let facilitator = facilitator_line.split_whitespace().nth(1).unwrap().to_owned();
    let supported = get_json(&format!("{facilitator}/supported")).await;
    assert!(supported.contains("\"network\":\"eip155:31337\""), "{supported}");
    assert_the_market_is_served(&facilitator).await;
    let children = children_of(dev.pid());
    assert!(children.contains(&anvil_pid), "anvil {anvil_pid} is a child of clearing: {children:?}");

    let output = dev.interrupt();
    assert!(output.iter().any(|l| l == "Stopped."), "{output:?}");
    for pid in children {
        assert!(!is_alive(pid), "child {pid} outlived clearing dev");
    }
    assert!(!database_exists(&written.database_url).await, "the run's database was dropped at exit");
    assert!(!config_path.exists(), "the config was removed at exit");
}

#[tokio::test(flavor = "multi_thread")]
async fn dev_with_a_private_cluster_comes_up_and_ctrl_c_removes_it() {
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("dev.toml");

    let mut dev = Dev::start(&config_path, &["--private-postgres"]);
    let anvil_pid = pid_in(&dev.wait_for("ok: http://127.0.0.1:", Duration::from_secs(60)));
    let cluster_line = dev.wait_for("private PostgreSQL in", Duration::from_secs(120));
    let postgres_pid = pid_in(&cluster_line);
    let data_dir = cluster_line.split_whitespace().nth(3).unwrap().to_owned();
    dev.wait_for("agents,", Duration::from_secs(60));
    let agent_line = dev.wait_for("0x", Duration::from_secs(5));
    dev.wait_for("Ready.", Duration::from_secs(30));

    let written = read_config(&config_path);
    assert!(written.database_url.starts_with("postgres://clearing@127.0.0.1:"), "{}", written.database_url);
    assert_system_is_up(&written, &agent_line).await;
    let children = children_of(dev.pid());
    assert!(children.contains(&anvil_pid) && children.contains(&postgres_pid), "{children:?}");

    dev.interrupt();
    for pid in [anvil_pid, postgres_pid].into_iter().chain(children) {
        assert!(!is_alive(pid), "child {pid} outlived clearing dev");
    }
    assert!(!Path::new(&data_dir).exists(), "the private cluster's directory {data_dir} was left behind");
    assert!(!config_path.exists(), "the config was removed at exit");
}

/// POSTs `body` to `url` (HTTP/1.1 on loopback) and returns the JSON answer of a 200.
async fn post_json(url: &str, body: &str) -> Value {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let request = format!(
        "POST /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, json) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{response}");
    serde_json::from_str(json).unwrap()
}

/// Anvil's account 1, one of the agents `clearing dev` funds (public dev key).
const AGENT_KEY: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

/// An agent pays a fresh address through the run's facilitator (`/settle`, x402 v2): the answer is a success and the
/// payee holds the money on the run's chain.
async fn assert_a_payment_settles(ready: &Ready, written: &Written) {
    let provider = clearing_chain::connect(&written.rpc_url).unwrap();
    let chain_id = provider.get_chain_id().await.unwrap();
    let payer: PrivateKeySigner = AGENT_KEY.parse().unwrap();
    let pay_to = PrivateKeySigner::random().address();
    let value = 10_000u64;
    let domain = TokenDomain::new(chain_id, written.usdc, TOKEN_NAME, TOKEN_VERSION);
    let payment = Terms::new(domain, pay_to, value).pay(&payer);
    let answer = post_json(&format!("{}/settle", ready.facilitator), &payment.body_string()).await;
    assert_eq!(answer["success"], true, "settle on {}: {answer}", ready.facilitator);
    let balance = MockUSDC::new(written.usdc, &provider).balanceOf(pay_to).call().await.unwrap();
    assert_eq!(balance, U256::from(value), "the payee was paid on {}", written.rpc_url);
}

/// The marketplace is served beside the facilitator and described with it, and a registration paid by
/// `clearing-client` settles through the run's facilitator to the Escrow's fee recipient (anvil account 0).
async fn assert_the_market_is_served(facilitator: &str) {
    let catalog = get_json(&format!("{facilitator}/v1/services/catalog")).await;
    // Axum answers a small JSON body with Content-Length, so the body is what follows the headers.
    let body = catalog.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    let catalog: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {catalog}"));
    assert_eq!(catalog["total"], 3, "the demo provider's three services: {catalog}");
    let products = get_json(&format!("{facilitator}/v1/products?q=words")).await;
    let products: Value = serde_json::from_str(products.split_once("\r\n\r\n").map_or("", |(_, body)| body))
        .unwrap_or_else(|e| panic!("{e}: {products}"));
    assert_eq!(products["total"], 1, "the demo provider's product: {products}");
    let openapi = get_json(&format!("{facilitator}/openapi.json")).await;
    assert!(openapi.contains("\"/v1/register\"") && openapi.contains("\"/verify\""), "one document for both");

    let agent: PrivateKeySigner = AGENT_KEY.parse().unwrap();
    let payer = clearing_client::Payer::new(agent.clone(), clearing_client::Policy::at_most(U256::from(10_000)));
    let headers = clearing_client::Payer::headers(["Content-Type: application/json"]).unwrap();
    let body = br#"{"type": "provider", "name": "Dev provider"}"#.to_vec();
    let url = format!("{facilitator}/v1/register").parse().unwrap();
    let paid = payer.pay(axum::http::Method::POST, url, headers, Some(body)).await.unwrap();
    assert_eq!(paid.status, 201, "{}", String::from_utf8_lossy(&paid.body));
    let payment = paid.payment.expect("registration is paid");
    let anvil_account_0: Address = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266".parse().unwrap();
    assert_eq!(payment.offer.pay_to, anvil_account_0, "the Escrow's fee recipient");
    assert!(payment.settlement.is_some_and(|s| s.success));
    let registered: Value = serde_json::from_slice(&paid.body).unwrap();
    assert_eq!(registered["wallet"], agent.address().to_checksum(None));

    // The demo data_api service, bought into the escrow (payTo = the Escrow) by the same agent.
    let services = catalog["services"].as_array().unwrap();
    let data_api = services.iter().find(|s| s["service_type"] == "data_api").expect("a demo data_api service");
    let url = format!("{facilitator}/v1/services/{}/purchase", data_api["id"].as_str().unwrap()).parse().unwrap();
    let headers = clearing_client::Payer::headers(["Content-Type: application/json"]).unwrap();
    let body = br#"{"brief": {"text": "count these words"}}"#.to_vec();
    let paid = payer.pay(axum::http::Method::POST, url, headers, Some(body)).await.unwrap();
    assert_eq!(paid.status, 201, "{}", String::from_utf8_lossy(&paid.body));
    let payment = paid.payment.expect("a purchase is paid");
    assert_ne!(payment.offer.pay_to, anvil_account_0, "a purchase pays the escrow, not the fee recipient");
    assert!(payment.settlement.is_some_and(|s| s.success));
    // The run names itself by its own address (`[market] public_url`), so links and webhooks' callback URLs are
    // whole URLs, not bare paths.
    let job: Value = serde_json::from_slice(&paid.body).unwrap();
    let update = format!("{facilitator}/v1/jobs/{}/update", job["job_id"].as_str().unwrap());
    assert_eq!(job["links"]["update"], update.as_str(), "{job}");
}

/// The config a run wrote records the address its facilitator really listens on.
fn assert_records_the_real_facilitator(ready: &Ready, written: &Written) {
    assert_eq!(format!("http://{}", written.facilitator_listen), ready.facilitator);
}

async fn database_exists(url: &str) -> bool {
    sqlx::Postgres::database_exists(url).await.unwrap()
}

/// The test server with a database path: before each run had its own database, `clearing dev` used (and reused)
/// this one.
fn server_url(test: &str) -> String {
    clearing_testkit::database_url(&format!("dev_{test}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_of_dev_with_a_private_cluster_leaves_no_process_and_no_directory() {
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("dev.toml");

    let mut dev = Dev::start(&config_path, &["--private-postgres"]);
    let cluster_line = dev.wait_for("private PostgreSQL in", Duration::from_secs(120));
    let postgres_pid = pid_in(&cluster_line);
    let data_dir = cluster_line.split_whitespace().nth(3).unwrap().to_owned();
    dev.wait_until_ready();
    assert!(config_path.exists());
    let tree = descendants(dev.pid());
    assert!(tree.contains(&postgres_pid), "postgres {postgres_pid} runs under clearing dev: {tree:?}");
    assert!(tree.len() > 3, "anvil, the postmaster and its workers: {tree:?}");

    dev.kill();
    // Every process clearing dev started (the cluster's too) exits, and so does the one that cleans up after it.
    wait_until_gone(&tree, Duration::from_secs(60));
    for pid in &tree {
        assert!(!is_alive(*pid), "{pid} outlived clearing dev");
    }
    assert!(!Path::new(&data_dir).exists(), "the private cluster's directory {data_dir} was left behind");
    assert!(!config_path.exists(), "the config of a dead run was left behind");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_dev_runs_in_a_row_on_one_server_each_settle_a_payment() {
    let server = server_url("rerun");
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("dev.toml");
    let mut databases = Vec::new();
    for run in ["stopped with Ctrl-C", "killed"] {
        let mut dev = Dev::start(&config_path, &["--database-url", &server]);
        let ready = dev.wait_until_ready();
        assert_eq!(ready.config, config_path);
        let written = read_config(&config_path);
        assert!(!databases.contains(&written.database_url), "{run}: a database of an earlier run was reused");
        assert!(database_exists(&written.database_url).await);
        assert_records_the_real_facilitator(&ready, &written);
        assert_a_payment_settles(&ready, &written).await;

        if run == "killed" {
            let tree = descendants(dev.pid());
            dev.kill();
            wait_until_gone(&tree, Duration::from_secs(60));
        } else {
            dev.interrupt();
        }
        assert!(!config_path.exists(), "{run}: the config of a stopped run was left behind");
        assert!(!database_exists(&written.database_url).await, "{run}: its database {} remains", written.database_url);
        databases.push(written.database_url);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_dev_at_once_runs_apart_and_each_keeps_its_own_config() {
    let server = server_url("concurrent");
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("dev.toml");

    let mut first = Dev::start(&config_path, &["--database-url", &server]);
    let first_ready = first.wait_until_ready();
    let mut second = Dev::start(&config_path, &["--database-url", &server]);
    let second_ready = second.wait_until_ready();

    assert_eq!(first_ready.config, config_path, "the first run owns the file asked for");
    assert_eq!(
        second_ready.config,
        dir.path().join(format!("dev-{}.toml", second.pid())),
        "the second writes beside it"
    );
    let first_written = read_config(&first_ready.config);
    let second_written = read_config(&second_ready.config);
    assert_ne!(first_written.rpc_url, second_written.rpc_url);
    assert_ne!(first_written.database_url, second_written.database_url);
    assert_records_the_real_facilitator(&first_ready, &first_written);
    assert_records_the_real_facilitator(&second_ready, &second_written);
    assert_a_payment_settles(&first_ready, &first_written).await;
    assert_a_payment_settles(&second_ready, &second_written).await;

    // The second stops: its config and database go; the first's stay, and it still settles.
    let first_config = std::fs::read_to_string(&config_path).unwrap();
    second.interrupt();
    assert!(!second_ready.config.exists());
    assert!(!database_exists(&second_written.database_url).await);
    assert_eq!(std::fs::read_to_string(&config_path).unwrap(), first_config);
    assert!(database_exists(&first_written.database_url).await);
    assert_a_payment_settles(&first_ready, &first_written).await;

    first.interrupt();
    assert!(!config_path.exists());
    assert!(!database_exists(&first_written.database_url).await);
}
