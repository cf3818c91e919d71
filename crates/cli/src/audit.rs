//! `clearing audit`: check records and anchors against the chain with no database.
//!
//! - `verify <record.json>`: one record (exactly what `GET /audit/records/{seq}` returns) against its anchor and
//!   the log it records. Exit 0 on success; otherwise 2 leaf mismatch, 3 proof, 4 root not on chain, 5 wrong
//!   registry, 6 RPC, 7 record not on chain, 8 nothing trusted to check against (no registry or contracts given or
//!   configured, and no `--trust-file`), 9 not as deep as `--confirmations` asks.
//! - `rebuild`: every anchored root recomputed from chain events alone; exit 1 on any mismatch, or when the
//!   `Anchored` logs are not every anchor the registry holds.

use std::path::PathBuf;

use alloy::{primitives::Address, providers::Provider};
use anyhow::Context;
use clap::{Args, Subcommand};
use clearing_audit::{RebuildTarget, RecordProof, RecordSources, VerifyTarget, rebuild, verify_record};

use crate::config::Config;

/// Arguments of `clearing audit`.
#[derive(Debug, Args)]
pub(crate) struct AuditArgs {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Check one record (the JSON of `GET /audit/records/{seq}`) against the on-chain root.
    Verify(VerifyArgs),
    /// Recompute every anchored root from chain events alone and report each OK or MISMATCH.
    Rebuild(RebuildArgs),
}

#[derive(Debug, Args)]
struct VerifyArgs {
    /// The record file.
    record: PathBuf,
    /// JSON-RPC endpoint; default `[chain] rpc_url`.
    #[arg(long)]
    rpc: Option<String>,
    /// The AnchorRegistry the record must be anchored in; default `[chain.deployment] anchor_registry`.
    #[arg(long)]
    registry: Option<Address>,
    /// The BatchSettler; default from `[chain.deployment]`. With the escrow, the record's log must come from the
    /// deployment's contracts (a vault record from `--vault`).
    #[arg(long)]
    settler: Option<Address>,
    /// The Escrow; default from `[chain.deployment]`.
    #[arg(long)]
    escrow: Option<Address>,
    /// The BalanceVault; default from `[chain.deployment]`.
    #[arg(long)]
    vault: Option<Address>,
    /// The settlement token; default `[chain.usdc] address`.
    #[arg(long)]
    token: Option<Address>,
    /// How far back to look for an escrow job's funding; default `[chain.deployment] start_block`, else 0.
    #[arg(long)]
    from_block: Option<u64>,
    /// Blocks the record's and its anchor's blocks must have above them at the RPC's head; default `[indexer]
    /// confirmations` if configured, else 0 (the head).
    #[arg(long)]
    confirmations: Option<u64>,
    /// Where no registry or contracts are given or configured, take the ones the file names. That shows only that
    /// the record agrees with what it names: anyone can deploy a registry and a contract that emit look-alikes.
    #[arg(long)]
    trust_file: bool,
}

/// Exit code of `verify` when nothing trusted names the registry or the contracts.
const NOTHING_TO_CHECK_AGAINST: i32 = 8;
/// Exit code of `verify` for a registry that is not the expected one (also: the configured one on another chain).
const WRONG_REGISTRY: i32 = 5;
/// Exit code of `verify` when the RPC cannot be read.
const RPC_FAILED: i32 = 6;

#[derive(Debug, Args)]
struct RebuildArgs {
    /// JSON-RPC endpoint; default `[chain] rpc_url`.
    #[arg(long)]
    rpc: Option<String>,
    /// The AnchorRegistry; default from `[chain.deployment]`.
    #[arg(long)]
    registry: Option<Address>,
    /// The BatchSettler; default from `[chain.deployment]`.
    #[arg(long)]
    settler: Option<Address>,
    /// The Escrow; default from `[chain.deployment]`.
    #[arg(long)]
    escrow: Option<Address>,
    /// The BalanceVault (its debits and charges are records too); default from `[chain.deployment]`.
    #[arg(long)]
    vault: Option<Address>,
    /// The deployment block; default `[chain.deployment] start_block`.
    #[arg(long)]
    from_block: Option<u64>,
    /// The settlement token (logs of any other are no records); default `[chain.usdc] address`.
    #[arg(long)]
    token: Option<Address>,
    /// Read this many blocks below the RPC's head; default `[indexer] confirmations` if configured, else 0.
    #[arg(long)]
    confirmations: Option<u64>,
}

