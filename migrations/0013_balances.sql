-- Prepaid balances in the BalanceVault: deposits through x402, debits the market accepts off-chain and posts in
-- batches, the agent's exit, and the scoped credentials (X-BALANCE-AUTH) that spend a balance.
--
-- Where an agent's money stands is split by who decides it:
--   - the chain decides deposits, withdrawals and subscription charges: vault_events, the indexer's projection of
--     the vault's logs (insert/delete by block like every projection), read at confirmation depth;
--   - the market decides debits the moment it accepts them (the purchase is answered from this database, with no
--     chain call): balance_debits, one row per accepted debit, each posted to the chain as an escrow_actions row of
--     kind 'vault_debit' (BalanceVault.debitMany, by the batcher that sends every operator action).
-- An agent's spendable balance is then confirmed (deposits - withdrawals - charges) - spent, where spent is the sum
-- of its debits whose action has not failed, kept in balance_accounts.spent by a trigger on the actions' status (a
-- debit the chain refuses gives its amount back; a reorg that reopens it takes it again).
--
-- New enum values cannot be used in the transaction that adds them, so constraints compare them as text.
ALTER TYPE settlement_route ADD VALUE IF NOT EXISTS 'vault_deposit';
ALTER TYPE settlement_route ADD VALUE IF NOT EXISTS 'vault_debit';
ALTER TYPE escrow_action_kind ADD VALUE IF NOT EXISTS 'vault_debit';

-- vault_deposit: BalanceVault.depositManyWithTransfer books the authorization (to = the vault) to its payer; like a
-- transfer it carries no terms.
ALTER TABLE settlements DROP CONSTRAINT settlements_route_is_a_payment;
ALTER TABLE settlements ADD CONSTRAINT settlements_route_is_a_payment
    CHECK (route::text IN ('transfer', 'escrow_job', 'escrow_credit', 'vault_deposit'));
ALTER TABLE settlements DROP CONSTRAINT settlements_route_terms;
ALTER TABLE settlements ADD CONSTRAINT settlements_route_terms CHECK (CASE route::text
    WHEN 'transfer' THEN provider IS NULL AND fee IS NULL AND arbiter IS NULL AND funding_deadline IS NULL
                         AND completion_deadline IS NULL AND review_window IS NULL
    WHEN 'vault_deposit' THEN provider IS NULL AND fee IS NULL AND arbiter IS NULL AND funding_deadline IS NULL
                         AND completion_deadline IS NULL AND review_window IS NULL
    WHEN 'escrow_credit' THEN provider IS NOT NULL AND fee IS NOT NULL AND arbiter IS NULL
                         AND funding_deadline IS NULL AND completion_deadline IS NULL AND review_window IS NULL
    ELSE provider IS NOT NULL AND fee IS NOT NULL AND arbiter IS NOT NULL AND funding_deadline IS NOT NULL
         AND completion_deadline IS NOT NULL AND review_window IS NOT NULL
END);

-- A debit action: job_id holds the debit's on-chain id and terms its ABI-encoded BalanceVault.Debit, so the
-- once-per-id unique index and the rollback's reopening treat it like a job step; the row's escrow is the vault.
-- The batcher finds pending debits through escrow_actions_pending, filtered by kind.

-- The vault's events, projected by the indexer.
CREATE TABLE vault_events (
    chain_id     BIGINT         NOT NULL,
    block_number BIGINT         NOT NULL,
    log_index    BIGINT         NOT NULL,
    tx_hash      BYTEA          NOT NULL CHECK (length(tx_hash) = 32),
    vault        BYTEA          NOT NULL CHECK (length(vault) = 20),
    token        BYTEA          NOT NULL CHECK (length(token) = 20),
    kind         TEXT           NOT NULL CHECK (kind IN ('deposited', 'debited', 'charged',
                                                         'withdrawal_requested', 'withdrawal_cancelled', 'withdrawn',
                                                         'claimed')),
    -- The agent (deposited, debited, charged, withdrawals) or the claiming account (claimed).
    account      BYTEA          NOT NULL CHECK (length(account) = 20),
    -- A debit's or charge's provider.
    provider     BYTEA          CHECK (length(provider) = 20),
    -- Atomic units: deposited, debited, charged, withdrawn, claimed; the balance when a withdrawal was requested.
    amount       NUMERIC(78, 0) NOT NULL DEFAULT 0 CHECK (amount >= 0),
    fee          NUMERIC(78, 0) NOT NULL DEFAULT 0 CHECK (fee >= 0),
    -- A deposit's EIP-3009 nonce (zero for transferFrom), a debit's id, a charge's subscription id.
    reference    BYTEA          CHECK (length(reference) = 32),
    -- A withdrawal request's unlock time, unix seconds.
    unlock_at    BIGINT,
    PRIMARY KEY (chain_id, block_number, log_index)
);
CREATE INDEX vault_events_account ON vault_events (chain_id, vault, token, account, block_number, log_index);
CREATE INDEX vault_events_reference ON vault_events (chain_id, vault, reference) WHERE reference IS NOT NULL;

