-- Marketplace jobs: one row per purchase of a service, keyed by the payment that bought it.
--
-- What the money did is never stored here: it is the chain's, read from the indexer's projections at confirmation
-- depth (escrow_job_events for an escrow job, escrow_credits for a data_api credit) and from the settlement queue
-- (settlements, by the payment's key) until then. This row holds what the market knows besides: the purchase (its
-- service, brief and terms) and the provider's word (progress, deliverables, failure), recorded as such.
CREATE TABLE market_jobs (
    id                  UUID             PRIMARY KEY,
    service_id          UUID             NOT NULL REFERENCES market_services (id),
    provider_id         UUID             NOT NULL REFERENCES market_participants (id),
    service_type        TEXT             NOT NULL CHECK (service_type IN ('data_api', 'automated_service', 'human_service')),
    -- The payment: its key in the settlement queue, (chain_id, asset, payer, nonce).
    chain_id            BIGINT           NOT NULL,
    asset               BYTEA            NOT NULL CHECK (length(asset) = 20),
    payer               BYTEA            NOT NULL CHECK (length(payer) = 20),
    nonce               BYTEA            NOT NULL CHECK (length(nonce) = 32),
    escrow              BYTEA            NOT NULL CHECK (length(escrow) = 20),
    -- escrow_job: the job's id and ABI-encoded JobTerms (every step names them); escrow_credit: neither.
    route               settlement_route NOT NULL CHECK (route IN ('escrow_job', 'escrow_credit')),
    job_id              BYTEA            CHECK (length(job_id) = 32),
    terms               BYTEA,
    -- Atomic units: what the payer pays, and the platform's part of it.
    amount              NUMERIC(78, 0)   NOT NULL CHECK (amount > 0),
    fee                 NUMERIC(78, 0)   NOT NULL CHECK (fee >= 0 AND fee <= amount),
    brief               JSONB            NOT NULL,
    -- The provider's word, recorded as its word: never a money status.
    provider_status     TEXT             NOT NULL DEFAULT 'none'
                                         CHECK (provider_status IN ('none', 'in_progress', 'completed', 'failed')),
    deliverables        JSONB,
    provider_note       TEXT             CHECK (char_length(provider_note) <= 2000),
    provider_updated_at TIMESTAMPTZ,
    -- The block of the confirmed funding the reactor announced (job_dispatch), so a reorg deeper than the
    -- confirmation depth that removes it can be announced too (job_retracted); NULL while none is announced.
    dispatched_block    BIGINT,
    -- The payer's dispute reason (the dispute itself is the chain's JobDisputed).
    dispute_reason      TEXT             CHECK (char_length(dispute_reason) BETWEEN 10 AND 2000),
    created_at          TIMESTAMPTZ      NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ      NOT NULL DEFAULT now(),
    CONSTRAINT market_jobs_payment_key UNIQUE (chain_id, asset, payer, nonce),
    CONSTRAINT market_jobs_escrow_job UNIQUE (chain_id, escrow, job_id),
    CONSTRAINT market_jobs_route_shape CHECK ((route = 'escrow_job') = (job_id IS NOT NULL AND terms IS NOT NULL))
);
CREATE INDEX market_jobs_provider ON market_jobs (provider_id, created_at DESC);
CREATE INDEX market_jobs_payer ON market_jobs (payer, created_at DESC);

-- Where the market's reactor stands in the confirmed chain events it turns into webhooks and keeper work: the last
-- (block, log) it handled, per chain. One row per chain, locked by the reactor that advances it, so two processes
-- never handle one event twice; advanced in the same transaction as the webhook events it enqueued.
CREATE TABLE market_reactor_cursors (
    chain_id     BIGINT NOT NULL PRIMARY KEY,
    block_number BIGINT NOT NULL,
    log_index    BIGINT NOT NULL
);
