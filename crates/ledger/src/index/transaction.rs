//! One fenced write of the indexer: a batch of blocks, a checkpoint move, a rollback.

use alloy::primitives::B256;
use sqlx::{Postgres, Transaction};

use super::{
    inserts::{
        insert_anchors, insert_balance_changes, insert_blocks, insert_credits, insert_fund_failures, insert_job_events,
        insert_jobs, insert_logs, insert_payments, insert_subscription_events, insert_vault_events,
    },
    lease::{Checkpoint, IndexerLease, checkpoint_of},
    rows::{BlockRef, Projections, RawLog},
};
use crate::{Error, Ledger, Result, encode::int};

/// The PostgreSQL notification channel the indexer announces `<chain id>:<block>:<confirmed block>` on after each
/// committed batch or rollback. A wake-up only: the durable record is `indexer_outbox`.
pub const INDEXED_CHANNEL: &str = "chain_indexed";

/// One write transaction of the indexer, fenced and checked against the checkpoint when it began.
#[derive(Debug)]
pub struct IndexTx {
    tx: Transaction<'static, Postgres>,
    chain_id: u64,
    indexer: String,
    checkpoint: Checkpoint,
}

/// Every table holding rows derived from one block, for rollbacks.
const BLOCK_TABLES: [&str; 10] = [
    "chain_logs",
    "settler_payments",
    "escrow_jobs",
    "escrow_job_events",
    "escrow_fund_failures",
    "escrow_credits",
    "escrow_balance_changes",
    "anchors",
    "vault_events",
    "subscription_events",
];

impl Ledger {
    /// Begins a write of the lease's indexer: checks the fencing epoch (locking the checkpoint row until commit).
    pub async fn begin_index(&self, lease: &IndexerLease) -> Result<IndexTx> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "SELECT block_number, block_hash, confirmed_block, writer_epoch FROM indexer_checkpoints
             WHERE chain_id = $1 AND indexer = $2 FOR UPDATE",
        )
        .bind(int(lease.chain_id))
        .bind(&lease.indexer)
        .fetch_one(&mut *tx)
        .await?;
        let checkpoint = checkpoint_of(&row)?;
        if checkpoint.writer_epoch != lease.epoch {
            return Err(Error::Fenced {
                chain_id: lease.chain_id,
                indexer: lease.indexer.clone(),
                expected: lease.epoch,
                found: checkpoint.writer_epoch,
            });
        }
        Ok(IndexTx { tx, chain_id: lease.chain_id, indexer: lease.indexer.clone(), checkpoint })
    }
}

impl IndexTx {
    /// The checkpoint as this transaction found it.
    pub const fn checkpoint(&self) -> Checkpoint {
        self.checkpoint
    }

    /// Writes the blocks, logs and projections of blocks `parent.number + 1 ..= last`, after checking that the
    /// stored checkpoint is `parent` (the batch was built on it). Raw logs that are already stored are skipped.
    pub async fn write_data(
        &mut self,
        parent: (u64, B256),
        blocks: &[BlockRef],
        logs: &[RawLog],
        projections: &Projections,
    ) -> Result<()> {
        if (self.checkpoint.block_number, self.checkpoint.block_hash) != parent {
            return Err(Error::CheckpointMoved {
                chain_id: self.chain_id,
                expected_number: parent.0,
                expected_hash: parent.1,
                found_number: self.checkpoint.block_number,
                found_hash: self.checkpoint.block_hash,
            });
        }
        insert_blocks(&mut self.tx, self.chain_id, blocks).await?;
        insert_logs(&mut self.tx, self.chain_id, logs).await?;
        insert_payments(&mut self.tx, self.chain_id, &projections.payments).await?;
        insert_jobs(&mut self.tx, self.chain_id, &projections.jobs).await?;
        insert_job_events(&mut self.tx, self.chain_id, &projections.job_events).await?;
        insert_fund_failures(&mut self.tx, self.chain_id, &projections.fund_failures).await?;
        insert_credits(&mut self.tx, self.chain_id, &projections.credits).await?;
        insert_balance_changes(&mut self.tx, self.chain_id, &projections.balance_changes).await?;
        insert_anchors(&mut self.tx, self.chain_id, &projections.anchors).await?;
        insert_vault_events(&mut self.tx, self.chain_id, &projections.vault_events).await?;
        insert_subscription_events(&mut self.tx, self.chain_id, &projections.subscription_events).await?;
        Ok(())
    }

