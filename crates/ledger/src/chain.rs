//! The indexer's tables: raw chain data (`chain_blocks`, `chain_logs`), its checkpoint and confirmed height, the
//! projections derived from the logs, the outbox, and the confirmation (or retraction) of the facilitator's queue
//! items from indexed `PaymentSettled` logs.
//!
//! One writer per (chain, indexer): [`Ledger::acquire_indexer`] takes a session advisory lock on a connection of
//! its own and bumps the checkpoint's `writer_epoch`; every [`IndexTx`] checks that epoch under `FOR UPDATE` before
//! it writes (fencing), and checks that the batch was built on the stored checkpoint. A batch's logs, projections,
//! outbox rows and checkpoint are one transaction; the `chain_indexed` notification is queued in it and so is
//! delivered only after the commit.
//!
//! Projection rows are keyed like the log they come from, (chain id, block number, log index), and are only ever
//! inserted or deleted, so [`IndexTx::rollback_to`] is a `DELETE` above the common ancestor in each table.

use alloy::primitives::{Address, B256, Bytes, U256};
use sqlx::{Connection, PgConnection, Postgres, Row, Transaction, postgres::PgRow};

use crate::{Error, Ledger, Result, decode::Fields, encode::int};

/// The PostgreSQL notification channel the indexer announces `<chain id>:<block>:<confirmed block>` on after each
/// committed batch or rollback. A wake-up only: the durable record is `indexer_outbox`.
pub const INDEXED_CHANNEL: &str = "chain_indexed";

/// The indexer name the `escrow_job_status` and `escrow_claimable` views read the confirmed height of.
pub const MAIN_INDEXER: &str = "clearing";

/// A block as the indexer remembers it, to detect forks by parent hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockRef {
    /// Height.
    pub number: u64,
    /// Hash.
    pub hash: B256,
    /// The parent's hash.
    pub parent_hash: B256,
    /// Unix seconds.
    pub timestamp: u64,
}

/// A log as the node returned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawLog {
    /// Where it is.
    pub position: LogPosition,
    /// Its transaction's index in the block.
    pub tx_index: u64,
    /// The emitting contract.
    pub address: Address,
    /// topic0 (the event signature) to topic3.
    pub topics: Vec<B256>,
    /// The non-indexed data.
    pub data: Bytes,
}

/// Where a log (and every projection row made from it) sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LogPosition {
    /// Block height.
    pub block_number: u64,
    /// Index in the block.
    pub log_index: u64,
    /// Block hash.
    pub block_hash: B256,
    /// Transaction hash.
    pub tx_hash: B256,
}

/// A BatchSettler item event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlerPayment {
    /// The log.
    pub position: LogPosition,
    /// The BatchSettler.
    pub settler: Address,
    /// The authorization's `from`.
    pub payer: Address,
    /// The authorization's nonce.
    pub nonce: B256,
    /// What happened to it.
    pub outcome: PaymentOutcome,
}

/// `PaymentSettled` or `PaymentFailed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentOutcome {
    /// The token moved `value` to `pay_to`.
    Settled {
        /// The token.
        token: Address,
        /// The payee.
        pay_to: Address,
        /// Atomic units.
        value: U256,
    },
    /// The token refused it.
    Failed {
        /// The token's revert data.
        reason: Bytes,
    },
}

/// `JobFunded`: a job's full terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscrowJob {
    /// The log.
    pub position: LogPosition,
    /// The escrow contract.
    pub escrow: Address,
    /// The job id (the hash of the terms).
    pub job_id: B256,
    /// Pays the amount.
    pub payer: Address,
    /// Does the job.
    pub provider: Address,
    /// The token.
    pub token: Address,
    /// Atomic units.
    pub amount: U256,
    /// Atomic units, part of `amount`.
    pub fee: U256,
    /// Resolves disputes.
    pub arbiter: Address,
    /// Unix seconds.
    pub funding_deadline: u64,
    /// Unix seconds.
    pub completion_deadline: u64,
    /// Seconds.
    pub review_window: u64,
    /// Makes otherwise equal terms distinct.
    pub salt: B256,
}

/// A job's lifecycle status, as the escrow's events announce it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobStatus {
    /// `JobFunded`.
    Funded,
    /// `JobCompleted`.
    Completed,
    /// `JobDisputed`.
    Disputed,
    /// `JobReleased`.
    Released,
    /// `JobRefunded`.
    Refunded,
    /// `JobResolved`.
    Resolved,
}

