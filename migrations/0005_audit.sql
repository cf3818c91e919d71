-- The audit trail: every confirmed settlement record numbered without gaps, and the Merkle roots anchored over
-- contiguous ranges of them in AnchorRegistry.
--
-- Records are derived from confirmed rows of chain_logs only, in chain order (block_number, log_index), so the
-- same numbering can be recomputed from chain events alone (`clearing audit rebuild`). docs/AUDIT.md defines
-- the leaf encoding.

-- One row per chain: how far the sequencer has read and the next sequence number to hand out. Locked by every
-- append, which is what keeps the numbering gapless under concurrent sequencers.
CREATE TABLE audit_heads (
    chain_id          BIGINT PRIMARY KEY,
    -- The next record gets this sequence number (the number of records so far).
    next_seq          BIGINT NOT NULL CHECK (next_seq >= 0),
    -- Chain position of the last log read (NULL before the first): later appends start after it.
    last_block_number BIGINT,
    last_log_index    BIGINT,
    CHECK ((last_block_number IS NULL) = (last_log_index IS NULL))
);

-- One settlement record: an x402 payment (BatchSettler PaymentSettled) or an escrow payout (Escrow JobReleased,
-- JobRefunded, JobResolved, with the parties and token of the job's JobFunded).
CREATE TABLE audit_records (
    chain_id       BIGINT      NOT NULL,
    -- Gapless from 0 per chain, in chain order.
    seq            BIGINT      NOT NULL CHECK (seq >= 0),
    -- 0 payment, 1 escrow release, 2 escrow refund, 3 escrow resolution (docs/AUDIT.md).
    kind           SMALLINT    NOT NULL CHECK (kind BETWEEN 0 AND 3),
    -- The contract that emitted the record's log.
    emitter        BYTEA       NOT NULL CHECK (length(emitter) = 20),
    tx_hash        BYTEA       NOT NULL CHECK (length(tx_hash) = 32),
    block_number   BIGINT      NOT NULL CHECK (block_number >= 0),
    block_hash     BYTEA       NOT NULL CHECK (length(block_hash) = 32),
    log_index      BIGINT      NOT NULL CHECK (log_index >= 0),
    token          BYTEA       NOT NULL CHECK (length(token) = 20),
    payer          BYTEA       NOT NULL CHECK (length(payer) = 20),
    -- The payment's `to`, or the escrow job's provider.
    payee          BYTEA       NOT NULL CHECK (length(payee) = 20),
    -- Atomic units credited to the payee, back to the payer, and to the fee recipient; decimal text of a uint256.
    payee_amount   NUMERIC(78) NOT NULL CHECK (payee_amount >= 0),
    payer_amount   NUMERIC(78) NOT NULL CHECK (payer_amount >= 0),
    fee_amount     NUMERIC(78) NOT NULL CHECK (fee_amount >= 0),
    -- The EIP-3009 nonce of a payment, the job id of an escrow payout.
    reference      BYTEA       NOT NULL CHECK (length(reference) = 32),
    -- keccak256(bytes.concat(keccak256(abi.encode(record)))), the Merkle leaf.
    leaf           BYTEA       NOT NULL CHECK (length(leaf) = 32),
    sequenced_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (chain_id, seq),
    CONSTRAINT audit_records_log_once UNIQUE (chain_id, block_hash, log_index)
);

-- One anchored root, keyed by its index in AnchorRegistry.
CREATE TABLE audit_anchors (
    chain_id     BIGINT      NOT NULL,
    anchor_index BIGINT      NOT NULL CHECK (anchor_index >= 0),
    registry     BYTEA       NOT NULL CHECK (length(registry) = 20),
    -- The root as anchored on chain.
    root         BYTEA       NOT NULL CHECK (length(root) = 32),
    first_seq    BIGINT      NOT NULL CHECK (first_seq >= 0),
    last_seq     BIGINT      NOT NULL CHECK (last_seq >= first_seq),
    tx_hash      BYTEA       NOT NULL CHECK (length(tx_hash) = 32),
    block_number BIGINT      NOT NULL CHECK (block_number >= 0),
    -- Whether the root equals the one computed from our records; false flags an anchor someone else made.
    root_matches BOOLEAN     NOT NULL,
    recorded_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (chain_id, anchor_index),
    CONSTRAINT audit_anchors_range_once UNIQUE (chain_id, first_seq)
);