    /// Moves the checkpoint to `last` with `confirmed` as the confirmed height, records the outbox rows
    /// ('observed' for the new blocks, 'confirmed' for blocks newly at depth), marks the facilitator's settled
    /// queue items whose `PaymentSettled` is now at depth `confirmed`, forgets blocks older than
    /// `last - window`, and queues the notification.
    pub async fn advance(&mut self, last: BlockRef, confirmed: Option<u64>, window: u64) -> Result<()> {
        let chain = int(self.chain_id);
        let previous = self.checkpoint;
        let confirmed = confirmed.map(|c| c.min(last.number)).max(previous.confirmed_block);
        if last.number > previous.block_number {
            self.outbox("observed", previous.block_number + 1, last.number).await?;
        }
        if let Some(now) = confirmed {
            let from = previous.confirmed_block.map_or(0, |c| c + 1);
            if now >= from {
                self.outbox("confirmed", from, now).await?;
                // The payment itself, not only its nonce: a payer may sign a second authorization under the same
                // nonce to another payee and have it settled first, which pays the other payee, not ours.
                sqlx::query(
                    "UPDATE settlements s SET status = 'confirmed', updated_at = now()
                     FROM settler_payments p
                     WHERE s.chain_id = $1 AND s.status = 'settled'
                       AND p.chain_id = s.chain_id AND p.payer = s.payer AND p.nonce = s.nonce AND p.settled
                       AND p.token = s.asset AND p.pay_to = s.pay_to AND p.value = s.value AND p.block_number <= $2",
                )
                .bind(chain)
                .bind(int(now))
                .execute(&mut *self.tx)
                .await?;
            }
        }
        sqlx::query(
            "UPDATE indexer_checkpoints SET block_number = $3, block_hash = $4, confirmed_block = $5, updated_at = now()
             WHERE chain_id = $1 AND indexer = $2",
        )
        .bind(chain)
        .bind(&self.indexer)
        .bind(int(last.number))
        .bind(last.hash.as_slice())
        .bind(confirmed.map(int))
        .execute(&mut *self.tx)
        .await?;
        sqlx::query("DELETE FROM chain_blocks WHERE chain_id = $1 AND number < $2")
            .bind(chain)
            .bind(int(last.number.saturating_sub(window)))
            .execute(&mut *self.tx)
            .await?;
        self.notify(last.number, confirmed).await?;
        self.checkpoint =
            Checkpoint { block_number: last.number, block_hash: last.hash, confirmed_block: confirmed, ..previous };
        Ok(())
    }

