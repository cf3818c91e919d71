//! What a benchmark run measured, and its printed table.

use std::{fmt, time::Duration};

/// One verify load at one connection count.
#[derive(Debug, Clone)]
pub struct VerifyRow {
    /// Concurrent keep-alive connections.
    pub connections: usize,
    /// Verifies answered `isValid: true`.
    pub ok: u64,
    /// Other answers.
    pub failed: u64,
    /// Wall time of the measured run.
    pub elapsed: Duration,
    /// Latency quantiles, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// Highest latency, ms.
    pub max_ms: f64,
    /// `eth_call`s the coalescer made.
    pub read_calls: u64,
    /// Reads those calls carried.
    pub reads: u64,
    /// Reads answered from the facilitator's cache of the current block, without a call.
    pub cache_hits: u64,
    /// `eth_blockNumber` calls of the facilitator's head poller.
    pub head_calls: u64,
    /// `eth_getLogs` calls scanning the token for rule changes (one per new head).
    pub log_scans: u64,
    /// Reads whose transfer simulation was carried from an earlier block instead of run again.
    pub carried: u64,
    /// Blocks anvil mined during the run.
    pub blocks: u64,
    /// CPU time in cores (CPU seconds per wall second) of the client threads, the facilitator and anvil.
    pub client_cores: f64,
    /// The facilitator (the process less the client threads).
    pub server_cores: f64,
    /// Anvil.
    pub anvil_cores: f64,
    /// Everything else on the machine (other processes competing for the cores), from `/proc/stat`.
    pub other_cores: f64,
}

/// The settle run.
#[derive(Debug, Clone)]
pub struct SettleRow {
    /// Concurrent `/settle` connections.
    pub connections: usize,
    /// Payments sent.
    pub sent: usize,
    /// Answered `success: true`.
    pub settled: u64,
    /// From the first request to the last answer.
    pub elapsed: Duration,
    /// Latency quantiles of `/settle`, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Batch transactions that carried the settled payments.
    pub batches: usize,
    /// Payments per batch, largest seen.
    pub largest_batch: usize,
    /// Gas of all batches over the payments they settled.
    pub gas_per_payment: f64,
    /// The same over the full batches only (size = the configured batch size), if any.
    pub gas_per_payment_full: Option<f64>,
    /// The configured batch size.
    pub batch_size: u32,
    /// CPU time in cores over the run, as in [`VerifyRow`]: the client threads, the facilitator, anvil, and
    /// everything else on the machine.
    pub client_cores: f64,
    /// The facilitator.
    pub server_cores: f64,
    /// Anvil.
    pub anvil_cores: f64,
    /// Other processes.
    pub other_cores: f64,
    /// The first failure, if any.
    pub first_failure: Option<String>,
}

/// Everything measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// `nproc` and the CPU model.
    pub machine: String,
    /// Payers and distinct signed verify payments.
    pub payers: usize,
    /// Distinct verify bodies cycled through.
    pub verify_payments: usize,
    /// How many times each verify body is sent per cycle (runs of [`crate::REPEAT_GAP`], repeated in place).
    pub verify_repeats: usize,
    /// Seconds between blocks during the verify runs (0: none mined).
    pub verify_block_time: u64,
    /// Client threads.
    pub client_threads: usize,
    /// The coalescer's window, µs.
    pub max_wait_us: u64,
    /// One row per connection count.
    pub verify: Vec<VerifyRow>,
    /// The settle run, unless skipped.
    pub settle: Option<SettleRow>,
    /// The first verify failure, if any.
    pub first_failure: Option<String>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "machine: {}", self.machine)?;
        writeln!(
            f,
            "verify: POST /verify over HTTP/1.1 keep-alive on loopback, {} payers, {} distinct signed payments \
             cycled, each sent {} time(s) in a row of {}, a block every {} s, {} client thread(s), coalescer \
             window {} µs",
            self.payers,
            self.verify_payments,
            self.verify_repeats,
            crate::REPEAT_GAP,
            self.verify_block_time,
            self.client_threads,
            self.max_wait_us
        )?;
        writeln!(
            f,
            "| connections | verifies/s | p50 ms | p99 ms | max ms | failed | RPC calls/verify (eth_call + \
             eth_blockNumber + eth_getLogs) | reads/call | simulations carried | cache hits | blocks | CPU cores: \
             client / facilitator / anvil / other processes |"
        )?;
        writeln!(f, "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")?;
        for row in &self.verify {
            let verifies = (row.ok + row.failed).max(1) as f64;
            let per_second = row.ok as f64 / row.elapsed.as_secs_f64();
            let calls_per_verify = (row.read_calls + row.head_calls + row.log_scans) as f64 / verifies;
            let reads_per_call = row.reads as f64 / row.read_calls.max(1) as f64;
            writeln!(
                f,
                "| {} | {:.0} | {:.2} | {:.2} | {:.1} | {} | {:.4} ({} + {} + {}) | {:.1} | {:.1}% | {:.1}% | {} | \
                 {:.2} / {:.2} / {:.2} / {:.2} |",
                row.connections,
                per_second,
                row.p50_ms,
                row.p99_ms,
                row.max_ms,
                row.failed,
                calls_per_verify,
                row.read_calls,
                row.head_calls,
                row.log_scans,
                reads_per_call,
                100.0 * row.carried as f64 / row.reads.max(1) as f64,
                100.0 * row.cache_hits as f64 / verifies,
                row.blocks,
                row.client_cores,
                row.server_cores,
                row.anvil_cores,
                row.other_cores
            )?;
        }
        if let Some(failure) = &self.first_failure {
            writeln!(f, "first verify failure: {failure}")?;
        }
        if let Some(settle) = &self.settle {
            writeln!(
                f,
                "\nsettle: POST /settle (verify, queue in PostgreSQL, batch through BatchSettler, wait for the \
                 receipt), anvil with a block every 1 s and a {} gas block limit, batch size {}",
                crate::BLOCK_GAS_LIMIT,
                settle.batch_size
            )?;
            writeln!(
                f,
                "| connections | payments | settled | settled/s | p50 ms | p99 ms | batches | largest batch | \
                 gas/payment (all) | gas/payment (full batches) | CPU cores: client / facilitator / anvil / other \
                 processes |"
            )?;
            writeln!(f, "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")?;
            writeln!(
                f,
                "| {} | {} | {} | {:.0} | {:.0} | {:.0} | {} | {} | {:.0} | {} | {:.2} / {:.2} / {:.2} / {:.2} |",
                settle.connections,
                settle.sent,
                settle.settled,
                settle.settled as f64 / settle.elapsed.as_secs_f64(),
                settle.p50_ms,
                settle.p99_ms,
                settle.batches,
                settle.largest_batch,
                settle.gas_per_payment,
                settle.gas_per_payment_full.map_or_else(|| "-".to_owned(), |gas| format!("{gas:.0}")),
                settle.client_cores,
                settle.server_cores,
                settle.anvil_cores,
                settle.other_cores,
            )?;
            if let Some(failure) = &settle.first_failure {
                writeln!(f, "first settle failure: {failure}")?;
            }
        }
        Ok(())
    }
}

/// `nproc` and the CPU model.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cores} cores, {model}")
}
