-- The indexer's projections, its single-writer fencing, its confirmed height and its outbox.
--
-- Every projection row is derived from exactly one log and keyed like it, by (chain_id, block_number, log_index):
-- rows are only ever inserted (while following the head) or deleted (when a reorg rolls blocks back), never
-- updated, so a rollback is one `DELETE ... WHERE block_number > ancestor` per table and a rebuild from chain data
-- must produce the same rows. Current state (a job's status, a claimable balance) is a view over these rows, and
-- its confirmed form only counts rows at or below the indexer's confirmed height.

-- confirmed_block: the highest block at the configured confirmation depth when this checkpoint was written
-- (never above block_number). Rows of chain_logs and of every projection at or below it are final unless a reorg
-- deeper than the confirmation depth happens, in which case it moves back to the common ancestor in the same
-- transaction that deletes the orphaned rows. NULL until the first block reaches depth.
-- writer_epoch: fencing token of the single writer. A writer takes the advisory lock, increments it, and every
-- write transaction checks it still holds the value it set, so a writer that lost its lock can no longer write.
ALTER TABLE indexer_checkpoints
    ADD COLUMN confirmed_block BIGINT CHECK (confirmed_block >= 0 AND confirmed_block <= block_number),
    ADD COLUMN writer_epoch    BIGINT NOT NULL DEFAULT 0;

-- One row per BatchSettler PaymentSettled or PaymentFailed log.
CREATE TABLE settler_payments (
    chain_id       BIGINT         NOT NULL,
    block_number   BIGINT         NOT NULL,
    log_index      BIGINT         NOT NULL,
    block_hash     BYTEA          NOT NULL CHECK (length(block_hash) = 32),
    tx_hash        BYTEA          NOT NULL CHECK (length(tx_hash) = 32),
    settler        BYTEA          NOT NULL CHECK (length(settler) = 20),
    payer          BYTEA          NOT NULL CHECK (length(payer) = 20),
    nonce          BYTEA          NOT NULL CHECK (length(nonce) = 32),
    -- true for PaymentSettled; false for PaymentFailed, which carries only the token's revert data.
    settled        BOOLEAN        NOT NULL,
    token          BYTEA          CHECK (length(token) = 20),
    pay_to         BYTEA          CHECK (length(pay_to) = 20),
    value          NUMERIC(78, 0),
    failure_reason BYTEA,
    PRIMARY KEY (chain_id, block_number, log_index),
    CHECK (settled = (token IS NOT NULL AND pay_to IS NOT NULL AND value IS NOT NULL))
);

-- Confirmation of the facilitator's queue items looks payments up by their on-chain identity.
CREATE INDEX settler_payments_key ON settler_payments (chain_id, payer, nonce) WHERE settled;
-- And only scans the few queue items that wait for it.
CREATE INDEX settlements_awaiting_confirmation ON settlements (chain_id) WHERE status = 'settled';

-- Escrow jobs as JobFunded announced them: the full terms.
CREATE TABLE escrow_jobs (
    chain_id            BIGINT         NOT NULL,
    block_number        BIGINT         NOT NULL,
    log_index           BIGINT         NOT NULL,
    block_hash          BYTEA          NOT NULL CHECK (length(block_hash) = 32),
    tx_hash             BYTEA          NOT NULL CHECK (length(tx_hash) = 32),
    escrow              BYTEA          NOT NULL CHECK (length(escrow) = 20),
    job_id              BYTEA          NOT NULL CHECK (length(job_id) = 32),
    payer               BYTEA          NOT NULL CHECK (length(payer) = 20),
    provider            BYTEA          NOT NULL CHECK (length(provider) = 20),
    token               BYTEA          NOT NULL CHECK (length(token) = 20),
    amount              NUMERIC(78, 0) NOT NULL,
    fee                 NUMERIC(78, 0) NOT NULL,
    arbiter             BYTEA          NOT NULL CHECK (length(arbiter) = 20),
    -- Unix seconds.
    funding_deadline    NUMERIC(20, 0) NOT NULL,
    completion_deadline NUMERIC(20, 0) NOT NULL,
    review_window       NUMERIC(20, 0) NOT NULL,
    salt                BYTEA          NOT NULL CHECK (length(salt) = 32),
    PRIMARY KEY (chain_id, block_number, log_index),
    UNIQUE (chain_id, escrow, job_id)
);

CREATE TYPE escrow_status AS ENUM ('funded', 'completed', 'disputed', 'released', 'refunded', 'resolved');

-- Every lifecycle transition of a job, JobFunded included; the newest one is the job's status.
CREATE TABLE escrow_job_events (
    chain_id        BIGINT            NOT NULL,
    block_number    BIGINT            NOT NULL,
    log_index       BIGINT            NOT NULL,
    block_hash      BYTEA             NOT NULL CHECK (length(block_hash) = 32),
    tx_hash         BYTEA             NOT NULL CHECK (length(tx_hash) = 32),
    escrow          BYTEA             NOT NULL CHECK (length(escrow) = 20),
    job_id          BYTEA             NOT NULL CHECK (length(job_id) = 32),
    status          escrow_status     NOT NULL,
    -- JobCompleted: Unix seconds.
    completed_at    NUMERIC(78, 0),
    review_ends_at  NUMERIC(78, 0),
    -- JobResolved: the provider's share in bps.
    provider_bps    INTEGER,
    -- What the transition credited, in the job's token (JobReleased, JobRefunded, JobResolved).
    payer_amount    NUMERIC(78, 0),
    provider_amount NUMERIC(78, 0),
    fee_amount      NUMERIC(78, 0),
    PRIMARY KEY (chain_id, block_number, log_index)
);

CREATE INDEX escrow_job_events_job ON escrow_job_events (chain_id, escrow, job_id, block_number DESC, log_index DESC);

-- fundMany items that failed (JobFundFailed): nothing was written on chain for them.
CREATE TABLE escrow_fund_failures (
    chain_id     BIGINT NOT NULL,
    block_number BIGINT NOT NULL,
    log_index    BIGINT NOT NULL,
    block_hash   BYTEA  NOT NULL CHECK (length(block_hash) = 32),
    tx_hash      BYTEA  NOT NULL CHECK (length(tx_hash) = 32),
    escrow       BYTEA  NOT NULL CHECK (length(escrow) = 20),
    job_id       BYTEA  NOT NULL CHECK (length(job_id) = 32),
    payer        BYTEA  NOT NULL CHECK (length(payer) = 20),
    reason       BYTEA  NOT NULL,
    PRIMARY KEY (chain_id, block_number, log_index)
);

-- Changes of the escrow's claimable balances: a credit (positive) per party of a release, refund or resolution,
-- and a debit (negative, the whole balance) per Claimed. `part` numbers the changes one log makes.
CREATE TABLE escrow_balance_changes (
    chain_id     BIGINT         NOT NULL,
    block_number BIGINT         NOT NULL,
    log_index    BIGINT         NOT NULL,
    part         SMALLINT       NOT NULL,
    escrow       BYTEA          NOT NULL CHECK (length(escrow) = 20),
    token        BYTEA          NOT NULL CHECK (length(token) = 20),
    account      BYTEA          NOT NULL CHECK (length(account) = 20),
    delta        NUMERIC(79, 0) NOT NULL,
    -- The job credited from, NULL for a claim.
    job_id       BYTEA          CHECK (length(job_id) = 32),
    -- A claim's recipient, NULL for a credit.
    claimed_to   BYTEA          CHECK (length(claimed_to) = 20),
    PRIMARY KEY (chain_id, block_number, log_index, part)
);

CREATE INDEX escrow_balance_changes_account ON escrow_balance_changes (chain_id, escrow, token, account);

-- AnchorRegistry's Anchored logs.
CREATE TABLE anchors (
    chain_id     BIGINT         NOT NULL,
    block_number BIGINT         NOT NULL,
    log_index    BIGINT         NOT NULL,
    block_hash   BYTEA          NOT NULL CHECK (length(block_hash) = 32),
    tx_hash      BYTEA          NOT NULL CHECK (length(tx_hash) = 32),
    registry     BYTEA          NOT NULL CHECK (length(registry) = 20),
    anchor_index NUMERIC(78, 0) NOT NULL,
    root         BYTEA          NOT NULL CHECK (length(root) = 32),
    first_seq    NUMERIC(20, 0) NOT NULL,
    last_seq     NUMERIC(20, 0) NOT NULL,
    PRIMARY KEY (chain_id, block_number, log_index),
    UNIQUE (chain_id, registry, anchor_index)
);

-- What the indexer announced, written in the same transaction as the data, for consumers that must not miss a
-- transition (the market's job lifecycle and webhooks, the audit): 'observed' when blocks are first written,
-- 'confirmed' when they reach the confirmation depth, 'retracted' when a reorg removed them (from_block is the
-- first block removed; everything previously observed or confirmed from there up is void). Consumers read the
-- rows of chain_logs and the projections in [from_block, to_block]. NOTIFY on `chain_indexed` is a wake-up only.
CREATE TYPE indexer_phase AS ENUM ('observed', 'confirmed', 'retracted');

CREATE TABLE indexer_outbox (
    id         BIGSERIAL     PRIMARY KEY,
    chain_id   BIGINT        NOT NULL,
    indexer    TEXT          NOT NULL,
    phase      indexer_phase NOT NULL,
    from_block BIGINT        NOT NULL,
    to_block   BIGINT        NOT NULL CHECK (to_block >= from_block),
    created_at TIMESTAMPTZ   NOT NULL DEFAULT now()
);

-- A job's status as observed (the newest transition) and as confirmed (the newest at or below the confirmed
-- height of the chain's indexers; NULL while even its funding is unconfirmed).
CREATE VIEW escrow_job_status AS
SELECT j.chain_id, j.escrow, j.job_id,
       (SELECT e.status FROM escrow_job_events e
        WHERE e.chain_id = j.chain_id AND e.escrow = j.escrow AND e.job_id = j.job_id
        ORDER BY e.block_number DESC, e.log_index DESC LIMIT 1) AS status,
       (SELECT e.status FROM escrow_job_events e
        WHERE e.chain_id = j.chain_id AND e.escrow = j.escrow AND e.job_id = j.job_id
          AND e.block_number <= (SELECT min(c.confirmed_block) FROM indexer_checkpoints c
                                 WHERE c.chain_id = j.chain_id AND c.indexer = 'clearing')
        ORDER BY e.block_number DESC, e.log_index DESC LIMIT 1) AS confirmed_status
FROM escrow_jobs j;

-- Claimable balances: observed (every change) and confirmed (changes at or below the confirmed height).
CREATE VIEW escrow_claimable AS
SELECT b.chain_id, b.escrow, b.token, b.account,
       sum(b.delta) AS claimable,
       coalesce(sum(b.delta) FILTER (WHERE b.block_number <= (SELECT min(c.confirmed_block) FROM indexer_checkpoints c
                                                             WHERE c.chain_id = b.chain_id AND c.indexer = 'clearing')),
                0) AS confirmed_claimable
FROM escrow_balance_changes b
GROUP BY b.chain_id, b.escrow, b.token, b.account;