pub(crate) async fn run(args: AuditArgs, config: Config) -> anyhow::Result<()> {
    match args.command {
        AuditCommand::Verify(args) => verify(args, config).await,
        AuditCommand::Rebuild(args) => rebuild_all(args, config).await,
    }
}

async fn verify(args: VerifyArgs, config: Config) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.record).with_context(|| format!("reading {}", args.record.display()))?;
    let file: RecordProof =
        serde_json::from_str(&text).with_context(|| format!("{} is not an audit record", args.record.display()))?;
    let rpc = args.rpc.unwrap_or(config.chain.rpc_url);
    let provider = clearing_chain::connect(&rpc)?;
    let deployment = config.chain.deployment;
    let batch_settler = args.settler.or(deployment.map(|d| d.batch_settler));
    let escrow = args.escrow.or(deployment.map(|d| d.escrow));
    let token = args.token.or(config.chain.usdc.as_ref().map(|usdc| usdc.address));
    let registry = args.registry.or(deployment.map(|d| d.anchor_registry));
    let untrusted = match (registry, batch_settler, escrow) {
        (Some(_), Some(_), Some(_)) => None,
        (_, Some(_), None) | (_, None, Some(_)) => Some("pass both --settler and --escrow"),
        _ if args.trust_file => None,
        _ => Some(
            "nothing trusted names the registry and the contracts to check against: pass --registry, --settler and \
             --escrow (the deployment you trust) or configure [chain.deployment]; --trust-file takes the file's",
        ),
    };
    if let Some(why) = untrusted {
        println!("FAILED: record {}: {why}", file.record.seq);
        std::process::exit(NOTHING_TO_CHECK_AGAINST);
    }
    // What the configuration supplies holds only on the deployment's chain (another may have the same addresses).
    let named = [args.registry, args.settler, args.escrow, args.vault, args.token].iter().all(Option::is_some)
        && args.from_block.is_some();
    if let Some(d) = deployment.filter(|_| !named) {
        let on_rpc = match provider.get_chain_id().await {
            Ok(id) => id,
            Err(e) => {
                println!("FAILED: record {}: rpc: reading the chain id: {e}", file.record.seq);
                std::process::exit(RPC_FAILED);
            }
        };
        if on_rpc != d.chain_id {
            println!(
                "FAILED: record {}: the RPC serves chain {on_rpc}, the configured deployment is on chain {}",
                file.record.seq, d.chain_id
            );
            std::process::exit(WRONG_REGISTRY);
        }
    }
    let registry_from = match (args.registry, deployment) {
        (Some(_), _) => "--registry",
        (None, Some(_)) => "the configured deployment",
        (None, None) => "the file's, as --trust-file asked",
    };
    // The contracts known, the record's log must be theirs; the token unknown, it is the file's.
    let sources = match (batch_settler, escrow) {
        (Some(batch_settler), Some(escrow)) => Some(RecordSources {
            chain_id: file.record.chain_id,
            batch_settler,
            escrow,
            balance_vault: args.vault.or(deployment.and_then(|d| d.balance_vault)),
            token: token.unwrap_or(file.record.token),
        }),
        _ => None,
    };
    let target = VerifyTarget {
        registry,
        sources,
        from_block: args.from_block.or(deployment.map(|d| d.start_block)).unwrap_or(0),
        confirmations: args.confirmations.or(config.indexer.confirmations).unwrap_or(0),
    };
    match verify_record(&provider, &file, &target).await {
        Ok(verified) if !verified.deployment_checked && !args.trust_file => {
            // The contracts known, yet the log was checked against the file's: a vault record with no vault known.
            println!(
                "FAILED: record {}: its contract (the vault's) is unknown: pass --vault or configure \
                 [chain.deployment] balance_vault; --trust-file takes the file's",
                file.record.seq
            );
            std::process::exit(NOTHING_TO_CHECK_AGAINST);
        }
        Ok(verified) => {
            println!(
                "OK: record {} (leaf {}) is in anchor {} of registry {} ({registry_from}; root {}, records {}..={}, \
                 tx {})",
                file.record.seq,
                file.leaf,
                file.anchor.index,
                file.anchor.registry,
                file.anchor.root,
                file.anchor.first_seq,
                file.anchor.last_seq,
                file.anchor.tx_hash
            );
            let r = &file.record;
            let contract = if verified.deployment_checked {
                "the deployment's"
            } else {
                "the file's, as --trust-file asked (pass --settler, --escrow and --vault to check it)"
            };
            let token = if target.sources.is_some() && token.is_some() {
                "the settlement token"
            } else {
                "the file's (pass --token to check it)"
            };
            println!(
                "OK: log {} of transaction {} in block {} is this record; contract {contract}; token {token}; \
                 {} confirmations asked",
                r.log_index, r.tx_hash, r.block_number, target.confirmations
            );
            Ok(())
        }
        Err(failure) => {
            println!("FAILED: record {}: {failure}", file.record.seq);
            std::process::exit(failure.exit_code());
        }
    }
}

