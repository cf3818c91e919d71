-- Plans and subscriptions on the Subscriptions contract, paid from prepaid balances in the BalanceVault.
--
-- Who decides what:
--   - providers decide their plans (market_plans); an agent's subscribe decides the terms (market_subscriptions);
--   - the chain decides everything else: a subscription exists, is paid through a time, is past due, paused,
--     cancelled or expired only because the Subscriptions contract's events say so (subscription_events, the
--     indexer's projection, inserted and deleted by block like every projection).
-- The market's requests to the chain are operator actions of the one queue (escrow_actions), sent by the batcher:
--   - 'subscription_operation': Subscriptions.operateMany (open with period 0's charge, cancel, pause, resume);
--   - 'subscription_charge':    Subscriptions.chargeMany (the keeper's renewals and retries).
-- In job_id both carry a key unique per request (see the ledger); in terms, a charge carries its subscription id and
-- an operation its ABI-encoded Subscriptions.Operation.
--
-- Money a queued charge will take is held back from the balance from the moment it is queued until the chain says
-- what became of it (subscription_reservations, added to balance_accounts.spent): otherwise a balance purchase
-- accepted while the charge is in flight could spend money the charge then takes, and that debit would fail. The
-- reservation is released by the charge's outcome event (charged, past_due, expired: projected in the same
-- transaction as the vault's Charged event, and put back if a reorg removes it) or by its action failing.
-- Charges therefore count against the confirmed balance as soon as they are projected, not at confirmation depth:
-- money leaving is counted early, money arriving (deposits) late.
--
-- New enum values cannot be used in the transaction that adds them, so constraints compare them as text.
ALTER TYPE settlement_route ADD VALUE IF NOT EXISTS 'subscription_charge';
ALTER TYPE settlement_route ADD VALUE IF NOT EXISTS 'subscription_operation';
ALTER TYPE escrow_action_kind ADD VALUE IF NOT EXISTS 'subscription_charge';
ALTER TYPE escrow_action_kind ADD VALUE IF NOT EXISTS 'subscription_operation';

-- Providers' vault income (balance purchases, subscriptions) is claimed through the same queue as the escrow's:
-- 'vault_claim' rows, shaped like 'claim' (an account, no job), posted with BalanceVault.claimMany, which pays each
-- account only to itself. Its one-in-flight index is in 0016 (it needs the value committed).
ALTER TYPE settlement_route ADD VALUE IF NOT EXISTS 'vault_claim';
ALTER TYPE escrow_action_kind ADD VALUE IF NOT EXISTS 'vault_claim';
ALTER TABLE escrow_actions DROP CONSTRAINT escrow_actions_shape;
ALTER TABLE escrow_actions ADD CONSTRAINT escrow_actions_shape CHECK (CASE
    WHEN kind::text IN ('claim', 'vault_claim') THEN account IS NOT NULL AND job_id IS NULL AND terms IS NULL
    ELSE account IS NULL AND job_id IS NOT NULL AND terms IS NOT NULL
END);

-- A provider's plan: a price per period for a bundle of its services.
CREATE TABLE market_plans (
    id           UUID           PRIMARY KEY,
    provider_id  UUID           NOT NULL REFERENCES market_participants (id),
    name         TEXT           NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    description  TEXT           NOT NULL DEFAULT '' CHECK (char_length(description) <= 2000),
    "interval"   TEXT           NOT NULL CHECK ("interval" IN ('monthly', 'annual')),
    -- What the provider receives per period, atomic units; the subscriber pays it plus the market's fee.
    price        NUMERIC(78, 0) NOT NULL CHECK (price > 0),
    -- The provider's services a subscription covers (never empty).
    service_ids  UUID[]         NOT NULL CHECK (cardinality(service_ids) BETWEEN 1 AND 100),
    -- Requests per period a subscription may make to its services without paying; NULL for no limit.
    max_requests INTEGER        CHECK (max_requests > 0),
    created_at   TIMESTAMPTZ    NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ    NOT NULL DEFAULT now(),
    -- A deleted plan takes no new subscriber; its subscriptions run on as their terms say.
    deleted_at   TIMESTAMPTZ
);
CREATE INDEX market_plans_provider ON market_plans (provider_id, created_at DESC);
CREATE INDEX market_plans_listed ON market_plans (created_at DESC) WHERE deleted_at IS NULL;

-- A subscription the market asked the chain to open: its terms as the contract hashes them (id = their hash) and
-- what it covers, fixed at subscribe time so a later plan edit changes no one's bargain.
CREATE TABLE market_subscriptions (
    id             BYTEA          PRIMARY KEY CHECK (length(id) = 32),
    chain_id       BIGINT         NOT NULL,
    contract       BYTEA          NOT NULL CHECK (length(contract) = 20),
    vault          BYTEA          NOT NULL CHECK (length(vault) = 20),
    token          BYTEA          NOT NULL CHECK (length(token) = 20),
    plan_id        UUID           NOT NULL REFERENCES market_plans (id),
    participant_id UUID           NOT NULL REFERENCES market_participants (id),
    subscriber     BYTEA          NOT NULL CHECK (length(subscriber) = 20),
    provider       BYTEA          NOT NULL CHECK (length(provider) = 20),
    -- The price per period the subscriber pays (the provider's price plus fee) and the fee in it.
    price          NUMERIC(78, 0) NOT NULL CHECK (price > 0),
    fee            NUMERIC(78, 0) NOT NULL CHECK (fee >= 0 AND fee < price),
    period         BIGINT         NOT NULL CHECK (period > 0),
    start          BIGINT         NOT NULL,
    grace          BIGINT         NOT NULL CHECK (grace > 0 AND grace <= period),
    salt           BYTEA          NOT NULL CHECK (length(salt) = 32),
    service_ids    UUID[]         NOT NULL,
    max_requests   INTEGER        CHECK (max_requests > 0),
    -- The operateMany Open that creates it (and charges period 0).
    open_action_id BIGINT         NOT NULL UNIQUE REFERENCES escrow_actions (id),
    created_at     TIMESTAMPTZ    NOT NULL DEFAULT now()
);
CREATE INDEX market_subscriptions_participant ON market_subscriptions (participant_id, created_at DESC);
CREATE INDEX market_subscriptions_plan ON market_subscriptions (plan_id);
-- One live subscription per agent and plan is the API's rule, checked against the chain's status on subscribe.

-- The Subscriptions contract's events, projected by the indexer.
CREATE TABLE subscription_events (
    chain_id        BIGINT      NOT NULL,
    block_number    BIGINT      NOT NULL,
    log_index       BIGINT      NOT NULL,
    tx_hash         BYTEA       NOT NULL CHECK (length(tx_hash) = 32),
    contract        BYTEA       NOT NULL CHECK (length(contract) = 20),
    subscription_id BYTEA       NOT NULL CHECK (length(subscription_id) = 32),
    kind            TEXT        NOT NULL CHECK (kind IN ('subscribed', 'charged', 'past_due', 'expired', 'cancelled',
                                                         'paused', 'resumed')),
    -- The period charged, past due or expired.
    period          BIGINT,
    -- Unix seconds: charged and cancelled, paid through; past_due, the lapse.
    at              BIGINT,
    -- Who cancelled, paused or resumed; the subscriber of a subscribed.
    actor           BYTEA       CHECK (length(actor) = 20),
    PRIMARY KEY (chain_id, block_number, log_index)
);
CREATE INDEX subscription_events_subscription ON subscription_events (chain_id, subscription_id, block_number,
                                                                      log_index);

-- Requests made under a subscription in one of its periods without paying (its plan's max_requests per period).
CREATE TABLE subscription_usage (
    subscription_id BYTEA   NOT NULL REFERENCES market_subscriptions (id),
    period          BIGINT  NOT NULL CHECK (period >= 0),
    used            INTEGER NOT NULL CHECK (used >= 0),
    PRIMARY KEY (subscription_id, period)
);

-- Money held back from a balance for a charge in flight (see the top of this file). open: still held.
CREATE TABLE subscription_reservations (
    action_id       BIGINT         PRIMARY KEY REFERENCES escrow_actions (id),
    chain_id        BIGINT         NOT NULL,
    vault           BYTEA          NOT NULL CHECK (length(vault) = 20),
    token           BYTEA          NOT NULL CHECK (length(token) = 20),
    account         BYTEA          NOT NULL CHECK (length(account) = 20),
    subscription_id BYTEA          NOT NULL CHECK (length(subscription_id) = 32),
    period          BIGINT         NOT NULL CHECK (period >= 0),
    amount          NUMERIC(78, 0) NOT NULL CHECK (amount > 0),
    -- The outcome event (block, log) that released it, if one did; a reorg deleting that event holds it again.
    released_block  BIGINT,
    released_log    BIGINT,
    -- Its action failed (a rollback that reopens the action holds it again).
    released_by_action BOOLEAN     NOT NULL DEFAULT false,
    CHECK ((released_block IS NULL) = (released_log IS NULL))
);
CREATE INDEX subscription_reservations_period ON subscription_reservations (subscription_id, period);

-- A reservation's hold on balance_accounts.spent follows whether it is open (neither released).
CREATE FUNCTION subscription_reservation_hold() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    was_open BOOLEAN := TG_OP = 'UPDATE' AND OLD.released_block IS NULL AND NOT OLD.released_by_action;
    is_open  BOOLEAN := NEW.released_block IS NULL AND NOT NEW.released_by_action;
BEGIN
    IF was_open IS DISTINCT FROM is_open THEN
        INSERT INTO balance_accounts AS a (chain_id, vault, token, account, spent)
        VALUES (NEW.chain_id, NEW.vault, NEW.token, NEW.account, CASE WHEN is_open THEN NEW.amount ELSE 0 END)
        ON CONFLICT (chain_id, vault, token, account)
        DO UPDATE SET spent = a.spent + CASE WHEN is_open THEN NEW.amount ELSE -NEW.amount END;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER subscription_reservation_hold AFTER INSERT OR UPDATE ON subscription_reservations
    FOR EACH ROW EXECUTE FUNCTION subscription_reservation_hold();

-- The charge's action failing releases it; leaving 'failed' (a rollback reopening it) holds it again.
CREATE FUNCTION subscription_reservation_action() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.kind::text IN ('subscription_charge', 'subscription_operation')
       AND ((OLD.status = 'failed') IS DISTINCT FROM (NEW.status = 'failed')) THEN
        UPDATE subscription_reservations SET released_by_action = (NEW.status = 'failed') WHERE action_id = NEW.id;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER subscription_reservation_action AFTER UPDATE OF status ON escrow_actions
    FOR EACH ROW EXECUTE FUNCTION subscription_reservation_action();

-- The chain's outcome of a period (charged, past due, expired) releases the reservations for it still held; a
-- reorg deleting that event holds again those it released.
CREATE FUNCTION subscription_reservation_outcome() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' AND NEW.kind IN ('charged', 'past_due', 'expired') THEN
        UPDATE subscription_reservations SET released_block = NEW.block_number, released_log = NEW.log_index
        WHERE chain_id = NEW.chain_id AND subscription_id = NEW.subscription_id AND period = NEW.period
          AND released_block IS NULL;
    ELSIF TG_OP = 'DELETE' AND OLD.kind IN ('charged', 'past_due', 'expired') THEN
        UPDATE subscription_reservations SET released_block = NULL, released_log = NULL
        WHERE chain_id = OLD.chain_id AND subscription_id = OLD.subscription_id
          AND released_block = OLD.block_number AND released_log = OLD.log_index;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER subscription_reservation_outcome AFTER INSERT OR DELETE ON subscription_events
    FOR EACH ROW EXECUTE FUNCTION subscription_reservation_outcome();

-- Where a subscription stands at chain time now_ts, from the chain's events alone (as Subscriptions.statusOf):
--   status: pending (its open is queued), failed (the chain refused the open), active, past_due, paused, cancelled,
--           expired (an Expired event, or its next period lapsed unpaid);
--   charged: periods paid; paid_through: when the paid periods end (access lasts until then, cancelled or not);
--   lapse_at: when the next period lapses unpaid; attempts: refused charges of the next period.
CREATE FUNCTION subscription_state(s market_subscriptions, now_ts BIGINT, OUT status TEXT, OUT charged BIGINT,
                                   OUT paid_through BIGINT, OUT lapse_at BIGINT, OUT attempts BIGINT)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    subscribed BOOLEAN;
    expired    BOOLEAN;
    cancelled  BOOLEAN;
    stop_kind  TEXT;
BEGIN
    SELECT count(*) FILTER (WHERE e.kind = 'charged'), coalesce(bool_or(e.kind = 'subscribed'), false),
           coalesce(bool_or(e.kind = 'expired'), false), coalesce(bool_or(e.kind = 'cancelled'), false)
    INTO charged, subscribed, expired, cancelled
    FROM subscription_events e WHERE e.chain_id = s.chain_id AND e.subscription_id = s.id;
    paid_through := s.start + charged * s.period;
    lapse_at := paid_through + s.grace;
    SELECT count(*) INTO attempts FROM subscription_events e
    WHERE e.chain_id = s.chain_id AND e.subscription_id = s.id AND e.kind = 'past_due' AND e.period = charged;
    IF NOT subscribed THEN
        status := CASE WHEN (SELECT a.status FROM escrow_actions a WHERE a.id = s.open_action_id) = 'failed'
                       THEN 'failed' ELSE 'pending' END;
    ELSIF expired THEN
        status := 'expired';
    ELSIF cancelled THEN
        status := 'cancelled';
    ELSIF now_ts >= lapse_at THEN
        status := 'expired';
    ELSE
        SELECT e.kind INTO stop_kind FROM subscription_events e
        WHERE e.chain_id = s.chain_id AND e.subscription_id = s.id AND e.kind IN ('paused', 'resumed')
        ORDER BY e.block_number DESC, e.log_index DESC LIMIT 1;
        status := CASE WHEN stop_kind = 'paused' THEN 'paused' WHEN attempts > 0 THEN 'past_due' ELSE 'active' END;
    END IF;
END
$$;

-- The chain's time: the newest indexed block's timestamp (anvil's time travel included), unix seconds.
CREATE FUNCTION chain_now(chain BIGINT) RETURNS BIGINT LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT timestamp FROM chain_blocks WHERE chain_id = chain ORDER BY number DESC LIMIT 1), 0)
$$;
