//! The private dev database: a throwaway PostgreSQL cluster in a temporary directory, run from the system's
//! PostgreSQL binaries as a supervised child (when no server answers, or with `--private-postgres`).
//!
//! The watchdog learns the directory before anything is written to it and each process as it starts, so that a
//! `clearing dev` killed at any point leaves neither a running server nor its files.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clearing_ledger::Ledger;
use tempfile::TempDir;
use tokio::process::Command;

use super::watchdog::{Guard, Watchdog};
use crate::{
    process::{RunAs, Supervised, bind_to_parent, free_port},
    tools,
};

const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// A throwaway PostgreSQL cluster; [`PrivateCluster::stop`] shuts it down and deletes its files.
#[derive(Debug)]
pub(crate) struct PrivateCluster {
    process: Supervised,
    dir: TempDir,
    pub(crate) url: String,
}

impl PrivateCluster {
    pub(crate) async fn start(watchdog: &mut Watchdog) -> anyhow::Result<Self> {
        let bindir = tools::postgres_bindir()?;
        let run_as = RunAs::postgres_if_root()?;
        let dir = tempfile::Builder::new().prefix("clearing-pg-").tempdir().context("creating a temp dir")?;
        watchdog.guard(Guard::Directory { path: dir.path().to_owned() }).await;
        let data = dir.path().join("data");
        if let Some(user) = run_as {
            user.chown(dir.path())?;
        }

        let mut initdb = Command::new(bindir.join("initdb"));
        initdb.arg("--pgdata").arg(&data).args([
            "--username",
            "clearing",
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--no-sync",
        ]);
        bind_to_parent(&mut initdb, run_as, libc::SIGTERM);
        let initdb = initdb.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn();
        let initdb = initdb.context("running initdb")?;
        if let Some(pid) = initdb.id() {
            watchdog.guard(Guard::Process { name: "initdb".into(), pid, signal: libc::SIGTERM }).await;
        }
        let output = initdb.wait_with_output().await.context("running initdb")?;
        if !output.status.success() {
            bail!("initdb failed ({}): {}", output.status, String::from_utf8_lossy(&output.stderr).trim());
        }

        let port = free_port()?;
        let log = std::fs::File::create(dir.path().join("postgres.log"))?;
        if let Some(user) = run_as {
            user.chown(&dir.path().join("postgres.log"))?;
        }
        let mut postgres = Command::new(bindir.join("postgres"));
        postgres
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
            .arg("-k")
            .arg(dir.path())
            .stdout(log.try_clone()?)
            .stderr(log);
        // SIGINT: fast shutdown (a smart one would wait for clients that may never leave).
        let mut process = Supervised::spawn("postgres", postgres, run_as, libc::SIGINT)?;
        if let Some(pid) = process.pid() {
            watchdog.guard(Guard::Process { name: "postgres".into(), pid, signal: libc::SIGINT }).await;
        }

        let url = format!("postgres://clearing@127.0.0.1:{port}/clearing");
        // Ready when it answers on the socket in its own directory: another server that holds the TCP port (a
        // port taken between `free_port` and the bind) would answer there, but this one would exit.
        let mut admin_url = url::Url::parse(&format!("postgres://clearing@localhost:{port}/postgres"))?;
        admin_url.query_pairs_mut().append_pair("host", &dir.path().to_string_lossy());
        let admin_url = admin_url.to_string();
        let started = Instant::now();
        loop {
            if let Some(status) = process.try_exited() {
                let log = std::fs::read_to_string(dir.path().join("postgres.log")).unwrap_or_default();
                bail!("postgres exited at startup ({status}) on port {port}:\n{}", log.trim_end());
            }
            match Ledger::connect(&admin_url, 1).await {
                Ok(ledger) => {
                    ledger.close().await;
                    break;
                }
                Err(_) if started.elapsed() < STARTUP_TIMEOUT => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => bail!("the private PostgreSQL did not accept connections within {STARTUP_TIMEOUT:?}: {e}"),
            }
        }
        Ledger::create_database_if_missing(&url).await?;
        Ok(Self { process, dir, url })
    }

    pub(crate) fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    pub(crate) fn data_dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Fast shutdown (SIGINT: roll back open transactions, checkpoint, exit), then delete the cluster.
    pub(crate) async fn stop(self) {
        self.process.stop(libc::SIGINT, Duration::from_secs(15)).await;
        drop(self.dir);
    }
}
