-- Signed webhooks to marketplace participants: one endpoint per participant, the outbox of events waiting to be
-- delivered to it, and the log of every delivery attempt (docs/WEBHOOKS.md).
--
-- Ordering. Events of one (participant_id, ordering_key) are delivered strictly in id order, and a later one waits
-- until the earlier one is delivered, failed (given up) or skipped. Two things make that hold across processes:
-- every enqueue takes a transaction-scoped advisory lock on the key before its id is drawn, so ids of one key are
-- handed out in commit order; and only the oldest pending event of a key is due (next_attempt_at set), the others
-- wait with next_attempt_at NULL until whoever finishes the one before them, under the same lock, makes the next
-- one due. The claim scan therefore reads due events only, however many wait behind a failing receiver.
--
-- Disabling. An enqueue reads its endpoint FOR SHARE and disabling updates the endpoint row first, so an event is
-- either written before the disable (and skipped by it) or after it (and written skipped): no event is left pending
-- towards a disabled endpoint.

-- One endpoint per participant. No foreign key to participants: that table is migration 0006's (the marketplace
-- API, built alongside); the lead may add one once both have landed.
CREATE TABLE webhook_endpoints (
    participant_id  UUID        PRIMARY KEY,
    -- Where events are POSTed; checked against private addresses at registration and again at every delivery.
    url             TEXT        NOT NULL CHECK (url ~ '^https?://'),
    -- The signing secret, `whsec_<base64 of 24 to 64 random bytes>`. Stored because every delivery is signed with
    -- it; never logged, and handed to its owner only once, when the market creates it.
    secret          TEXT        NOT NULL CHECK (secret ~ '^whsec_[A-Za-z0-9+/]+=*$'),
    -- Set when deliveries stop: the endpoint answered 410 Gone ('gone') or its owner turned it off ('owner').
    -- Events enqueued while it is set are written 'skipped'.
    disabled_at     TIMESTAMPTZ,
    disabled_reason TEXT        CHECK (disabled_reason IN ('gone', 'owner')),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT webhook_endpoints_disabled_has_reason CHECK ((disabled_at IS NULL) = (disabled_reason IS NULL))
);

-- pending: waiting for its first attempt or a retry (or in flight under a claim);
-- delivered: an attempt was answered 2xx; failed: the retry schedule ran out or the endpoint answered 410;
-- skipped: never sent because the endpoint was disabled.
CREATE TYPE webhook_event_status AS ENUM ('pending', 'delivered', 'failed', 'skipped');

-- The outbox: one row per event (never per block range). Its public id, the Standard Webhooks `webhook-id`, is
-- 'msg_' followed by id in decimal, the same on every attempt.
CREATE TABLE webhook_events (
    id              BIGSERIAL            PRIMARY KEY,
    participant_id  UUID                 NOT NULL,
    -- Dotted identifier, e.g. 'job.completed' (Standard Webhooks' event type advice).
    event_type      TEXT                 NOT NULL CHECK (event_type ~ '^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$'
                                                         AND length(event_type) <= 100),
    -- Events of one (participant_id, ordering_key) are delivered in id order (a job id, say); NULL: no order.
    ordering_key    TEXT                 CHECK (length(ordering_key) BETWEEN 1 AND 200),
    -- The request body, sent as compact JSON.
    payload         JSONB                NOT NULL,
    created_at      TIMESTAMPTZ          NOT NULL DEFAULT now(),
    status          webhook_event_status NOT NULL DEFAULT 'pending',
    -- Attempts started (a claim counts one), so a process that dies mid-attempt still moves the schedule on.
    attempts        INTEGER              NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- When it is due. NULL while an earlier pending event of its ordering key is not finished, and once final.
    next_attempt_at TIMESTAMPTZ,
    -- The claim of the dispatcher delivering it: until claimed_until passes nobody else takes it; a result is
    -- recorded only under the same claim_token, so a dispatcher whose lease ran out cannot overwrite its successor.
    claimed_until   TIMESTAMPTZ,
    claim_token     BIGINT,
    -- The last attempt's failure, for the owner (an HTTP status and snippet, or a transport error).
    last_error      TEXT,
    -- When it became delivered, failed or skipped.
    finished_at     TIMESTAMPTZ,
    CONSTRAINT webhook_events_final_has_time CHECK ((status = 'pending') = (finished_at IS NULL)),
    CONSTRAINT webhook_events_final_not_due CHECK (status = 'pending' OR next_attempt_at IS NULL),
    CONSTRAINT webhook_events_claim_whole CHECK ((claimed_until IS NULL) = (claim_token IS NULL))
);

-- The claim scan: due events, soonest first.
CREATE INDEX webhook_events_due ON webhook_events (next_attempt_at, id)
    WHERE status = 'pending' AND next_attempt_at IS NOT NULL;
-- The oldest pending event of an ordering key (made due when the one before it finishes).
CREATE INDEX webhook_events_pending_key ON webhook_events (participant_id, ordering_key, id)
    WHERE status = 'pending' AND ordering_key IS NOT NULL;
-- A participant's events, newest first; disabling skips its pending ones.
CREATE INDEX webhook_events_participant ON webhook_events (participant_id, id);

-- Every attempt, as the dispatcher saw it.
CREATE TABLE webhook_deliveries (
    id               BIGSERIAL   PRIMARY KEY,
    event_id         BIGINT      NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    -- The event's participant, copied so a participant's log is one index range.
    participant_id   UUID        NOT NULL,
    -- 1 for the first attempt; restarts at 1 after a manual redelivery.
    attempt          INTEGER     NOT NULL CHECK (attempt >= 1),
    -- When the request was sent, by the dispatcher's clock.
    attempted_at     TIMESTAMPTZ NOT NULL,
    url              TEXT        NOT NULL,
    -- The response's status, or NULL when none came (error says why).
    http_status      SMALLINT    CHECK (http_status BETWEEN 100 AND 999),
    -- A transport failure: refused address, connection refused, timeout, ...
    error            TEXT,
    duration_ms      INTEGER     NOT NULL CHECK (duration_ms >= 0),
    -- The start of the response body, at most 1,024 bytes of UTF-8.
    response_snippet TEXT        CHECK (octet_length(response_snippet) <= 1024),
    CONSTRAINT webhook_deliveries_has_outcome CHECK (http_status IS NOT NULL OR error IS NOT NULL)
);

CREATE INDEX webhook_deliveries_participant ON webhook_deliveries (participant_id, id);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id, id);
