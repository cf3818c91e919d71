//! What the purchase benchmark measured, and its printed table.

use std::{fmt, time::Duration};

use clearing_ledger::market::ServiceType;

/// One tier at one connection count.
#[derive(Debug, Clone)]
pub struct PurchaseRow {
    /// The tier bought: an escrow job (`automated_service`, `human_service`) or a data_api credit.
    pub service_type: ServiceType,
    /// Concurrent keep-alive connections.
    pub connections: usize,
    /// Purchases sent, each a new payment.
    pub sent: usize,
    /// Seconds signing them took (before the load).
    pub sign_secs: f64,
    /// Answered 2xx with a job.
    pub answered: u64,
    /// Answered otherwise.
    pub failed: u64,
    /// From the first request to the last answer.
    pub elapsed: Duration,
    /// Latency of a purchase request, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Highest, ms.
    pub max_ms: f64,
    /// Items of the escrow batches mined during the row (and the blocks after it).
    pub items: u64,
    /// Of them, funded on chain (`JobFunded`, or `PaymentCredited` for data_api).
    pub funded: u64,
    /// From the first request to the moment the block holding the last funding was first seen.
    pub funded_at: Option<Duration>,
    /// Batch transactions.
    pub batches: usize,
    /// Items in the largest.
    pub largest_batch: u64,
    /// Blocks holding them.
    pub blocks: usize,
    /// `gasUsed` of all the batches.
    pub gas: u64,
    /// `eth_call`s verify made over the load (coalesced reads).
    pub read_calls: u64,
    /// CPU time in cores over the load: the client threads, the server (market and facilitator), anvil, and every
    /// other process on the machine (PostgreSQL among them).
    pub client_cores: f64,
    /// The server.
    pub server_cores: f64,
    /// Anvil.
    pub anvil_cores: f64,
    /// Other processes.
    pub other_cores: f64,
    /// Of them, PostgreSQL (every process named `postgres`, whichever database it serves).
    pub postgres_cores: f64,
    /// The first failure, if any.
    pub first_failure: Option<String>,
}

impl PurchaseRow {
    /// Purchases answered per second.
    pub fn answered_per_second(&self) -> f64 {
        self.answered as f64 / self.elapsed.as_secs_f64()
    }

    /// Jobs funded (or credits paid) per second, up to the block of the last one.
    pub fn funded_per_second(&self) -> f64 {
        self.funded_at.map_or(0.0, |at| self.funded as f64 / at.as_secs_f64())
    }

    /// Gas per funded item.
    pub fn gas_per_item(&self) -> f64 {
        self.gas as f64 / self.funded.max(1) as f64
    }
}

/// Everything measured.
#[derive(Debug, Clone)]
pub struct PurchaseReport {
    /// `nproc` and the CPU model.
    pub machine: String,
    /// Payer wallets.
    pub payers: usize,
    /// Transactions their funding took.
    pub funding_transactions: usize,
    /// Client threads.
    pub threads: usize,
    /// The ledger's pool size.
    pub db_connections: u32,
    /// `[settle] batch_size`.
    pub batch_size: u32,
    /// `[settle] max_wait_ms`.
    pub max_wait_ms: u64,
    /// The rows, tier by tier.
    pub rows: Vec<PurchaseRow>,
}

