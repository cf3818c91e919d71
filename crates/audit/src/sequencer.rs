//! The sequencer: numbers every confirmed record log in chain order, without gaps.

use clearing_ledger::Ledger;
use tracing::{debug, info};

use crate::{RecordSources, Result};

/// Most logs read per step.
const READ_BATCH: u32 = 1_000;

/// Reads confirmed logs from `chain_logs` after its head and appends their records.
#[derive(Debug, Clone)]
pub struct Sequencer {
    ledger: Ledger,
    sources: RecordSources,
    indexer: String,
}

impl Sequencer {
    /// A sequencer of the records of `sources`, over the logs the indexer named `indexer` writes.
    pub fn new(ledger: Ledger, sources: RecordSources, indexer: impl Into<String>) -> Self {
        Self { ledger, sources, indexer: indexer.into() }
    }

    /// The highest confirmed block, if any: the indexer's confirmed height, which it moves back only in the
    /// transaction that rolls back a reorg deeper than its confirmation depth.
    pub async fn confirmed_block(&self) -> Result<Option<u64>> {
        Ok(self.ledger.confirmed_block(self.sources.chain_id, &self.indexer).await?)
    }

    /// Appends the records of every confirmed log not yet sequenced; returns how many.
    pub async fn run_once(&self) -> Result<u64> {
        let Some(confirmed) = self.confirmed_block().await? else { return Ok(0) };
        let chain_id = self.sources.chain_id;
        let mut appended = 0;
        loop {
            let head = self.ledger.audit_head(chain_id).await?;
            let logs = self
                .ledger
                .audit_logs_after(
                    chain_id,
                    head.last,
                    confirmed,
                    &self.sources.emitters(),
                    &RecordSources::RECORD_TOPICS,
                    READ_BATCH,
                )
                .await?;
            let Some(last) = logs.last().map(|log| log.position()) else { break };
            let mut records = Vec::with_capacity(logs.len());
            for log in &logs {
                let funded = match self.sources.job_id(log) {
                    Some(job_id) => {
                        self.ledger
                            .audit_first_log(
                                chain_id,
                                self.sources.escrow,
                                RecordSources::JOB_FUNDED_TOPIC,
                                job_id,
                                confirmed,
                            )
                            .await?
                    }
                    None => None,
                };
                let seq = head.next_seq + records.len() as u64;
                let Some(record) = self.sources.decode(seq, log, funded.as_ref())? else { continue };
                debug!(seq = record.seq, tx = %record.tx_hash, kind = ?record.kind, "sequenced");
                records.push(record.to_stored(log.block_hash));
            }
            self.ledger.append_audit_records(chain_id, head.next_seq, &records, last).await?;
            appended += records.len() as u64;
            if logs.len() < READ_BATCH as usize {
                break;
            }
        }
        if appended > 0 {
            info!(chain_id, appended, "audit records sequenced");
        }
        Ok(appended)
    }
}
