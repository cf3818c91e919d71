-- Front-run deposits, booked without the operator's hand.
--
-- Anyone who sees an agent's x402 deposit in flight (the X-PAYMENT header, or the vault's batch in the mempool) can
-- submit its TransferWithAuthorization to the token first: the USDC reaches the vault, but as surplus, and the
-- operator's deposit fails (authorization used). BalanceVault.depositManyTransferred books such a transfer to its
-- payer; this table pairs each deposit that failed that way with the chain's evidence of its transfer, and queues the
-- booking (escrow_actions kind 'vault_book', one per authorization).
--
-- A deposit is noted when its settlement failed or its payment was refused because its nonce was used. It is paired
-- with a confirmed Transfer(payer -> vault, amount) log (chain_logs) that no Deposited of the payer in the same
-- transaction explains, and that no other deposit is paired with: each transfer books at most one deposit, so the
-- payer is credited only money it sent, whatever nonce a note names (the vault also requires the nonce used and the
-- surplus, and books a nonce once).

ALTER TYPE settlement_route ADD VALUE IF NOT EXISTS 'vault_book';
ALTER TYPE escrow_action_kind ADD VALUE IF NOT EXISTS 'vault_book';

CREATE TABLE vault_front_runs (
    id                 BIGSERIAL      PRIMARY KEY,
    chain_id           BIGINT         NOT NULL,
    vault              BYTEA          NOT NULL CHECK (length(vault) = 20),
    token              BYTEA          NOT NULL CHECK (length(token) = 20),
    payer              BYTEA          NOT NULL CHECK (length(payer) = 20),
    nonce              BYTEA          NOT NULL CHECK (length(nonce) = 32),
    amount             NUMERIC(78, 0) NOT NULL CHECK (amount > 0),
    -- The first block a transfer paired with it may be in: an hour's blocks before it was noted, since a
    -- front-runner acts on a payment in flight.
    from_block         BIGINT         NOT NULL,
    -- The Transfer log paired with it (chain_logs' key), and the booking queued then.
    transfer_block     BYTEA          CHECK (length(transfer_block) = 32),
    transfer_log_index BIGINT,
    transfer_tx        BYTEA          CHECK (length(transfer_tx) = 32),
    action_id          BIGINT         REFERENCES escrow_actions (id),
    created_at         TIMESTAMPTZ    NOT NULL DEFAULT now(),
    UNIQUE (chain_id, vault, token, payer, nonce),
    CONSTRAINT vault_front_runs_paired CHECK ((transfer_block IS NULL) = (action_id IS NULL)
                                              AND (transfer_block IS NULL) = (transfer_log_index IS NULL)
                                              AND (transfer_block IS NULL) = (transfer_tx IS NULL))
);
-- One deposit per transfer.
CREATE UNIQUE INDEX vault_front_runs_transfer ON vault_front_runs (chain_id, transfer_block, transfer_log_index)
    WHERE transfer_block IS NOT NULL;
-- The keeper's scan: deposits not yet paired.
CREATE INDEX vault_front_runs_unpaired ON vault_front_runs (chain_id, vault, token, id) WHERE action_id IS NULL;
-- The deposits that failed, which the keeper notes.
CREATE INDEX settlements_failed_deposits ON settlements (chain_id, asset, updated_at)
    WHERE route = 'vault_deposit' AND status = 'failed';
