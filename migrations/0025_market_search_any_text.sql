-- Every relevance search with no other filter in one call planned once per session.
--
-- 0011 answered one-lexeme searches in `market_search_page` and sent everything else (two words, a phrase, `or`,
-- `-word`) back to the ledger, which then ranked the matches in one statement and counted them in another: a round
-- trip to learn the text was not one lexeme, two statements planned afresh for each text (the parsed query folds into
-- a custom plan), and the GIN index read twice. Here the function ranks and counts those matches itself, in one
-- statement whose plan is generic (a bitmap scan of the GIN index whatever the text): the count is a window over the
-- ranked rows, which ranking every match reads anyway. The order is the ledger's own: `ts_rank_cd` of the search
-- vector, then newest, then id. A text with no lexeme (stop words alone) matches nothing, as `@@` says.
--
-- Ranking reads each match's search vector twice (the GIN recheck, then `ts_rank_cd`). A listing's row is 1.7 KB on
-- average, and PostgreSQL moves the widest value of a row over about 2 KB (the vector) to the TOAST table: each read
-- of such a row then fetched it from there (on the benchmark's 100,000 listings, 23% of the rows; a two-word search of
-- 2,876 matches took 11.0 ms, 8.6 ms with every row kept whole). Rows under 8,160 bytes are now stored whole (larger
-- ones are still toasted); rows written before this migration keep their form until they are next written.
ALTER TABLE market_services SET (toast_tuple_target = 8160);

CREATE OR REPLACE FUNCTION market_search_page(search_text TEXT, page_limit BIGINT, page_offset BIGINT)
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
    RETURN QUERY
        SELECT false, m.total, m.id, m.rank
          FROM (SELECT s.id, s.listed_at, ts_rank_cd(s.search, q) AS rank, count(*) OVER () AS total
                  FROM market_services s
                 WHERE s.search @@ q AND s.status = 'active' AND s.deleted_at IS NULL) m
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
