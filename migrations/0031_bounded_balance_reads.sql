-- A balance's and a provider's reads no longer grow with every debit ever made.
--
-- GET /v1/balance summed an agent's debits still in flight by reading every debit it ever made (and every vault
-- event, 'debited' ones included); a provider's vault earnings read every event of the vault (everyone's) and every
-- debit of the vault. With one agent's 519,056 debits, 2,000 of them in flight, the balance took 1.2 to 1.5 s and the
-- provider's earnings 2.2 to 2.4 s, each call. Now the balance reads the agent's deposits, withdrawals and charges
-- (vault_events_balance, 0015) and its debits in flight (below); the earnings read the provider's own events (below)
-- and the vault's debits in flight.

-- A vault debit in flight (queued, held for a balance-paid job, or in a batch not yet resolved), by its payer: the
-- second word of its terms (BalanceVault.Debit: id, payer, provider, amount, fee, each one 32-byte word; an address
-- is the last 20 bytes of its word).
CREATE INDEX escrow_actions_open_debits ON escrow_actions (chain_id, escrow, asset, substring(terms FROM 45 FOR 20))
    WHERE kind = 'vault_debit' AND status IN ('pending', 'submitted');

-- A provider's debited and charged events.
CREATE INDEX vault_events_provider ON vault_events (chain_id, vault, token, provider, block_number)
    WHERE provider IS NOT NULL;
