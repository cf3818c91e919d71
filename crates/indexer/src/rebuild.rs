//! Rebuilding every projection from chain data into a fresh schema, and comparing it with the live index.

use clearing_chain::ChainProvider;
use clearing_ledger::{Ledger, MAIN_INDEXER, TableDigest};
use tracing::info;

use crate::{Error, Indexer, IndexerConfig, Result, Targets};

/// The indexer name a rebuild writes under (its own lease, beside the live indexer's).
pub const REBUILD_INDEXER: &str = "rebuild";

/// One table of a rebuild compared with the live index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableComparison {
    /// The live index's rows and digest.
    pub live: TableDigest,
    /// The rebuild's.
    pub rebuilt: TableDigest,
}

impl TableComparison {
    /// Whether the two hold the same rows.
    pub fn equal(&self) -> bool {
        self.live.rows == self.rebuilt.rows && self.live.md5 == self.rebuilt.md5
    }
}

/// What a rebuild found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebuildReport {
    /// The block both were compared at (the live checkpoint when the rebuild began).
    pub block: u64,
    /// Every projection table.
    pub tables: Vec<TableComparison>,
}

impl RebuildReport {
    /// Whether every table agrees.
    pub fn equal(&self) -> bool {
        self.tables.iter().all(TableComparison::equal)
    }
}

/// Indexes `targets` from its start block up to the live index's checkpoint into `schema` (dropped first, so it
/// starts empty), reading the chain only, and compares every projection with the live one. The schema is dropped
/// afterwards unless `keep`. The chain must not reorg under the live checkpoint meanwhile
/// ([`Error::RebuildDiverged`]).
pub async fn rebuild(
    ledger: &Ledger,
    provider: ChainProvider,
    targets: Targets,
    config: &IndexerConfig,
    schema: &str,
    keep: bool,
) -> Result<RebuildReport> {
    let chain_id = targets.chain_id;
    let live = ledger.indexer_checkpoint(chain_id, MAIN_INDEXER).await?;
    let block = live.map_or(targets.start_block.saturating_sub(1), |c| c.block_number);
    ledger.drop_schema(schema).await?;
    let fresh = ledger.in_schema(schema, 4).await?;
    fresh.migrate().await?;
    info!(chain_id, block, schema, "rebuilding projections from chain data");
    let reached =
        Indexer::new(fresh.clone(), provider, targets, config).await?.with_name(REBUILD_INDEXER).sync_to(block).await?;
    if let Some(live) = live
        && (reached.block_number != live.block_number || reached.block_hash != live.block_hash)
    {
        return Err(Error::RebuildDiverged {
            number: live.block_number,
            expected: live.block_hash,
            got: reached.block_hash,
        });
    }
    let live_digest = ledger.projection_digest(chain_id, block).await?;
    let rebuilt_digest = fresh.projection_digest(chain_id, block).await?;
    fresh.close().await;
    if !keep {
        ledger.drop_schema(schema).await?;
    }
    let tables =
        live_digest.into_iter().zip(rebuilt_digest).map(|(live, rebuilt)| TableComparison { live, rebuilt }).collect();
    Ok(RebuildReport { block, tables })
}
