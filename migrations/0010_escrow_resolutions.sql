-- The arbiter's signed resolution of a disputed job (Escrow.resolveWithSig), relayed in stepMany like the payer's
-- signed release and dispute: a step of kind 'resolve_with_sig' with the provider's share in bps.
-- The new enum value cannot be used in the transaction that adds it, so the constraints compare kind as text.
ALTER TYPE escrow_action_kind ADD VALUE IF NOT EXISTS 'resolve_with_sig';

ALTER TABLE escrow_actions ADD COLUMN provider_bps INTEGER CHECK (provider_bps BETWEEN 0 AND 10000);

ALTER TABLE escrow_actions DROP CONSTRAINT escrow_actions_signed;
ALTER TABLE escrow_actions ADD CONSTRAINT escrow_actions_signed
    CHECK ((kind::text IN ('release_with_sig', 'dispute_with_sig', 'resolve_with_sig'))
           = (signature IS NOT NULL AND deadline IS NOT NULL));
ALTER TABLE escrow_actions ADD CONSTRAINT escrow_actions_resolution
    CHECK ((kind::text = 'resolve_with_sig') = (provider_bps IS NOT NULL));
