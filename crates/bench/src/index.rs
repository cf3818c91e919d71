//! The indexer benchmark: a backlog of pre-generated events on anvil, ingested into a fresh database from the
//! start block to the head (events per second, peak memory), then a reorg of the newest blocks replaced by a
//! longer, different chain (time until the checkpoint is on the new chain), and a rebuild from chain data that must
//! equal the live projections.
//!
//! The events come from two `IndexerLoadEmitter`s (contracts/test/mocks) standing in for the BatchSettler and the
//! Escrow: each "round" is two blocks, one batch of `PaymentSettled` closed by a `BatchSettled`, and one transaction
//! of whole escrow jobs (`JobFunded`, `JobCompleted`, `JobReleased`, then one `Claimed`), so every projection table
//! but anchors and fund failures gets rows, and balance credits join their jobs.

use std::{fmt, path::PathBuf, time::Instant};

use alloy::{
    primitives::{Address, TxHash, U256, keccak256},
    providers::Provider,
    signers::local::PrivateKeySigner,
};
use anyhow::{Context, bail, ensure};
use clearing_chain::{ChainProvider, contracts::IndexerLoadEmitter};
use clearing_indexer::{Indexer, IndexerConfig, Targets, rebuild};
use clearing_ledger::{Ledger, MAIN_INDEXER};

use crate::AnvilChild;

/// Anvil's first dev key (the mnemonic `test test ... junk`): deploys and sends the load.
const ANVIL_KEY_0: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
/// Events per escrow job: `JobFunded`, `JobCompleted`, `JobReleased`.
const EVENTS_PER_JOB: usize = 3;

/// What to measure.
#[derive(Debug, Clone)]
pub struct IndexOptions {
    /// The anvil binary.
    pub anvil: PathBuf,
    /// A PostgreSQL URL; the run creates and drops its own database beside the one named.
    pub database_url: String,
    /// Events to pre-generate, at least.
    pub events: usize,
    /// `PaymentSettled` events per settlement block.
    pub payments_per_block: usize,
    /// Escrow jobs per escrow block.
    pub jobs_per_block: usize,
    /// Blocks replaced by the reorg.
    pub reorg_depth: u64,
    /// Whether to rebuild the projections from chain data after the reorg and compare them with the live ones.
    pub verify: bool,
    /// The indexer's configuration (the defaults unless told).
    pub config: IndexerConfig,
    /// The machine, for the report.
    pub machine: String,
}

/// What was measured.
#[derive(Debug, Clone)]
pub struct IndexReport {
    /// The machine.
    pub machine: String,
    /// Blocks of the backlog.
    pub blocks: u64,
    /// Raw logs indexed (`chain_logs` rows).
    pub events: i64,
    /// Rows of each projection table.
    pub projections: Vec<(&'static str, i64)>,
    /// Seconds spent generating the backlog.
    pub generate_secs: f64,
    /// Seconds from the start of the backfill to the checkpoint at the head.
    pub ingest_secs: f64,
    /// Resident memory of this process before the backfill, in KiB.
    pub rss_before_kib: u64,
    /// Peak resident memory of this process during the backfill, in KiB.
    pub peak_rss_kib: u64,
    /// Blocks replaced by the reorg.
    pub reorg_depth: u64,
    /// Logs on the orphaned branch.
    pub orphaned_events: i64,
    /// Logs on the new branch.
    pub new_branch_events: i64,
    /// Seconds from the indexer's first look at the new chain to its checkpoint at the new head.
    pub recover_secs: f64,
    /// Peak resident memory of this process over the whole run, in KiB.
    pub peak_rss_total_kib: u64,
    /// Whether the rebuild equalled the live projections (None: not checked).
    pub rebuild_equal: Option<bool>,
    /// The indexer's configuration.
    pub config: IndexerConfig,
}

impl IndexReport {
    /// Events per second of the backfill.
    pub fn events_per_sec(&self) -> f64 {
        self.events as f64 / self.ingest_secs.max(f64::EPSILON)
    }
}

impl fmt::Display for IndexReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        writeln!(f, "indexer benchmark ({})", self.machine)?;
        writeln!(
            f,
            "  config: initial_range {}, max_range {}, max_logs_per_range {}, fetch_concurrency {}",
            c.initial_range, c.max_range, c.max_logs_per_range, c.fetch_concurrency
        )?;
        writeln!(
            f,
            "  backlog: {} events in {} blocks, generated in {:.1} s",
            self.events, self.blocks, self.generate_secs
        )?;
        let rows: Vec<String> = self.projections.iter().map(|(t, n)| format!("{t} {n}")).collect();
        writeln!(f, "  projections: {}", rows.join(", "))?;
        writeln!(
            f,
            "  ingestion: {:.0} events/s ({} events in {:.2} s, start block to checkpoint at head)",
            self.events_per_sec(),
            self.events,
            self.ingest_secs
        )?;
        writeln!(
            f,
            "  memory: peak RSS {:.1} MiB during ingestion (RSS before {:.1} MiB); peak over the run {:.1} MiB",
            self.peak_rss_kib as f64 / 1024.0,
            self.rss_before_kib as f64 / 1024.0,
            self.peak_rss_total_kib as f64 / 1024.0
        )?;
        writeln!(
            f,
            "  reorg: {} blocks ({} events) replaced by {} blocks ({} events): recovered in {:.3} s",
            self.reorg_depth,
            self.orphaned_events,
            self.reorg_depth + 1,
            self.new_branch_events,
            self.recover_secs
        )?;
        match self.rebuild_equal {
            Some(true) => writeln!(f, "  rebuild from chain data: equal to the live projections"),
            Some(false) => writeln!(f, "  rebuild from chain data: DIFFERS from the live projections"),
            None => writeln!(f, "  rebuild from chain data: not checked"),
        }
    }
}

