//! `clearing dev`: up with contracts, test USDC and a migrated database; down on Ctrl-C with no child left.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use alloy::{primitives::Address, providers::Provider};
use clearing_chain::contracts::MockUSDC;
use clearing_ledger::Ledger;

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
        self.seen.extend(self.lines.try_iter());
        self.seen
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

fn is_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// The `pid N` printed on a line.
fn pid_in(line: &str) -> u32 {
    let tail = line.split("pid ").nth(1).unwrap_or_else(|| panic!("no pid in {line:?}"));
    tail.trim_end_matches(')').parse().unwrap_or_else(|_| panic!("bad pid in {line:?}"))
}

struct Written {
    rpc_url: String,
    database_url: String,
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

fn test_database_url() -> Option<String> {
    std::env::var("DATABASE_URL").ok().filter(|url| !url.is_empty())
}

#[tokio::test(flavor = "multi_thread")]
async fn dev_with_a_given_database_comes_up_and_ctrl_c_leaves_no_child() {
    let Some(server) = test_database_url() else {
        panic!("DATABASE_URL must point at a PostgreSQL server (script/test sets it)");
    };
    // A database of its own on the test server.
    let mut url = url::Url::parse(&server).unwrap();
    url.set_path(&format!("/clearing_dev_test_{}", std::process::id()));
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("dev.toml");

    let mut dev = Dev::start(&config_path, &["--database-url", url.as_str()]);
    let anvil_pid = pid_in(&dev.wait_for("ok: http://127.0.0.1:", Duration::from_secs(60)));
    let facilitator_line = dev.wait_for("facilitator ", Duration::from_secs(120));
    dev.wait_for("agents,", Duration::from_secs(30));
    let agent_line = dev.wait_for("0x", Duration::from_secs(5));
    dev.wait_for("Ready.", Duration::from_secs(30));

    let written = read_config(&config_path);
    assert_eq!(written.database_url, url.as_str());
    assert_system_is_up(&written, &agent_line).await;
    let facilitator = facilitator_line.split_whitespace().nth(1).unwrap().to_owned();
    let supported = get_json(&format!("{facilitator}/supported")).await;
    assert!(supported.contains("\"network\":\"eip155:31337\""), "{supported}");
    let children = children_of(dev.pid());
    assert!(children.contains(&anvil_pid), "anvil {anvil_pid} is a child of clearing: {children:?}");

    let output = dev.interrupt();
    assert!(output.iter().any(|l| l == "Stopped."), "{output:?}");
    for pid in children {
        assert!(!is_alive(pid), "child {pid} outlived clearing dev");
    }
    Ledger::drop_database_if_exists(url.as_str()).await.unwrap();
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
}
