//! A job's public status, derived from what the chain says of its money and what the provider said: the money
//! statuses (funded, released, refunded, disputed, resolved) come only from confirmed chain events; the provider's
//! word (in progress, delivered, failed) shows only while the money allows it. A job paid from a prepaid balance has
//! no escrow: its money is a held debit, released by the provider's delivery and verified when the vault's `Debited`
//! event is confirmed, or given back (refunded) when the provider fails or the hold's deadline passes.

use clearing_ledger::{
    SettlementStatus,
    market::{BalanceHold, Job, ProviderStatus},
};
use serde::Serialize;

/// Where a job stands, as the API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Paid; the funding is queued, sent or mined but not yet confirmed on chain.
    Funding,
    /// The payment never reached the escrow (refused by the token, or expired while queued): nothing is held.
    PaymentFailed,
    /// Funded on chain; the provider was told.
    Dispatched,
    /// The provider says it is working on it.
    InProgress,
    /// Delivered: the provider said so, or the chain recorded the completion.
    Completed,
    /// Released to the provider (the payer accepted, the review window passed, or a data_api credit).
    Verified,
    /// The payer disputed it; the arbiter decides.
    Disputed,
    /// The arbiter split it.
    Resolved,
    /// The provider reported failure; the refund is on its way.
    Failed,
    /// Refunded to the payer.
    Refunded,
    /// A balance-paid job delivered, whose debit the vault refused (the agent withdrew its balance first): the
    /// money stayed with the agent and the provider was not paid.
    Unpaid,
}

impl JobStatus {
    /// Its wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Funding => "funding",
            Self::PaymentFailed => "payment_failed",
            Self::Dispatched => "dispatched",
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
            Self::Verified => "verified",
            Self::Disputed => "disputed",
            Self::Resolved => "resolved",
            Self::Failed => "failed",
            Self::Refunded => "refunded",
            Self::Unpaid => "unpaid",
        }
    }

    /// Whether the money is settled for good (released, refunded, resolved, or never held).
    pub const fn is_final(self) -> bool {
        matches!(self, Self::Verified | Self::Resolved | Self::Refunded | Self::PaymentFailed | Self::Unpaid)
    }
}

/// The status of `job`.
pub(crate) fn status_of(job: &Job) -> JobStatus {
    if let Some(hold) = &job.balance {
        return held(job, hold);
    }
    if job.new.escrow_job.is_none() {
        // A direct credit: released the moment its credit is confirmed.
        if job.credited_tx.is_some() {
            return JobStatus::Verified;
        }
        return before_chain(job.settlement);
    }
    let Some(escrow) = &job.escrow else { return before_chain(job.settlement) };
    match escrow.status.as_str() {
        "funded" => match job.provider_status {
            ProviderStatus::None => JobStatus::Dispatched,
            ProviderStatus::InProgress => JobStatus::InProgress,
            ProviderStatus::Completed => JobStatus::Completed,
            ProviderStatus::Failed => JobStatus::Failed,
        },
        "completed" => JobStatus::Completed,
        "disputed" => JobStatus::Disputed,
        "released" => JobStatus::Verified,
        "refunded" => JobStatus::Refunded,
        "resolved" => JobStatus::Resolved,
        // The indexer's enum has no other value; read as not yet on chain rather than guess.
        _ => JobStatus::Funding,
    }
}

/// A balance-paid job: held while the provider works, completed once released (the debit on its way to the vault),
/// verified once the vault's `Debited` is confirmed; refunded when the hold ended unpaid, unpaid when the vault
/// refused the released debit.
fn held(job: &Job, hold: &BalanceHold) -> JobStatus {
    if hold.debited_tx.is_some() {
        return JobStatus::Verified;
    }
    match hold.status {
        SettlementStatus::Failed | SettlementStatus::Expired if hold.refunded_because.is_some() => JobStatus::Refunded,
        SettlementStatus::Failed | SettlementStatus::Expired => JobStatus::Unpaid,
        _ if hold.held_until.is_some() => match job.provider_status {
            ProviderStatus::None => JobStatus::Dispatched,
            ProviderStatus::InProgress => JobStatus::InProgress,
            // Neither is recorded while the money is held (each ends the hold in its own transaction).
            ProviderStatus::Completed => JobStatus::Completed,
            ProviderStatus::Failed => JobStatus::Failed,
        },
        _ => JobStatus::Completed,
    }
}

/// Before any confirmed chain event: the payment's queue says whether it is on its way or never will be.
fn before_chain(settlement: Option<SettlementStatus>) -> JobStatus {
    match settlement {
        Some(SettlementStatus::Failed | SettlementStatus::Expired) => JobStatus::PaymentFailed,
        _ => JobStatus::Funding,
    }
}

#[cfg(test)]
mod tests {
    use alloy::primitives::{Address, B256, Bytes, U256};
    use clearing_ledger::{
        JobId,
        market::{EscrowState, NewJob, ParticipantId, ServiceId, ServiceType},
    };
    use uuid::Uuid;

    use super::*;

