//! `clearing dev`: the whole system on a local chain, with nothing to configure.
//!
//! Starts anvil (from npm), deploys MockUSDC and the Clearing suite, mints test USDC to a few agent accounts,
//! migrates a database of the run's own (a new database on the local PostgreSQL, or a private cluster when none
//! answers), writes a config file with the addresses, prints it all, and stays up until Ctrl-C or SIGTERM; then stops
//! every child it started and removes the database and the config file.
//!
//! Each run starts a new chain, so a ledger from an earlier run can never be reused: its batches, nonces, indexer
//! checkpoint and audit records describe a chain that no longer exists. Hence a database per run, created at start
//! and dropped at exit, never a database the user named (which might be a real one: `DATABASE_URL` is often exported
//! for `clearing serve`), and never a reset of one (a reset has no place outside dev). Databases of runs that were
//! killed are dropped by the run's watchdog, or else by the next run. Runs on other ports work side by side.

mod anvil;
mod config_file;
mod demo;
mod postgres;
mod summary;
mod watchdog;

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use alloy::{primitives::U256, signers::local::PrivateKeySigner};
use anyhow::Context;
use clap::Args;
use clearing_audit::AuditConfig;
use clearing_chain::{DeployConfig, Secret, deploy_mock_usdc, deploy_suite, mint_mock_usdc};
use clearing_indexer::IndexerConfig;
use clearing_ledger::{Ledger, ScratchDatabase};
use tokio::net::TcpListener;
use tracing::{info, warn};

use self::{
    anvil::{AnvilOptions, DevChain},
    config_file::ConfigFile,
    postgres::PrivateCluster,
    summary::{AGENT_MINT_USDC, Summary},
    watchdog::{Guard, Watchdog},
};
use crate::{
    config::{Config, RelayerConfig, TokenConfig},
    shutdown::{Requested, Shutdown},
    system::System,
    tools,
};

/// The first accounts of anvil's default mnemonic (`test test ... junk`). Public knowledge: dev chains only.
const ANVIL_KEYS: [&str; 4] = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
];

/// Anvil's account 4, the dev AnchorRegistry's anchorer: its own key, never the relayer's (the batcher owns the
/// relayer's nonces). Public knowledge: dev chains only.
const ANVIL_ANCHORER_KEY: &str = "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a";

/// USDC has 6 decimals.
const USDC_UNIT: u64 = 1_000_000;

/// Each run's database on a shared server is named this, then a unique suffix; stale ones are found by it.
const DEV_DATABASE_PREFIX: &str = "clearing_dev_";

/// The EIP-712 domain of the dev token, as on Base Sepolia.
const DEV_USDC_NAME: &str = "USDC";
const DEV_USDC_VERSION: &str = "2";

/// Arguments of `clearing dev`.
#[derive(Debug, Args)]
pub(crate) struct DevArgs {
    /// Port for anvil; 0 picks a free one.
    #[arg(long, default_value_t = 8545)]
    port: u16,
    /// Chain id for anvil (84532 makes the dev chain look like Base Sepolia to x402 v1 clients).
    #[arg(long, default_value_t = 31337)]
    chain_id: u64,
    /// Port for the x402 facilitator API; 0 picks a free one.
    #[arg(long, default_value_t = 4020)]
    facilitator_port: u16,
    /// Seconds between blocks; by default anvil mines a block per transaction.
    #[arg(long)]
    block_time: Option<u64>,
    /// PostgreSQL server on which the run creates a database of its own (`clearing_dev_…`, dropped at exit); the
    /// URL's user, host, port and parameters are used, its database name is not. Default: the configured server
    /// (the local one), falling back to a private cluster in a temporary directory when it does not answer.
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// Always start a private PostgreSQL cluster, even if a local server answers; takes precedence over
    /// `--database-url` and `DATABASE_URL`.
    #[arg(long)]
    private_postgres: bool,
    /// Where to write the config file with the deployed addresses, removed at exit. If another running `clearing
    /// dev` owns that file, this run writes `<stem>-<pid>.toml` beside it instead.
    #[arg(long, default_value = ".clearing/dev.toml")]
    write_config: PathBuf,
    /// The anvil binary; default `node_modules/.bin/anvil`.
    #[arg(long)]
    anvil: Option<PathBuf>,
    /// Internal: run as the watchdog of a `clearing dev` (see `watchdog.rs`).
    #[arg(long, hide = true)]
    watchdog: bool,
}

