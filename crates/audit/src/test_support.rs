//! TEST SUPPORT ONLY (feature `test-support`), until the indexer lands: copies a contract's logs from RPC into
//! `chain_logs` and moves an indexer checkpoint to the head, with none of the indexer's reorg handling. The
//! indexer replaces it; nothing outside tests may call it.

use alloy::{
    primitives::Address,
    providers::Provider,
    rpc::types::{BlockNumberOrTag, Filter},
};
use clearing_chain::ChainProvider;
use clearing_ledger::Ledger;

use crate::{Result, rebuild::chain_log};

/// Copies every log of `addresses` in `from_block..=head` into `chain_logs` and sets the checkpoint of
/// `indexer` to the head; returns the head.
pub async fn index_logs_from_rpc(
    ledger: &Ledger,
    provider: &ChainProvider,
    indexer: &str,
    addresses: &[Address],
    from_block: u64,
) -> Result<u64> {
    let chain_id = provider.get_chain_id().await?;
    let head = provider.get_block_by_number(BlockNumberOrTag::Latest).await?.expect("the latest block exists");
    let number = head.header.number;
    let filter = Filter::new().address(addresses.to_vec()).from_block(from_block).to_block(number);
    let logs: Vec<_> =
        provider.get_logs(&filter).await?.into_iter().filter_map(|log| chain_log(chain_id, log)).collect();
    ledger.test_support_write_chain_logs(chain_id, indexer, &logs, (number, head.header.hash)).await?;
    Ok(number)
}