    /// Rolls everything above `ancestor` back: blocks, logs, projections; the facilitator batches mined in a
    /// removed block are reopened and their items and escrow actions go back to `submitted` (the batcher's recovery
    /// looks their transactions up again); the market reactor's cursor moves back to `ancestor`; a 'retracted'
    /// outbox row; the checkpoint and the confirmed height move to `ancestor`. Returns how many logs were removed.
    pub async fn rollback_to(&mut self, ancestor: BlockRef) -> Result<u64> {
        let chain = int(self.chain_id);
        let above = int(ancestor.number);
        let orphaned: Vec<Vec<u8>> = sqlx::query_scalar(
            "SELECT DISTINCT block_hash FROM chain_logs WHERE chain_id = $1 AND block_number > $2
             UNION SELECT hash FROM chain_blocks WHERE chain_id = $1 AND number > $2",
        )
        .bind(chain)
        .bind(above)
        .fetch_all(&mut *self.tx)
        .await?;
        let mut removed = 0;
        for table in BLOCK_TABLES {
            let sql = format!("DELETE FROM {table} WHERE chain_id = $1 AND block_number > $2");
            let done = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(chain).bind(above).execute(&mut *self.tx).await?;
            if table == "chain_logs" {
                removed = done.rows_affected();
            }
        }
        sqlx::query("DELETE FROM chain_blocks WHERE chain_id = $1 AND number > $2")
            .bind(chain)
            .bind(above)
            .execute(&mut *self.tx)
            .await?;
        let reopened: Vec<i64> = sqlx::query_scalar(
            "UPDATE settlement_batches SET block_number = NULL, block_hash = NULL, mined_at = NULL
             WHERE chain_id = $1 AND abandoned_at IS NULL AND block_hash = ANY($2) RETURNING id",
        )
        .bind(chain)
        .bind(&orphaned)
        .fetch_all(&mut *self.tx)
        .await?;
        sqlx::query(
            "UPDATE settlements SET status = 'submitted', failure_reason = NULL, revert_reason = NULL, updated_at = now()
             WHERE batch_id = ANY($1) AND status IN ('settled', 'confirmed', 'failed')",
        )
        .bind(&reopened)
        .execute(&mut *self.tx)
        .await?;
        // The escrow steps and claims of those batches too: their effects left the chain with the block, and the
        // batcher resolves only submitted actions from the new receipt. A failed one goes back only while no newer
        // attempt of the same step (or claim of the account) is live, which the unique indexes allow once.
        sqlx::query(
            "UPDATE escrow_actions a
             SET status = 'submitted', failure_reason = NULL, revert_reason = NULL, updated_at = now()
             WHERE a.batch_id = ANY($1)
               AND (a.status IN ('settled', 'confirmed')
                    OR (a.status = 'failed' AND NOT EXISTS (
                        SELECT 1 FROM escrow_actions b
                        WHERE b.id <> a.id AND b.chain_id = a.chain_id AND b.escrow = a.escrow AND b.kind = a.kind
                          AND CASE WHEN a.kind = 'claim'
                                   THEN b.asset = a.asset AND b.account = a.account
                                        AND b.status IN ('pending', 'submitted')
                                   ELSE b.job_id = a.job_id AND b.status <> 'failed' END)))",
        )
        .bind(&reopened)
        .execute(&mut *self.tx)
        .await?;
        // The market's reactor reacts again to whatever the new chain confirms above the fork (at least once).
        sqlx::query(
            "UPDATE market_reactor_cursors SET block_number = $2, log_index = $3
             WHERE chain_id = $1 AND block_number > $2",
        )
        .bind(chain)
        .bind(above)
        .bind(i64::MAX)
        .execute(&mut *self.tx)
        .await?;
        let previous = self.checkpoint;
        if previous.block_number > ancestor.number {
            self.outbox("retracted", ancestor.number + 1, previous.block_number).await?;
        }
        let confirmed = previous.confirmed_block.map(|c| c.min(ancestor.number));
        sqlx::query(
            "UPDATE indexer_checkpoints SET block_number = $3, block_hash = $4, confirmed_block = $5, updated_at = now()
             WHERE chain_id = $1 AND indexer = $2",
        )
        .bind(chain)
        .bind(&self.indexer)
        .bind(above)
        .bind(ancestor.hash.as_slice())
        .bind(confirmed.map(int))
        .execute(&mut *self.tx)
        .await?;
        self.notify(ancestor.number, confirmed).await?;
        self.checkpoint = Checkpoint {
            block_number: ancestor.number,
            block_hash: ancestor.hash,
            confirmed_block: confirmed,
            ..previous
        };
        Ok(removed)
    }

    /// Commits; the notification is delivered now.
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        Ok(())
    }

    async fn outbox(&mut self, phase: &str, from: u64, to: u64) -> Result<()> {
        sqlx::query(
            "INSERT INTO indexer_outbox (chain_id, indexer, phase, from_block, to_block)
             VALUES ($1, $2, $3::indexer_phase, $4, $5)",
        )
        .bind(int(self.chain_id))
        .bind(&self.indexer)
        .bind(phase)
        .bind(int(from))
        .bind(int(to))
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    async fn notify(&mut self, block: u64, confirmed: Option<u64>) -> Result<()> {
        let confirmed = confirmed.map_or_else(String::new, |c| c.to_string());
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(INDEXED_CHANNEL)
            .bind(format!("{}:{block}:{confirmed}", self.chain_id))
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }
}