impl JobStatus {
    const fn as_sql(self) -> &'static str {
        match self {
            Self::Funded => "funded",
            Self::Completed => "completed",
            Self::Disputed => "disputed",
            Self::Released => "released",
            Self::Refunded => "refunded",
            Self::Resolved => "resolved",
        }
    }

    fn from_sql(s: &str) -> Option<Self> {
        Some(match s {
            "funded" => Self::Funded,
            "completed" => Self::Completed,
            "disputed" => Self::Disputed,
            "released" => Self::Released,
            "refunded" => Self::Refunded,
            "resolved" => Self::Resolved,
            _ => return None,
        })
    }
}

/// One lifecycle transition of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobEvent {
    /// The log.
    pub position: LogPosition,
    /// The escrow contract.
    pub escrow: Address,
    /// The job.
    pub job_id: B256,
    /// The status it moved to.
    pub status: JobStatus,
    /// `JobCompleted`: (completedAt, reviewEndsAt), Unix seconds.
    pub completed: Option<(U256, U256)>,
    /// `JobResolved`: the provider's share in bps.
    pub provider_bps: Option<u16>,
    /// Credited to the payer (refund, resolution).
    pub payer_amount: Option<U256>,
    /// Credited to the provider (release, resolution).
    pub provider_amount: Option<U256>,
    /// Credited to the fee recipient (release, resolution).
    pub fee_amount: Option<U256>,
}

/// `JobFundFailed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FundFailure {
    /// The log.
    pub position: LogPosition,
    /// The escrow contract.
    pub escrow: Address,
    /// The item's job id.
    pub job_id: B256,
    /// The item's payer.
    pub payer: Address,
    /// The revert data.
    pub reason: Bytes,
}

/// Who a job credit goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreditParty {
    /// The job's payer.
    Payer,
    /// The job's provider.
    Provider,
    /// The escrow's fee recipient.
    FeeRecipient(Address),
}

/// A change of a claimable balance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BalanceChange {
    /// A job's transition credited `amount` of the job's token to `party`.
    Credit {
        /// The log.
        position: LogPosition,
        /// Numbers the changes of one log.
        part: u8,
        /// The escrow contract.
        escrow: Address,
        /// The job.
        job_id: B256,
        /// Who is credited.
        party: CreditParty,
        /// Atomic units.
        amount: U256,
    },
    /// `Claimed`: `account`'s whole balance of `token` went to `to`.
    Claim {
        /// The log.
        position: LogPosition,
        /// The escrow contract.
        escrow: Address,
        /// The token.
        token: Address,
        /// Whose balance.
        account: Address,
        /// The recipient.
        to: Address,
        /// Atomic units.
        amount: U256,
    },
}

/// `Anchored`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    /// The log.
    pub position: LogPosition,
    /// The AnchorRegistry.
    pub registry: Address,
    /// 0-based position in the registry.
    pub index: U256,
    /// The Merkle root.
    pub root: B256,
    /// First sequence number covered.
    pub first_seq: u64,
    /// Last sequence number covered, inclusive.
    pub last_seq: u64,
}

/// Everything one batch of logs projects to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Projections {
    /// BatchSettler item events.
    pub payments: Vec<SettlerPayment>,
    /// Funded jobs.
    pub jobs: Vec<EscrowJob>,
    /// Job transitions (funded included).
    pub job_events: Vec<JobEvent>,
    /// Failed fundMany items.
    pub fund_failures: Vec<FundFailure>,
    /// Claimable balance changes.
    pub balance_changes: Vec<BalanceChange>,
    /// Anchors.
    pub anchors: Vec<Anchor>,
}

/// Where an indexer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// The last block fully written.
    pub block_number: u64,
    /// Its hash.
    pub block_hash: B256,
    /// The highest block at confirmation depth, if any.
    pub confirmed_block: Option<u64>,
    /// The fencing epoch of the current writer.
    pub writer_epoch: i64,
}

/// The right to write one indexer's data: a session advisory lock on a connection of its own, and the fencing
/// epoch set when it was taken. Dropping it closes the connection, which releases the lock.
#[derive(Debug)]
pub struct IndexerLease {
    lock: PgConnection,
    chain_id: u64,
    indexer: String,
    epoch: i64,
    checkpoint: Checkpoint,
}

