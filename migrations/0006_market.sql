-- The marketplace, first part: its participants (agents and providers, each created by a paid registration from its
-- wallet) and the services providers list in the catalog. Later migrations add threads, jobs and the rest; what
-- money did stays the chain's (the indexer's tables), never these.

-- An agent or a provider.
CREATE TABLE market_participants (
    id                 UUID        PRIMARY KEY,
    -- The wallet that paid the registration: the EIP-3009 authorization's `from`, as the facilitator verified and
    -- settled it. The participant's identity for anything paid (rotating the key); never taken from a request body.
    wallet             BYTEA       NOT NULL CHECK (length(wallet) = 20),
    kind               TEXT        NOT NULL CHECK (kind IN ('agent', 'provider')),
    name               TEXT        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    description        TEXT        NOT NULL CHECK (char_length(description) <= 5000),
    -- Where this participant's webhooks go: an http(s) URL, or NULL for none.
    webhook_url        TEXT        CHECK (char_length(webhook_url) <= 2048),
    capabilities       TEXT[]      NOT NULL CHECK (cardinality(capabilities) <= 50),
    -- SHA-256 of the API key. The key is shown once (at registration or rotation) and stored nowhere.
    api_key_hash       BYTEA       NOT NULL CHECK (length(api_key_hash) = 32),
    -- The key's visible start (`clr_` and 8 characters), for its owner and support to tell keys apart; 48 of its
    -- 256 random bits, which leaves the rest unguessable.
    api_key_prefix     TEXT        NOT NULL CHECK (api_key_prefix LIKE 'clr\_%'),
    -- The Standard Webhooks secret (`whsec_` + base64 of 32 random bytes) this participant's webhooks are signed
    -- with. Held here until the webhooks' endpoint table takes it over. Never logged.
    webhook_secret     TEXT        NOT NULL CHECK (webhook_secret LIKE 'whsec\_%'),
    -- The EIP-3009 nonce of the payment that registered it (with `wallet`, its settlements row's identity).
    registration_nonce BYTEA       NOT NULL CHECK (length(registration_nonce) = 32),
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- When the key last changed; NULL while it is the one given at registration.
    key_rotated_at     TIMESTAMPTZ,
    CONSTRAINT market_participants_wallet_key UNIQUE (wallet),
    CONSTRAINT market_participants_api_key_hash_key UNIQUE (api_key_hash)
);

-- Tags as one text for the search vector. `array_to_string` is only STABLE (it calls its element type's output
-- function); for text[] it cannot change, and a generated column needs an IMMUTABLE expression.
CREATE FUNCTION market_tags_text(tags TEXT[]) RETURNS TEXT
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    RETURN array_to_string(tags, ' ');

-- A service a provider lists. Never deleted: a deleted service keeps its row (`deleted_at`), since jobs refer to it.
CREATE TABLE market_services (
    id                 UUID        PRIMARY KEY,
    provider_id        UUID        NOT NULL REFERENCES market_participants (id),
    name               TEXT        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    description        TEXT        NOT NULL CHECK (char_length(description) <= 5000),
    -- Lower case, as the API stores it, so the catalog's filter is an equality.
    category           TEXT        NOT NULL CHECK (char_length(category) BETWEEN 1 AND 50 AND category = lower(category)),
    tags               TEXT[]      NOT NULL CHECK (cardinality(tags) <= 20),
    -- The listed price in atomic USDC units (6 decimals). At most 10^15 (a billion USDC), which a JavaScript number
    -- still holds exactly.
    price              BIGINT      NOT NULL CHECK (price > 0 AND price <= 1000000000000000),
    pricing_model      TEXT        NOT NULL CHECK (pricing_model IN ('fixed', 'quote_required')),
    service_type       TEXT        NOT NULL CHECK (service_type IN ('data_api', 'automated_service', 'human_service')),
    fulfillment_type   TEXT        NOT NULL CHECK (fulfillment_type IN ('instant', 'automated', 'human')),
    -- JSON Schemas, checked to be valid schemas by the API.
    input_schema       JSONB,
    deliverable_schema JSONB,
    estimated_delivery TEXT        CHECK (char_length(estimated_delivery) <= 100),
    -- `inactive` hides it from the catalog; its provider still sees it.
    status             TEXT        NOT NULL CHECK (status IN ('active', 'inactive')),
    listed_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Set once, by DELETE /v1/services/{id}; the service is then gone from every answer.
    deleted_at         TIMESTAMPTZ,
    -- What the catalog's full-text search matches and ranks: the name weighs most (A), tags and category next (B),
    -- the description least (C). English stemming, as the query's websearch_to_tsquery('english', ...) uses.
    search             TSVECTOR    GENERATED ALWAYS AS (
        setweight(to_tsvector('english', name), 'A')
            || setweight(to_tsvector('english', market_tags_text(tags) || ' ' || category), 'B')
            || setweight(to_tsvector('english', description), 'C')
    ) STORED,
    -- One tier, one fulfilment: data APIs are instant, automated services automated, human services human.
    CONSTRAINT market_services_tier CHECK (
        (service_type, fulfillment_type) IN
            (('data_api', 'instant'), ('automated_service', 'automated'), ('human_service', 'human'))
    )
);

-- The catalog shows active, undeleted services only; every index it reads is partial on that, so hidden and
-- deleted rows cost it nothing. Each sort order has an index that yields rows in that order, so a page is read
-- from the top of an index, not sorted.
CREATE INDEX market_services_search ON market_services USING GIN (search)
    WHERE status = 'active' AND deleted_at IS NULL;
CREATE INDEX market_services_newest ON market_services (listed_at DESC, id DESC)
    WHERE status = 'active' AND deleted_at IS NULL;
CREATE INDEX market_services_by_price ON market_services (price, id)
    WHERE status = 'active' AND deleted_at IS NULL;
CREATE INDEX market_services_by_category ON market_services (category, listed_at DESC, id DESC)
    WHERE status = 'active' AND deleted_at IS NULL;
CREATE INDEX market_services_by_type ON market_services (service_type, listed_at DESC, id DESC)
    WHERE status = 'active' AND deleted_at IS NULL;
-- A category's or a tier's services by price: their price sorts, and the count under a `max_price` (16,000 of
-- 100,000 counted in about 2 ms from the index alone, where the table scan took 150).
CREATE INDEX market_services_by_category_price ON market_services (category, price, id)
    WHERE status = 'active' AND deleted_at IS NULL;
CREATE INDEX market_services_by_type_price ON market_services (service_type, price, id)
    WHERE status = 'active' AND deleted_at IS NULL;
-- A provider's services, in any state (the catalog's provider filter, and later the provider's own listings).
CREATE INDEX market_services_by_provider ON market_services (provider_id, listed_at DESC, id DESC);

-- How many services the catalog lists, per category and tier: the catalog's total when it is filtered by nothing
-- else, without counting 100,000 rows per request (a count(*) over the partial index costs milliseconds, this a
-- few rows). Kept by the trigger below in the same transaction as each write, so it is exact.
CREATE TABLE market_catalog_counts (
    category     TEXT   NOT NULL,
    service_type TEXT   NOT NULL,
    listed       BIGINT NOT NULL CHECK (listed >= 0),
    PRIMARY KEY (category, service_type)
);

-- Moves a service's count from its old (category, tier) to its new one when it enters, leaves or moves within the
-- catalog. Two moves between the same keys in opposite directions lock the counts in one order (the smaller key
-- first), so they cannot deadlock.
CREATE FUNCTION market_catalog_count() RETURNS TRIGGER LANGUAGE plpgsql AS $$
DECLARE
    was_listed BOOLEAN := TG_OP <> 'INSERT' AND OLD.status = 'active' AND OLD.deleted_at IS NULL;
    is_listed  BOOLEAN := TG_OP <> 'DELETE' AND NEW.status = 'active' AND NEW.deleted_at IS NULL;
    old_key    TEXT[];
    new_key    TEXT[];
    step       INT;
BEGIN
    IF was_listed THEN old_key := ARRAY[OLD.category, OLD.service_type]; END IF;
    IF is_listed THEN new_key := ARRAY[NEW.category, NEW.service_type]; END IF;
    IF old_key IS NOT DISTINCT FROM new_key THEN
        RETURN NULL;
    END IF;
    FOR step IN 1..2 LOOP
        IF old_key IS NOT NULL AND ((step = 1) = (new_key IS NULL OR old_key < new_key)) THEN
            UPDATE market_catalog_counts SET listed = listed - 1
             WHERE category = old_key[1] AND service_type = old_key[2];
        ELSIF new_key IS NOT NULL AND ((step = 1) = (old_key IS NULL OR new_key < old_key)) THEN
            INSERT INTO market_catalog_counts AS c (category, service_type, listed) VALUES (new_key[1], new_key[2], 1)
                ON CONFLICT (category, service_type) DO UPDATE SET listed = c.listed + 1;
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

CREATE TRIGGER market_services_catalog_count AFTER INSERT OR UPDATE OR DELETE ON market_services
    FOR EACH ROW EXECUTE FUNCTION market_catalog_count();
