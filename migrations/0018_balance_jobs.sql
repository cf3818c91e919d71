-- automated_service jobs paid from a prepaid balance. Such a job has no escrow, so its money is held here until the
-- provider delivers: the purchase's debit is accepted as any balance debit (its amount counted in
-- balance_accounts.spent, so it cannot be spent twice) but its action is *held* (held_until set), and the batcher
-- never posts a held action. The provider's delivery releases the hold (the vault's debitMany then pays it); its
-- failure, or the deadline passing first, fails the action, and the 0013 trigger gives the amount back.
--
-- New enum values cannot be used in the transaction that adds them, so constraints compare them as text.

-- When a held debit's hold ends unless the provider delivers first; NULL for every action not held. Only a pending
-- vault debit is ever held (a release or a refund clears it in the statement that decides it).
ALTER TABLE escrow_actions ADD COLUMN held_until TIMESTAMPTZ;
ALTER TABLE escrow_actions ADD CONSTRAINT escrow_actions_held CHECK (
    held_until IS NULL OR (kind::text = 'vault_debit' AND status = 'pending'));
-- A held debit that ends unposted (the provider failed, or its deadline passed) fails without a batch.
ALTER TABLE escrow_actions DROP CONSTRAINT escrow_actions_submitted_has_batch;
ALTER TABLE escrow_actions ADD CONSTRAINT escrow_actions_submitted_has_batch CHECK (
    status IN ('pending', 'expired') OR batch_id IS NOT NULL OR (kind::text = 'vault_debit' AND status = 'failed'));

-- The batcher's scan (claim_action_batch) names held_until IS NULL, so only claimable actions are in its index
-- whatever the statistics: held ones, waiting up to a day each, are never walked past.
DROP INDEX escrow_actions_pending;
CREATE INDEX escrow_actions_pending ON escrow_actions (chain_id, asset, id) WHERE status = 'pending' AND held_until IS NULL;
-- The deadline sweep's scan.
CREATE INDEX escrow_actions_held ON escrow_actions (held_until) WHERE held_until IS NOT NULL;

-- A job paid from a balance: route 'vault_debit', its payment key (chain, token, payer, the debit's on-chain id as
-- nonce) and the vault as its escrow, so the key columns stay whole and unique; debit names the balance debit (one
-- job per debit). refunded_because says why a hold ended without payment (the provider's failure, or the deadline).
ALTER TABLE market_jobs DROP CONSTRAINT market_jobs_route_check;
ALTER TABLE market_jobs ADD CONSTRAINT market_jobs_route_check
    CHECK (route::text IN ('escrow_job', 'escrow_credit', 'vault_debit'));
ALTER TABLE market_jobs
    ADD COLUMN debit            UUID UNIQUE REFERENCES balance_debits (id),
    ADD COLUMN refunded_because TEXT CHECK (refunded_because IN ('provider_failed', 'deadline_passed')),
    ADD CONSTRAINT market_jobs_balance_shape CHECK (
        (route::text = 'vault_debit') = (debit IS NOT NULL)
        AND (debit IS NULL OR service_type = 'automated_service')
        AND (refunded_because IS NULL OR debit IS NOT NULL));