/// Everything `clearing dev` started or made for the system to run on (the chain, the database, the config file),
/// to be stopped and removed in reverse order.
#[derive(Debug)]
struct Scaffold {
    watchdog: Watchdog,
    config_file: Option<ConfigFile>,
    chain: Option<DevChain>,
    cluster: Option<PrivateCluster>,
    database: Option<ScratchDatabase>,
}

impl Scaffold {
    async fn stop(self) {
        // First, so that nothing reads the config of a system going down.
        if let Some(file) = self.config_file {
            file.remove();
        }
        if let Some(database) = self.database {
            let name = database.name().to_owned();
            if let Err(e) = database.drop_database().await {
                warn!(database = %name, error = %e, "could not drop the run's database; the next run drops it");
            }
        }
        if let Some(cluster) = self.cluster {
            cluster.stop().await;
        }
        if let Some(chain) = self.chain {
            chain.process.stop(libc::SIGTERM, Duration::from_secs(10)).await;
        }
        self.watchdog.disarm().await;
    }
}

pub(crate) async fn run(args: DevArgs, config: Config) -> anyhow::Result<()> {
    if args.watchdog {
        return watchdog::run().await;
    }
    let state_dir = args.write_config.parent().map(PathBuf::from).unwrap_or_default();
    if !state_dir.as_os_str().is_empty() {
        std::fs::create_dir_all(&state_dir).with_context(|| format!("creating {}", state_dir.display()))?;
    }
    let config_file = ConfigFile::claim(&args.write_config)?;
    let watchdog = Watchdog::spawn(&config_file).await?;
    let mut scaffold =
        Scaffold { watchdog, config_file: Some(config_file), chain: None, cluster: None, database: None };

    let mut shutdown = Shutdown::listen()?;

    // From here on every failure stops what was started before returning.
    let started = tokio::select! {
        result = start(&args, &config, &mut scaffold) => result,
        requested = shutdown.requested() => Err(match requested {
            Requested::Interrupt => anyhow::anyhow!("interrupted during startup"),
            Requested::Terminate => anyhow::anyhow!("terminated during startup"),
        }),
    };
    let (summary, stop_server, server) = match started {
        Ok(running) => running,
        Err(e) => {
            scaffold.stop().await;
            return Err(e);
        }
    };
    summary.print(scaffold.config_file.as_ref());

    let chain = scaffold.chain.as_mut().expect("started");
    let reason = tokio::select! {
        requested = shutdown.requested() => match requested {
            Requested::Interrupt => "interrupt",
            Requested::Terminate => "terminate",
        },
        status = chain.process.exited() => {
            eprintln!("anvil exited unexpectedly ({status:?}); shutting down");
            "anvil exited"
        }
    };
    info!(reason, "shutting down");
    println!("\nShutting down...");
    let _ = stop_server.send(());
    if let Ok(Err(e)) = server.await {
        warn!(error = %e, "the facilitator's HTTP server failed");
    }
    scaffold.stop().await;
    println!("Stopped.");
    Ok(())
}

