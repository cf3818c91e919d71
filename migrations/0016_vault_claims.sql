-- At most one vault claim of an account in flight, as for escrow claims (0008): a retried or doubled request
-- queues nothing new while one is pending or submitted. Here, not in 0014, because an enum value cannot be used in
-- the transaction that adds it.
CREATE UNIQUE INDEX escrow_actions_one_vault_claim_in_flight ON escrow_actions (chain_id, escrow, asset, account)
    WHERE kind = 'vault_claim' AND status IN ('pending', 'submitted');
