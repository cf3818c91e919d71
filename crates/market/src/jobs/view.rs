//! A job as the API shows it: the purchase, its status (the chain's for money, the provider's word otherwise), its
//! three amounts and where its money is on chain.

use alloy_primitives::U256;
use clearing_ledger::{
    SettlementStatus,
    market::{Job, ParticipantId, RefundCause, ServiceId, ServiceType},
};
use clearing_x402::Usdc;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::{JobStatus, status_of};
use crate::Market;

/// A job, as every job route answers it.
#[derive(Debug, Serialize)]
pub(crate) struct JobView {
    job_id: Uuid,
    service_id: ServiceId,
    provider_id: ParticipantId,
    service_type: ServiceType,
    status: JobStatus,
    /// `x402` (paid into the escrow) or `balance` (a prepaid balance's held debit).
    paid_by: &'static str,
    payer: String,
    /// What the payer paid.
    price: Usdc,
    /// What the provider is credited on release.
    provider_net: Usdc,
    /// The platform's part.
    platform_fee: Usdc,
    brief: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    deliverables: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    provider_note: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dispute_reason: Option<String>,
    escrow: EscrowView,
    /// A balance-paid job's money.
    #[serde(skip_serializing_if = "Option::is_none")]
    balance: Option<BalanceView>,
    links: Links,
    created_at: i64,
}

/// Where the job's money is on chain.
#[derive(Debug, Serialize)]
struct EscrowView {
    contract: String,
    /// The escrow job id (an escrow job) or `null` (a data_api credit or a balance-paid job, which have none; the
    /// contract of a balance-paid job is the vault).
    escrow_job_id: Option<String>,
    /// The transaction that carried the payment into the escrow, once sent.
    funding_tx: Option<String>,
    /// The newest confirmed escrow event: funded, completed, disputed, released, refunded, resolved (or credited; or
    /// debited, the vault's, for a balance-paid job).
    chain_status: Option<String>,
    /// Its transaction.
    chain_tx: Option<String>,
    /// When a completed job's review window ends (unix seconds).
    review_ends_at: Option<u64>,
}

/// Where a balance-paid job's money is: held for the provider, released to the vault, applied, or given back.
#[derive(Debug, Serialize)]
struct BalanceView {
    /// The balance debit (as `GET /v1/balance/history` lists it).
    debit_id: Uuid,
    /// `held` (until the provider delivers or `held_until`), `released` (on its way to the vault), `applied` (the
    /// provider is paid), `refunded` (given back to the balance) or `refused` (the vault refused the released debit:
    /// the agent had withdrawn; the provider was not paid).
    hold: &'static str,
    /// While held: when the money goes back to the balance unless the provider delivers first (unix seconds).
    held_until: Option<i64>,
    /// Why it was refunded: `provider_failed` or `deadline_passed`.
    refunded_because: Option<&'static str>,
    /// The vault's confirmed `Debited` transaction.
    debited_tx: Option<String>,
}

#[derive(Debug, Serialize)]
struct Links {
    #[serde(rename = "self")]
    this: String,
    update: String,
    verify: String,
    dispute: String,
}

fn usdc(amount: U256) -> Usdc {
    Usdc::from_atomic(u128::try_from(amount).unwrap_or(u128::MAX))
}

impl JobView {
    /// The view without the provider's work and the parties' words (brief, deliverables, note, dispute reason): for
    /// answers to requests anyone could have rebuilt (a purchase payment sent again, read back from the chain's
    /// calldata; a payer's signature relayed again), which show the job's state, never what was delivered. The
    /// parties read the rest with their keys or a paid read.
    pub(crate) fn without_work(mut self) -> Self {
        self.brief = Value::Null;
        self.deliverables = None;
        self.provider_note = None;
        self.dispute_reason = None;
        self
    }

    /// The job as its parties see it.
    pub(crate) fn of(market: &Market, job: &Job) -> Self {
        let new = &job.new;
        let base = format!("{}/v1/jobs/{}", market.public_base(), new.id);
        let debited = job.balance.as_ref().and_then(|hold| hold.debited_tx);
        let (chain_status, chain_tx, review_ends_at) = match (&job.escrow, job.credited_tx, debited) {
            (Some(state), _, _) => (Some(state.status.clone()), Some(state.tx_hash.to_string()), state.review_ends_at),
            (None, Some(tx), _) => (Some("credited".to_owned()), Some(tx.to_string()), None),
            (None, None, Some(tx)) => (Some("debited".to_owned()), Some(tx.to_string()), None),
            (None, None, None) => (None, None, None),
        };
        Self {
            job_id: new.id,
            service_id: new.service_id,
            provider_id: new.provider_id,
            service_type: new.service_type,
            status: status_of(job),
            paid_by: if job.balance.is_some() { "balance" } else { "x402" },
            payer: new.payer.to_checksum(None),
            price: usdc(new.amount),
            provider_net: usdc(new.amount.saturating_sub(new.fee)),
            platform_fee: usdc(new.fee),
            brief: new.brief.clone(),
            deliverables: job.deliverables.clone(),
            provider_note: job.provider_note.clone(),
            dispute_reason: job.dispute_reason.clone(),
            escrow: EscrowView {
                contract: new.escrow.to_checksum(None),
                escrow_job_id: new.escrow_job.as_ref().map(|(id, _)| id.0.to_string()),
                funding_tx: job.funding_tx.map(|tx| tx.to_string()),
                chain_status,
                chain_tx,
                review_ends_at,
            },
            balance: job.balance.as_ref().map(|hold| BalanceView {
                debit_id: hold.debit,
                hold: match (hold.status, hold.debited_tx, hold.held_until, hold.refunded_because) {
                    (_, Some(_), _, _) => "applied",
                    (SettlementStatus::Failed | SettlementStatus::Expired, _, _, Some(_)) => "refunded",
                    (SettlementStatus::Failed | SettlementStatus::Expired, _, _, None) => "refused",
                    (_, None, Some(_), _) => "held",
                    _ => "released",
                },
                held_until: hold.held_until,
                refunded_because: hold.refunded_because.map(RefundCause::as_str),
                debited_tx: hold.debited_tx.map(|tx| tx.to_string()),
            }),
            links: Links {
                update: format!("{base}/update"),
                verify: format!("{base}/verify"),
                dispute: format!("{base}/dispute"),
                this: base,
            },
            created_at: job.created_at,
        }
    }
}