impl IndexerLease {
    /// The chain.
    pub const fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The checkpoint when the lease was taken.
    pub const fn checkpoint(&self) -> Checkpoint {
        self.checkpoint
    }

    /// Gives the lease up: unlocks and closes the lock's connection.
    pub async fn release(self) -> Result<()> {
        self.lock.close().await?;
        Ok(())
    }

    /// Whether the lock's connection still answers (a lost connection means a lost lock).
    pub async fn is_alive(&mut self) -> bool {
        self.lock.ping().await.is_ok()
    }
}

/// One write transaction of the indexer, fenced and checked against the checkpoint when it began.
#[derive(Debug)]
pub struct IndexTx {
    tx: Transaction<'static, Postgres>,
    chain_id: u64,
    indexer: String,
    checkpoint: Checkpoint,
}

/// Row count and digest of one projection table, for comparing an incremental index with a rebuild.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDigest {
    /// The table.
    pub table: &'static str,
    /// Rows of the chain at or below the height asked for.
    pub rows: i64,
    /// md5 of the rows as text, in key order.
    pub md5: String,
}

/// The tables [`Ledger::projection_digest`] compares, with the columns that order them.
const DIGESTED: [(&str, &str); 8] = [
    ("chain_logs", "block_number, log_index"),
    ("settler_payments", "block_number, log_index"),
    ("escrow_jobs", "block_number, log_index"),
    ("escrow_job_events", "block_number, log_index"),
    ("escrow_fund_failures", "block_number, log_index"),
    ("escrow_balance_changes", "block_number, log_index, part"),
    ("anchors", "block_number, log_index"),
    ("escrow_claimable_at", "escrow, token, account"),
];

/// Every table holding rows derived from one block, for rollbacks.
const BLOCK_TABLES: [&str; 7] = [
    "chain_logs",
    "settler_payments",
    "escrow_jobs",
    "escrow_job_events",
    "escrow_fund_failures",
    "escrow_balance_changes",
    "anchors",
];

