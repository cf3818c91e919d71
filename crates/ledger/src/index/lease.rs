//! The single-writer lease of one (chain, indexer) and its checkpoint.

use alloy::primitives::B256;
use sqlx::{Connection, PgConnection, postgres::PgRow};

use super::{inserts::insert_blocks, rows::BlockRef};
use crate::{Error, Ledger, Result, decode::Fields, encode::int};

/// The indexer name the `escrow_job_status` and `escrow_claimable` views read the confirmed height of.
pub const MAIN_INDEXER: &str = "clearing";

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
    pub(super) chain_id: u64,
    pub(super) indexer: String,
    pub(super) epoch: i64,
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
}

pub(super) fn checkpoint_of(row: &PgRow) -> Result<Checkpoint> {
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