    fn job(escrow_job: bool) -> Job {
        Job {
            new: NewJob {
                id: Uuid::nil(),
                service_id: ServiceId(Uuid::nil()),
                provider_id: ParticipantId(Uuid::nil()),
                service_type: ServiceType::AutomatedService,
                chain_id: 1,
                asset: Address::ZERO,
                payer: Address::ZERO,
                nonce: B256::ZERO,
                escrow: Address::ZERO,
                escrow_job: escrow_job.then(|| (JobId(B256::ZERO), Bytes::new())),
                amount: U256::from(1),
                fee: U256::ZERO,
                brief: serde_json::json!({}),
            },
            provider_status: ProviderStatus::None,
            deliverables: None,
            provider_note: None,
            dispute_reason: None,
            settlement: None,
            funding_tx: None,
            escrow: None,
            credited_tx: None,
            balance: None,
            created_at: 0,
        }
    }

    fn on_chain(status: &str) -> Option<EscrowState> {
        Some(EscrowState { status: status.into(), tx_hash: B256::ZERO, block_number: 1, review_ends_at: None })
    }

    #[test]
    fn money_statuses_come_only_from_confirmed_events() {
        let mut j = job(true);
        assert_eq!(status_of(&j), JobStatus::Funding);
        j.settlement = Some(SettlementStatus::Settled);
        assert_eq!(status_of(&j), JobStatus::Funding, "mined is not confirmed");
        j.provider_status = ProviderStatus::Completed;
        assert_eq!(status_of(&j), JobStatus::Funding, "the provider's word needs a funded job");
        j.escrow = on_chain("funded");
        assert_eq!(status_of(&j), JobStatus::Completed);
        j.provider_status = ProviderStatus::Failed;
        assert_eq!(status_of(&j), JobStatus::Failed, "failure is the provider's word until the refund is on chain");
        j.escrow = on_chain("refunded");
        assert_eq!(status_of(&j), JobStatus::Refunded);
        j.escrow = on_chain("released");
        assert_eq!(status_of(&j), JobStatus::Verified);
        j.escrow = on_chain("disputed");
        assert_eq!(status_of(&j), JobStatus::Disputed);
        j.escrow = on_chain("resolved");
        assert_eq!(status_of(&j), JobStatus::Resolved);
    }

    #[test]
    fn the_provider_word_shows_while_the_job_is_funded() {
        let mut j = job(true);
        j.escrow = on_chain("funded");
        assert_eq!(status_of(&j), JobStatus::Dispatched);
        j.provider_status = ProviderStatus::InProgress;
        assert_eq!(status_of(&j), JobStatus::InProgress);
        j.escrow = on_chain("completed");
        assert_eq!(status_of(&j), JobStatus::Completed);
    }

    #[test]
    fn a_failed_payment_is_never_funding() {
        let mut j = job(true);
        j.settlement = Some(SettlementStatus::Failed);
        assert_eq!(status_of(&j), JobStatus::PaymentFailed);
        j.settlement = Some(SettlementStatus::Expired);
        assert_eq!(status_of(&j), JobStatus::PaymentFailed);
        assert!(JobStatus::PaymentFailed.is_final());
    }

    #[test]
    fn a_direct_credit_is_verified_once_confirmed() {
        let mut j = job(false);
        j.settlement = Some(SettlementStatus::Confirmed);
        assert_eq!(status_of(&j), JobStatus::Funding);
        j.credited_tx = Some(B256::repeat_byte(1));
        assert_eq!(status_of(&j), JobStatus::Verified);
    }

    #[test]
    fn a_balance_job_is_held_then_released_then_verified_or_refunded() {
        use clearing_ledger::{
            ActionId,
            market::{BalanceHold, RefundCause},
        };
        let mut j = job(false);
        let hold = |status, held_until, refunded_because, debited_tx| BalanceHold {
            debit: Uuid::nil(),
            action_id: ActionId(1),
            status,
            held_until,
            refunded_because,
            debited_tx,
        };
        j.balance = Some(hold(SettlementStatus::Pending, Some(1), None, None));
        assert_eq!(status_of(&j), JobStatus::Dispatched);
        j.provider_status = ProviderStatus::InProgress;
        assert_eq!(status_of(&j), JobStatus::InProgress);
        j.provider_status = ProviderStatus::Completed;
        j.balance = Some(hold(SettlementStatus::Pending, None, None, None));
        assert_eq!(status_of(&j), JobStatus::Completed, "released, not yet applied");
        j.balance = Some(hold(SettlementStatus::Settled, None, None, None));
        assert_eq!(status_of(&j), JobStatus::Completed, "mined is not confirmed");
        j.balance = Some(hold(SettlementStatus::Settled, None, None, Some(B256::repeat_byte(1))));
        assert_eq!(status_of(&j), JobStatus::Verified);
        j.balance = Some(hold(SettlementStatus::Failed, None, None, None));
        assert_eq!(status_of(&j), JobStatus::Unpaid, "the vault refused the released debit");
        j.provider_status = ProviderStatus::Failed;
        j.balance = Some(hold(SettlementStatus::Failed, None, Some(RefundCause::ProviderFailed), None));
        assert_eq!(status_of(&j), JobStatus::Refunded);
        j.provider_status = ProviderStatus::None;
        j.balance = Some(hold(SettlementStatus::Failed, None, Some(RefundCause::DeadlinePassed), None));
        assert_eq!(status_of(&j), JobStatus::Refunded);
        assert!(JobStatus::Unpaid.is_final() && JobStatus::Refunded.is_final());
    }
}
