-- Front-run payments into the vault and the escrow, recovered without the operator's hand.
--
-- Anyone who sees an agent's x402 payment in flight (the PAYMENT-SIGNATURE header, or the relayer's batch in the
-- mempool) can submit its TransferWithAuthorization to the token first: the USDC reaches its payTo, the vault or the
-- escrow, but as surplus, and the market's deposit or purchase fails (authorization used). This table pairs each such
-- payment with the chain's evidence of its transfer and queues its recovery:
--   - a deposit (payTo the vault) is booked to its payer: BalanceVault.depositManyTransferred, escrow_actions kind
--     'vault_book';
--   - a purchase (payTo the escrow: a job, a data_api call, a product) was answered as not bought, so its money goes
--     back: Escrow.creditManyTransferred credits it to its own payer with no fee (kind 'escrow_return'), then a claim
--     pays it to the payer's wallet (kind 'claim').
--
-- A payment is noted when its settlement failed, or its request was refused, because its nonce was used. It is paired
-- with a confirmed Transfer(payer -> payTo, amount) log (chain_logs) that no event of the payer in the same
-- transaction explains (a vault Deposited; an escrow JobFunded or PaymentCredited) and that no other payment is paired
-- with: each transfer recovers at most one payment, so a payer only ever gets back money it sent, whatever nonce a
-- note names (the contracts also require the nonce used and the surplus, and book a nonce once).

ALTER TYPE settlement_route ADD VALUE IF NOT EXISTS 'vault_book';
ALTER TYPE escrow_action_kind ADD VALUE IF NOT EXISTS 'vault_book';
ALTER TYPE settlement_route ADD VALUE IF NOT EXISTS 'escrow_return';
ALTER TYPE escrow_action_kind ADD VALUE IF NOT EXISTS 'escrow_return';

CREATE TABLE front_run_payments (
    id                 BIGSERIAL      PRIMARY KEY,
    chain_id           BIGINT         NOT NULL,
    -- The payment's payTo: the vault (a deposit) or the escrow (a purchase).
    recipient          BYTEA          NOT NULL CHECK (length(recipient) = 20),
    token              BYTEA          NOT NULL CHECK (length(token) = 20),
    payer              BYTEA          NOT NULL CHECK (length(payer) = 20),
    nonce              BYTEA          NOT NULL CHECK (length(nonce) = 32),
    amount             NUMERIC(78, 0) NOT NULL CHECK (amount > 0),
    -- The first block a transfer paired with it may be in: an hour's blocks before it was noted, since a
    -- front-runner acts on a payment in flight.
    from_block         BIGINT         NOT NULL,
    -- The Transfer log paired with it (chain_logs' key), and the recovery queued then.
    transfer_block     BYTEA          CHECK (length(transfer_block) = 32),
    transfer_log_index BIGINT,
    transfer_tx        BYTEA          CHECK (length(transfer_tx) = 32),
    action_id          BIGINT         REFERENCES escrow_actions (id),
    -- A returned purchase: the claim that pays the payer's credit to its wallet, queued once the credit applied.
    claim_action_id    BIGINT         REFERENCES escrow_actions (id),
    created_at         TIMESTAMPTZ    NOT NULL DEFAULT now(),
    -- When the keeper last looked for its transfer: it tries the least recently tried first, so notes that never
    -- pair (a replayed payment's, a cancelled authorization's) cannot starve one that does. Dropped after a day.
    tried_at           TIMESTAMPTZ,
    UNIQUE (chain_id, recipient, token, payer, nonce),
    CONSTRAINT front_run_payments_paired CHECK ((transfer_block IS NULL) = (action_id IS NULL)
                                                AND (transfer_block IS NULL) = (transfer_log_index IS NULL)
                                                AND (transfer_block IS NULL) = (transfer_tx IS NULL)
                                                AND (claim_action_id IS NULL OR action_id IS NOT NULL))
);
-- One payment per transfer.
CREATE UNIQUE INDEX front_run_payments_transfer ON front_run_payments (chain_id, transfer_block, transfer_log_index)
    WHERE transfer_block IS NOT NULL;
-- The keeper's scans: payments not yet paired, and returns not yet claimed.
CREATE INDEX front_run_payments_unpaired ON front_run_payments (chain_id, recipient, token, tried_at NULLS FIRST, id)
    WHERE action_id IS NULL;
CREATE INDEX front_run_payments_unclaimed ON front_run_payments (chain_id, recipient, token, id)
    WHERE action_id IS NOT NULL AND claim_action_id IS NULL;
-- The payments that failed, which the keeper notes.
CREATE INDEX settlements_failed_on_used_nonce ON settlements (chain_id, asset, pay_to, updated_at)
    WHERE status = 'failed' AND failure_reason = 'invalid_exact_evm_nonce_already_used';
-- The escrow's events of a payer in a transaction, for the pairing; a job's by its nonce (salt), for the notes'.
CREATE INDEX escrow_jobs_payer ON escrow_jobs (chain_id, escrow, payer, block_number);
CREATE INDEX escrow_jobs_payer_salt ON escrow_jobs (chain_id, escrow, payer, salt);
CREATE INDEX escrow_credits_payer_block ON escrow_credits (chain_id, escrow, payer, block_number);
-- Token transfers into a contract from one sender, for the pairing: only Transfer logs (topic0 its signature).
CREATE INDEX chain_logs_transfers ON chain_logs (chain_id, (topics[3]), (topics[2]), block_number)
    WHERE topics[1] = '\xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef'::bytea;
