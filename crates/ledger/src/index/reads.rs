//! Reads of what the indexer wrote: the block window, the projections' digests and the escrow views.

use alloy::primitives::{Address, B256, U256};
use sqlx::Row;

use super::rows::{BlockRef, JobStatus};
use crate::{JobId, Ledger, Result, decode::Fields, encode::int};

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
const DIGESTED: [(&str, &str); 11] = [
    ("chain_logs", "block_number, log_index"),
    ("settler_payments", "block_number, log_index"),
    ("escrow_jobs", "block_number, log_index"),
    ("escrow_job_events", "block_number, log_index"),
    ("escrow_fund_failures", "block_number, log_index"),
    ("escrow_credits", "block_number, log_index"),
    ("escrow_balance_changes", "block_number, log_index, part"),
    ("anchors", "block_number, log_index"),
    ("escrow_claimable_at", "escrow, token, account"),
    ("vault_events", "block_number, log_index"),
    ("subscription_events", "block_number, log_index"),
];

/// A block a batch was recorded as mined in (from its receipt) that the stored chain does not show at its height.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinedBlock {
    /// Its height.
    pub number: u64,
    /// The hash the batch's receipt gave.
    pub hash: B256,
    /// The hash the stored chain has at that height (a remembered block, or any indexed log of it), when it has one.
    pub stored: Option<B256>,
}

impl Ledger {
    /// The blocks of heights `from..=to` that batches of `chain_id` (neither abandoned nor reopened) were recorded as
    /// mined in and that the stored chain does not show there: each is either not indexed yet, or replaced.
    pub async fn batch_blocks_unseen(&self, chain_id: u64, from: u64, to: u64) -> Result<Vec<MinedBlock>> {
        let rows = sqlx::query(
            "SELECT m.block_number, m.block_hash, m.stored
             FROM (SELECT DISTINCT b.block_number, b.block_hash,
                          coalesce((SELECT k.hash FROM chain_blocks k
                                    WHERE k.chain_id = b.chain_id AND k.number = b.block_number),
                                   (SELECT l.block_hash FROM chain_logs l
                                    WHERE l.chain_id = b.chain_id AND l.block_number = b.block_number
                                    ORDER BY l.log_index LIMIT 1)) AS stored
                   FROM settlement_batches b
                   WHERE b.chain_id = $1 AND b.block_number BETWEEN $2 AND $3 AND b.abandoned_at IS NULL) m
             WHERE m.stored IS DISTINCT FROM m.block_hash",
        )
        .bind(int(chain_id))
        .bind(int(from))
        .bind(int(to))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let f = Fields::of("settlement_batches", row);
                Ok(MinedBlock {
                    number: f.u64("block_number")?,
                    hash: f.b256("block_hash")?,
                    stored: f.opt_b256("stored")?,
                })
            })
            .collect()
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
        job_id: JobId,
    ) -> Result<Option<(Option<JobStatus>, Option<JobStatus>)>> {
        let row = sqlx::query(
            "SELECT status::text AS status, confirmed_status::text AS confirmed_status FROM escrow_job_status
             WHERE chain_id = $1 AND escrow = $2 AND job_id = $3",
        )
        .bind(int(chain_id))
        .bind(escrow.as_slice())
        .bind(job_id.0.as_slice())
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
