//! Settle: a durable queue of verified payments and the batcher that relays them, through `BatchSettler` or, for the
//! marketplace's escrow routes, through the `Escrow`.
//!
//! - [`Settler::settle`] (called by `/settle` after verify) queues a [`PaymentToSettle`] keyed by (chain, asset,
//!   payer, nonce) and waits for its outcome, answering [`SettleResult::Pending`] with the transaction hash when
//!   the receipt is late. Any number of settles of one authorization pay at most once, and at most one of them
//!   is answered success. Only the same signed payment (same terms and signature bytes) shares a queued row's
//!   outcome; another one with the same key is answered [`SettleResult::NonceTaken`]. [`Settler::join`] waits
//!   for a queued payment without ever queueing one (for a repeat that no longer verifies).
//! - [`Batcher`] claims queued payments per asset every `max_wait_ms` (or sooner when a batch fills), signs one
//!   batch at an explicit relayer nonce, records the signed bytes, sends them, follows the receipt (replacing a
//!   stuck transaction with bumped fees) and resolves every item from its own event. On start it finishes every
//!   batch a previous process left unresolved.

mod answers;
mod batcher;
mod call;
mod config;
mod settler;

use alloy::primitives::{Address, B256, Bytes, TxHash, U256};
use clearing_ledger::{NewSettlement, PaymentKey, Route};
use clearing_x402::{Network, Reason, X402Version};

pub use batcher::Batcher;
pub use config::SettleConfig;
pub use settler::Settler;

/// A verified payment to settle: an EIP-3009 `transferWithAuthorization` as the payer signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentToSettle {
    /// The chain the token is on.
    pub chain_id: u64,
    /// The EIP-3009 token (USDC).
    pub asset: Address,
    /// The authorizer (`authorization.from`).
    pub payer: Address,
    /// The payee (`authorization.to`, the requirement's `payTo`).
    pub pay_to: Address,
    /// Atomic units.
    pub value: U256,
    /// Unix seconds.
    pub valid_after: U256,
    /// Unix seconds.
    pub valid_before: U256,
    /// The authorization nonce.
    pub nonce: B256,
    /// The payer's signature (65 bytes for an EOA, anything an ERC-1271 wallet accepts otherwise).
    pub signature: Bytes,
    /// The x402 version of the request, to answer in the same terms.
    pub x402_version: X402Version,
    /// The network as the request named it (`base-sepolia` in v1, `eip155:84532` in v2), to answer in the same
    /// terms; the network itself is `chain_id`'s.
    pub network: String,
    /// What it pays for on chain: a plain transfer to `pay_to` (the facilitator's `/settle`), or an escrow job or
    /// credit the marketplace books (then `pay_to` is the escrow).
    pub route: Route,
}

impl PaymentToSettle {
    /// Its on-chain identity.
    pub const fn key(&self) -> PaymentKey {
        PaymentKey { chain_id: self.chain_id, asset: self.asset, payer: self.payer, nonce: self.nonce }
    }

    /// Whether `row` holds this very payment (see [`NewSettlement::is_same_payment`]).
    pub(crate) fn is_queued_as(&self, row: &NewSettlement) -> bool {
        row.is_same_payment(&self.to_new_settlement())
    }

    fn to_new_settlement(&self) -> NewSettlement {
        NewSettlement {
            key: self.key(),
            pay_to: self.pay_to,
            value: self.value,
            valid_after: self.valid_after,
            valid_before: self.valid_before,
            signature: self.signature.clone(),
            x402_version: self.x402_version,
            network: Network::new(self.chain_id),
            route: self.route.clone(),
        }
    }
}

/// The answer to one settle call, with what the x402 `SettleResponse` needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettleOutcome {
    /// The payer.
    pub payer: Address,
    /// The network name the payment arrived with.
    pub network: String,
    /// The x402 version the payment arrived with.
    pub x402_version: X402Version,
    /// The value, atomic units.
    pub amount: U256,
    /// What happened.
    pub result: SettleResult,
}

/// What happened to a settle call's payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettleResult {
    /// The payment moved in `transaction`; this caller is the one told so.
    Settled {
        /// The batch transaction.
        transaction: TxHash,
    },
    /// Not final yet: the receipt did not arrive within the settle timeout. Not a success and not a failure;
    /// a retry of the same payment waits for the same transaction. `transaction` is set once one was broadcast.
    Pending {
        /// The newest broadcast hash of its batch, if any.
        transaction: Option<TxHash>,
    },
    /// Another authorization with the same payer and nonce (different terms or signature bytes) is queued or
    /// settled: this one can never settle, and it is never given that payment's outcome
    /// (`invalid_exact_evm_nonce_already_used`, no transaction).
    NonceTaken,
    /// The payment moved in `transaction`, and an earlier caller was told so: on the wire a failure,
    /// `invalid_exact_evm_nonce_already_used` with that transaction, as for [`SettleResult::Failed`] of a payment
    /// someone else's transaction used first, which is why the two are told apart here.
    SettledEarlier {
        /// The batch transaction.
        transaction: TxHash,
    },
    /// The payment did not move.
    Failed {
        /// The x402 reason code.
        reason: Reason,
        /// The transaction that carried (or refused) it, if any.
        transaction: Option<TxHash>,
    },
}

impl SettleOutcome {
    /// Whether the payment settled for this caller (x402 `success`).
    pub const fn success(&self) -> bool {
        matches!(self.result, SettleResult::Settled { .. })
    }

    /// The x402 `errorReason`, if not a success.
    pub fn error_reason(&self) -> Option<Reason> {
        match &self.result {
            SettleResult::Settled { .. } => None,
            SettleResult::Pending { .. } => Some(Reason::SettlementPending),
            SettleResult::Failed { reason, .. } => Some(*reason),
            SettleResult::SettledEarlier { .. } => Some(Reason::NonceAlreadyUsed),
            SettleResult::NonceTaken => Some(Reason::NonceAlreadyUsed),
        }
    }

    /// The x402 `transaction`, if any.
    pub const fn transaction(&self) -> Option<TxHash> {
        match &self.result {
            SettleResult::Settled { transaction } | SettleResult::SettledEarlier { transaction } => Some(*transaction),
            SettleResult::Pending { transaction } | SettleResult::Failed { transaction, .. } => *transaction,
            SettleResult::NonceTaken => None,
        }
    }
}
