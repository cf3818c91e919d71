//! The dev chain: anvil from npm as a supervised child.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use alloy::providers::Provider;
use anyhow::{Context, bail};
use tokio::process::Command;

use crate::process::Supervised;

/// How long anvil may take to answer its first request.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub(crate) struct DevChain {
    pub(crate) process: Supervised,
    pub(crate) rpc_url: String,
    pub(crate) chain_id: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct AnvilOptions {
    pub(crate) binary: PathBuf,
    pub(crate) port: u16,
    pub(crate) chain_id: u64,
    /// Seconds between blocks; `None` mines a block per transaction.
    pub(crate) block_time: Option<u64>,
    pub(crate) log_file: PathBuf,
}

impl DevChain {
    pub(crate) async fn start(options: &AnvilOptions) -> anyhow::Result<Self> {
        let log = std::fs::File::create(&options.log_file)
            .with_context(|| format!("creating {}", options.log_file.display()))?;
        let mut command = Command::new(&options.binary);
        command
            .args(["--host", "127.0.0.1", "--port", &options.port.to_string()])
            .args(["--chain-id", &options.chain_id.to_string()])
            .stdout(log.try_clone()?)
            .stderr(log);
        if let Some(seconds) = options.block_time {
            command.args(["--block-time", &seconds.to_string()]);
        }
        let mut process = Supervised::spawn("anvil", command, None)?;
        let rpc_url = format!("http://127.0.0.1:{}", options.port);
        wait_until_answering(&mut process, &rpc_url, options.chain_id, &options.log_file).await?;
        Ok(Self { process, rpc_url, chain_id: options.chain_id })
    }
}

async fn wait_until_answering(
    process: &mut Supervised,
    rpc_url: &str,
    chain_id: u64,
    log_file: &Path,
) -> anyhow::Result<()> {
    let provider = clearing_chain::connect(rpc_url)?;
    let started = Instant::now();
    loop {
        if let Some(status) = process.try_exited() {
            let log = std::fs::read_to_string(log_file).unwrap_or_default();
            bail!("anvil exited at startup ({status}); its output:\n{}", log.trim_end());
        }
        match provider.get_chain_id().await {
            Ok(id) if id == chain_id => return Ok(()),
            Ok(id) => bail!("{rpc_url} answers with chain id {id}, not {chain_id}: is another node on that port?"),
            Err(_) if started.elapsed() < STARTUP_TIMEOUT => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(e) => bail!("anvil did not answer on {rpc_url} within {STARTUP_TIMEOUT:?}: {e}"),
        }
    }
}
