//! The dev chain: anvil from npm as a supervised child.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use alloy::providers::Provider;
use anyhow::{Context, bail};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    process::{ChildStdout, Command},
    sync::oneshot,
};

use crate::process::Supervised;

/// How long anvil may take to listen.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// What anvil prints once its RPC socket is bound, followed by the address (anvil 1.x).
const LISTENING: &str = "Listening on ";

#[derive(Debug)]
pub(crate) struct DevChain {
    pub(crate) process: Supervised,
    pub(crate) rpc_url: String,
    pub(crate) chain_id: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct AnvilOptions {
    pub(crate) binary: PathBuf,
    /// 0: anvil binds a free port itself (no window in which another process could take it).
    pub(crate) port: u16,
    pub(crate) chain_id: u64,
    /// Seconds between blocks; `None` mines a block per transaction.
    pub(crate) block_time: Option<u64>,
    pub(crate) log_file: PathBuf,
}

impl DevChain {
    /// Starts anvil and waits until it says it listens: the address it prints is the one it bound, so the RPC URL
    /// is this anvil's and never another node's already on the port (that anvil would exit instead).
    pub(crate) async fn start(options: &AnvilOptions) -> anyhow::Result<Self> {
        let log = tokio::fs::File::create(&options.log_file)
            .await
            .with_context(|| format!("creating {}", options.log_file.display()))?;
        let mut command = Command::new(&options.binary);
        command
            .args(["--host", "127.0.0.1", "--port", &options.port.to_string()])
            .args(["--chain-id", &options.chain_id.to_string()])
            .stdout(Stdio::piped())
            .stderr(log.try_clone().await?.into_std().await);
        if let Some(seconds) = options.block_time {
            command.args(["--block-time", &seconds.to_string()]);
        }
        let mut process = Supervised::spawn("anvil", command, None, libc::SIGTERM)?;
        let stdout = process.take_stdout().context("anvil's stdout")?;
        let (listening, address) = oneshot::channel();
        let copier = tokio::spawn(copy_to_log(stdout, log, listening));

        let address = tokio::select! {
            address = address => address.ok(),
            status = process.exited() => {
                // The copier ends with anvil's output: the log is complete once it has.
                let _ = tokio::time::timeout(Duration::from_secs(5), copier).await;
                let hint = match options.port {
                    0 => String::new(),
                    port => format!(" (is port {port} taken, by another `clearing dev`? --port 0 picks a free one)"),
                };
                bail!("anvil exited at startup ({status:?}){hint}; its output:\n{}", read_log(&options.log_file));
            }
            _ = tokio::time::sleep(STARTUP_TIMEOUT) => None,
        };
        let Some(address) = address else {
            bail!("anvil did not listen within {STARTUP_TIMEOUT:?}; its output:\n{}", read_log(&options.log_file));
        };
        let rpc_url = format!("http://{address}");
        let id = clearing_chain::connect(&rpc_url)?
            .get_chain_id()
            .await
            .with_context(|| format!("asking anvil at {rpc_url} for its chain id"))?;
        if id != options.chain_id {
            bail!("anvil at {rpc_url} answers with chain id {id}, not {}", options.chain_id);
        }
        Ok(Self { process, rpc_url, chain_id: options.chain_id })
    }
}

/// Copies anvil's stdout to its log until anvil exits, and sends the address it listens on once it says it.
async fn copy_to_log(stdout: ChildStdout, mut log: tokio::fs::File, listening: oneshot::Sender<SocketAddr>) {
    let mut listening = Some(listening);
    let mut lines = BufReader::new(stdout).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(address) = line.strip_prefix(LISTENING).and_then(|rest| rest.trim().parse().ok())
            && let Some(sender) = listening.take()
        {
            let _ = sender.send(address);
        }
        // A log that cannot be written must not stall anvil: keep draining its output.
        let _ = log.write_all(format!("{line}\n").as_bytes()).await;
    }
    let _ = log.flush().await;
}

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default().trim_end().to_owned()
}
