//! The facilitator's metrics, rendered as Prometheus text on `GET /metrics`: verify and settle counts by outcome,
//! their latency histograms, batch sizes, queue depth and chain reads.

use std::{
    collections::BTreeMap,
    fmt::Write,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

/// Latency bucket bounds, seconds.
const LATENCY_BUCKETS: [f64; 14] =
    [0.0005, 0.001, 0.002, 0.003, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];
/// Batch size bucket bounds, items.
const SIZE_BUCKETS: [f64; 9] = [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0];

/// A cumulative histogram with fixed buckets.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    count: AtomicU64,
    /// The sum in millionths of the unit, so it stays an integer.
    sum_micros: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    /// Records one observation.
    pub fn observe(&self, value: f64) {
        if let Some(i) = self.bounds.iter().position(|bound| value <= *bound) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add((value * 1e6) as u64, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            cumulative += count.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum {}", self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count {count}");
    }
}

/// Counts by outcome label.
#[derive(Debug, Default)]
pub struct Outcomes(Mutex<BTreeMap<&'static str, u64>>);

impl Outcomes {
    /// Adds one to `outcome`.
    pub fn inc(&self, outcome: &'static str) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()).entry(outcome).or_default() += 1;
    }

    /// The count of `outcome`.
    pub fn get(&self, outcome: &str) -> u64 {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).get(outcome).copied().unwrap_or(0)
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for (outcome, count) in self.0.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(out, "{name}{{outcome=\"{outcome}\"}} {count}");
        }
    }
}

/// Every metric of the facilitator.
#[derive(Debug)]
pub struct Metrics {
    /// `/verify` answers by outcome (`valid` or the reason code).
    pub verify_outcomes: Outcomes,
    /// `/verify` latency, seconds.
    pub verify_latency: Histogram,
    /// `/settle` answers by outcome (`success` or the reason code).
    pub settle_outcomes: Outcomes,
    /// `/settle` latency, seconds.
    pub settle_latency: Histogram,
    /// Items per BatchSettler transaction.
    pub batch_size: Histogram,
    /// Settlements accepted and not yet final.
    pub queue_depth: AtomicU64,
    /// Chain reads answered for verify.
    pub chain_reads: AtomicU64,
    /// RPC calls made for those reads (one per coalesced batch).
    pub chain_read_calls: AtomicU64,
    /// Reads answered from the current block's cached answers, without a call.
    pub chain_read_cache_hits: AtomicU64,
    /// `eth_blockNumber` calls of the head poller.
    pub chain_head_calls: AtomicU64,
    /// `eth_getLogs` calls scanning tokens for rule changes (one per new head while any token is watched).
    pub chain_log_scans: AtomicU64,
    /// Reads whose transfer was not simulated again: an earlier block's success still held.
    pub chain_read_simulations_carried: AtomicU64,
    /// Items per coalesced read call.
    pub chain_read_batch: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            verify_outcomes: Outcomes::default(),
            verify_latency: Histogram::new(&LATENCY_BUCKETS),
            settle_outcomes: Outcomes::default(),
            settle_latency: Histogram::new(&LATENCY_BUCKETS),
            batch_size: Histogram::new(&SIZE_BUCKETS),
            queue_depth: AtomicU64::new(0),
            chain_reads: AtomicU64::new(0),
            chain_read_calls: AtomicU64::new(0),
            chain_read_cache_hits: AtomicU64::new(0),
            chain_head_calls: AtomicU64::new(0),
            chain_log_scans: AtomicU64::new(0),
            chain_read_simulations_carried: AtomicU64::new(0),
            chain_read_batch: Histogram::new(&SIZE_BUCKETS),
        }
    }
}

impl Metrics {
    /// Records a `/verify` answer.
    pub fn verified(&self, outcome: &'static str, elapsed: Duration) {
        self.verify_outcomes.inc(outcome);
        self.verify_latency.observe(elapsed.as_secs_f64());
    }

    /// Records a `/settle` answer.
    pub fn settled(&self, outcome: &'static str, elapsed: Duration) {
        self.settle_outcomes.inc(outcome);
        self.settle_latency.observe(elapsed.as_secs_f64());
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        self.verify_outcomes.render(&mut out, "clearing_verify_total", "Verify answers by outcome.");
        self.verify_latency.render(&mut out, "clearing_verify_seconds", "Verify latency.");
        self.settle_outcomes.render(&mut out, "clearing_settle_total", "Settle answers by outcome.");
        self.settle_latency.render(&mut out, "clearing_settle_seconds", "Settle latency.");
        self.batch_size.render(&mut out, "clearing_settle_batch_size", "Payments per BatchSettler transaction.");
        let gauges = [
            ("clearing_settle_queue_depth", "gauge", "Settlements accepted and not yet final.", &self.queue_depth),
            ("clearing_chain_reads_total", "counter", "Chain reads answered for verify.", &self.chain_reads),
            ("clearing_chain_read_calls_total", "counter", "RPC calls made for verify reads.", &self.chain_read_calls),
            (
                "clearing_chain_read_cache_hits_total",
                "counter",
                "Verify reads answered from the current block's cached answers.",
                &self.chain_read_cache_hits,
            ),
            (
                "clearing_chain_head_calls_total",
                "counter",
                "Block number polls that pin verify reads.",
                &self.chain_head_calls,
            ),
            (
                "clearing_chain_log_scans_total",
                "counter",
                "Token log scans for rule changes (pause, blacklist, upgrade) that end carried simulations.",
                &self.chain_log_scans,
            ),
            (
                "clearing_chain_read_simulations_carried_total",
                "counter",
                "Verify reads that reused an earlier block's successful transfer simulation.",
                &self.chain_read_simulations_carried,
            ),
        ];
        for (name, kind, help, value) in gauges {
            let _ =
                writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}", value.load(Ordering::Relaxed));
        }
        self.chain_read_batch.render(&mut out, "clearing_chain_read_batch_size", "Reads per coalesced RPC call.");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_cumulative_buckets_and_outcomes() {
        let metrics = Metrics::default();
        metrics.verified("valid", Duration::from_micros(400));
        metrics.verified("valid", Duration::from_micros(1_500));
        metrics.verified("invalid_exact_evm_signature", Duration::from_millis(20));
        let text = metrics.render();
        assert!(text.contains("clearing_verify_total{outcome=\"valid\"} 2"), "{text}");
        assert!(text.contains("clearing_verify_total{outcome=\"invalid_exact_evm_signature\"} 1"));
        assert!(text.contains("clearing_verify_seconds_bucket{le=\"0.0005\"} 1"));
        assert!(text.contains("clearing_verify_seconds_bucket{le=\"0.002\"} 2"));
        assert!(text.contains("clearing_verify_seconds_bucket{le=\"+Inf\"} 3"));
        assert!(text.contains("clearing_verify_seconds_count 3"));
    }
}
