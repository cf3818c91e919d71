-- The indexer's raw chain data and its position.
--
-- The chain is the source of truth; these tables hold what was read from it, keyed by on-chain identity, so a
-- reorg can be undone by deleting everything above the common ancestor and every projection can be rebuilt
-- from chain_logs alone.

-- A window of recent blocks per chain, to detect a fork by checking each new block's parent hash.
CREATE TABLE chain_blocks (
    chain_id    BIGINT      NOT NULL,
    number      BIGINT      NOT NULL CHECK (number >= 0),
    hash        BYTEA       NOT NULL CHECK (length(hash) = 32),
    parent_hash BYTEA       NOT NULL CHECK (length(parent_hash) = 32),
    timestamp   BIGINT      NOT NULL,
    PRIMARY KEY (chain_id, number),
    UNIQUE (chain_id, hash)
);

-- Every log the indexer follows, as the node returned it.
CREATE TABLE chain_logs (
    chain_id     BIGINT  NOT NULL,
    block_number BIGINT  NOT NULL,
    block_hash   BYTEA   NOT NULL CHECK (length(block_hash) = 32),
    log_index    BIGINT  NOT NULL CHECK (log_index >= 0),
    tx_hash      BYTEA   NOT NULL CHECK (length(tx_hash) = 32),
    tx_index     BIGINT  NOT NULL,
    address      BYTEA   NOT NULL CHECK (length(address) = 20),
    -- topic0..topic3; topic0 is the event signature hash (anonymous events are not followed).
    topics       BYTEA[] NOT NULL CHECK (cardinality(topics) BETWEEN 1 AND 4),
    data         BYTEA   NOT NULL,
    PRIMARY KEY (chain_id, block_hash, log_index)
);

CREATE INDEX chain_logs_position ON chain_logs (chain_id, block_number, log_index);

-- Where each indexer stands: the last block fully written, with its hash so a restart can detect a fork that
-- happened while it was down. Written in the same transaction as the data of that block.
CREATE TABLE indexer_checkpoints (
    chain_id     BIGINT      NOT NULL,
    indexer      TEXT        NOT NULL,
    block_number BIGINT      NOT NULL CHECK (block_number >= 0),
    block_hash   BYTEA       NOT NULL CHECK (length(block_hash) = 32),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (chain_id, indexer)
);