/// Runs the indexer benchmark; anvil and the database are removed whatever happens.
pub async fn run_index(options: IndexOptions) -> anyhow::Result<IndexReport> {
    let anvil = AnvilChild::start(&options.anvil).await?;
    let mut url = url::Url::parse(&options.database_url).context("DATABASE_URL is not a URL")?;
    url.set_path(&format!("clearing_index_bench_{}", std::process::id()));
    let database_url = url.to_string();
    let result = run_on(&options, &anvil, &database_url).await;
    if let Err(e) = Ledger::drop_database_if_exists(&database_url).await {
        eprintln!("dropping the bench database failed: {e}");
    }
    anvil.stop().await;
    result
}

/// The two emitters and the account that drives them.
struct Load {
    provider: ChainProvider,
    settler: Address,
    escrow: Address,
    token: Address,
    payee: Address,
    payer: Address,
    provider_account: Address,
    payments: usize,
    jobs: usize,
}

impl Load {
    /// One round: a settlement block and an escrow block, seeded by `seed`. Returns the events emitted.
    async fn round(&self, seed: u64) -> anyhow::Result<usize> {
        let settler = IndexerLoadEmitter::new(self.settler, &self.provider);
        let escrow = IndexerLoadEmitter::new(self.escrow, &self.provider);
        let seed = keccak256(seed.to_be_bytes());
        let sent = settler.settle(self.token, self.payee, U256::from(self.payments), seed).send().await?;
        self.mined(*sent.tx_hash()).await?;
        let sent =
            escrow.jobs(self.token, self.payer, self.provider_account, U256::from(self.jobs), seed).send().await?;
        self.mined(*sent.tx_hash()).await?;
        Ok(self.payments + 1 + self.jobs * EVENTS_PER_JOB + 1)
    }

