-- A balance's and a provider's reads no longer grow with every debit ever made.
--
-- GET /v1/balance summed an agent's debits still in flight by reading every debit it ever made (and every vault
-- event, 'debited' ones included), as did a subscribe's and the keeper's read of what the agent may spend; each page
-- of GET /v1/balance/history sorted every debit of the agent; a provider's vault earnings read every event of the
-- vault (everyone's) and every debit of the vault. With one agent's 519,056 debits, 2,000 of them in flight, the
-- balance took 1.2 to 1.5 s and the provider's earnings 2.2 to 2.4 s, each call, whatever the provider sold. Now the
-- balance reads the agent's deposits, withdrawals and charges (vault_events_balance, 0015) and its debits in flight;
-- the earnings read the provider's own events and claims and the debits in flight to it (each by an index below).
-- What a provider has been paid is still summed from its own events: a provider with many sales reads them all.

-- A vault debit in flight (queued, held for a balance-paid job, or in a batch not yet resolved), by its payer and by
-- its provider: the second and third words of its terms (BalanceVault.Debit: id, payer, provider, amount, fee, each
-- one 32-byte word; an address is the last 20 bytes of its word).
CREATE INDEX escrow_actions_open_debits ON escrow_actions (chain_id, escrow, asset, substring(terms FROM 45 FOR 20))
    WHERE kind = 'vault_debit' AND status IN ('pending', 'submitted');
CREATE INDEX escrow_actions_open_credits ON escrow_actions (chain_id, escrow, asset, substring(terms FROM 77 FOR 20))
    WHERE kind = 'vault_debit' AND status IN ('pending', 'submitted');

-- A wallet's debits newest first, those of one time (one batch's) by action id: a page of an agent's history reads as
-- far as it reaches. 0013's index, ordered by time alone, made a page sort every debit of the batches it reached, and
-- led by the account's (chain, vault, token), which balance_debits_on_chain_id also leads with: without statistics
-- the planner took that one and sorted every debit in the vault. Led by the payer, and the rest of the account
-- compared in a form no index serves, only this index answers a page (walking too the wallet's debits in another
-- vault or token of the same database, if any: each process serves one).
DROP INDEX balance_debits_payer;
CREATE INDEX balance_debits_payer ON balance_debits (payer, created_at DESC, action_id DESC);

-- A provider's debited and charged events, and an account's claims.
CREATE INDEX vault_events_provider ON vault_events (chain_id, vault, token, provider, block_number)
    WHERE provider IS NOT NULL;
CREATE INDEX vault_events_claims ON vault_events (chain_id, vault, token, account, block_number)
    WHERE kind = 'claimed';

-- A provider's escrow jobs (GET /v1/provider/earnings' held): the escrow's jobs were read whole.
CREATE INDEX escrow_jobs_provider ON escrow_jobs (chain_id, escrow, provider, block_number);
