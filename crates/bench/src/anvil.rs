//! Anvil from npm as a child process, killed when dropped.

use std::{
    net::TcpListener,
    path::Path,
    process::Stdio,
    time::{Duration, Instant},
};

use alloy::providers::Provider;
use anyhow::{Context, bail};
use tokio::process::{Child, Command};

/// How long anvil may take to answer its first request.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// The block gas limit: room for about 60 batches of 100 payments per block.
pub const BLOCK_GAS_LIMIT: u64 = 300_000_000;

/// A running anvil; dropping it kills the process.
#[derive(Debug)]
pub struct AnvilChild {
    child: Child,
    /// Its JSON-RPC endpoint on loopback.
    pub rpc_url: String,
}

impl AnvilChild {
    /// Starts `binary` on a free loopback port, mining a block per transaction until [`AnvilChild::interval_mining`].
    pub async fn start(binary: &Path) -> anyhow::Result<Self> {
        let port = free_port()?;
        let child = Command::new(binary)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--gas-limit", &BLOCK_GAS_LIMIT.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut anvil = Self { child, rpc_url: format!("http://127.0.0.1:{port}") };
        let provider = clearing_chain::connect(&anvil.rpc_url)?;
        let started = Instant::now();
        loop {
            if let Some(status) = anvil.child.try_wait()? {
                bail!("anvil exited at startup ({status})");
            }
            match provider.get_chain_id().await {
                Ok(_) => return Ok(anvil),
                Err(_) if started.elapsed() < STARTUP_TIMEOUT => tokio::time::sleep(Duration::from_millis(50)).await,
                Err(e) => bail!("anvil did not answer on {} within {STARTUP_TIMEOUT:?}: {e}", anvil.rpc_url),
            }
        }
    }

    /// The process id, for reading its CPU time.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// From now on a block every `seconds` (as `--block-time`), not one per transaction.
    pub async fn interval_mining(&self, seconds: u64) -> anyhow::Result<()> {
        let provider = clearing_chain::connect(&self.rpc_url)?;
        let _: serde_json::Value = provider.raw_request("evm_setIntervalMining".into(), (seconds,)).await?;
        Ok(())
    }

    /// Kills the process and reaps it.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}
