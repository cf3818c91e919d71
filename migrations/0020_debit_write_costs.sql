-- Fewer writes per balance debit. Measured in the balance benchmark (pg_waldump over 5 s of purchases): every debit
-- cost about 19 index entries across its rows, its action's two rewrites (claim, resolve) and the indexer's rows,
-- 4.8 KB of WAL, and two trigger calls per rewrite. Three of those were redundant:

-- 1. The two triggers on escrow_actions' status react only to an action of their kinds entering or leaving
--    'failed', but as written (0013, 0014) each called its PL/pgSQL function for every row the batcher claimed and
--    resolved, only to return. With the test in the trigger's WHEN, PostgreSQL checks it without queueing the event or
--    calling the function (the functions keep their own test).
DROP TRIGGER balance_debit_status ON escrow_actions;
CREATE TRIGGER balance_debit_status AFTER UPDATE OF status ON escrow_actions
    FOR EACH ROW
    WHEN (NEW.kind = 'vault_debit' AND ((OLD.status = 'failed') IS DISTINCT FROM (NEW.status = 'failed')))
    EXECUTE FUNCTION balance_debit_status();

DROP TRIGGER subscription_reservation_action ON escrow_actions;
CREATE TRIGGER subscription_reservation_action AFTER UPDATE OF status ON escrow_actions
    FOR EACH ROW
    WHEN (NEW.kind IN ('subscription_charge', 'subscription_operation')
          AND ((OLD.status = 'failed') IS DISTINCT FROM (NEW.status = 'failed')))
    EXECUTE FUNCTION subscription_reservation_action();

-- 2. A debit's idempotency key was in two indexes: the uniqueness of (account, key) and, since 0015, the key alone
--    (so the batch's repeat lookup finds it by the key whatever the statistics). One unique index led by the key
--    does both: the lookup's key is its first column.
ALTER TABLE balance_debits DROP CONSTRAINT balance_debits_idempotent;
ALTER TABLE balance_debits ADD CONSTRAINT balance_debits_idempotent
    UNIQUE (idempotency_key, chain_id, vault, token, payer);
DROP INDEX balance_debits_key;

-- 3. escrow_actions_once_per_job keeps a job's step from being queued twice. A vault debit's action is already
--    one per debit (balance_debits.action_id is unique, and its job_id is the debit's on-chain id, unique in
--    balance_debits_on_chain_id), so its entries (written on insert, claim and resolve, each a new row version)
--    guarded nothing.
DROP INDEX escrow_actions_once_per_job;
CREATE UNIQUE INDEX escrow_actions_once_per_job ON escrow_actions (chain_id, escrow, job_id, kind)
    WHERE kind NOT IN ('claim', 'vault_debit') AND status <> 'failed';
