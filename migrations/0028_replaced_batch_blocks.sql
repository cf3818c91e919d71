-- Batches mined in a block a reorg replaced before the indexer stored it.
--
-- The indexer reopens the batches of the blocks it rolls back; a batch whose receipt came from a block that was
-- replaced before the indexer reached it was never reopened, and stayed `settled` on its receipt's word. Each indexer
-- write now compares the blocks batches were recorded as mined in, up to its range's end, with the chain's
-- (crates/indexer/src/indexer.rs, `replaced_batch_blocks`). This index serves that look by height.
CREATE INDEX settlement_batches_mined ON settlement_batches (chain_id, block_number)
    WHERE block_number IS NOT NULL AND abandoned_at IS NULL;
