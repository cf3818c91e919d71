//! One fenced write of the indexer: a batch of blocks, a checkpoint move, a rollback.

use alloy::primitives::B256;
use sqlx::{Postgres, Transaction};
use tracing::warn;

use super::{
    inserts::{
        insert_anchors, insert_balance_changes, insert_blocks, insert_credits, insert_fund_failures, insert_job_events,
        insert_jobs, insert_logs, insert_payments, insert_subscription_events, insert_vault_events,
    },
    lease::{Checkpoint, IndexerLease, checkpoint_of},
    rows::{BlockRef, Projections, RawLog},
};
use crate::{Error, Ledger, RESOLVED_CHANNEL, Result, encode::int};

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

/// How far below the newly confirmed blocks [`IndexTx::advance`] looks again for later batches resolved late, whose
/// failed items a given-up batch of ours may have paid.
const LATE_RESOLUTION_BLOCKS: u64 = 64;

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
    /// queue items whose `PaymentSettled` is now at depth `confirmed` (also those failed or queued again after one of
    /// our own transactions settled them), forgets blocks older than
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
                self.confirm_paid_by_given_up_batches(from, now).await?;
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

    /// Confirms the payments one of our own batch transactions settled although the batcher gave that batch up (no
    /// receipt within the grace: a lagging RPC) and then queued them again: still queued or expired, once the
    /// payment's event is at depth `now`; failed as already used in a later batch, once that batch and the event
    /// both are (so a reorg that reopens the later batch, deeper than the depth, is all that could find its items
    /// changed). Either may reach depth last, and a later batch may be resolved late: the events newly at depth
    /// (`from..=now`) and the later batches mined in `from - LATE_RESOLUTION_BLOCKS..=now` are both looked at.
    /// Only the `Transfer` route's payments have such an event (`PaymentSettled`).
    async fn confirm_paid_by_given_up_batches(&mut self, from: u64, now: u64) -> Result<()> {
        let chain = int(self.chain_id);
        let matched = "p.settled AND s.chain_id = p.chain_id AND s.asset = p.token AND s.payer = p.payer
                       AND s.nonce = p.nonce AND s.pay_to = p.pay_to AND s.value = p.value";
        // The later batch's own `PaymentFailed` of the payment, indexed in the block its receipt named: that batch
        // is where the chain has it (not in a block replaced since), at depth.
        let failed_there = "EXISTS (
                SELECT 1 FROM settlement_batches f JOIN settler_payments q
                  ON q.chain_id = f.chain_id AND q.block_number = f.block_number AND q.block_hash = f.block_hash
                 AND q.tx_hash = f.tx_hash
                WHERE f.id = s.batch_id AND f.block_number <= $3 AND q.payer = s.payer AND q.nonce = s.nonce
                  AND NOT q.settled)";
        // Queued again or expired, or failed in a later batch at depth: by the events newly at depth.
        let by_event = format!(
            "s.status IN ('pending', 'expired', 'failed') AND p.chain_id = $1 AND p.block_number BETWEEN $2 AND $3
             AND (s.status <> 'failed' OR {failed_there}) AND {matched}"
        );
        // Failed in a later batch: by the later batches newly at depth, or resolved since.
        let by_batch = format!(
            "s.status = 'failed' AND s.batch_id IN (
                 SELECT f.id FROM settlement_batches f
                 WHERE f.chain_id = $1 AND f.abandoned_at IS NULL AND f.block_number BETWEEN $2 AND $3)
             AND {failed_there} AND p.chain_id = $1 AND p.block_number <= $3 AND {matched}"
        );
        let late = from.saturating_sub(LATE_RESOLUTION_BLOCKS);
        for (filter, lowest) in [(by_event, from), (by_batch, late)] {
            // The given-up batch shows the transaction that paid (it may have been replaced by others), and the
            // waiters of the items hear of them as of any resolution.
            let sql = format!(
                "WITH moved AS (
                     UPDATE settlements s
                     SET status = 'confirmed', batch_id = t.batch_id, failure_reason = NULL, revert_reason = NULL,
                         updated_at = now()
                     FROM settler_payments p JOIN settlement_batch_transactions t ON t.tx_hash = p.tx_hash
                     WHERE t.batch_id IS DISTINCT FROM s.batch_id AND {filter}
                     RETURNING s.id, t.batch_id, p.tx_hash),
                 shown AS (
                     UPDATE settlement_batches b SET tx_hash = m.tx_hash
                     FROM (SELECT DISTINCT batch_id, tx_hash FROM moved) m
                     WHERE b.id = m.batch_id AND b.abandoned_at IS NOT NULL)
                 SELECT pg_notify($4, id::text) FROM moved"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(chain)
                .bind(int(lowest))
                .bind(int(now))
                .bind(RESOLVED_CHANNEL)
                .execute(&mut *self.tx)
                .await?;
        }
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
        self.reopen_items(&reopened).await?;
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

    /// Reopens the batches recorded as mined at one of `canonical`'s heights in a block other than the one the chain
    /// has there: a reorg replaced that block before the indexer stored it, so [`IndexTx::rollback_to`] never saw
    /// it. Their items go back to `submitted` and the batcher looks their transactions up again, as after a
    /// rollback. Returns how many batches were reopened.
    pub async fn reopen_replaced_batches(&mut self, canonical: &[(u64, B256)]) -> Result<u64> {
        if canonical.is_empty() {
            return Ok(0);
        }
        let numbers: Vec<i64> = canonical.iter().map(|(number, _)| int(*number)).collect();
        let hashes: Vec<&[u8]> = canonical.iter().map(|(_, hash)| hash.as_slice()).collect();
        let reopened: Vec<i64> = sqlx::query_scalar(
            "UPDATE settlement_batches b SET block_number = NULL, block_hash = NULL, mined_at = NULL
             FROM unnest($2::bigint[], $3::bytea[]) AS c(number, hash)
             WHERE b.chain_id = $1 AND b.abandoned_at IS NULL AND b.block_number = c.number
               AND b.block_hash <> c.hash
             RETURNING b.id",
        )
        .bind(int(self.chain_id))
        .bind(&numbers)
        .bind(&hashes)
        .fetch_all(&mut *self.tx)
        .await?;
        self.reopen_items(&reopened).await?;
        Ok(reopened.len() as u64)
    }

    /// Puts the items and escrow actions of the `reopened` batches back to `submitted`.
    async fn reopen_items(&mut self, reopened: &[i64]) -> Result<()> {
        if reopened.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "UPDATE settlements SET status = 'submitted', failure_reason = NULL, revert_reason = NULL, updated_at = now()
             WHERE batch_id = ANY($1) AND status IN ('settled', 'confirmed', 'failed')",
        )
        .bind(reopened)
        .execute(&mut *self.tx)
        .await?;
        // The escrow steps and claims of those batches too: their effects left the chain with the block, and the
        // batcher resolves only submitted actions from the new receipt. A failed one goes back only while no other
        // attempt of the same step (or claim of the account) is live, which the unique indexes allow once. One
        // statement for them all; should it put two attempts in flight where a unique index allows one (a claim
        // settled in the block with a newer claim of the account queued since, two failed attempts of one step),
        // each goes back on its own, in id order, and one refused stays as it is: the batch is recovered from all its
        // rows, so its call still matches the recorded transaction (`Ledger::unresolved_batches`).
        if self.reopen_actions(reopened, None).await? {
            return Ok(());
        }
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM escrow_actions
             WHERE batch_id = ANY($1) AND status IN ('settled', 'confirmed', 'failed') ORDER BY id",
        )
        .bind(reopened)
        .fetch_all(&mut *self.tx)
        .await?;
        for id in ids {
            if !self.reopen_actions(reopened, Some(id)).await? {
                warn!(action = id, "a reorg removed this action's effect but another attempt is live: left as it was");
            }
        }
        Ok(())
    }

    /// Puts the actions of the `reopened` batches (only `only`, if given) back to `submitted` under a savepoint;
    /// false, with nothing changed, when a unique index refuses it.
    async fn reopen_actions(&mut self, reopened: &[i64], only: Option<i64>) -> Result<bool> {
        sqlx::query("SAVEPOINT reopen_actions").execute(&mut *self.tx).await?;
        let done = sqlx::query(
            "UPDATE escrow_actions a
             SET status = 'submitted', failure_reason = NULL, revert_reason = NULL, updated_at = now()
             WHERE a.batch_id = ANY($1) AND ($2::bigint IS NULL OR a.id = $2)
               AND (a.status IN ('settled', 'confirmed')
                    OR (a.status = 'failed' AND NOT EXISTS (
                        SELECT 1 FROM escrow_actions b
                        WHERE b.id <> a.id AND b.chain_id = a.chain_id AND b.escrow = a.escrow AND b.kind = a.kind
                          AND CASE WHEN a.kind IN ('claim', 'vault_claim')
                                   THEN b.asset = a.asset AND b.account = a.account
                                        AND b.status IN ('pending', 'submitted')
                                   ELSE b.job_id = a.job_id AND b.status <> 'failed' END)))",
        )
        .bind(reopened)
        .bind(only)
        .execute(&mut *self.tx)
        .await;
        match done {
            Ok(_) => {
                sqlx::query("RELEASE SAVEPOINT reopen_actions").execute(&mut *self.tx).await?;
                Ok(true)
            }
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                sqlx::query("ROLLBACK TO SAVEPOINT reopen_actions").execute(&mut *self.tx).await?;
                sqlx::query("RELEASE SAVEPOINT reopen_actions").execute(&mut *self.tx).await?;
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
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
