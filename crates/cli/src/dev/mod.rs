//! `clearing dev`: the whole system on a local chain, with nothing to configure.
//!
//! Starts anvil (from npm), deploys MockUSDC and the Clearing suite, mints test USDC to a few agent accounts,
//! migrates the database (the local PostgreSQL, or a private cluster when none answers), writes a config file
//! with the addresses, prints it all, and stays up until Ctrl-C or SIGTERM; then stops every child it started.

mod anvil;
mod postgres;

use std::{path::PathBuf, time::Duration};

use alloy::{
    primitives::{Address, U256},
    signers::local::PrivateKeySigner,
};
use anyhow::Context;
use clap::Args;
use clearing_chain::{DeployConfig, Deployment, deploy_mock_usdc, deploy_suite, mint_mock_usdc};
use clearing_facilitator::{Facilitator, SettleSetup, http};
use clearing_indexer::IndexerConfig;
use clearing_ledger::Ledger;
use tokio::signal::unix::{SignalKind, signal};
use tracing::info;

use self::{
    anvil::{AnvilOptions, DevChain},
    postgres::PrivateCluster,
};
use crate::{
    config::{AuditConfig, Config, RelayerConfig, Secret, TokenConfig},
    process::free_port,
    serve, tools,
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

/// Test USDC minted to each agent, in whole USDC.
const AGENT_MINT_USDC: u64 = 10_000;
/// USDC has 6 decimals.
const USDC_UNIT: u64 = 1_000_000;

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
    /// PostgreSQL URL to migrate. Default: the configured one (a `clearing` database on the local server),
    /// falling back to a private cluster in a temporary directory when that server does not answer.
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// Always start a private PostgreSQL cluster, even if a local server answers; takes precedence over
    /// `--database-url` and `DATABASE_URL`.
    #[arg(long)]
    private_postgres: bool,
    /// Where to write the config file with the deployed addresses.
    #[arg(long, default_value = ".clearing/dev.toml")]
    write_config: PathBuf,
    /// The anvil binary; default `node_modules/.bin/anvil`.
    #[arg(long)]
    anvil: Option<PathBuf>,
}

/// Everything `clearing dev` started, to be stopped in reverse order.
#[derive(Debug)]
struct DevSystem {
    chain: DevChain,
    cluster: Option<PrivateCluster>,
}

impl DevSystem {
    async fn stop(self) {
        if let Some(cluster) = self.cluster {
            cluster.stop().await;
        }
        self.chain.process.stop(libc::SIGTERM, Duration::from_secs(10)).await;
    }
}

pub(crate) async fn run(args: DevArgs, config: Config) -> anyhow::Result<()> {
    let state_dir = args.write_config.parent().map(PathBuf::from).unwrap_or_default();
    if !state_dir.as_os_str().is_empty() {
        std::fs::create_dir_all(&state_dir).with_context(|| format!("creating {}", state_dir.display()))?;
    }

    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;

    step("starting anvil");
    let port = if args.port == 0 { free_port()? } else { args.port };
    let anvil = AnvilOptions {
        binary: match &args.anvil {
            Some(path) => path.clone(),
            None => tools::npm_binary("anvil")?,
        },
        port,
        chain_id: args.chain_id,
        block_time: args.block_time,
        log_file: state_dir.join("anvil.log"),
    };
    let chain = DevChain::start(&anvil).await?;
    done(&format!("{} (chain id {}, pid {})", chain.rpc_url, chain.chain_id, chain.process.pid().unwrap_or(0)));
    let mut system = DevSystem { chain, cluster: None };

    // From here on every failure stops what was started before returning.
    let setup = tokio::select! {
        result = set_up(&args, &config, &mut system) => result,
        _ = sigint.recv() => Err(anyhow::anyhow!("interrupted during startup")),
        _ = sigterm.recv() => Err(anyhow::anyhow!("terminated during startup")),
    };
    let summary = match setup {
        Ok(summary) => summary,
        Err(e) => {
            system.stop().await;
            return Err(e);
        }
    };
    let (stop_server, server, facilitator) = match start_facilitator(&args, &config, &summary).await {
        Ok(running) => running,
        Err(e) => {
            system.stop().await;
            return Err(e);
        }
    };
    summary.print(&args.write_config, facilitator);

    let reason = tokio::select! {
        _ = sigint.recv() => "interrupt",
        _ = sigterm.recv() => "terminate",
        status = system.chain.process.exited() => {
            eprintln!("anvil exited unexpectedly ({status:?}); shutting down");
            "anvil exited"
        }
    };
    info!(reason, "shutting down");
    println!("\nShutting down...");
    let _ = stop_server.send(());
    let _ = server.await;
    system.stop().await;
    println!("Stopped.");
    Ok(())
}

