-- A renewal is counted against the balance from its due time, not from when the keeper queues it.
--
-- Subscriptions.charge is anyone's from a period's due time, but until now a renewal was held back from the balance
-- (subscription_reservations, 0014) only once the keeper queued its charge, every subscription_keeper_interval_ms
-- (30 minutes by default). A balance purchase accepted in between could spend the money a charge sent by someone
-- else (the provider, the agent itself) then took: the vault refused that debit after the call it paid for was
-- answered. Now every renewal that is due (from five minutes before its due time: the chain's clock, as the indexer
-- last saw it, can lag the next block's), chargeable (active, past due, or paused: the subscriber may resume and charge
-- it in one block, before the indexer sees it active) and not already held is held back too.
--
-- Held greedily, oldest due first, each only if what is left covers it, as the keeper reserves: a renewal the
-- balance cannot pay takes nothing from it (a charge then marks it past due and moves no money), so the agent may
-- still spend what it has; once a deposit makes it payable, it is held.

-- The subscriptions of an agent's balance.
CREATE INDEX market_subscriptions_subscriber ON market_subscriptions (chain_id, vault, token, subscriber);

-- What of p_left (the balance less everything already spent or held) the agent's due, unheld renewals hold back.
CREATE FUNCTION balance_renewals_due(p_chain BIGINT, p_vault BYTEA, p_token BYTEA, p_account BYTEA, p_left NUMERIC)
RETURNS NUMERIC LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_held  NUMERIC := 0;
    v_price NUMERIC;
BEGIN
    FOR v_price IN
        SELECT s.price FROM market_subscriptions s, LATERAL subscription_state(s, chain_now(s.chain_id)) st
        WHERE s.chain_id = p_chain AND s.vault = p_vault AND s.token = p_token AND s.subscriber = p_account
          AND st.status IN ('active', 'past_due', 'paused') AND chain_now(s.chain_id) + 300 >= st.paid_through
          -- Held already: its charge is queued with a reservation (released by the period's outcome).
          AND NOT EXISTS (SELECT 1 FROM subscription_reservations r
                          WHERE r.subscription_id = s.id AND r.period = st.charged
                            AND r.released_block IS NULL AND NOT r.released_by_action)
        ORDER BY st.paid_through, s.id
    LOOP
        IF p_left - v_held >= v_price THEN
            v_held := v_held + v_price;
        END IF;
    END LOOP;
    RETURN v_held;
END
$$;

-- 0015's batch, with rule 5's confirmed balance less the renewals due, and confirmed at the height of the account's
-- own chain: 0015 read the highest confirmed height of any chain under the indexer's name.
CREATE OR REPLACE FUNCTION balance_debit_batch(
    p_chain_id   BIGINT[],
    p_vault      BYTEA[],
    p_token      BYTEA[],
    p_payer      BYTEA[],
    p_provider   BYTEA[],
    p_amount     NUMERIC[],
    p_fee        NUMERIC[],
    p_credential UUID[],
    -- The credential's daily cap; NULL for none.
    p_cap        NUMERIC[],
    p_key        TEXT[],
    -- A second key a repeat may carry; NULL for none.
    p_also       TEXT[],
    p_service    UUID[],
    -- The debit's public id, its on-chain id and its ABI-encoded BalanceVault.Debit, made by the caller (used only
    -- if it is accepted).
    p_id         UUID[],
    p_debit_id   BYTEA[],
    p_terms      BYTEA[],
    -- Whether rule 1 applies.
    p_listed     BOOLEAN,
    -- The indexer whose confirmed height confirms vault events.
    p_indexer    TEXT
) RETURNS TABLE (
    n               INT,
    -- accepted, repeat, service_changed, revoked, expired, withdrawal_pending, insufficient, over_daily_cap
    decision        TEXT,
    -- The debit accepted or repeated.
    id              UUID,
    debit_id        BYTEA,
    payer           BYTEA,
    provider        BYTEA,
    amount          TEXT,
    fee             TEXT,
    action_id       BIGINT,
    status          TEXT,
    tx_hash         BYTEA,
    failure_reason  TEXT,
    idempotency_key TEXT,
    service_id      UUID,
    created         BIGINT,
    -- insufficient: what could be spent.
    available       TEXT,
    -- withdrawal_pending: when the request unlocks.
    unlock_at       BIGINT,
    -- over_daily_cap: what the credential spent today, and its cap.
    day_spent       TEXT,
    cap             TEXT,
    -- expired: when.
    expired_at      BIGINT
) LANGUAGE plpgsql
-- Generic plans, planned once per connection: every statement here probes indexes row by row (LATERAL ... LIMIT 1),
-- so the array sizes a custom plan would see change nothing, and replanning each statement on every call (which the
-- plan cache otherwise keeps doing, a generic plan of an unknown-sized unnest looking dearer) doubled a batch's time.
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
DECLARE
    v_count     INT := coalesce(cardinality(p_key), 0);
    v_today     DATE := (now() AT TIME ZONE 'UTC')::date;
    -- Per request.
    v_decision  TEXT[] := array_fill(NULL::text, ARRAY[v_count]);
    v_debit     UUID[] := array_fill(NULL::uuid, ARRAY[v_count]);
    v_available NUMERIC[] := array_fill(NULL::numeric, ARRAY[v_count]);
    v_unlock    BIGINT[] := array_fill(NULL::bigint, ARRAY[v_count]);
    v_day       NUMERIC[] := array_fill(NULL::numeric, ARRAY[v_count]);
    v_listed    BOOLEAN[];
    v_live      TEXT[];
    v_expires   BIGINT[];
    v_stored    UUID[];
    v_prior     BOOLEAN[];
    v_account   INT[];
    v_cred      INT[];
    -- Per distinct account (v_account indexes them).
    a_chain     BIGINT[];
    a_vault     BYTEA[];
    a_token     BYTEA[];
    a_payer     BYTEA[];
    a_confirmed NUMERIC[];
    a_spent     NUMERIC[];
    a_unlock    BIGINT[];
    a_added     NUMERIC[];
    -- Per distinct credential (v_cred indexes them); c_spent is its day's total, for a capped one.
    c_id        UUID[];
    c_spent     NUMERIC[];
    c_added     NUMERIC[];
    v_k         INT;
    v_c         INT;
    v_left      NUMERIC;
    v_accepted  BOOLEAN := false;
