-- Routes: where a queued authorization goes on chain. Every x402 `exact` authorization is a token
-- `transferWithAuthorization`; what happens around the transfer depends on its route, and one queue and one batcher
-- serve them all (a batch holds items of one route, sent to one contract):
--   transfer       BatchSettler.settle: the token moves the value to pay_to (the facilitator's /settle).
--   escrow_job     Escrow.fundManyWithTransfer: the value moves into the escrow and books a job whose terms are the
--                  authorization's (payer = from, amount = value, token = asset, salt = nonce) and the columns below.
--   escrow_credit  Escrow.payMany: the value moves into the escrow and is credited at once to the provider
--                  (value - fee) and the fee recipient (fee): a data_api purchase, no job lifecycle.
-- Two more routes carry no authorization: their items are escrow_actions rows, sent by the same batcher from the
-- same relayer key (the escrow's operator), so one nonce sequence serves every transaction the key sends:
--   escrow_step    Escrow.stepMany: lifecycle steps of jobs (complete, release, the payer's signed release or
--                  dispute, refund).
--   escrow_claim   Escrow.claimMany: pays accounts their claimable balances, each to itself.
CREATE TYPE settlement_route AS ENUM ('transfer', 'escrow_job', 'escrow_credit', 'escrow_step', 'escrow_claim');

ALTER TABLE settlements
    ADD COLUMN route               settlement_route NOT NULL DEFAULT 'transfer',
    ADD COLUMN provider            BYTEA          CHECK (length(provider) = 20),
    ADD COLUMN fee                 NUMERIC(78, 0) CHECK (fee >= 0),
    ADD COLUMN arbiter             BYTEA          CHECK (length(arbiter) = 20),
    -- Unix seconds.
    ADD COLUMN funding_deadline    NUMERIC(20, 0),
    ADD COLUMN completion_deadline NUMERIC(20, 0),
    ADD COLUMN review_window       NUMERIC(20, 0),
    ADD CONSTRAINT settlements_route_is_a_payment CHECK (route IN ('transfer', 'escrow_job', 'escrow_credit')),
    ADD CONSTRAINT settlements_route_terms CHECK (CASE route
        WHEN 'transfer' THEN provider IS NULL AND fee IS NULL AND arbiter IS NULL AND funding_deadline IS NULL
                             AND completion_deadline IS NULL AND review_window IS NULL
        WHEN 'escrow_credit' THEN provider IS NOT NULL AND fee IS NOT NULL AND arbiter IS NULL
                             AND funding_deadline IS NULL AND completion_deadline IS NULL AND review_window IS NULL
        ELSE provider IS NOT NULL AND fee IS NOT NULL AND arbiter IS NOT NULL AND funding_deadline IS NOT NULL
             AND completion_deadline IS NOT NULL AND review_window IS NOT NULL
    END);

-- A batch is one transaction of one route; its items are all of that route.
ALTER TABLE settlement_batches
    ADD COLUMN route settlement_route NOT NULL DEFAULT 'transfer';

-- The batcher's scan, now per (asset, route).
DROP INDEX settlements_pending;
CREATE INDEX settlements_pending ON settlements (chain_id, asset, route, id) WHERE status = 'pending';

-- Escrow actions the operator's key sends: one row per step of a job or per claim, in the batch that carries it.
-- A job's step of a given kind is queued at most once (the unique key), so a retried API call or a second process
-- never sends a release twice; a claim is one row per request, with at most one in flight per account.
CREATE TYPE escrow_action_kind AS ENUM ('complete', 'release', 'release_with_sig', 'dispute_with_sig', 'refund', 'claim');
CREATE TABLE escrow_actions (
    id             BIGSERIAL PRIMARY KEY,
    chain_id       BIGINT             NOT NULL,
    escrow         BYTEA              NOT NULL CHECK (length(escrow) = 20),
    asset          BYTEA              NOT NULL CHECK (length(asset) = 20),
    kind           escrow_action_kind NOT NULL,
    -- A step's job: its id and its ABI-encoded JobTerms (what stepMany passes).
    job_id         BYTEA              CHECK (length(job_id) = 32),
    terms          BYTEA,
    -- A signed step's payer signature and its deadline (unix seconds).
    signature      BYTEA,
    deadline       NUMERIC(78, 0),
    -- A claim's account.
    account        BYTEA              CHECK (length(account) = 20),
    status         settlement_status  NOT NULL DEFAULT 'pending',
    batch_id       BIGINT             REFERENCES settlement_batches (id),
    failure_reason TEXT,
    revert_reason  BYTEA,
    created_at     TIMESTAMPTZ        NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ        NOT NULL DEFAULT now(),
    CONSTRAINT escrow_actions_shape CHECK (CASE kind
        WHEN 'claim' THEN account IS NOT NULL AND job_id IS NULL AND terms IS NULL
        ELSE account IS NULL AND job_id IS NOT NULL AND terms IS NOT NULL
    END),
    CONSTRAINT escrow_actions_signed CHECK ((kind IN ('release_with_sig', 'dispute_with_sig'))
                                            = (signature IS NOT NULL AND deadline IS NOT NULL)),
    CONSTRAINT escrow_actions_submitted_has_batch CHECK (status IN ('pending', 'expired') OR batch_id IS NOT NULL)
);
-- A failed step may be queued again (the job moved on, or a signature expired); a live or applied one never twice.
CREATE UNIQUE INDEX escrow_actions_once_per_job ON escrow_actions (chain_id, escrow, job_id, kind)
    WHERE kind <> 'claim' AND status <> 'failed';
CREATE UNIQUE INDEX escrow_actions_one_claim_in_flight ON escrow_actions (chain_id, escrow, asset, account)
    WHERE kind = 'claim' AND status IN ('pending', 'submitted');
CREATE INDEX escrow_actions_pending ON escrow_actions (chain_id, asset, id) WHERE status = 'pending';
CREATE INDEX escrow_actions_batch ON escrow_actions (batch_id) WHERE batch_id IS NOT NULL;

-- Escrow PaymentCredited logs (payMany items and creditTransferred): a data_api purchase paid straight into
-- claimable balances. Projected like every other log: keyed by position, only inserted or deleted. Its two credits
-- are escrow_balance_changes rows of the same log (job_id NULL).
CREATE TABLE escrow_credits (
    chain_id        BIGINT         NOT NULL,
    block_number    BIGINT         NOT NULL,
    log_index       BIGINT         NOT NULL,
    block_hash      BYTEA          NOT NULL CHECK (length(block_hash) = 32),
    tx_hash         BYTEA          NOT NULL CHECK (length(tx_hash) = 32),
    escrow          BYTEA          NOT NULL CHECK (length(escrow) = 20),
    token           BYTEA          NOT NULL CHECK (length(token) = 20),
    payer           BYTEA          NOT NULL CHECK (length(payer) = 20),
    nonce           BYTEA          NOT NULL CHECK (length(nonce) = 32),
    provider        BYTEA          NOT NULL CHECK (length(provider) = 20),
    provider_amount NUMERIC(78, 0) NOT NULL,
    fee_amount      NUMERIC(78, 0) NOT NULL,
    PRIMARY KEY (chain_id, block_number, log_index)
);
CREATE INDEX escrow_credits_payment ON escrow_credits (chain_id, escrow, payer, nonce);

-- Audit record kind 4: a direct escrow credit (Escrow PaymentCredited), a data_api purchase.
ALTER TABLE audit_records DROP CONSTRAINT audit_records_kind_check;
ALTER TABLE audit_records ADD CONSTRAINT audit_records_kind_check CHECK (kind BETWEEN 0 AND 4);