/// Serves the facilitator API on the dev chain until the returned sender fires.
async fn start_facilitator(
    args: &DevArgs,
    config: &Config,
    summary: &Summary,
) -> anyhow::Result<(
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
    std::net::SocketAddr,
)> {
    let provider = clearing_chain::connect(&summary.rpc_url)?;
    let ledger = Ledger::connect(&summary.database_url, config.database.max_connections).await?;
    let audit = serve::start_audit(&dev_audit_config(config), &summary.rpc_url, &summary.deployment, &ledger)?;
    let audit_routes = serve::audit_router(&ledger, &summary.deployment);
    let targets = clearing_indexer::Targets {
        chain_id: summary.deployment.chain_id,
        start_block: config.indexer.start_block.unwrap_or(summary.deployment.start_block),
        batch_settler: summary.deployment.batch_settler,
        escrow: summary.deployment.escrow,
        anchor_registry: summary.deployment.anchor_registry,
        token: Some(summary.usdc),
    };
    let indexer = crate::index::spawn(ledger.clone(), &summary.rpc_url, targets, &dev_indexer_config(config)).await?;
    let setup = SettleSetup {
        ledger,
        relayer: ANVIL_KEYS[0].parse()?,
        batch_settler: summary.deployment.batch_settler,
        assets: vec![summary.usdc],
    };
    let facilitator = Facilitator::new(provider.clone(), vec![summary.relayer], &config.facilitator)
        .await?
        .with_settlement(provider, setup, &config.facilitator)
        .await?;
    let facilitator = serve::watch_background(facilitator, indexer.as_ref(), &audit);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.facilitator_port))
        .await
        .with_context(|| format!("binding the facilitator to port {}", args.facilitator_port))?;
    let address = listener.local_addr()?;
    let router = facilitator.router_with(&config.facilitator, audit_routes);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = http::serve_with(listener, router, &config.facilitator.http, async move {
        let _ = stopped.await;
    });
    let server = tokio::spawn(async move {
        let served = serving.await;
        facilitator.shutdown().await;
        audit.shutdown().await;
        if let Some(indexer) = indexer {
            indexer.abort();
        }
        served
    });
    Ok((stop, server, address))
}

/// What the summary prints.
#[derive(Debug)]
struct Summary {
    rpc_url: String,
    /// With its password, for connecting; `database` is the printable form.
    database_url: String,
    chain_id: u64,
    database: String,
    usdc: Address,
    deployment: Deployment,
    relayer: Address,
    anchorer: Address,
    agents: Vec<(Address, &'static str)>,
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

async fn set_up(args: &DevArgs, config: &Config, system: &mut DevSystem) -> anyhow::Result<Summary> {
    let rpc_url = system.chain.rpc_url.clone();
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
        (_, true) => start_private_cluster(system).await?,
        (Some(url), false) => url.clone(),
        (None, false) => {
            let local = config.database.url.clone();
            if Ledger::connect(&admin_url(&local), 1).await.is_ok() {
                local
            } else {
                println!("    no PostgreSQL answers at {}; starting a private cluster", redact_url(&local));
                start_private_cluster(system).await?
            }
        }
    };
    Ledger::create_database_if_missing(&database_url).await?;
    let ledger = Ledger::connect(&database_url, 2).await?;
    ledger.migrate().await?;
    let version = ledger.schema_version().await?;
    ledger.close().await;
    done(&format!("{} (schema version {version})", redact_url(&database_url)));

    let mut written = config.clone();
    written.database.url = database_url.clone();
    written.chain.rpc_url = rpc_url.clone();
    written.chain.usdc =
        Some(TokenConfig { address: usdc, name: DEV_USDC_NAME.into(), version: DEV_USDC_VERSION.into() });
    written.chain.deployment = Some(deployment);
    written.relayer = RelayerConfig { private_key: Some(Secret::new(ANVIL_KEYS[0])) };
    written.audit = dev_audit_config(config);
    let header = "# Written by `clearing dev` for its local chain. The relayer and anchorer keys are anvil's public dev \
                  keys.\n";
    std::fs::write(&args.write_config, format!("{header}{}", written.to_toml()?))
        .with_context(|| format!("writing {}", args.write_config.display()))?;

    Ok(Summary {
        database_url: database_url.clone(),
        rpc_url,
        chain_id: system.chain.chain_id,
        database: redact_url(&database_url),
        usdc,
        deployment,
        relayer,
        anchorer: anchorer.address(),
        agents,
    })
}

async fn start_private_cluster(system: &mut DevSystem) -> anyhow::Result<String> {
    let cluster = PrivateCluster::start().await?;
    println!("    private PostgreSQL in {} (pid {})", cluster.data_dir().display(), cluster.pid().unwrap_or(0));
    let url = cluster.url.clone();
    system.cluster = Some(cluster);
    Ok(url)
}

/// The same server's `postgres` database, to test reachability before the target database exists.
fn admin_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            parsed.set_path("/postgres");
            parsed.to_string()
        }
        Err(_) => url.to_owned(),
    }
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

impl Summary {
    fn print(&self, config_path: &std::path::Path, facilitator: std::net::SocketAddr) {
        println!();
        println!("Clearing dev is up.");
        println!();
        println!("  chain            {} (chain id {})", self.rpc_url, self.chain_id);
        println!(
            "  facilitator      http://{facilitator}  (POST /verify /settle, GET /supported /metrics /audit/records/{{seq}})"
        );
        println!("  database         {}", self.database);
        println!("  config           {}", config_path.display());
        println!();
        println!("  contracts");
        println!("    USDC (MockUSDC)  {}", self.usdc);
        println!("    BatchSettler     {}", self.deployment.batch_settler);
        println!("    Escrow           {}", self.deployment.escrow);
        println!("    AnchorRegistry   {}", self.deployment.anchor_registry);
        println!();
        println!("  relayer, operator and fee recipient: {} (anvil account 0)", self.relayer);
        println!("  anchorer: {} (anvil account 4, its own key)", self.anchorer);
        println!("  agents, {AGENT_MINT_USDC} USDC each (anvil's public dev keys: never use them on a real chain)");
        for (address, key) in &self.agents {
            println!("    {address}  {key}");
        }
        println!();
        println!("Ready. Press Ctrl-C to stop.");
    }
}