BEGIN
    IF v_count = 0 THEN
        RETURN;
    END IF;

    -- The distinct accounts in key order, and each request's.
    SELECT array_agg(r.k ORDER BY r.n) INTO v_account
    FROM (SELECT u.n, dense_rank() OVER (ORDER BY u.c, u.v, u.t, u.a)::int AS k
          FROM unnest(p_chain_id, p_vault, p_token, p_payer) WITH ORDINALITY AS u(c, v, t, a, n)) r;
    SELECT array_agg(d.c ORDER BY d.c, d.v, d.t, d.a), array_agg(d.v ORDER BY d.c, d.v, d.t, d.a),
           array_agg(d.t ORDER BY d.c, d.v, d.t, d.a), array_agg(d.a ORDER BY d.c, d.v, d.t, d.a)
    INTO a_chain, a_vault, a_token, a_payer
    FROM (SELECT DISTINCT u.c, u.v, u.t, u.a FROM unnest(p_chain_id, p_vault, p_token, p_payer) AS u(c, v, t, a)) d;

    -- An agent's first debit makes its row (whichever process gets there first), then every row is locked in key
    -- order. A row another batch is inserting is waited for here, in the same order, so no two batches wait in a
    -- cycle.
    INSERT INTO balance_accounts (chain_id, vault, token, account)
    SELECT * FROM unnest(a_chain, a_vault, a_token, a_payer) ORDER BY 1, 2, 3, 4
    ON CONFLICT DO NOTHING;
    PERFORM 1 FROM unnest(a_chain, a_vault, a_token, a_payer) AS x(c, v, t, a), LATERAL (
        SELECT 1 FROM balance_accounts b
        WHERE b.chain_id = x.c AND b.vault = x.v AND b.token = x.t AND b.account = x.a FOR UPDATE) l;

    -- Read after the lock (each statement here takes a new snapshot): the last batch's debits are seen.
    -- The renewals due are held back from what is confirmed (balance_renewals_due, above).
    SELECT array_agg(s.spent ORDER BY s.k),
           array_agg(s.confirmed - balance_renewals_due(s.c, s.v, s.t, s.a, greatest(s.confirmed, 0) - s.spent)
                     ORDER BY s.k),
           array_agg(s.unlock_at ORDER BY s.k)
    INTO a_spent, a_confirmed, a_unlock
    FROM (
        SELECT x.k, x.c, x.v, x.t, x.a, b.spent,
            (SELECT coalesce(sum(CASE e.kind WHEN 'deposited' THEN e.amount ELSE -e.amount END), 0) FROM vault_events e
             WHERE e.chain_id = x.c AND e.vault = x.v AND e.token = x.t AND e.account = x.a
               AND e.kind IN ('deposited', 'withdrawn', 'charged')
               -- Money arriving counts at confirmation depth, money leaving as soon as it is indexed (0014).
               AND (e.kind <> 'deposited' OR e.block_number <= h.height)) AS confirmed,
            (SELECT CASE WHEN e.kind = 'withdrawal_requested' THEN e.unlock_at END FROM vault_events e
             WHERE e.chain_id = x.c AND e.vault = x.v AND e.token = x.t AND e.account = x.a
               AND e.kind IN ('withdrawal_requested', 'withdrawal_cancelled', 'withdrawn')
             ORDER BY e.block_number DESC, e.log_index DESC LIMIT 1) AS unlock_at
        FROM unnest(a_chain, a_vault, a_token, a_payer) WITH ORDINALITY AS x(c, v, t, a, k), LATERAL (
            SELECT b.spent FROM balance_accounts b
            WHERE b.chain_id = x.c AND b.vault = x.v AND b.token = x.t AND b.account = x.a LIMIT 1) b, LATERAL (
            -- The account's chain's confirmed height (not another chain's under the same indexer name).
            SELECT coalesce(max(k.confirmed_block), -1) AS height FROM indexer_checkpoints k
            WHERE k.indexer = p_indexer AND k.chain_id = x.c) h) s;
    a_added := array_fill(0::numeric, ARRAY[cardinality(a_chain)]);

    -- The credentials, locked FOR SHARE in id order (a revoke waits for this batch, or this batch sees the revoke).
    SELECT array_agg(r.k ORDER BY r.n) INTO v_cred
    FROM (SELECT u.n, dense_rank() OVER (ORDER BY u.id)::int AS k
          FROM unnest(p_credential) WITH ORDINALITY AS u(id, n)) r;
    SELECT array_agg(DISTINCT u.id ORDER BY u.id) INTO c_id FROM unnest(p_credential) AS u(id);
    PERFORM 1 FROM unnest(c_id) AS x(id), LATERAL (SELECT 1 FROM balance_credentials c WHERE c.id = x.id FOR SHARE) l;
    SELECT array_agg(CASE WHEN c.id IS NULL OR c.revoked_at IS NOT NULL THEN 'revoked'
                          WHEN c.expires_at <= now() THEN 'expired' END ORDER BY u.n),
           array_agg(extract(epoch FROM c.expires_at)::bigint ORDER BY u.n)
    INTO v_live, v_expires
    FROM unnest(p_credential) WITH ORDINALITY AS u(id, n)
    LEFT JOIN LATERAL (
        SELECT c.id, c.revoked_at, c.expires_at FROM balance_credentials c WHERE c.id = u.id LIMIT 1) c ON true;

    -- The capped credentials' days: made at zero if missing, then locked in id order (another market process may
    -- spend the same credential), then read.
    INSERT INTO balance_credential_days (credential_id, day, spent)
    SELECT DISTINCT u.id, v_today, 0 FROM unnest(p_credential, p_cap) AS u(id, cap)
    WHERE u.cap IS NOT NULL AND EXISTS (SELECT 1 FROM balance_credentials c WHERE c.id = u.id)
    ORDER BY 1
    ON CONFLICT DO NOTHING;
    PERFORM 1 FROM unnest(c_id) AS x(id), LATERAL (
        SELECT 1 FROM balance_credential_days d WHERE d.credential_id = x.id AND d.day = v_today FOR UPDATE) l;
    SELECT array_agg(d.spent ORDER BY x.k) INTO c_spent
    FROM unnest(c_id) WITH ORDINALITY AS x(id, k)
    LEFT JOIN LATERAL (
        SELECT d.spent FROM balance_credential_days d WHERE d.credential_id = x.id AND d.day = v_today LIMIT 1) d ON true;
    c_added := array_fill(0::numeric, ARRAY[cardinality(c_id)]);

    -- Rule 1's listing, and the repeats: a debit stored under the key (the oldest), and whether an earlier request
    -- of the batch has a key this one matches.
    IF p_listed THEN
        SELECT array_agg(s.id IS NOT NULL ORDER BY u.n) INTO v_listed
        FROM unnest(p_service, p_amount) WITH ORDINALITY AS u(id, amount, n)
        LEFT JOIN LATERAL (
            SELECT s.id FROM market_services s
            WHERE s.id = u.id AND s.deleted_at IS NULL AND s.status = 'active' AND s.pricing_model = 'fixed'
              AND s.service_type = 'data_api' AND s.price = u.amount LIMIT 1) s ON true;
    END IF;
    SELECT array_agg(x.id ORDER BY u.n) INTO v_stored
    FROM unnest(p_chain_id, p_vault, p_token, p_payer, p_key, p_also) WITH ORDINALITY AS u(c, v, t, a, k, al, n)
    LEFT JOIN LATERAL (
        -- By balance_debits_key (see it), the account compared in a form no index serves.
        SELECT d.id FROM balance_debits d
        WHERE d.idempotency_key IN (u.k, u.al)
          AND (d.chain_id, d.vault, d.token, d.payer) IS NOT DISTINCT FROM (u.c, u.v, u.t, u.a)
        ORDER BY d.created_at LIMIT 1) x ON true;
    WITH r AS (SELECT * FROM unnest(p_key, p_also) WITH ORDINALITY AS u(k, al, n)),
         f AS (SELECT r.k, min(r.n) AS n FROM r GROUP BY r.k)
    SELECT array_agg(coalesce(f1.n < r.n, false) OR coalesce(f2.n < r.n, false) ORDER BY r.n) INTO v_prior
    FROM r LEFT JOIN f f1 ON f1.k = r.k LEFT JOIN f f2 ON f2.k = r.al;

    FOR i IN 1 .. v_count LOOP
        v_k := v_account[i];
        v_c := v_cred[i];
        IF p_listed AND NOT v_listed[i] THEN
            v_decision[i] := 'service_changed';
            CONTINUE;
        END IF;
        IF v_live[i] IS NOT NULL THEN
            v_decision[i] := v_live[i];
            CONTINUE;
        END IF;
        IF v_stored[i] IS NOT NULL THEN
            v_decision[i] := 'repeat';
            v_debit[i] := v_stored[i];
            CONTINUE;
        END IF;
        IF v_prior[i] THEN
            FOR j IN 1 .. i - 1 LOOP
                IF v_decision[j] = 'accepted' AND v_account[j] = v_k
                   AND p_key[j] IN (p_key[i], p_also[i]) THEN
                    v_decision[i] := 'repeat';
                    v_debit[i] := p_id[j];
                    EXIT;
                END IF;
            END LOOP;
            IF v_decision[i] IS NOT NULL THEN
                CONTINUE;
            END IF;
        END IF;
        IF a_unlock[v_k] IS NOT NULL THEN
            v_decision[i] := 'withdrawal_pending';
            v_unlock[i] := a_unlock[v_k];
            CONTINUE;
        END IF;
        v_left := greatest(greatest(a_confirmed[v_k], 0) - a_spent[v_k] - a_added[v_k], 0);
        IF v_left < p_amount[i] THEN
            v_decision[i] := 'insufficient';
            v_available[i] := v_left;
            CONTINUE;
        END IF;
        IF p_cap[i] IS NOT NULL THEN
            IF c_spent[v_c] + c_added[v_c] + p_amount[i] > p_cap[i] THEN
                v_decision[i] := 'over_daily_cap';
                v_day[i] := c_spent[v_c] + c_added[v_c];
                CONTINUE;
            END IF;
            c_added[v_c] := c_added[v_c] + p_amount[i];
        END IF;
        a_added[v_k] := a_added[v_k] + p_amount[i];
        v_decision[i] := 'accepted';
        v_debit[i] := p_id[i];
        v_accepted := true;
    END LOOP;

    IF v_accepted THEN
        -- The actions in the requests' order (the batcher posts pending debits by action id), then the debits.
        WITH accepted AS (
            SELECT u.* FROM unnest(p_chain_id, p_vault, p_token, p_payer, p_provider, p_amount, p_fee, p_credential,
                                   p_key, p_service, p_id, p_debit_id, p_terms)
                            WITH ORDINALITY AS u(c, v, t, a, pr, amount, fee, cred, k, svc, id, did, terms, n)
            WHERE v_decision[u.n] = 'accepted'),
        actions AS (
            INSERT INTO escrow_actions (chain_id, escrow, asset, kind, job_id, terms)
            SELECT a.c, a.v, a.t, 'vault_debit', a.did, a.terms FROM accepted a ORDER BY a.n
            RETURNING escrow_actions.id AS aid, escrow_actions.job_id AS did)
        INSERT INTO balance_debits (id, chain_id, vault, token, payer, provider, amount, fee, debit_id, action_id,
                                    credential_id, idempotency_key, service_id)
        SELECT a.id, a.c, a.v, a.t, a.a, a.pr, a.amount, a.fee, a.did, x.aid, a.cred, a.k, a.svc
        FROM accepted a JOIN actions x ON x.did = a.did;

        UPDATE balance_accounts b SET spent = b.spent + x.added
        FROM unnest(a_chain, a_vault, a_token, a_payer, a_added) AS x(c, v, t, a, added)
        WHERE x.added > 0 AND b.chain_id = x.c AND b.vault = x.v AND b.token = x.t AND b.account = x.a;
        UPDATE balance_credential_days d SET spent = d.spent + x.added
        FROM unnest(c_id, c_added) AS x(id, added)
        WHERE x.added > 0 AND d.credential_id = x.id AND d.day = v_today;
    END IF;

    -- Each debit by its key. The lookups here are LATERAL with LIMIT 1 so they stay one index probe per request: the
    -- planner cannot size the arrays and, flattened, would hash-join whole tables.
    RETURN QUERY
    SELECT u.n::int, v_decision[u.n], r.id, r.debit_id, r.payer, r.provider, r.amount, r.fee, r.action_id, r.status,
           r.tx_hash, r.failure_reason, r.idempotency_key, r.service_id, r.created, v_available[u.n]::text,
           v_unlock[u.n], v_day[u.n]::text, p_cap[u.n]::text, v_expires[u.n]
    FROM generate_subscripts(p_key, 1) AS u(n)
    LEFT JOIN LATERAL (
        SELECT d.id, d.debit_id, d.payer, d.provider, d.amount::text AS amount, d.fee::text AS fee, d.action_id,
               a.status::text AS status, b.tx_hash, a.failure_reason, d.idempotency_key, d.service_id,
               extract(epoch FROM d.created_at)::bigint AS created
        FROM balance_debits d
        JOIN escrow_actions a ON a.id = d.action_id
        LEFT JOIN settlement_batches b ON b.id = a.batch_id
        WHERE d.id = v_debit[u.n] LIMIT 1) r ON true
    ORDER BY u.n;
END
$$;