impl fmt::Display for PurchaseReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "machine: {}", self.machine)?;
        writeln!(
            f,
            "purchases: POST /v1/services/{{id}}/purchase with a new x402 v2 payment into the escrow each (signed \
             before the load), {} payers (funded in {} transactions), HTTP/1.1 keep-alive on loopback, {} client \
             thread(s); anvil with a block every 1 s and a {} gas block limit; batch size {}, batch wait {} ms, {} \
             database connections; a service of ${} each",
            self.payers,
            self.funding_transactions,
            self.threads,
            crate::BLOCK_GAS_LIMIT,
            self.batch_size,
            self.max_wait_ms,
            self.db_connections,
            clearing_x402::Usdc::from_atomic(u128::from(crate::PRICE)),
        )?;
        writeln!(
            f,
            "| tier | connections | purchases | answered | answered/s | p50 ms | p99 ms | max ms | funded on chain \
             | funded/s | batches | per batch (mean / largest) | blocks | gas per funded item | eth_call per \
             purchase | CPU cores: client / server / anvil / other processes (PostgreSQL) |"
        )?;
        writeln!(
            f,
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        )?;
        for row in &self.rows {
            let funded = if row.items == row.funded {
                row.funded.to_string()
            } else {
                format!("{} (of {} items)", row.funded, row.items)
            };
            writeln!(
                f,
                "| {} | {} | {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {funded} | {:.0} | {} | {:.1} / {} | {} | {:.0} \
                 | {:.3} | {:.2} / {:.2} / {:.2} / {:.2} ({:.2}) |",
                row.service_type,
                row.connections,
                row.sent,
                row.answered,
                row.answered_per_second(),
                row.p50_ms,
                row.p99_ms,
                row.max_ms,
                row.funded_per_second(),
                row.batches,
                row.items as f64 / row.batches.max(1) as f64,
                row.largest_batch,
                row.blocks,
                row.gas_per_item(),
                row.read_calls as f64 / row.sent.max(1) as f64,
                row.client_cores,
                row.server_cores,
                row.anvil_cores,
                row.other_cores,
                row.postgres_cores,
            )?;
        }
        for row in &self.rows {
            if let Some(failure) = &row.first_failure {
                writeln!(f, "first failure ({} at {}): {failure}", row.service_type, row.connections)?;
            }
        }
        let signing: f64 = self.rows.iter().map(|r| r.sign_secs * 1e6 / r.sent.max(1) as f64).sum::<f64>()
            / self.rows.len().max(1) as f64;
        writeln!(f, "signing a payment took {signing:.0} µs on average (before each load, not timed in it)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(funded: u64, funded_at: Option<Duration>) -> PurchaseRow {
        PurchaseRow {
            service_type: ServiceType::AutomatedService,
            connections: 4,
            sent: 10,
            sign_secs: 0.001,
            answered: 10,
            failed: 0,
            elapsed: Duration::from_secs(2),
            p50_ms: 1_000.0,
            p99_ms: 1_900.0,
            max_ms: 1_950.0,
            items: 10,
            funded,
            funded_at,
            batches: 2,
            largest_batch: 6,
            blocks: 2,
            gas: 900_000,
            read_calls: 3,
            client_cores: 0.0,
            server_cores: 0.0,
            anvil_cores: 0.0,
            other_cores: 0.0,
            postgres_cores: 0.0,
            first_failure: None,
        }
    }

    #[test]
    fn rates_are_over_their_own_spans_and_gas_over_what_was_funded() {
        let unfunded = row(0, None);
        let row = row(9, Some(Duration::from_millis(1_500)));
        assert!((row.answered_per_second() - 5.0).abs() < 1e-9);
        assert!((row.funded_per_second() - 6.0).abs() < 1e-9);
        assert!((row.gas_per_item() - 100_000.0).abs() < 1e-9);
        assert!(unfunded.funded_per_second() < f64::EPSILON, "nothing funded, no rate");
    }

    #[test]
    fn the_table_shows_items_that_failed_on_chain() {
        let report = PurchaseReport {
            machine: "2 cores".into(),
            payers: 3,
            funding_transactions: 2,
            threads: 1,
            db_connections: 10,
            batch_size: 100,
            max_wait_ms: 250,
            rows: vec![row(9, Some(Duration::from_secs(1)))],
        };
        let table = report.to_string();
        assert!(table.contains("| automated_service | 4 | 10 | 10 | 5 |"), "{table}");
        assert!(table.contains("| 9 (of 10 items) | 9 |"), "{table}");
    }
}
