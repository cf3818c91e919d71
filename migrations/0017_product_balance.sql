-- Products bought from a prepaid balance. The purchase and its balance debit are written in one transaction (the
-- debit by balance_debit_batch of 0015, the purchase in the same transaction after it), so neither exists without
-- the other: a wallet that already owns the product meets the one-live-purchase index, the transaction rolls back
-- and nothing is debited. The debit credits the provider and the fee recipient in the vault's next debitMany batch,
-- as a data_api balance purchase does; the vault applying it is the sale's settlement record.
--
-- A balance purchase is owned as soon as its debit is accepted (the amount is held against the balance at once, as
-- for a data_api purchase served at once); it is released if the vault refuses the debit (its action 'failed', the
-- amount given back by 0013's trigger), which frees the wallet to buy again.

ALTER TABLE market_product_purchases DROP CONSTRAINT market_product_purchases_paid_by_check;
ALTER TABLE market_product_purchases
    ALTER COLUMN nonce DROP NOT NULL,
    ALTER COLUMN escrow DROP NOT NULL,
    ALTER COLUMN valid_before DROP NOT NULL,
    -- The balance debit that pays it; one purchase per debit.
    ADD COLUMN debit_id UUID UNIQUE REFERENCES balance_debits (id),
    -- chain_id and asset are the payment's either way: the escrow's chain and token, or the vault's.
    ADD CONSTRAINT market_product_purchases_payment_shape CHECK (
        (paid_by = 'x402' AND nonce IS NOT NULL AND escrow IS NOT NULL AND valid_before IS NOT NULL
            AND debit_id IS NULL)
        OR (paid_by = 'balance' AND debit_id IS NOT NULL AND nonce IS NULL AND escrow IS NULL
            AND valid_before IS NULL));

-- The product a debit bought (a service's debit names its service_id), for the balance's history.
ALTER TABLE balance_debits ADD COLUMN product_id UUID REFERENCES market_products (id);
