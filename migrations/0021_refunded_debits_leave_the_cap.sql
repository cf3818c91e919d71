-- A debit that ends unpaid (the vault refused it, or a balance-paid job's hold was refunded) gave its amount back
-- to the balance (0013) but still counted against its credential's daily cap, so a provider's failures used up an
-- agent's day. Now the day it was accepted on gives it back too, and takes it again if a reorg reopens the action,
-- as the balance does. The day's row exists whenever the debit counted (a capped credential's batch makes it); an
-- uncapped credential has none and nothing changes. Never below zero: a cap added after the debit did not count it.
CREATE OR REPLACE FUNCTION balance_debit_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.kind::text = 'vault_debit' AND ((OLD.status = 'failed') IS DISTINCT FROM (NEW.status = 'failed')) THEN
        UPDATE balance_accounts a
        SET spent = a.spent + CASE WHEN NEW.status = 'failed' THEN -d.amount ELSE d.amount END
        FROM balance_debits d
        WHERE d.action_id = NEW.id AND a.chain_id = d.chain_id AND a.vault = d.vault AND a.token = d.token
          AND a.account = d.payer;
        UPDATE balance_credential_days c
        SET spent = greatest(c.spent + CASE WHEN NEW.status = 'failed' THEN -d.amount ELSE d.amount END, 0)
        FROM balance_debits d
        WHERE d.action_id = NEW.id AND c.credential_id = d.credential_id
          AND c.day = (d.created_at AT TIME ZONE 'UTC')::date;
    END IF;
    RETURN NEW;
END
$$;
