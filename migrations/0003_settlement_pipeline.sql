-- What the settlement pipeline needs beyond 0001: the signed bytes of every broadcast (so a restart re-sends the
-- identical transaction instead of signing a new one), the batch's token, a way to give a batch up, and a record
-- of which caller was told that a payment succeeded (so a payment is answered `success` at most once).
--
-- Nothing wrote settlement_batches or settlement_batch_transactions before this migration, so the NOT NULL
-- columns below are added to empty tables.

-- The token every item of the batch is in (BatchSettler.settle's first argument).
ALTER TABLE settlement_batches
    ADD COLUMN asset BYTEA NOT NULL CHECK (length(asset) = 20);

-- Set when the batch was given up without a mined outcome for its items: its transaction can never land (the
-- relayer nonce was consumed by none of its hashes), it was never broadcast (signing failed), or it was mined but
-- reverted as a whole. Its items went back to 'pending' in the same transaction.
ALTER TABLE settlement_batches
    ADD COLUMN abandoned_at TIMESTAMPTZ,
    ADD COLUMN abandon_reason TEXT,
    ADD CONSTRAINT settlement_batches_abandoned_has_reason CHECK ((abandoned_at IS NULL) = (abandon_reason IS NULL));

-- An abandoned batch that was never broadcast frees its nonce for the next batch: the relayer nonce is unique
-- among live batches only.
ALTER TABLE settlement_batches DROP CONSTRAINT settlement_batches_chain_id_relayer_tx_nonce_key;
CREATE UNIQUE INDEX settlement_batches_live_nonce ON settlement_batches (chain_id, relayer, tx_nonce)
    WHERE abandoned_at IS NULL;

-- Restart recovery's scan: batches neither mined nor abandoned.
CREATE INDEX settlement_batches_unresolved ON settlement_batches (chain_id, tx_nonce)
    WHERE block_number IS NULL AND abandoned_at IS NULL;

-- The signed EIP-2718 transaction whose hash is tx_hash, recorded before it is sent, and its gas limit.
ALTER TABLE settlement_batch_transactions
    ADD COLUMN raw_tx    BYTEA  NOT NULL CHECK (length(raw_tx) > 0),
    ADD COLUMN gas_limit BIGINT NOT NULL CHECK (gas_limit > 0);

-- When a /settle caller was first answered success for this settled payment; every later caller is answered
-- invalid_exact_evm_nonce_already_used with the same transaction.
ALTER TABLE settlements
    ADD COLUMN success_reported_at TIMESTAMPTZ;