    /// Waits for `hash`'s receipt (anvil mines each transaction as it arrives) and checks it succeeded.
    async fn mined(&self, hash: TxHash) -> anyhow::Result<()> {
        for _ in 0..10_000 {
            if let Some(receipt) = self.provider.get_transaction_receipt(hash).await? {
                ensure!(receipt.status(), "load transaction {hash} reverted");
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        bail!("load transaction {hash} was not mined")
    }

    async fn rounds(&self, seeds: std::ops::Range<u64>) -> anyhow::Result<usize> {
        let mut events = 0;
        for seed in seeds {
            events += self.round(seed).await?;
        }
        Ok(events)
    }
}

async fn run_on(options: &IndexOptions, anvil: &AnvilChild, database_url: &str) -> anyhow::Result<IndexReport> {
    let key: PrivateKeySigner = ANVIL_KEY_0.parse()?;
    let provider = clearing_chain::connect_with_signer(&anvil.rpc_url, key.clone())?;
    let chain_id = provider.get_chain_id().await?;
    let fee_recipient = Address::repeat_byte(0xfe);
    let settler = *IndexerLoadEmitter::deploy(&provider, fee_recipient).await?.address();
    let escrow = *IndexerLoadEmitter::deploy(&provider, fee_recipient).await?.address();
    let start_block = provider.get_block_number().await? + 1;
    let load = Load {
        provider: provider.clone(),
        settler,
        escrow,
        token: Address::repeat_byte(0x0c),
        payee: Address::repeat_byte(0x0e),
        payer: Address::repeat_byte(0x0a),
        provider_account: Address::repeat_byte(0x0b),
        payments: options.payments_per_block.max(1),
        jobs: options.jobs_per_block.max(1),
    };
    let per_round = load.payments + 1 + load.jobs * EVENTS_PER_JOB + 1;
    let rounds = options.events.div_ceil(per_round) as u64;
    let reorg_rounds = options.reorg_depth.div_ceil(2).max(1);
    ensure!(rounds > reorg_rounds, "the backlog ({rounds} rounds) must be longer than the reorg");

    // The backlog, with a snapshot before its newest `reorg_depth` blocks.
    let started = Instant::now();
    load.rounds(0..rounds - reorg_rounds).await?;
    let snapshot: U256 = provider.raw_request("evm_snapshot".into(), ()).await?;
    let fork_point = provider.get_block_number().await?;
    load.rounds(rounds - reorg_rounds..rounds).await?;
    let head = provider.get_block_number().await?;
    let generate_secs = started.elapsed().as_secs_f64();
    eprintln!("generated {} blocks in {generate_secs:.1} s", head - fork_point + fork_point - start_block + 1);

    Ledger::create_database_if_missing(database_url).await?;
    let ledger = Ledger::connect(database_url, 8).await?;
    ledger.migrate().await?;
    let targets = Targets {
        chain_id,
        start_block,
        batch_settler: settler,
        escrow,
        anchor_registry: Address::repeat_byte(0xa0),
        balance_vault: None,
        subscriptions: None,
        token: None,
    };
    let reader = clearing_chain::connect(&anvil.rpc_url)?;
    let indexer = Indexer::new(ledger.clone(), reader.clone(), targets.clone(), &options.config).await?;

    // Ingestion: start block to the head.
    let rss_before_kib = reset_peak_rss()?;
    let started = Instant::now();
    let reached = indexer.sync_to(head).await?;
    let ingest_secs = started.elapsed().as_secs_f64();
    let peak_rss_kib = status_kib("VmHWM")?;
    ensure!(reached.block_number == head, "the indexer stopped at {} below the head {head}", reached.block_number);
    let digest = ledger.projection_digest(chain_id, head).await?;
    let events = digest.iter().find(|d| d.table == "chain_logs").map_or(0, |d| d.rows);
    let projections = digest.iter().filter(|d| d.table != "chain_logs").map(|d| (d.table, d.rows)).collect();
    let at_fork = ledger.projection_digest(chain_id, fork_point).await?;
    let orphaned_events = events - at_fork.iter().find(|d| d.table == "chain_logs").map_or(0, |d| d.rows);

    // The reorg: the newest blocks replaced by a longer, different chain.
    let reverted: bool = provider.raw_request("evm_revert".into(), (snapshot,)).await?;
    ensure!(reverted, "anvil refused to revert to snapshot {snapshot}");
    let fresh = clearing_chain::connect_with_signer(&anvil.rpc_url, key)?;
    let load = Load { provider: fresh.clone(), ..load };
    let new_branch_events = load.rounds(1_000_000..1_000_000 + reorg_rounds).await? as i64;
    let mut new_head = fresh.get_block_number().await?;
    if new_head <= head {
        let _: serde_json::Value = fresh.raw_request("anvil_mine".into(), (head + 1 - new_head,)).await?;
        new_head = fresh.get_block_number().await?;
    }
    let new_hash = fresh.get_block_by_number(new_head.into()).await?.context("no new head")?.header.hash;
    let started = Instant::now();
    let recovered = indexer.sync_to(new_head).await?;
    let recover_secs = started.elapsed().as_secs_f64();
    if recovered.block_hash != new_hash {
        bail!("after the reorg the checkpoint is {:?}, the new head {new_head} is {new_hash}", recovered);
    }
    let checkpoint = ledger.indexer_checkpoint(chain_id, MAIN_INDEXER).await?.context("no checkpoint")?;
    ensure!(checkpoint.block_hash == new_hash, "the stored checkpoint is not the new head");

    let rebuild_equal = if options.verify {
        let report = rebuild(&ledger, reader, targets, &options.config, "index_bench_rebuild", false).await?;
        Some(report.equal())
    } else {
        None
    };
    let peak_rss_total_kib = status_kib("VmHWM")?;
    ledger.close().await;
    Ok(IndexReport {
        machine: options.machine.clone(),
        blocks: head + 1 - start_block,
        events,
        projections,
        generate_secs,
        ingest_secs,
        rss_before_kib,
        peak_rss_kib,
        reorg_depth: head - fork_point,
        orphaned_events,
        new_branch_events,
        recover_secs,
        peak_rss_total_kib,
        rebuild_equal,
        config: options.config.clone(),
    })
}

/// Resets this process's peak resident set to its current size (`/proc/self/clear_refs`, Linux 4.0+) and returns
/// the current size, in KiB.
fn reset_peak_rss() -> anyhow::Result<u64> {
    std::fs::write("/proc/self/clear_refs", "5").context("resetting the peak RSS through /proc/self/clear_refs")?;
    status_kib("VmRSS")
}

/// A `kB` field of `/proc/self/status`.
fn status_kib(field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':')?.trim().strip_suffix("kB")?.trim().parse().ok())
        .with_context(|| format!("no {field} in /proc/self/status"))
}
