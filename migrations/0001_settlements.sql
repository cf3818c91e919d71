-- The facilitator's durable settlement queue.
--
-- One row per EIP-3009 authorization accepted by /settle. The on-chain identity of a payment is the token's
-- nonce map entry (chain, asset, payer, nonce): FiatToken refuses a second use of it, so the same key is unique
-- here, and a second /settle of one authorization finds the first row instead of queueing a duplicate.
-- Amounts and times are uint256 on chain: NUMERIC(78, 0) holds any of them exactly.

CREATE TYPE settlement_status AS ENUM (
    'pending',    -- accepted, waiting for a batch
    'submitted',  -- in a broadcast BatchSettler transaction (batch_id set); outcome not yet known
    'settled',    -- its PaymentSettled event is in a mined receipt
    'confirmed',  -- that event is indexed at the chain's confirmation depth (the indexer's word, not the batcher's)
    'failed',     -- its PaymentFailed event is in a mined receipt, or it was refused before broadcast
    'expired'     -- validBefore passed while queued; never broadcast
);

CREATE TABLE settlement_batches (
    id             BIGSERIAL PRIMARY KEY,
    chain_id       BIGINT      NOT NULL,
    relayer        BYTEA       NOT NULL CHECK (length(relayer) = 20),
    -- The relayer account nonce the batch transaction uses; replacements reuse it with higher fees.
    tx_nonce       NUMERIC(20, 0) NOT NULL,
    -- The newest broadcast hash; every broadcast hash is in settlement_batch_transactions.
    tx_hash        BYTEA       CHECK (length(tx_hash) = 32),
    block_number   BIGINT,
    block_hash     BYTEA       CHECK (length(block_hash) = 32),
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    mined_at       TIMESTAMPTZ,
    UNIQUE (chain_id, relayer, tx_nonce)
);

-- Every transaction hash ever broadcast for a batch, recorded before the broadcast, so a restart can look each
-- one up and never sends a batch twice.
CREATE TABLE settlement_batch_transactions (
    tx_hash                  BYTEA   PRIMARY KEY CHECK (length(tx_hash) = 32),
    batch_id                 BIGINT  NOT NULL REFERENCES settlement_batches (id),
    max_fee_per_gas          NUMERIC(78, 0) NOT NULL,
    max_priority_fee_per_gas NUMERIC(78, 0) NOT NULL,
    broadcast_at             TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE settlements (
    id             BIGSERIAL PRIMARY KEY,
    chain_id       BIGINT         NOT NULL,
    asset          BYTEA          NOT NULL CHECK (length(asset) = 20),
    payer          BYTEA          NOT NULL CHECK (length(payer) = 20),
    nonce          BYTEA          NOT NULL CHECK (length(nonce) = 32),
    pay_to         BYTEA          NOT NULL CHECK (length(pay_to) = 20),
    value          NUMERIC(78, 0) NOT NULL CHECK (value >= 0),
    valid_after    NUMERIC(78, 0) NOT NULL CHECK (valid_after >= 0),
    valid_before   NUMERIC(78, 0) NOT NULL CHECK (valid_before >= 0),
    signature      BYTEA          NOT NULL,
    -- The x402 protocol version and network name the payment arrived with, to answer in the same terms.
    x402_version   SMALLINT       NOT NULL CHECK (x402_version IN (1, 2)),
    network        TEXT           NOT NULL,
    status         settlement_status NOT NULL DEFAULT 'pending',
    batch_id       BIGINT         REFERENCES settlement_batches (id),
    -- The x402 reason code of a failure, and the token's revert reason when the chain gave one.
    failure_reason TEXT,
    revert_reason  BYTEA,
    created_at     TIMESTAMPTZ    NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ    NOT NULL DEFAULT now(),
    CONSTRAINT settlements_authorization_key UNIQUE (chain_id, asset, payer, nonce),
    CONSTRAINT settlements_submitted_has_batch CHECK (status IN ('pending', 'expired') OR batch_id IS NOT NULL
                                                      OR (status = 'failed' AND failure_reason IS NOT NULL))
);

-- The batcher's scan: the oldest pending items first.
CREATE INDEX settlements_pending ON settlements (chain_id, id) WHERE status = 'pending';
CREATE INDEX settlements_batch ON settlements (batch_id) WHERE batch_id IS NOT NULL;
