//! `clearing serve`: the x402 facilitator (verify, and settle through the durable queue and the batcher) and the
//! audit trail (sequencing, anchoring with the anchorer key when configured, `GET /audit/records/{seq}`) on the
//! configured chain, with the chain indexer beside them (unless `[indexer] enabled = false`). Needs the relayer key,
//! the deployment, the token and the database.

use std::net::SocketAddr;

use alloy::signers::local::PrivateKeySigner;
use anyhow::Context;
use clap::Args;
use clearing_audit::{Anchorer, AuditConfig, AuditService, RecordSources, Sequencer};
use clearing_chain::Deployment;
use clearing_facilitator::{Facilitator, SettleSetup, http};
use clearing_ledger::Ledger;

use crate::config::Config;

/// Arguments of `clearing serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Listen address; default `[facilitator] listen` (127.0.0.1:4020).
    #[arg(long)]
    listen: Option<SocketAddr>,
}

pub(crate) async fn run(args: ServeArgs, config: Config) -> anyhow::Result<()> {
    let relayer: PrivateKeySigner = config
        .relayer
        .private_key
        .as_ref()
        .context("no relayer key: set CLEARING_RELAYER_KEY or [relayer] private_key")?
        .expose()
        .parse()
        .context("the relayer key is not a hex private key")?;
    let deployment = config.chain.deployment.context("no [chain.deployment]: run `clearing deploy --write`")?;
    let usdc = config.chain.usdc.as_ref().context("no [chain.usdc]: name the token to settle in")?;
    let ledger = Ledger::connect(&config.database.url, config.database.max_connections).await?;
    ledger.migrate().await?;

    let targets = crate::index::targets(&config)?;
    let indexer = crate::index::spawn(ledger.clone(), &config.chain.rpc_url, targets, &config.indexer).await?;
    let provider = clearing_chain::connect(&config.chain.rpc_url)?;
    let audit = start_audit(&config.audit, &config.chain.rpc_url, &deployment, &ledger)?;
    let audit_routes = audit_router(&ledger, &deployment);
    let setup = SettleSetup {
        ledger,
        relayer: relayer.clone(),
        batch_settler: deployment.batch_settler,
        assets: vec![usdc.address],
    };
    let facilitator = Facilitator::new(provider.clone(), vec![relayer.address()], &config.facilitator)
        .await
        .with_context(|| format!("reaching the chain at {}", config.chain.rpc_url))?
        .with_settlement(provider, setup, &config.facilitator)
        .await?;
    let facilitator = watch_background(facilitator, indexer.as_ref(), &audit);
    let listen = args.listen.unwrap_or(config.facilitator.listen);
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
    println!("facilitator listening on http://{} (relayer {})", listener.local_addr()?, relayer.address());
    let router = facilitator.router_with(&config.facilitator, audit_routes);
    http::serve_with(listener, router, &config.facilitator.http, shutdown_signal()).await?;
    facilitator.shutdown().await;
    audit.shutdown().await;
    if let Some(indexer) = indexer {
        indexer.abort();
    }
    println!("stopped");
    Ok(())
}

/// Reports the background tasks started beside `facilitator` on its `/health`: the indexer (when enabled), the
/// audit sequencer and, when it anchors, the anchorer (one task does both).
pub(crate) fn watch_background(
    facilitator: Facilitator,
    indexer: Option<&tokio::task::JoinHandle<()>>,
    audit: &AuditService,
) -> Facilitator {
    let facilitator = facilitator.watching("sequencer", [audit.task()]);
    let facilitator = if audit.anchors() { facilitator.watching("anchorer", [audit.task()]) } else { facilitator };
    match indexer {
        Some(indexer) => facilitator.watching("indexer", [indexer.abort_handle()]),
        None => facilitator,
    }
}

/// `GET /audit/records/{seq}` over the records of `deployment`'s chain.
pub(crate) fn audit_router(ledger: &Ledger, deployment: &Deployment) -> axum::Router {
    clearing_audit::http::router(clearing_audit::http::AuditState::new(ledger.clone(), deployment.chain_id))
}

/// Starts sequencing `deployment`'s records and, when an anchorer key is configured, anchoring them.
pub(crate) fn start_audit(
    config: &AuditConfig,
    rpc_url: &str,
    deployment: &Deployment,
    ledger: &Ledger,
) -> anyhow::Result<AuditService> {
    let sources = RecordSources {
        chain_id: deployment.chain_id,
        batch_settler: deployment.batch_settler,
        escrow: deployment.escrow,
    };
    let sequencer = Sequencer::new(ledger.clone(), sources, config.indexer.clone());
    let anchorer = match &config.anchorer_key {
        Some(key) => {
            let signer: PrivateKeySigner = key.expose().parse().context("the anchorer key is not a hex private key")?;
            let policy = config.anchor_policy();
            let provider = clearing_chain::connect_with_signer(rpc_url, signer)?;
            Some(Anchorer::new(ledger.clone(), provider, deployment.anchor_registry, deployment.chain_id, policy))
        }
        None => {
            tracing::warn!("no anchorer key ([audit] anchorer_key or CLEARING_ANCHORER_KEY): records are not anchored");
            None
        }
    };
    Ok(AuditService::start(sequencer, anchorer, config.poll()))
}

/// Resolves on Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
