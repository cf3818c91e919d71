-- One-word catalog searches without ranking every match. A search ranked by relevance orders its matches by
-- `ts_rank_cd(search, q)`, which PostgreSQL computes for every row the GIN index returns before it can sort them: a
-- word in a third of 100,000 listings cost 200 ms a page, and its count as much again. For a query of one lexeme
-- (`numnode(q) = 1`: one word, however it is written, once stemmed and stop words dropped) the rank of a service
-- depends on that lexeme's positions in its own vector alone, so it can be computed once, when the service is
-- written, and kept in an index ordered as the catalog's relevance sort is. A page is then the top of one index range,
-- read until `limit + offset`, and its total one row of kept counts. Queries of more than one lexeme (phrases, `or`,
-- `-word`, two words) still rank their matches (crates/ledger/src/market/catalog.rs).

-- A single-lexeme tsquery's text and its rank in one vector. The lexeme is quoted as tsquery input wants (quotes and
-- backslashes doubled), so the text is the same `q::text` that `websearch_to_tsquery` of that one word gives, and the
-- rank is `ts_rank_cd` itself (not a re-implementation of it: for one lexeme it sums the weights of its positions,
-- but only the function is sure to give the same float4 the catalog's generic statement sorts by).
CREATE FUNCTION market_search_lexemes(search TSVECTOR) RETURNS TABLE (term TEXT, score REAL)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT ROWS 50
    AS $$
        SELECT q::text, ts_rank_cd(search, q)
          FROM unnest(search) AS u
         CROSS JOIN LATERAL (
             SELECT ('''' || replace(replace(u.lexeme, '\', '\\'), '''', '''''') || '''')::tsquery AS q
         ) AS one
    $$;

-- One row per listed (active, undeleted) service and lexeme of its search vector. Kept by the trigger below in the
-- same transaction as the service's write, so a search reads it in the same snapshot as the services themselves.
-- No foreign key: the trigger is its only writer, and checking one per row would cost a lookup per lexeme of every
-- service written.
CREATE TABLE market_search_terms (
    -- The one-lexeme query's text, `'seo'` with its quotes: what `websearch_to_tsquery('english', 'SEO')::text` is.
    -- Byte order ("C"): it is only ever compared for equality, and the index stays independent of the locale.
    term       TEXT        COLLATE "C" NOT NULL,
    -- `ts_rank_cd(search, term::tsquery)`: the service's rank for that one-word search.
    score      REAL        NOT NULL,
    -- The service's `listed_at` and `id`: the relevance sort's ties, newest then id.
    listed_at  TIMESTAMPTZ NOT NULL,
    service_id UUID        NOT NULL
);
-- In the catalog's relevance order within a term; also how the trigger finds a service's rows again (it recomputes
-- each one's full key from the old vector), so there is no second index to keep.
CREATE UNIQUE INDEX market_search_terms_ranked
    ON market_search_terms (term, score DESC, listed_at DESC, service_id DESC);

-- How many listed services each term matches: a one-word search's total, without counting its matches. Kept exact by
-- the same trigger. A term no service has any more stays at 0.
CREATE TABLE market_search_term_counts (
    term   TEXT   COLLATE "C" PRIMARY KEY,
    -- No `CHECK (listed >= 0)`: the trigger moves every count of a write in one upsert of signed deltas (see there),
    -- and a check is evaluated on the row proposed for insertion before the conflict turns it into an update.
    listed BIGINT NOT NULL
);

-- Keeps both tables when a service enters, leaves or changes within the catalog. Writes that change neither its
-- listing, its vector nor its `listed_at` (a price, a schema) cost one comparison. The counts of a write are one
-- statement ordered by term, so two writes lock shared terms in the same order and cannot deadlock each other.
CREATE FUNCTION market_search_terms_keep() RETURNS TRIGGER LANGUAGE plpgsql AS $$
DECLARE
    was_listed BOOLEAN := TG_OP <> 'INSERT' AND OLD.status = 'active' AND OLD.deleted_at IS NULL;
    is_listed  BOOLEAN := TG_OP <> 'DELETE' AND NEW.status = 'active' AND NEW.deleted_at IS NULL;
BEGIN
    IF TG_OP = 'UPDATE' AND was_listed = is_listed
        AND (NOT is_listed OR (OLD.search = NEW.search AND OLD.listed_at = NEW.listed_at)) THEN
        RETURN NULL;
    END IF;
    IF was_listed THEN
        DELETE FROM market_search_terms t
         USING market_search_lexemes(OLD.search) o
         WHERE t.term = o.term AND t.score = o.score AND t.listed_at = OLD.listed_at AND t.service_id = OLD.id;
    END IF;
    IF is_listed THEN
        INSERT INTO market_search_terms (term, score, listed_at, service_id)
        SELECT o.term, o.score, NEW.listed_at, NEW.id FROM market_search_lexemes(NEW.search) o;
    END IF;
    INSERT INTO market_search_term_counts AS c (term, listed)
    SELECT d.term, sum(d.delta)
      FROM (
          SELECT o.term, -1 AS delta FROM market_search_lexemes(OLD.search) o WHERE was_listed
          UNION ALL
          SELECT o.term, 1 AS delta FROM market_search_lexemes(NEW.search) o WHERE is_listed
      ) d
     GROUP BY d.term
    HAVING sum(d.delta) <> 0
     ORDER BY d.term COLLATE "C"
        ON CONFLICT (term) DO UPDATE SET listed = c.listed + EXCLUDED.listed;
    RETURN NULL;
END
$$;

CREATE TRIGGER market_services_search_terms AFTER INSERT OR UPDATE OR DELETE ON market_services
    FOR EACH ROW EXECUTE FUNCTION market_search_terms_keep();

-- Services listed before this migration.
INSERT INTO market_search_terms (term, score, listed_at, service_id)
SELECT o.term, o.score, s.listed_at, s.id
  FROM market_services s CROSS JOIN LATERAL market_search_lexemes(s.search) o
 WHERE s.status = 'active' AND s.deleted_at IS NULL;
INSERT INTO market_search_term_counts (term, listed)
SELECT term, count(*) FROM market_search_terms GROUP BY term;

-- A one-word search's page (the services' ids and scores, in order) and total, or `single = false` when the text is
-- not one lexeme. A function, not a statement of the ledger's, for one reason: its plan. The ledger's prepared
-- statement would get a custom plan per text (PostgreSQL folds the parsed query into it and, with the limit a
-- parameter, prices the generic plan dearer), and planning it (0.45 ms on the benchmark's listings) cost more than
-- running it (0.3 ms). Here the statements are planned once per session, generically: each is an index probe
-- whatever the text.
CREATE FUNCTION market_search_page(search_text TEXT, page_limit BIGINT, page_offset BIGINT)
    RETURNS TABLE (single BOOLEAN, total BIGINT, service_id UUID, score REAL)
    LANGUAGE plpgsql STABLE PARALLEL SAFE ROWS 20
    SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
DECLARE
    q      TSQUERY := websearch_to_tsquery('english', search_text);
    wanted TEXT := q::text;
    listed BIGINT;
BEGIN
    IF numnode(q) <> 1 THEN
        RETURN QUERY SELECT false, 0::bigint, NULL::uuid, NULL::real;
        RETURN;
    END IF;
    listed := coalesce((SELECT c.listed FROM market_search_term_counts c WHERE c.term = wanted), 0);
    RETURN QUERY
        SELECT true, listed, t.service_id, t.score
          FROM market_search_terms t
         WHERE t.term = wanted
         ORDER BY t.score DESC, t.listed_at DESC, t.service_id DESC
         LIMIT page_limit OFFSET page_offset;
    IF NOT FOUND THEN
        -- Past the end, or no match: the total still.
        RETURN QUERY SELECT true, listed, NULL::uuid, NULL::real;
    END IF;
END
$$;