/// Binds the facilitator's port, starts anvil, sets up the chain and the database, starts the system on them and
/// writes the config it runs with (the port actually bound included).
async fn start(
    args: &DevArgs,
    config: &Config,
    scaffold: &mut Scaffold,
) -> anyhow::Result<(Summary, tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<anyhow::Result<()>>)> {
    // Bound first: a port in use fails the run before anything is deployed.
    let listener = TcpListener::bind(("127.0.0.1", args.facilitator_port)).await.with_context(|| {
        format!(
            "binding the facilitator to port {} (another `clearing dev`? --facilitator-port 0 picks a free one)",
            args.facilitator_port
        )
    })?;
    let config_file = scaffold.config_file.as_ref().expect("claimed at start");

    step("starting anvil");
    let anvil = AnvilOptions {
        binary: match &args.anvil {
            Some(path) => path.clone(),
            None => tools::npm_binary("anvil")?,
        },
        port: args.port,
        chain_id: args.chain_id,
        block_time: args.block_time,
        log_file: config_file.sibling("anvil.log"),
    };
    let chain = DevChain::start(&anvil).await?;
    let pid = chain.process.pid().unwrap_or(0);
    scaffold.watchdog.guard(Guard::Process { name: "anvil".into(), pid, signal: libc::SIGTERM }).await;
    done(&format!("{} (chain id {}, pid {pid})", chain.rpc_url, chain.chain_id));
    scaffold.chain = Some(chain);

    let summary = set_up(args, config, listener.local_addr()?, scaffold).await?;
    let running = System::start(&summary.written).await?;
    let (stop_server, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(running.serve(listener, async move {
        let _ = stopped.await;
    }));
    let header = "# Written by `clearing dev` for its local chain, and removed when it stops. The relayer and anchorer \
                  keys are anvil's public dev keys.\n";
    let text = format!("{header}{}", summary.written.to_toml()?);
    scaffold.config_file.as_mut().expect("claimed at start").write(&text)?;
    Ok((summary, stop_server, server))
}

/// The configured `[audit]` with the dev anchorer's key.
fn dev_audit_config(config: &Config) -> AuditConfig {
    AuditConfig { anchorer_key: Some(Secret::new(ANVIL_ANCHORER_KEY)), ..config.audit.clone() }
}

/// The configured `[indexer]`, confirming at depth 0 unless a depth is configured: anvil mines a block per
/// transaction by default, so a depth would hold the last transitions and records back until more transactions
/// come.
fn dev_indexer_config(config: &Config) -> IndexerConfig {
    IndexerConfig { confirmations: config.indexer.confirmations.or(Some(0)), ..config.indexer.clone() }
}

/// Deploys and funds on the started chain and prepares the run's database; returns the summary, with the config the
/// run's system is to run with (its facilitator at `facilitator`).
async fn set_up(
    args: &DevArgs,
    config: &Config,
    facilitator: SocketAddr,
    scaffold: &mut Scaffold,
) -> anyhow::Result<Summary> {
    let (rpc_url, chain_id) = match &scaffold.chain {
        Some(chain) => (chain.rpc_url.clone(), chain.chain_id),
        None => anyhow::bail!("set_up before the chain started"),
    };
    let deployer: PrivateKeySigner = ANVIL_KEYS[0].parse()?;
    let relayer = deployer.address();
    let provider = clearing_chain::connect_with_signer(&rpc_url, deployer)?;

    step("deploying MockUSDC and the Clearing contracts");
    let usdc = deploy_mock_usdc(&provider, DEV_USDC_NAME).await?;
    let anchorer: PrivateKeySigner = ANVIL_ANCHORER_KEY.parse()?;
    let deploy_config = DeployConfig { anchorer: anchorer.address(), ..DeployConfig::single_operator(relayer) };
    let deployment = deploy_suite(&provider, &deploy_config).await?;
    done("MockUSDC, BatchSettler, Escrow, AnchorRegistry");

    step("minting test USDC to the agent accounts");
    let mut agents = Vec::new();
    for key in &ANVIL_KEYS[1..] {
        let agent: PrivateKeySigner = key.parse()?;
        mint_mock_usdc(&provider, usdc, agent.address(), U256::from(AGENT_MINT_USDC * USDC_UNIT)).await?;
        agents.push((agent.address(), *key));
    }
    done(&format!("{} agents", agents.len()));

    step("preparing the database");
    let database_url = match (&args.database_url, args.private_postgres) {
        (_, true) => start_private_cluster(scaffold).await?,
        (Some(url), false) => create_run_database(url, scaffold).await?,
        (None, false) => {
            let local = config.database.url.clone();
            if Ledger::connect(&admin_url(&local), 1).await.is_ok() {
                create_run_database(&local, scaffold).await?
            } else {
                println!("    no PostgreSQL answers at {}; starting a private cluster", redact_url(&local));
                start_private_cluster(scaffold).await?
            }
        }
    };
    let ledger = Ledger::connect(&database_url, 2).await?;
    ledger.migrate().await?;
    let version = ledger.schema_version().await?;
    // Products' files beside the run's config file, unless configured: the working directory stays clean.
    let product_dir = match &config.market.product_dir {
        dir if *dir == clearing_market::MarketConfig::default().product_dir => {
            args.write_config.parent().unwrap_or(std::path::Path::new("")).join("products")
        }
        dir => dir.clone(),
    };
    let demo = if config.market.enabled { Some(demo::seed(&ledger, &product_dir).await?) } else { None };
    ledger.close().await;
    done(&format!("{} (schema version {version}; this run's own, removed at exit)", redact_url(&database_url)));

    let mut written = config.clone();
    written.database.url = database_url.clone();
    written.chain.rpc_url = rpc_url.clone();
    written.chain.usdc =
        Some(TokenConfig { address: usdc, name: DEV_USDC_NAME.into(), version: DEV_USDC_VERSION.into() });
    written.chain.deployment = Some(deployment);
    written.relayer = RelayerConfig { private_key: Some(Secret::new(ANVIL_KEYS[0])) };
    written.audit = dev_audit_config(config);
    written.indexer = dev_indexer_config(config);
    written.market.product_dir = product_dir;
    // Providers under development take their webhooks on this machine.
    written.market.allow_private_webhooks = true;
    written.webhooks.allow_private = true;
    // The arbiter is the fee recipient (account 0) unless configured; dev signs its resolutions here, behind a token
    // made for this run (32 random bytes, hex) unless one is configured.
    if written.market.arbiter.is_none() && written.market.arbiter_key.is_none() {
        written.market.arbiter_key = Some(Secret::new(ANVIL_KEYS[0]));
    }
    if written.market.arbiter_token.is_none() {
        let token = PrivateKeySigner::random().to_bytes();
        written.market.arbiter_token = Some(Secret::new(alloy::hex::encode(token)));
    }
    written.facilitator.listen = facilitator;
    // The run knows where it is served. Outside a request the market has no `Host` to name itself by, so without a
    // base URL a webhook's `callback_url` would be a bare path that the receiver cannot call.
    if written.market.public_url.is_none() {
        written.market.public_url = Some(url::Url::parse(&format!("http://{facilitator}"))?);
    }

    Ok(Summary {
        rpc_url,
        chain_id,
        database: redact_url(&database_url),
        usdc,
        deployment,
        relayer,
        anchorer: anchorer.address(),
        agents,
        facilitator,
        written,
        demo,
    })
}

/// Creates this run's database on the server of `server_url` (after dropping those of runs that were killed) and
/// returns its URL.
async fn create_run_database(server_url: &str, scaffold: &mut Scaffold) -> anyhow::Result<String> {
    let admin = admin_url(server_url);
    let abandoned = ScratchDatabase::drop_abandoned(&admin, DEV_DATABASE_PREFIX)
        .await
        .with_context(|| format!("looking for databases of stopped runs on {}", redact_url(&admin)))?;
    if !abandoned.is_empty() {
        println!("    dropped the databases of {} killed runs: {}", abandoned.len(), abandoned.join(", "));
    }
    let database = ScratchDatabase::create(&admin, DEV_DATABASE_PREFIX)
        .await
        .with_context(|| format!("creating this run's database on {} (the role needs CREATEDB)", redact_url(&admin)))?;
    let name = database.name().to_owned();
    scaffold.watchdog.guard(Guard::Database { admin_url: admin, name: name.clone() }).await;
    scaffold.database = Some(database);
    Ok(with_database(server_url, &name))
}

async fn start_private_cluster(scaffold: &mut Scaffold) -> anyhow::Result<String> {
    let cluster = PrivateCluster::start(&mut scaffold.watchdog).await?;
    println!("    private PostgreSQL in {} (pid {})", cluster.data_dir().display(), cluster.pid().unwrap_or(0));
    let url = cluster.url.clone();
    scaffold.cluster = Some(cluster);
    Ok(url)
}

/// `url` naming database `name` on the same server.
fn with_database(url: &str, name: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            parsed.set_path(&format!("/{name}"));
            parsed.to_string()
        }
        Err(_) => url.to_owned(),
    }
}

/// The same server's `postgres` database: where runs create and drop their databases and hold their owner locks.
fn admin_url(url: &str) -> String {
    with_database(url, "postgres")
}

/// The URL without its password, for printing.
fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

fn step(what: &str) {
    println!("==> {what}");
}

fn done(what: &str) {
    println!("    ok: {what}");
}
