//! The indexer's rows: blocks, raw logs and the projections of the contracts' events.

use alloy::primitives::{Address, B256, Bytes, U256};

use crate::JobId;

/// A block as the indexer remembers it, to detect forks by parent hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockRef {
    /// Height.
    pub number: u64,
    /// Hash.
    pub hash: B256,
    /// The parent's hash.
    pub parent_hash: B256,
    /// Unix seconds.
    pub timestamp: u64,
}

/// A log as the node returned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawLog {
    /// Where it is.
    pub position: LogPosition,
    /// Its transaction's index in the block.
    pub tx_index: u64,
    /// The emitting contract.
    pub address: Address,
    /// topic0 (the event signature) to topic3.
    pub topics: Vec<B256>,
    /// The non-indexed data.
    pub data: Bytes,
}

/// Where a log (and every projection row made from it) sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LogPosition {
    /// Block height.
    pub block_number: u64,
    /// Index in the block.
    pub log_index: u64,
    /// Block hash.
    pub block_hash: B256,
    /// Transaction hash.
    pub tx_hash: B256,
}

/// A BatchSettler item event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlerPayment {
    /// The log.
    pub position: LogPosition,
    /// The BatchSettler.
    pub settler: Address,
    /// The authorization's `from`.
    pub payer: Address,
    /// The authorization's nonce.
    pub nonce: B256,
    /// What happened to it.
    pub outcome: PaymentOutcome,
}

/// `PaymentSettled` or `PaymentFailed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentOutcome {
    /// The token moved `value` to `pay_to`.
    Settled {
        /// The token.
        token: Address,
        /// The payee.
        pay_to: Address,
        /// Atomic units.
        value: U256,
    },
    /// The token refused it.
    Failed {
        /// The token's revert data.
        reason: Bytes,
    },
}

/// `JobFunded`: a job's full terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscrowJob {
    /// The log.
    pub position: LogPosition,
    /// The escrow contract.
    pub escrow: Address,
    /// The job id (the hash of the terms).
    pub job_id: JobId,
    /// Pays the amount.
    pub payer: Address,
    /// Does the job.
    pub provider: Address,
    /// The token.
    pub token: Address,
    /// Atomic units.
    pub amount: U256,
    /// Atomic units, part of `amount`.
    pub fee: U256,
    /// Resolves disputes.
    pub arbiter: Address,
    /// Unix seconds.
    pub funding_deadline: u64,
    /// Unix seconds.
    pub completion_deadline: u64,
    /// Seconds.
    pub review_window: u64,
    /// Makes otherwise equal terms distinct.
    pub salt: B256,
}

/// A job's lifecycle status, as the escrow's events announce it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobStatus {
    /// `JobFunded`.
    Funded,
    /// `JobCompleted`.
    Completed,
    /// `JobDisputed`.
    Disputed,
    /// `JobReleased`.
    Released,
    /// `JobRefunded`.
    Refunded,
    /// `JobResolved`.
    Resolved,
}

impl JobStatus {
    pub(super) const fn as_sql(self) -> &'static str {
        match self {
            Self::Funded => "funded",
            Self::Completed => "completed",
            Self::Disputed => "disputed",
            Self::Released => "released",
            Self::Refunded => "refunded",
            Self::Resolved => "resolved",
        }
    }

    pub(super) fn from_sql(s: &str) -> Option<Self> {
        Some(match s {
            "funded" => Self::Funded,
            "completed" => Self::Completed,
            "disputed" => Self::Disputed,
            "released" => Self::Released,
            "refunded" => Self::Refunded,
            "resolved" => Self::Resolved,
            _ => return None,
        })
    }
}

/// One lifecycle transition of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobEvent {
    /// The log.
    pub position: LogPosition,
    /// The escrow contract.
    pub escrow: Address,
    /// The job.
    pub job_id: JobId,
    /// The status it moved to.
    pub status: JobStatus,
    /// `JobCompleted`: (completedAt, reviewEndsAt), Unix seconds.
    pub completed: Option<(U256, U256)>,
    /// `JobResolved`: the provider's share in bps.
    pub provider_bps: Option<u16>,
    /// Credited to the payer (refund, resolution).
    pub payer_amount: Option<U256>,
    /// Credited to the provider (release, resolution).
    pub provider_amount: Option<U256>,
    /// Credited to the fee recipient (release, resolution).
    pub fee_amount: Option<U256>,
}

/// `JobFundFailed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FundFailure {
    /// The log.
    pub position: LogPosition,
    /// The escrow contract.
    pub escrow: Address,
    /// The item's job id.
    pub job_id: JobId,
    /// The item's payer.
    pub payer: Address,
    /// The revert data.
    pub reason: Bytes,
}

/// `PaymentCredited`: a data_api purchase credited straight to the provider and the fee recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscrowCredit {
    /// The log.
    pub position: LogPosition,
    /// The escrow contract.
    pub escrow: Address,
    /// The token.
    pub token: Address,
    /// The authorization's payer.
    pub payer: Address,
    /// The authorization's nonce.
    pub nonce: B256,
    /// Credited `provider_amount`.
    pub provider: Address,
    /// Atomic units credited to the provider.
    pub provider_amount: U256,
    /// Atomic units credited to the fee recipient.
    pub fee_amount: U256,
}

/// Who a job credit goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreditParty {
    /// The job's payer.
    Payer,
    /// The job's provider.
    Provider,
    /// The escrow's fee recipient.
    FeeRecipient(Address),
}

