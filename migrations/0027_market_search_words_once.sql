-- A search names each word once, and ranks without spilling to disk.
--
-- 1. `websearch_to_tsquery` keeps every word it is given, stemmed: "translate translation" is `'translat' &
--    'translat'`, one lexeme twice. Such a query matches exactly what its lexeme alone matches, but `numnode` is 3, so
--    it was ranked match by match (`ts_rank_cd`, about 4 µs a match: 13,899 matches, 90 ms) instead of read from the
--    kept term index of 0011 (0.3 ms). `market_search_query` is the catalog's parse: a conjunction of plain lexemes
--    (words only: no phrase, `or` or `-word`) names each lexeme once, in the order first given, so a repeated word
--    changes neither the matches nor the work, and a conjunction left with one lexeme is a one-word search. Any other
--    query is `websearch_to_tsquery`'s as it is.
-- 2. The window counting a search's matches kept every matching row whole (the search vector with it: 946 bytes a
--    row on the benchmark's listings) until the last one was read, and past `work_mem` (4 MB by default, about 4,000
--    matches) it wrote them to a temporary file: 111 ms for those 13,899 matches against 87 ms with the rank computed
--    first and the window given the id, the date and the rank alone.

-- `q` with each operand of a conjunction of words named once; any other query as it is.
CREATE FUNCTION market_search_words_once(q TSQUERY) RETURNS TSQUERY
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE STRICT
AS $$
DECLARE
    operands TEXT[];
    once     TEXT[] := '{}';
    operand  TEXT;
BEGIN
    IF numnode(q) < 3 THEN
        RETURN q;
    END IF;
    -- A conjunction of n operands and nothing else has n operand nodes and n - 1 `&` nodes. Any other operator (a
    -- phrase, `|`, `!`) adds nodes inside an operand's text, and so does a ` & ` inside a lexeme: such a query is left
    -- as it is. Each operand is then text that `tsquery` reads back as it wrote it (its quotes, its escapes).
    operands := string_to_array(q::text, ' & ');
    IF numnode(q) <> 2 * cardinality(operands) - 1 THEN
        RETURN q;
    END IF;
    -- A loop over a few words, not a statement: plain expressions, no executor (a query here cost 65 µs a search).
    FOREACH operand IN ARRAY operands LOOP
        IF NOT operand = ANY (once) THEN
            once := once || operand;
        END IF;
    END LOOP;
    IF cardinality(once) = cardinality(operands) THEN
        RETURN q;
    END IF;
    RETURN array_to_string(once, ' & ')::tsquery;
END
$$;

-- The catalog's parse of a search text. IMMUTABLE as `websearch_to_tsquery(regconfig, text)` is: a statement that
-- binds the text gets the parsed query folded into its custom plans, so PostgreSQL estimates its matches from the
-- column's statistics.
CREATE FUNCTION market_search_query(search_text TEXT) RETURNS TSQUERY
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$ SELECT market_search_words_once(websearch_to_tsquery('english', search_text)) $$;

CREATE OR REPLACE FUNCTION market_search_page(search_text TEXT, page_limit BIGINT, page_offset BIGINT)
    RETURNS TABLE (single BOOLEAN, total BIGINT, service_id UUID, score REAL)
    LANGUAGE plpgsql STABLE PARALLEL SAFE ROWS 20
    SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
DECLARE
    q      TSQUERY := websearch_to_tsquery('english', search_text);
    wanted TEXT;
    listed BIGINT;
BEGIN
    -- market_search_query's parse, with no second call for the common one word.
    IF numnode(q) >= 3 THEN
        q := market_search_words_once(q);
    END IF;
    wanted := q::text;
    IF numnode(q) = 0 THEN
        RETURN QUERY SELECT false, 0::bigint, NULL::uuid, NULL::real;
        RETURN;
    END IF;
    IF numnode(q) = 1 THEN
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
        RETURN;
    END IF;
    -- `OFFSET 0` keeps the ranked rows a subquery of their own, so the window buffers them as they leave it.
    RETURN QUERY
        SELECT false, m.total, m.id, m.rank
          FROM (SELECT r.id, r.listed_at, r.rank, count(*) OVER () AS total
                  FROM (SELECT s.id, s.listed_at, ts_rank_cd(s.search, q) AS rank
                          FROM market_services s
                         WHERE s.search @@ q AND s.status = 'active' AND s.deleted_at IS NULL
                        OFFSET 0) r) m
         ORDER BY m.rank DESC, m.listed_at DESC, m.id DESC
         LIMIT page_limit OFFSET page_offset;
    IF NOT FOUND THEN
        RETURN QUERY
            SELECT false, count(*), NULL::uuid, NULL::real
              FROM market_services s
             WHERE s.search @@ q AND s.status = 'active' AND s.deleted_at IS NULL;
    END IF;
END
$$;