async fn rebuild_all(args: RebuildArgs, config: Config) -> anyhow::Result<()> {
    let deployment = config.chain.deployment;
    let missing = |what: &str| format!("no {what}: pass --{what} or configure [chain.deployment]");
    let target = RebuildTarget {
        registry: args.registry.or(deployment.map(|d| d.anchor_registry)).with_context(|| missing("registry"))?,
        batch_settler: args.settler.or(deployment.map(|d| d.batch_settler)).with_context(|| missing("settler"))?,
        escrow: args.escrow.or(deployment.map(|d| d.escrow)).with_context(|| missing("escrow"))?,
        balance_vault: args.vault.or(deployment.and_then(|d| d.balance_vault)),
        from_block: args.from_block.or(deployment.map(|d| d.start_block)).with_context(|| missing("from-block"))?,
        token: args
            .token
            .or(config.chain.usdc.as_ref().map(|usdc| usdc.address))
            .context("no token: pass --token or configure [chain.usdc]")?,
        confirmations: args.confirmations.or(config.indexer.confirmations).unwrap_or(0),
    };
    let rpc = args.rpc.unwrap_or(config.chain.rpc_url);
    let provider = clearing_chain::connect(&rpc)?;
    let named = [args.registry, args.settler, args.escrow, args.vault, args.token].iter().all(Option::is_some)
        && args.from_block.is_some();
    if let Some(d) = deployment.filter(|_| !named) {
        let on_rpc = provider.get_chain_id().await.context("reading the RPC's chain id")?;
        anyhow::ensure!(
            on_rpc == d.chain_id,
            "the RPC serves chain {on_rpc}, the configured deployment is on chain {}",
            d.chain_id
        );
    }
    let rebuilt = rebuild(&provider, &target).await?;
    let mut mismatches = 0;
    for anchor in &rebuilt.anchors {
        let range = format!("records {}..={}", anchor.first_seq, anchor.last_seq);
        if anchor.ok() {
            println!("anchor {} {range}: OK (root {}, tx {})", anchor.index, anchor.anchored_root, anchor.tx_hash);
        } else {
            mismatches += 1;
            let computed = anchor.computed_root.map_or_else(
                || format!("the chain holds only {} records", rebuilt.records.len()),
                |root| format!("records hash to {root}"),
            );
            println!(
                "anchor {} {range}: MISMATCH (anchored root {}, {computed}; tx {})",
                anchor.index, anchor.anchored_root, anchor.tx_hash
            );
        }
    }
    println!(
        "{} records, {} anchors, {} mismatched (read at block {})",
        rebuilt.records.len(),
        rebuilt.anchors.len(),
        mismatches,
        rebuilt.head
    );
    if !rebuilt.complete() {
        println!(
            "INCOMPLETE: registry {} holds {} anchors at block {}, but the RPC's Anchored logs from block {} are \
             {} (indexes {:?}): a lagging or lying RPC, or a wrong --from-block",
            target.registry,
            rebuilt.registry_anchors,
            rebuilt.head,
            target.from_block,
            rebuilt.anchors.len(),
            rebuilt.anchors.iter().map(|a| a.index).collect::<Vec<_>>()
        );
        std::process::exit(1);
    }
    if mismatches > 0 {
        std::process::exit(1);
    }
    Ok(())
}