-- One row per agent balance the market has debited: what its accepted debits hold (never negative: the trigger
-- below and the purchase keep it exact). Locked by each purchase, so one agent's debits are decided one at a time.
CREATE TABLE balance_accounts (
    chain_id BIGINT         NOT NULL,
    vault    BYTEA          NOT NULL CHECK (length(vault) = 20),
    token    BYTEA          NOT NULL CHECK (length(token) = 20),
    account  BYTEA          NOT NULL CHECK (length(account) = 20),
    spent    NUMERIC(78, 0) NOT NULL DEFAULT 0 CHECK (spent >= 0),
    PRIMARY KEY (chain_id, vault, token, account)
);

-- Scoped, capped spending tokens an agent makes with its API key; only a hash of the token is kept.
CREATE TABLE balance_credentials (
    id              UUID           PRIMARY KEY,
    participant_id  UUID           NOT NULL REFERENCES market_participants (id),
    token_hash      BYTEA          NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    name            TEXT           NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    -- Atomic units; NULL for no cap.
    max_per_request NUMERIC(78, 0) CHECK (max_per_request > 0),
    max_per_day     NUMERIC(78, 0) CHECK (max_per_day > 0),
    -- The only services it may buy; NULL for any.
    services        UUID[],
    expires_at      TIMESTAMPTZ,
    revoked_at      TIMESTAMPTZ,
    created_at      TIMESTAMPTZ    NOT NULL DEFAULT now()
);
CREATE INDEX balance_credentials_participant ON balance_credentials (participant_id, created_at DESC);

-- What each credential spent per UTC day, for its daily cap (a refused debit is not given back: the cap is a
-- ceiling on what the agent let it accept).
CREATE TABLE balance_credential_days (
    credential_id UUID           NOT NULL REFERENCES balance_credentials (id),
    day           DATE           NOT NULL,
    spent         NUMERIC(78, 0) NOT NULL CHECK (spent >= 0),
    PRIMARY KEY (credential_id, day)
);

-- Every debit the market accepted: who pays whom, for what, under which credential and idempotency key.
CREATE TABLE balance_debits (
    id              UUID           PRIMARY KEY,
    chain_id        BIGINT         NOT NULL,
    vault           BYTEA          NOT NULL CHECK (length(vault) = 20),
    token           BYTEA          NOT NULL CHECK (length(token) = 20),
    payer           BYTEA          NOT NULL CHECK (length(payer) = 20),
    provider        BYTEA          NOT NULL CHECK (length(provider) = 20),
    amount          NUMERIC(78, 0) NOT NULL CHECK (amount > 0),
    fee             NUMERIC(78, 0) NOT NULL CHECK (fee >= 0 AND fee <= amount),
    -- The on-chain id (BalanceVault.Debit.id): the vault applies it at most once.
    debit_id        BYTEA          NOT NULL CHECK (length(debit_id) = 32),
    action_id       BIGINT         NOT NULL UNIQUE REFERENCES escrow_actions (id),
    credential_id   UUID           REFERENCES balance_credentials (id),
    -- The client's Idempotency-Key, or one derived from the request ('derived:' and a hash).
    idempotency_key TEXT           NOT NULL CHECK (char_length(idempotency_key) BETWEEN 1 AND 255),
    service_id      UUID           REFERENCES market_services (id),
    job_id          UUID,
    created_at      TIMESTAMPTZ    NOT NULL DEFAULT now(),
    CONSTRAINT balance_debits_on_chain_id UNIQUE (chain_id, vault, debit_id),
    -- A retry with the same key finds the debit it made, never a second one.
    CONSTRAINT balance_debits_idempotent UNIQUE (chain_id, vault, token, payer, idempotency_key)
);
CREATE INDEX balance_debits_payer ON balance_debits (chain_id, vault, token, payer, created_at DESC);

-- A debit's action failing gives its amount back to the balance; leaving 'failed' (a rollback) takes it again.
CREATE FUNCTION balance_debit_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.kind::text = 'vault_debit' AND ((OLD.status = 'failed') IS DISTINCT FROM (NEW.status = 'failed')) THEN
        UPDATE balance_accounts a
        SET spent = a.spent + CASE WHEN NEW.status = 'failed' THEN -d.amount ELSE d.amount END
        FROM balance_debits d
        WHERE d.action_id = NEW.id AND a.chain_id = d.chain_id AND a.vault = d.vault AND a.token = d.token
          AND a.account = d.payer;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER balance_debit_status AFTER UPDATE OF status ON escrow_actions
    FOR EACH ROW EXECUTE FUNCTION balance_debit_status();

-- Two more settlement record kinds: 5 a balance debit (BalanceVault Debited), 6 a subscription charge (Charged).
ALTER TABLE audit_records DROP CONSTRAINT audit_records_kind_check;
ALTER TABLE audit_records ADD CONSTRAINT audit_records_kind_check CHECK (kind BETWEEN 0 AND 6);
