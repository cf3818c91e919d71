-- The catalog's total under a `max_price` without counting every listing under it.
--
-- Browsing with a price ceiling (`?service_type=data_api&max_price=1`) counted its matches from the index by tier and
-- price: 20,000 index entries and about 6 ms a request on 100,000 listings, where every other browsing request costs
-- its page. Prices are kept here in buckets whose bounds are the round prices an agent names (1, 2 and 5 times a power
-- of ten, in atomic units: $0.000001 up to $1,000,000,000), per tier and category, by a trigger in the same
-- transaction as every write, so the counts are exact. A ceiling's total is the sum of the buckets at or under the
-- largest bound not above it, plus a count of the listings between that bound and the ceiling: nothing for a round
-- ceiling ($1, $5, $20), at most one bucket's listings for any other.

-- The smallest bound at or above `price` (> 0): its bucket, (previous bound, bound].
CREATE FUNCTION market_price_bucket(price BIGINT) RETURNS BIGINT
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$
        SELECT CASE WHEN price <= b THEN b WHEN price <= 2 * b THEN 2 * b WHEN price <= 5 * b THEN 5 * b ELSE 10 * b END
          FROM (SELECT (10::numeric ^ (length(price::text) - 1))::bigint AS b) x
    $$;

-- The largest bound at or below `ceiling` (0 under 1): every listing of a bucket at or under it costs at most it.
CREATE FUNCTION market_price_floor(ceiling BIGINT) RETURNS BIGINT
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$
        SELECT CASE WHEN ceiling < 1 THEN 0 WHEN ceiling >= 5 * b THEN 5 * b WHEN ceiling >= 2 * b THEN 2 * b ELSE b END
          FROM (SELECT (10::numeric ^ (length(greatest(ceiling, 1)::text) - 1))::bigint AS b) x
    $$;

CREATE TABLE market_catalog_price_counts (
    service_type TEXT   NOT NULL,
    category     TEXT   NOT NULL,
    price_bucket BIGINT NOT NULL,
    listed       BIGINT NOT NULL CHECK (listed >= 0),
    PRIMARY KEY (service_type, category, price_bucket)
);

-- Moves a service's count between buckets when it enters, leaves or moves within the catalog (its tier, category or
-- price changed), locking the two rows in key order as market_catalog_count does, so two moves cannot deadlock.
CREATE FUNCTION market_catalog_price_count() RETURNS TRIGGER LANGUAGE plpgsql AS $$
DECLARE
    was_listed BOOLEAN := TG_OP <> 'INSERT' AND OLD.status = 'active' AND OLD.deleted_at IS NULL;
    is_listed  BOOLEAN := TG_OP <> 'DELETE' AND NEW.status = 'active' AND NEW.deleted_at IS NULL;
    old_key    TEXT[];
    new_key    TEXT[];
    step       INT;
BEGIN
    IF was_listed THEN
        old_key := ARRAY[OLD.service_type, OLD.category, lpad(market_price_bucket(OLD.price)::text, 20, '0')];
    END IF;
    IF is_listed THEN
        new_key := ARRAY[NEW.service_type, NEW.category, lpad(market_price_bucket(NEW.price)::text, 20, '0')];
    END IF;
    IF old_key IS NOT DISTINCT FROM new_key THEN
        RETURN NULL;
    END IF;
    FOR step IN 1..2 LOOP
        IF old_key IS NOT NULL AND ((step = 1) = (new_key IS NULL OR old_key < new_key)) THEN
            UPDATE market_catalog_price_counts SET listed = listed - 1
             WHERE service_type = old_key[1] AND category = old_key[2] AND price_bucket = old_key[3]::bigint;
        ELSIF new_key IS NOT NULL AND ((step = 1) = (old_key IS NULL OR new_key < old_key)) THEN
            INSERT INTO market_catalog_price_counts AS c (service_type, category, price_bucket, listed)
            VALUES (new_key[1], new_key[2], new_key[3]::bigint, 1)
                ON CONFLICT (service_type, category, price_bucket) DO UPDATE SET listed = c.listed + 1;
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

CREATE TRIGGER market_services_catalog_price_count AFTER INSERT OR UPDATE OR DELETE ON market_services
    FOR EACH ROW EXECUTE FUNCTION market_catalog_price_count();

-- Services listed before this migration.
INSERT INTO market_catalog_price_counts (service_type, category, price_bucket, listed)
SELECT service_type, category, market_price_bucket(price), count(*)
  FROM market_services
 WHERE status = 'active' AND deleted_at IS NULL
 GROUP BY 1, 2, 3;
