-- Digital products: files providers sell as one-time purchases, and who bought them.
--
-- The file itself is not here: it is stored content-addressed by its SHA-256 (clearing-storage), and a product row
-- names it by that digest, so two products with the same bytes share one stored file and a row can never point at
-- bytes other than those it was uploaded with. What the money did is not here either: a purchase paid through x402
-- is keyed by its payment, and whether that payment settled is the settlement queue's word (settlements, by the
-- payment's key), read at every check of ownership, never copied.

-- A product a provider sells. Never deleted: `deleted_at` hides it from the catalog, and its buyers keep downloading.
CREATE TABLE market_products (
    id             UUID        PRIMARY KEY,
    provider_id    UUID        NOT NULL REFERENCES market_participants (id),
    name           TEXT        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    description    TEXT        NOT NULL CHECK (char_length(description) BETWEEN 1 AND 5000),
    -- Lower case, as the API stores it, so the catalog's filter is an equality; NULL when none was given.
    category       TEXT        CHECK (char_length(category) BETWEEN 1 AND 50 AND category = lower(category)),
    tags           TEXT[]      NOT NULL CHECK (cardinality(tags) <= 20),
    -- What the provider nets per sale, atomic USDC units; the agent pays it plus the platform fee (the402: "5% fee
    -- added for agents"). At most 10^15, as a service's price.
    price          BIGINT      NOT NULL CHECK (price > 0 AND price <= 1000000000000000),
    -- Downloads each purchase allows; NULL is unlimited. A purchase copies it when made: a later change applies to
    -- later purchases only.
    download_limit INTEGER     CHECK (download_limit > 0),
    -- The file: its SHA-256 (the storage key), size in bytes, the name it was uploaded under and the media type its
    -- content was detected as (never the one the uploader claimed).
    file_sha256    BYTEA       NOT NULL CHECK (length(file_sha256) = 32),
    file_size      BIGINT      NOT NULL CHECK (file_size >= 0),
    file_name      TEXT        NOT NULL CHECK (char_length(file_name) BETWEEN 1 AND 255),
    content_type   TEXT        NOT NULL CHECK (content_type IN (
                                   'application/pdf', 'image/png', 'image/jpeg', 'image/gif', 'image/webp',
                                   'application/zip', 'text/csv', 'application/json',
                                   'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
                                   'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
                                   'text/plain')),
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Set once, by DELETE /v1/products/{id}: gone from the catalog and from purchase; buyers keep access.
    deleted_at     TIMESTAMPTZ,
    -- What the catalog's full-text search matches and ranks, weighted as the services' search is: name (A), tags
    -- and category (B), description (C), English stemming (the query is websearch_to_tsquery('english', ...)).
    search         TSVECTOR    GENERATED ALWAYS AS (
        setweight(to_tsvector('english', name), 'A')
            || setweight(to_tsvector('english', market_tags_text(tags) || ' ' || coalesce(category, '')), 'B')
            || setweight(to_tsvector('english', description), 'C')
    ) STORED
);
-- The catalog lists undeleted products only; its indexes are partial on that.
CREATE INDEX market_products_search ON market_products USING GIN (search) WHERE deleted_at IS NULL;
CREATE INDEX market_products_newest ON market_products (created_at DESC, id DESC) WHERE deleted_at IS NULL;
CREATE INDEX market_products_by_category ON market_products (category, created_at DESC, id DESC)
    WHERE deleted_at IS NULL;
CREATE INDEX market_products_by_provider ON market_products (provider_id, created_at DESC, id DESC);

-- A purchase of a product by a wallet. Recorded before its payment is settled (so two payments for the same product
-- and wallet cannot both be taken: the second meets the unique index below first), and released (`released_at`)
-- when its payment can no longer settle, which frees the wallet to buy again. It is owned once its payment settled.
CREATE TABLE market_product_purchases (
    id             UUID           PRIMARY KEY,
    product_id     UUID           NOT NULL REFERENCES market_products (id),
    provider_id    UUID           NOT NULL REFERENCES market_participants (id),
    -- The buying wallet: the authorization's `from`, as verified. Its participant's API key downloads.
    buyer          BYTEA          NOT NULL CHECK (length(buyer) = 20),
    -- How it was paid. Only x402 so far; a balance debit will be another value with its own reference.
    paid_by        TEXT           NOT NULL CHECK (paid_by IN ('x402')),
    -- The x402 payment: its key in the settlement queue is (chain_id, asset, buyer, nonce); settled into `escrow` by
    -- Escrow.payMany (an escrow_credit), which credits the provider amount - fee and the fee recipient fee at once.
    chain_id       BIGINT         NOT NULL,
    asset          BYTEA          NOT NULL CHECK (length(asset) = 20),
    nonce          BYTEA          NOT NULL CHECK (length(nonce) = 32),
    escrow         BYTEA          NOT NULL CHECK (length(escrow) = 20),
    -- The authorization's validBefore (unix seconds): past it, a payment that never reached the queue never will.
    valid_before   BIGINT         NOT NULL,
    -- Atomic units: what the buyer pays, and the platform's part of it.
    amount         NUMERIC(78, 0) NOT NULL CHECK (amount > 0),
    fee            NUMERIC(78, 0) NOT NULL CHECK (fee >= 0 AND fee <= amount),
    -- The product's download limit when bought (NULL: unlimited), and downloads so far, never past it.
    download_limit INTEGER        CHECK (download_limit > 0),
    downloads      INTEGER        NOT NULL DEFAULT 0
                                  CHECK (downloads >= 0 AND (download_limit IS NULL OR downloads <= download_limit)),
    created_at     TIMESTAMPTZ    NOT NULL DEFAULT now(),
    last_download  TIMESTAMPTZ,
    -- When its payment was found unable to settle (failed, expired, or never queued before validBefore).
    released_at    TIMESTAMPTZ,
    CONSTRAINT market_product_purchases_payment_key UNIQUE (chain_id, asset, buyer, nonce)
);
-- One live purchase per product and wallet: "409 if already owned", held by the database against concurrent buys.
CREATE UNIQUE INDEX market_product_purchases_owner ON market_product_purchases (product_id, buyer)
    WHERE released_at IS NULL;
CREATE INDEX market_product_purchases_by_buyer ON market_product_purchases (buyer, created_at DESC);
