-- Payments to the market's own fee routes (registration, key rotation, a paid job read or download) that someone
-- else's transaction carried, each counted as paid once.
--
-- Anyone who sees an agent's x402 payment in flight can submit its TransferWithAuthorization to the token first. For
-- a payment into the vault or the escrow that leaves surplus the contract must book (0023). For a payment to the fee
-- recipient, an account, the token's transfer is the whole payment: the payer's `value` reached `payTo`, only the gas
-- was someone else's. The market reads the token's logs for it (`AuthorizationUsed(payer, nonce)` and, next to it in
-- one successful transaction, `Transfer(payer, payTo, value)`) and counts it here, keyed by the authorization, so a
-- payment buys one request however many times it is presented. One this facilitator's own queue settled is never
-- counted here: its settlement row answers repeats of it.

CREATE TABLE front_run_fee_payments (
    chain_id     BIGINT         NOT NULL,
    token        BYTEA          NOT NULL CHECK (length(token) = 20),
    payer        BYTEA          NOT NULL CHECK (length(payer) = 20),
    nonce        BYTEA          NOT NULL CHECK (length(nonce) = 32),
    pay_to       BYTEA          NOT NULL CHECK (length(pay_to) = 20),
    amount       NUMERIC(78, 0) NOT NULL CHECK (amount > 0),
    -- The transaction that carried it, by the token's logs, and its block.
    tx_hash      BYTEA          NOT NULL CHECK (length(tx_hash) = 32),
    block_number BIGINT         NOT NULL CHECK (block_number >= 0),
    -- The request it paid for: the route's path.
    resource     TEXT           NOT NULL,
    counted_at   TIMESTAMPTZ    NOT NULL DEFAULT now(),
    PRIMARY KEY (chain_id, token, payer, nonce)
);