impl Ledger {
    /// Takes the single-writer lease of `indexer` on `chain_id`, or fails with [`Error::IndexerLocked`]. A new
    /// indexer's checkpoint starts at `genesis` (the block before its start block), which is also remembered in the
    /// block window.
    pub async fn acquire_indexer(&self, chain_id: u64, indexer: &str, genesis: BlockRef) -> Result<IndexerLease> {
        let options = self.pool.connect_options();
        let mut lock = PgConnection::connect_with(&options).await?;
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext('clearing-indexer:' || $1), $2)")
            .bind(indexer)
            .bind(lock_key(chain_id))
            .fetch_one(&mut lock)
            .await?;
        if !locked {
            return Err(Error::IndexerLocked { chain_id, indexer: indexer.to_owned() });
        }
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "INSERT INTO indexer_checkpoints (chain_id, indexer, block_number, block_hash, writer_epoch)
             VALUES ($1, $2, $3, $4, 1)
             ON CONFLICT (chain_id, indexer) DO UPDATE SET writer_epoch = indexer_checkpoints.writer_epoch + 1
             RETURNING block_number, block_hash, confirmed_block, writer_epoch",
        )
        .bind(int(chain_id))
        .bind(indexer)
        .bind(int(genesis.number))
        .bind(genesis.hash.as_slice())
        .fetch_one(&mut *tx)
        .await?;
        let checkpoint = checkpoint_of(&row)?;
        if checkpoint.writer_epoch == 1 {
            insert_blocks(&mut tx, chain_id, &[genesis]).await?;
        }
        tx.commit().await?;
        Ok(IndexerLease { lock, chain_id, indexer: indexer.to_owned(), epoch: checkpoint.writer_epoch, checkpoint })
    }

    /// Where `indexer` of `chain_id` stands, if it ever ran.
    pub async fn indexer_checkpoint(&self, chain_id: u64, indexer: &str) -> Result<Option<Checkpoint>> {
        let row = sqlx::query(
            "SELECT block_number, block_hash, confirmed_block, writer_epoch FROM indexer_checkpoints
             WHERE chain_id = $1 AND indexer = $2",
        )
        .bind(int(chain_id))
        .bind(indexer)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(checkpoint_of).transpose()
    }

    /// The highest block of `chain_id` that `indexer` holds at its confirmation depth: rows of `chain_logs` (and of
    /// every projection) at or below it are final unless a reorg deeper than the depth happens. None before the
    /// first block reaches depth.
    pub async fn confirmed_block(&self, chain_id: u64, indexer: &str) -> Result<Option<u64>> {
        Ok(self.indexer_checkpoint(chain_id, indexer).await?.and_then(|c| c.confirmed_block))
    }

    /// The remembered blocks of `chain_id` at or below `at_most`, newest first, at most `limit` of them.
    pub async fn block_window(&self, chain_id: u64, at_most: u64, limit: u64) -> Result<Vec<BlockRef>> {
        let rows = sqlx::query(
            "SELECT number, hash, parent_hash, timestamp FROM chain_blocks
             WHERE chain_id = $1 AND number <= $2 ORDER BY number DESC LIMIT $3",
        )
        .bind(int(chain_id))
        .bind(int(at_most))
        .bind(int(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let f = Fields::of("chain_blocks", row);
                Ok(BlockRef {
                    number: f.u64("number")?,
                    hash: f.b256("hash")?,
                    parent_hash: f.b256("parent_hash")?,
                    timestamp: f.u64("timestamp")?,
                })
            })
            .collect()
    }

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

    /// Row counts and digests of the raw logs and every projection of `chain_id` at or below `up_to` (claimable
    /// balances as of `up_to`). Two indexes of the same chain agree exactly when these agree.
    pub async fn projection_digest(&self, chain_id: u64, up_to: u64) -> Result<Vec<TableDigest>> {
        let mut digests = Vec::with_capacity(DIGESTED.len());
        for (table, order) in DIGESTED {
            let source = if table == "escrow_claimable_at" {
                "(SELECT chain_id, escrow, token, account, sum(delta) AS claimable, max(block_number) AS block_number
                  FROM escrow_balance_changes WHERE chain_id = $1 AND block_number <= $2
                  GROUP BY chain_id, escrow, token, account)"
                    .to_owned()
            } else {
                table.to_owned()
            };
            let sql = format!(
                "SELECT count(*) AS rows, coalesce(md5(string_agg(t::text, '|' ORDER BY {order})), '') AS md5
                 FROM {source} t WHERE t.chain_id = $1 AND t.block_number <= $2"
            );
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(int(chain_id))
                .bind(int(up_to))
                .fetch_one(&self.pool)
                .await?;
            digests.push(TableDigest { table, rows: row.try_get("rows")?, md5: row.try_get("md5")? });
        }
        Ok(digests)
    }

    /// A job's status as observed (newest transition) and as confirmed (newest at the main indexer's confirmed
    /// height); None if the job was never seen funded.
    pub async fn escrow_job_status(
        &self,
        chain_id: u64,
        escrow: Address,
        job_id: B256,
    ) -> Result<Option<(Option<JobStatus>, Option<JobStatus>)>> {
        let row = sqlx::query(
            "SELECT status::text AS status, confirmed_status::text AS confirmed_status FROM escrow_job_status
             WHERE chain_id = $1 AND escrow = $2 AND job_id = $3",
        )
        .bind(int(chain_id))
        .bind(escrow.as_slice())
        .bind(job_id.as_slice())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let f = Fields::of("escrow_job_status", &row);
        let status = |column| f.opt_parsed(column, "a job status", |s: &String| JobStatus::from_sql(s));
        Ok(Some((status("status")?, status("confirmed_status")?)))
    }

    /// `account`'s claimable balance of `token` at `escrow`: (observed, confirmed), in atomic units.
    pub async fn escrow_claimable(
        &self,
        chain_id: u64,
        escrow: Address,
        token: Address,
        account: Address,
    ) -> Result<(U256, U256)> {
        let row = sqlx::query(
            "SELECT claimable::text AS claimable, confirmed_claimable::text AS confirmed_claimable FROM escrow_claimable
             WHERE chain_id = $1 AND escrow = $2 AND token = $3 AND account = $4",
        )
        .bind(int(chain_id))
        .bind(escrow.as_slice())
        .bind(token.as_slice())
        .bind(account.as_slice())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok((U256::ZERO, U256::ZERO)) };
        let f = Fields::of("escrow_claimable", &row);
        Ok((f.number("claimable")?, f.number("confirmed_claimable")?))
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
        insert_balance_changes(&mut self.tx, self.chain_id, &projections.balance_changes).await?;
        insert_anchors(&mut self.tx, self.chain_id, &projections.anchors).await?;
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
                sqlx::query(
                    "UPDATE settlements s SET status = 'confirmed', updated_at = now()
                     FROM settler_payments p
                     WHERE s.chain_id = $1 AND s.status = 'settled'
                       AND p.chain_id = s.chain_id AND p.payer = s.payer AND p.nonce = s.nonce AND p.settled
                       AND p.token = s.asset AND p.block_number <= $2",
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
    /// removed block are reopened and their items go back to `submitted` (the batcher's recovery looks their
    /// transactions up again); a 'retracted' outbox row; the checkpoint and the confirmed height move to
    /// `ancestor`. Returns how many logs were removed.
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

type Tx = Transaction<'static, Postgres>;

async fn insert_blocks(tx: &mut Tx, chain_id: u64, blocks: &[BlockRef]) -> Result<()> {
    if blocks.is_empty() {
        return Ok(());
    }
    let numbers: Vec<i64> = blocks.iter().map(|b| int(b.number)).collect();
    let hashes: Vec<&[u8]> = blocks.iter().map(|b| b.hash.as_slice()).collect();
    let parents: Vec<&[u8]> = blocks.iter().map(|b| b.parent_hash.as_slice()).collect();
    let times: Vec<i64> = blocks.iter().map(|b| int(b.timestamp)).collect();
    sqlx::query(
        "INSERT INTO chain_blocks (chain_id, number, hash, parent_hash, timestamp)
         SELECT $1, * FROM unnest($2::bigint[], $3::bytea[], $4::bytea[], $5::bigint[])
         ON CONFLICT (chain_id, number) DO NOTHING",
    )
    .bind(int(chain_id))
    .bind(&numbers)
    .bind(&hashes)
    .bind(&parents)
    .bind(&times)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn insert_logs(tx: &mut Tx, chain_id: u64, logs: &[RawLog]) -> Result<()> {
    if logs.is_empty() {
        return Ok(());
    }
    let (numbers, hashes, indexes, txs) = positions(logs.iter().map(|l| &l.position));
    let tx_indexes: Vec<i64> = logs.iter().map(|l| int(l.tx_index)).collect();
    let addresses: Vec<&[u8]> = logs.iter().map(|l| l.address.as_slice()).collect();
    let topic =
        |i: usize| -> Vec<Option<&[u8]>> { logs.iter().map(|l| l.topics.get(i).map(|t| t.as_slice())).collect() };
    let data: Vec<&[u8]> = logs.iter().map(|l| l.data.as_ref()).collect();
    sqlx::query(
        "INSERT INTO chain_logs
             (chain_id, block_number, block_hash, log_index, tx_hash, tx_index, address, topics, data)
         SELECT $1, u.n, u.h, u.i, u.tx, u.txi, u.a, array_remove(ARRAY[u.t0, u.t1, u.t2, u.t3], NULL), u.d
         FROM unnest($2::bigint[], $3::bytea[], $4::bigint[], $5::bytea[], $6::bigint[], $7::bytea[],
                     $8::bytea[], $9::bytea[], $10::bytea[], $11::bytea[], $12::bytea[])
              AS u(n, h, i, tx, txi, a, t0, t1, t2, t3, d)
         ON CONFLICT DO NOTHING",
    )
    .bind(int(chain_id))
    .bind(&numbers)
    .bind(&hashes)
    .bind(&indexes)
    .bind(&txs)
    .bind(&tx_indexes)
    .bind(&addresses)
    .bind(topic(0))
    .bind(topic(1))
    .bind(topic(2))
    .bind(topic(3))
    .bind(&data)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn insert_payments(tx: &mut Tx, chain_id: u64, rows: &[SettlerPayment]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let (numbers, hashes, indexes, txs) = positions(rows.iter().map(|r| &r.position));
    let settlers: Vec<&[u8]> = rows.iter().map(|r| r.settler.as_slice()).collect();
    let payers: Vec<&[u8]> = rows.iter().map(|r| r.payer.as_slice()).collect();
    let nonces: Vec<&[u8]> = rows.iter().map(|r| r.nonce.as_slice()).collect();
    let mut settled = Vec::with_capacity(rows.len());
    let mut tokens = Vec::with_capacity(rows.len());
    let mut pay_tos = Vec::with_capacity(rows.len());
    let mut values = Vec::with_capacity(rows.len());
    let mut reasons = Vec::with_capacity(rows.len());
    for row in rows {
        match &row.outcome {
            PaymentOutcome::Settled { token, pay_to, value } => {
                settled.push(true);
                tokens.push(Some(token.as_slice()));
                pay_tos.push(Some(pay_to.as_slice()));
                values.push(Some(value.to_string()));
                reasons.push(None);
            }
            PaymentOutcome::Failed { reason } => {
                settled.push(false);
                tokens.push(None);
                pay_tos.push(None);
                values.push(None);
                reasons.push(Some(reason.as_ref()));
            }
        }
    }
    sqlx::query(
        "INSERT INTO settler_payments (chain_id, block_number, block_hash, log_index, tx_hash, settler, payer, nonce,
                                       settled, token, pay_to, value, failure_reason)
         SELECT $1, u.n, u.h, u.i, u.tx, u.s, u.p, u.nonce, u.ok, u.t, u.payee, u.v::numeric, u.r
         FROM unnest($2::bigint[], $3::bytea[], $4::bigint[], $5::bytea[], $6::bytea[], $7::bytea[], $8::bytea[],
                     $9::bool[], $10::bytea[], $11::bytea[], $12::text[], $13::bytea[])
              AS u(n, h, i, tx, s, p, nonce, ok, t, payee, v, r)
         ON CONFLICT DO NOTHING",
    )
    .bind(int(chain_id))
    .bind(&numbers)
    .bind(&hashes)
    .bind(&indexes)
    .bind(&txs)
    .bind(&settlers)
    .bind(&payers)
    .bind(&nonces)
    .bind(&settled)
    .bind(&tokens)
    .bind(&pay_tos)
    .bind(&values)
    .bind(&reasons)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn insert_jobs(tx: &mut Tx, chain_id: u64, rows: &[EscrowJob]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let (numbers, hashes, indexes, txs) = positions(rows.iter().map(|r| &r.position));
    let bytes = |f: fn(&EscrowJob) -> &[u8]| -> Vec<&[u8]> { rows.iter().map(f).collect() };
    let text = |f: fn(&EscrowJob) -> String| -> Vec<String> { rows.iter().map(f).collect() };
    sqlx::query(
        "INSERT INTO escrow_jobs (chain_id, block_number, block_hash, log_index, tx_hash, escrow, job_id, payer,
                                  provider, token, amount, fee, arbiter, funding_deadline, completion_deadline,
                                  review_window, salt)
         SELECT $1, u.n, u.h, u.i, u.tx, u.e, u.j, u.p, u.pr, u.t, u.a::numeric, u.f::numeric, u.ar,
                u.fd::numeric, u.cd::numeric, u.rw::numeric, u.s
         FROM unnest($2::bigint[], $3::bytea[], $4::bigint[], $5::bytea[], $6::bytea[], $7::bytea[], $8::bytea[],
                     $9::bytea[], $10::bytea[], $11::text[], $12::text[], $13::bytea[], $14::text[], $15::text[],
                     $16::text[], $17::bytea[])
              AS u(n, h, i, tx, e, j, p, pr, t, a, f, ar, fd, cd, rw, s)
         ON CONFLICT DO NOTHING",
    )
    .bind(int(chain_id))
    .bind(&numbers)
    .bind(&hashes)
    .bind(&indexes)
    .bind(&txs)
    .bind(bytes(|r| r.escrow.as_slice()))
    .bind(bytes(|r| r.job_id.as_slice()))
    .bind(bytes(|r| r.payer.as_slice()))
    .bind(bytes(|r| r.provider.as_slice()))
    .bind(bytes(|r| r.token.as_slice()))
    .bind(text(|r| r.amount.to_string()))
    .bind(text(|r| r.fee.to_string()))
    .bind(bytes(|r| r.arbiter.as_slice()))
    .bind(text(|r| r.funding_deadline.to_string()))
    .bind(text(|r| r.completion_deadline.to_string()))
    .bind(text(|r| r.review_window.to_string()))
    .bind(bytes(|r| r.salt.as_slice()))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn insert_job_events(tx: &mut Tx, chain_id: u64, rows: &[JobEvent]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let (numbers, hashes, indexes, txs) = positions(rows.iter().map(|r| &r.position));
    let escrows: Vec<&[u8]> = rows.iter().map(|r| r.escrow.as_slice()).collect();
    let jobs: Vec<&[u8]> = rows.iter().map(|r| r.job_id.as_slice()).collect();
    let statuses: Vec<&str> = rows.iter().map(|r| r.status.as_sql()).collect();
    let amount = |f: fn(&JobEvent) -> Option<U256>| -> Vec<Option<String>> {
        rows.iter().map(|r| f(r).map(|v| v.to_string())).collect()
    };
    let bps: Vec<Option<i32>> = rows.iter().map(|r| r.provider_bps.map(i32::from)).collect();
    sqlx::query(
        "INSERT INTO escrow_job_events (chain_id, block_number, block_hash, log_index, tx_hash, escrow, job_id, status,
                                        completed_at, review_ends_at, provider_bps, payer_amount, provider_amount,
                                        fee_amount)
         SELECT $1, u.n, u.h, u.i, u.tx, u.e, u.j, u.s::escrow_status, u.c::numeric, u.r::numeric, u.b,
                u.pa::numeric, u.pr::numeric, u.f::numeric
         FROM unnest($2::bigint[], $3::bytea[], $4::bigint[], $5::bytea[], $6::bytea[], $7::bytea[], $8::text[],
                     $9::text[], $10::text[], $11::int[], $12::text[], $13::text[], $14::text[])
              AS u(n, h, i, tx, e, j, s, c, r, b, pa, pr, f)
         ON CONFLICT DO NOTHING",
    )
    .bind(int(chain_id))
    .bind(&numbers)
    .bind(&hashes)
    .bind(&indexes)
    .bind(&txs)
    .bind(&escrows)
    .bind(&jobs)
    .bind(&statuses)
    .bind(amount(|r| r.completed.map(|c| c.0)))
    .bind(amount(|r| r.completed.map(|c| c.1)))
    .bind(&bps)
    .bind(amount(|r| r.payer_amount))
    .bind(amount(|r| r.provider_amount))
    .bind(amount(|r| r.fee_amount))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn insert_fund_failures(tx: &mut Tx, chain_id: u64, rows: &[FundFailure]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let (numbers, hashes, indexes, txs) = positions(rows.iter().map(|r| &r.position));
    let escrows: Vec<&[u8]> = rows.iter().map(|r| r.escrow.as_slice()).collect();
    let jobs: Vec<&[u8]> = rows.iter().map(|r| r.job_id.as_slice()).collect();
    let payers: Vec<&[u8]> = rows.iter().map(|r| r.payer.as_slice()).collect();
    let reasons: Vec<&[u8]> = rows.iter().map(|r| r.reason.as_ref()).collect();
    sqlx::query(
        "INSERT INTO escrow_fund_failures (chain_id, block_number, block_hash, log_index, tx_hash, escrow, job_id,
                                           payer, reason)
         SELECT $1, * FROM unnest($2::bigint[], $3::bytea[], $4::bigint[], $5::bytea[], $6::bytea[], $7::bytea[],
                                  $8::bytea[], $9::bytea[])
         ON CONFLICT DO NOTHING",
    )
    .bind(int(chain_id))
    .bind(&numbers)
    .bind(&hashes)
    .bind(&indexes)
    .bind(&txs)
    .bind(&escrows)
    .bind(&jobs)
    .bind(&payers)
    .bind(&reasons)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Credits name a job and a party: the token and the account come from the job's terms, written earlier in the
/// same transaction or in an earlier one (a job's events all follow its `JobFunded`).
async fn insert_balance_changes(tx: &mut Tx, chain_id: u64, rows: &[BalanceChange]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let n = rows.len();
    let (mut numbers, mut indexes, mut parts) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut escrows, mut jobs, mut parties) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut tokens, mut accounts, mut tos) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let mut deltas = Vec::with_capacity(n);
    for row in rows {
        match row {
            BalanceChange::Credit { position, part, escrow, job_id, party, amount } => {
                numbers.push(int(position.block_number));
                indexes.push(int(position.log_index));
                parts.push(i16::from(*part));
                escrows.push(escrow.as_slice());
                jobs.push(Some(job_id.as_slice()));
                let (name, account) = match party {
                    CreditParty::Payer => ("payer", None),
                    CreditParty::Provider => ("provider", None),
                    CreditParty::FeeRecipient(fee) => ("fee", Some(fee.as_slice())),
                };
                parties.push(name);
                tokens.push(None);
                accounts.push(account);
                tos.push(None);
                deltas.push(amount.to_string());
            }
            BalanceChange::Claim { position, escrow, token, account, to, amount } => {
                numbers.push(int(position.block_number));
                indexes.push(int(position.log_index));
                parts.push(0);
                escrows.push(escrow.as_slice());
                jobs.push(None);
                parties.push("claim");
                tokens.push(Some(token.as_slice()));
                accounts.push(Some(account.as_slice()));
                tos.push(Some(to.as_slice()));
                deltas.push(format!("-{amount}"));
            }
        }
    }
    sqlx::query(
        "INSERT INTO escrow_balance_changes (chain_id, block_number, log_index, part, escrow, token, account, delta,
                                             job_id, claimed_to)
         SELECT $1, u.n, u.i, u.part, u.e, coalesce(u.t, j.token),
                CASE u.party WHEN 'payer' THEN j.payer WHEN 'provider' THEN j.provider ELSE u.a END,
                u.d::numeric, u.j, u.recipient
         FROM unnest($2::bigint[], $3::bigint[], $4::smallint[], $5::bytea[], $6::bytea[], $7::text[], $8::bytea[],
                     $9::bytea[], $10::bytea[], $11::text[]) AS u(n, i, part, e, j, party, t, a, recipient, d)
         LEFT JOIN escrow_jobs j ON j.chain_id = $1 AND j.escrow = u.e AND j.job_id = u.j
         WHERE u.party = 'claim' OR j.job_id IS NOT NULL
         ON CONFLICT DO NOTHING",
    )
    .bind(int(chain_id))
    .bind(&numbers)
    .bind(&indexes)
    .bind(&parts)
    .bind(&escrows)
    .bind(&jobs)
    .bind(&parties)
    .bind(&tokens)
    .bind(&accounts)
    .bind(&tos)
    .bind(&deltas)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn insert_anchors(tx: &mut Tx, chain_id: u64, rows: &[Anchor]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let (numbers, hashes, indexes, txs) = positions(rows.iter().map(|r| &r.position));
    let registries: Vec<&[u8]> = rows.iter().map(|r| r.registry.as_slice()).collect();
    let anchor_indexes: Vec<String> = rows.iter().map(|r| r.index.to_string()).collect();
    let roots: Vec<&[u8]> = rows.iter().map(|r| r.root.as_slice()).collect();
    let firsts: Vec<String> = rows.iter().map(|r| r.first_seq.to_string()).collect();
    let lasts: Vec<String> = rows.iter().map(|r| r.last_seq.to_string()).collect();
    sqlx::query(
        "INSERT INTO anchors (chain_id, block_number, block_hash, log_index, tx_hash, registry, anchor_index, root,
                              first_seq, last_seq)
         SELECT $1, u.n, u.h, u.i, u.tx, u.r, u.x::numeric, u.root, u.f::numeric, u.l::numeric
         FROM unnest($2::bigint[], $3::bytea[], $4::bigint[], $5::bytea[], $6::bytea[], $7::text[], $8::bytea[],
                     $9::text[], $10::text[]) AS u(n, h, i, tx, r, x, root, f, l)
         ON CONFLICT DO NOTHING",
    )
    .bind(int(chain_id))
    .bind(&numbers)
    .bind(&hashes)
    .bind(&indexes)
    .bind(&txs)
    .bind(&registries)
    .bind(&anchor_indexes)
    .bind(&roots)
    .bind(&firsts)
    .bind(&lasts)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

type Positions<'a> = (Vec<i64>, Vec<&'a [u8]>, Vec<i64>, Vec<&'a [u8]>);

fn positions<'a>(iter: impl Iterator<Item = &'a LogPosition>) -> Positions<'a> {
    let (mut numbers, mut hashes, mut indexes, mut txs) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for p in iter {
        numbers.push(int(p.block_number));
        hashes.push(p.block_hash.as_slice());
        indexes.push(int(p.log_index));
        txs.push(p.tx_hash.as_slice());
    }
    (numbers, hashes, indexes, txs)
}

fn checkpoint_of(row: &PgRow) -> Result<Checkpoint> {
    let f = Fields::of("indexer_checkpoints", row);
    Ok(Checkpoint {
        block_number: f.u64("block_number")?,
        block_hash: f.b256("block_hash")?,
        confirmed_block: f.opt_u64("confirmed_block")?,
        writer_epoch: f.get("writer_epoch")?,
    })
}

/// The second key of the indexer's advisory lock: the chain id folded into an int4.
fn lock_key(chain_id: u64) -> i32 {
    (chain_id % (i32::MAX as u64)) as i32
}
