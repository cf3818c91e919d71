-- Items of a batch that reverted as a whole go alone from then on: payments and escrow actions alike.
--
-- A batch reverts as a whole only when its gas runs out before an item (`BatchSettler_InsufficientGas` and its
-- like in the other contracts): the gas limit comes from a simulation, and a payer's contract wallet can spend far
-- more on chain than in it (it can tell the two apart). Queued again together, the same items reverted the same
-- way in every later batch, each revert at the relayer's expense, and every honest item among them waited until
-- the authorizations expired. Marked here when their batch reverts, each is then claimed into a batch of its own
-- once it is the oldest waiting (other batches leave it out), where the contract's per-item gas cap holds whatever
-- the wallet spends: the item fails or settles by itself, and at most one batch reverts for it.
ALTER TABLE settlements ADD COLUMN alone BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE escrow_actions ADD COLUMN alone BOOLEAN NOT NULL DEFAULT false;
