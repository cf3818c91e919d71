//! Where a queued authorization goes on chain: its route. One queue and one batcher serve every route; a batch holds
//! items of one route and is one call to one contract (migration 0008 says which).

use alloy::primitives::{Address, U256};

/// What a queued authorization does besides moving the token, with the terms the chain needs for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `BatchSettler.settle`: the token moves the value to `pay_to`; nothing else happens.
    Transfer,
    /// `Escrow.fundManyWithTransfer`: the value moves into the escrow and books the job these terms complete (the
    /// authorization supplies payer, amount, token and salt).
    EscrowJob(JobBooking),
    /// `Escrow.payMany`: the value moves into the escrow and is credited at once, `value - fee` to the provider and
    /// `fee` to the escrow's fee recipient.
    EscrowCredit {
        /// Credited `value - fee`.
        provider: Address,
        /// Credited to the fee recipient, atomic units.
        fee: U256,
    },
    /// `BalanceVault.depositManyWithTransfer`: the value moves into the vault and is credited to the payer's prepaid
    /// balance.
    VaultDeposit,
}

/// The terms of an escrow job that the operator supplies; with the authorization's payer, value, token and nonce
/// (the salt) they are `Escrow.JobTerms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobBooking {
    /// Does the job; credited `amount - fee` on release.
    pub provider: Address,
    /// The platform's cut, atomic units.
    pub fee: U256,
    /// May resolve a dispute.
    pub arbiter: Address,
    /// Unix seconds; funding is allowed before it.
    pub funding_deadline: u64,
    /// Unix seconds; the provider must complete before it.
    pub completion_deadline: u64,
    /// Seconds after completion during which only the payer may release or dispute.
    pub review_window: u64,
}

/// A route without its terms: what a batch is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RouteKind {
    /// [`Route::Transfer`].
    Transfer,
    /// [`Route::EscrowJob`].
    EscrowJob,
    /// [`Route::EscrowCredit`].
    EscrowCredit,
    /// Escrow job steps ([`crate::Action::Step`]): no authorization, items are escrow actions.
    EscrowStep,
    /// Escrow claims ([`crate::Action::Claim`]): no authorization, items are escrow actions.
    EscrowClaim,
    /// Front-run purchases given back to their payers ([`crate::Action::Return`]), posted with
    /// `Escrow.creditManyTransferred`.
    EscrowReturn,
    /// [`Route::VaultDeposit`].
    VaultDeposit,
    /// Balance debits ([`crate::Action::Debit`]): no authorization, items are the market's accepted debits, posted
    /// with `BalanceVault.debitMany`.
    VaultDebit,
    /// Vault claims ([`crate::Action::VaultClaim`]), posted with `BalanceVault.claimMany`.
    VaultClaim,
    /// Front-run deposits booked to their payers ([`crate::Action::Booking`]), posted with
    /// `BalanceVault.depositManyTransferred`.
    VaultBook,
    /// Subscription renewals ([`crate::Action::Charge`]), posted with `Subscriptions.chargeMany`.
    SubscriptionCharge,
    /// The operator's subscription operations ([`crate::Action::Operation`]), posted with
    /// `Subscriptions.operateMany`.
    SubscriptionOperation,
}

impl Route {
    /// Its kind.
    pub const fn kind(&self) -> RouteKind {
        match self {
            Self::Transfer => RouteKind::Transfer,
            Self::EscrowJob(_) => RouteKind::EscrowJob,
            Self::EscrowCredit { .. } => RouteKind::EscrowCredit,
            Self::VaultDeposit => RouteKind::VaultDeposit,
        }
    }
}

impl RouteKind {
    /// Every kind.
    pub const ALL: [Self; 12] = [
        Self::Transfer,
        Self::EscrowJob,
        Self::EscrowCredit,
        Self::EscrowStep,
        Self::EscrowClaim,
        Self::EscrowReturn,
        Self::VaultDeposit,
        Self::VaultDebit,
        Self::VaultClaim,
        Self::VaultBook,
        Self::SubscriptionCharge,
        Self::SubscriptionOperation,
    ];

    /// The escrow's kinds.
    pub const ESCROW: [Self; 5] =
        [Self::EscrowJob, Self::EscrowCredit, Self::EscrowStep, Self::EscrowClaim, Self::EscrowReturn];

    /// The balance vault's kinds.
    pub const VAULT: [Self; 4] = [Self::VaultDeposit, Self::VaultDebit, Self::VaultClaim, Self::VaultBook];

    /// The subscription contract's kinds.
    pub const SUBSCRIPTIONS: [Self; 2] = [Self::SubscriptionCharge, Self::SubscriptionOperation];

    /// Whether its items are operator actions rather than payments.
    pub const fn carries_actions(self) -> bool {
        matches!(
            self,
            Self::EscrowStep
                | Self::EscrowClaim
                | Self::EscrowReturn
                | Self::VaultDebit
                | Self::VaultClaim
                | Self::VaultBook
                | Self::SubscriptionCharge
                | Self::SubscriptionOperation
        )
    }

    pub(crate) const fn as_sql(self) -> &'static str {
        match self {
            Self::Transfer => "transfer",
            Self::EscrowJob => "escrow_job",
            Self::EscrowCredit => "escrow_credit",
            Self::EscrowStep => "escrow_step",
            Self::EscrowClaim => "escrow_claim",
            Self::EscrowReturn => "escrow_return",
            Self::VaultDeposit => "vault_deposit",
            Self::VaultDebit => "vault_debit",
            Self::VaultClaim => "vault_claim",
            Self::VaultBook => "vault_book",
            Self::SubscriptionCharge => "subscription_charge",
            Self::SubscriptionOperation => "subscription_operation",
        }
    }

    pub(crate) fn from_sql(s: &str) -> Option<Self> {
        Some(match s {
            "transfer" => Self::Transfer,
            "escrow_job" => Self::EscrowJob,
            "escrow_credit" => Self::EscrowCredit,
            "escrow_step" => Self::EscrowStep,
            "escrow_claim" => Self::EscrowClaim,
            "escrow_return" => Self::EscrowReturn,
            "vault_deposit" => Self::VaultDeposit,
            "vault_debit" => Self::VaultDebit,
            "vault_claim" => Self::VaultClaim,
            "vault_book" => Self::VaultBook,
            "subscription_charge" => Self::SubscriptionCharge,
            "subscription_operation" => Self::SubscriptionOperation,
            _ => return None,
        })
    }
}

impl std::fmt::Display for RouteKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_sql())
    }
}
