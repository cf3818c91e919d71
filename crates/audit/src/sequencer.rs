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
    confirmations: u64,
}

impl Sequencer {
    /// A sequencer of the records of `sources`, over the logs the indexer named `indexer` writes, confirmed at
    /// `confirmations` blocks below its checkpoint.
    pub fn new(ledger: Ledger, sources: RecordSources, indexer: impl Into<String>, confirmations: u64) -> Self {
        Self { ledger, sources, indexer: indexer.into(), confirmations }
    }

    /// The highest confirmed block, if any. The one place that decides what "confirmed" means: until the indexer
    /// exposes its own confirmed height, the checkpoint less the configured depth.
    pub async fn confirmed_block(&self) -> Result<Option<u64>> {
        let checkpoint = self.ledger.indexer_checkpoint_block(self.sources.chain_id, &self.indexer).await?;
        Ok(checkpoint.and_then(|block| block.checked_sub(self.confirmations)))
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
            for (offset, log) in logs.iter().enumerate() {
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
                let record = self.sources.decode(head.next_seq + offset as u64, log, funded.as_ref())?;
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