/// A change of a claimable balance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BalanceChange {
    /// A job's transition credited `amount` of the job's token to `party`.
    Credit {
        /// The log.
        position: LogPosition,
        /// Numbers the changes of one log.
        part: u8,
        /// The escrow contract.
        escrow: Address,
        /// The job.
        job_id: JobId,
        /// Who is credited.
        party: CreditParty,
        /// Atomic units.
        amount: U256,
    },
    /// A credit that names its token and account itself (`PaymentCredited`'s provider and fee parts).
    Direct {
        /// The log.
        position: LogPosition,
        /// Numbers the changes of one log.
        part: u8,
        /// The escrow contract.
        escrow: Address,
        /// The token.
        token: Address,
        /// Who is credited.
        account: Address,
        /// Atomic units.
        amount: U256,
    },
    /// `Claimed`: `account`'s whole balance of `token` went to `to`.
    Claim {
        /// The log.
        position: LogPosition,
        /// The escrow contract.
        escrow: Address,
        /// The token.
        token: Address,
        /// Whose balance.
        account: Address,
        /// The recipient.
        to: Address,
        /// Atomic units.
        amount: U256,
    },
}

/// `Anchored`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    /// The log.
    pub position: LogPosition,
    /// The AnchorRegistry.
    pub registry: Address,
    /// 0-based position in the registry.
    pub index: U256,
    /// The Merkle root.
    pub root: B256,
    /// First sequence number covered.
    pub first_seq: u64,
    /// Last sequence number covered, inclusive.
    pub last_seq: u64,
}

/// What a vault event did to an agent's balance or an account's claimable balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VaultEventKind {
    /// `Deposited`: the agent's balance grew by `amount`.
    Deposited,
    /// `Debited`: the operator's debit `reference` took `amount` (`fee` of it to the fee recipient).
    Debited,
    /// `Charged`: the subscription `reference` took `amount` (`fee` of it to the fee recipient).
    Charged,
    /// `WithdrawalRequested`: the agent asked to withdraw (`amount` its balance then), payable from `unlock_at`.
    WithdrawalRequested,
    /// `WithdrawalCancelled`: the agent dropped its request.
    WithdrawalCancelled,
    /// `Withdrawn`: the agent took `amount`, its whole balance, out.
    Withdrawn,
    /// `Claimed`: `account` took its claimable `amount` out.
    Claimed,
}

impl VaultEventKind {
    pub(crate) const fn as_sql(self) -> &'static str {
        match self {
            Self::Deposited => "deposited",
            Self::Debited => "debited",
            Self::Charged => "charged",
            Self::WithdrawalRequested => "withdrawal_requested",
            Self::WithdrawalCancelled => "withdrawal_cancelled",
            Self::Withdrawn => "withdrawn",
            Self::Claimed => "claimed",
        }
    }
}

/// A `BalanceVault` event that moves or locks money.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultEvent {
    /// The log.
    pub position: LogPosition,
    /// The vault.
    pub vault: Address,
    /// The token.
    pub token: Address,
    /// What happened.
    pub kind: VaultEventKind,
    /// The agent, or the claiming account.
    pub account: Address,
    /// A debit's or charge's provider.
    pub provider: Option<Address>,
    /// Atomic units (see [`VaultEventKind`]).
    pub amount: U256,
    /// A debit's or charge's fee, atomic units.
    pub fee: U256,
    /// A deposit's EIP-3009 nonce, a debit's id, a charge's subscription id.
    pub reference: Option<B256>,
    /// A withdrawal request's unlock time, unix seconds.
    pub unlock_at: Option<u64>,
}

/// What a `Subscriptions` event said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionEventKind {
    /// `Subscribed` (`actor`: the subscriber).
    Subscribed,
    /// `SubscriptionCharged` (`period` paid; `at`: paid through).
    Charged,
    /// `SubscriptionPastDue` (`period` refused; `at`: its lapse).
    PastDue,
    /// `SubscriptionExpired` (`period` unpaid).
    Expired,
    /// `SubscriptionCancelled` (`actor`; `at`: paid through).
    Cancelled,
    /// `SubscriptionPaused` (`actor`).
    Paused,
    /// `SubscriptionResumed` (`actor`).
    Resumed,
}

impl SubscriptionEventKind {
    pub(crate) const fn as_sql(self) -> &'static str {
        match self {
            Self::Subscribed => "subscribed",
            Self::Charged => "charged",
            Self::PastDue => "past_due",
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
            Self::Paused => "paused",
            Self::Resumed => "resumed",
        }
    }
}

/// A `Subscriptions` event that changes where a subscription stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionEvent {
    /// The log.
    pub position: LogPosition,
    /// The contract.
    pub contract: Address,
    /// The subscription.
    pub subscription_id: B256,
    /// What happened.
    pub kind: SubscriptionEventKind,
    /// The period charged, past due or expired.
    pub period: Option<u64>,
    /// Unix seconds: paid through (charged, cancelled) or the lapse (past due).
    pub at: Option<u64>,
    /// The subscriber (subscribed) or who cancelled, paused or resumed.
    pub actor: Option<Address>,
}

/// Everything one batch of logs projects to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Projections {
    /// BatchSettler item events.
    pub payments: Vec<SettlerPayment>,
    /// Funded jobs.
    pub jobs: Vec<EscrowJob>,
    /// Job transitions (funded included).
    pub job_events: Vec<JobEvent>,
    /// Failed fundMany items.
    pub fund_failures: Vec<FundFailure>,
    /// Direct credits (data_api purchases).
    pub credits: Vec<EscrowCredit>,
    /// Claimable balance changes.
    pub balance_changes: Vec<BalanceChange>,
    /// Anchors.
    pub anchors: Vec<Anchor>,
    /// Balance vault events.
    pub vault_events: Vec<VaultEvent>,
    /// Subscription contract events.
    pub subscription_events: Vec<SubscriptionEvent>,
}
