-- The keeper's look for a subscription's charges (Ledger::due_charges): whether one is in flight, or applied in a
-- block the indexer has not reached yet. A subscription charge's terms are the subscription's id, so one index
-- probe per due subscription finds them, whatever the statistics; without it each looked through every action.
CREATE INDEX escrow_actions_subscription_charges ON escrow_actions (terms, status) WHERE kind = 'subscription_charge';
