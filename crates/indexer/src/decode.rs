//! Logs to rows: the raw form every log is stored in, and the projections of the contracts' events. Pure
//! functions, so an incremental index and a rebuild make the same rows from the same logs.

use alloy::{
    primitives::{Address, B256, U256},
    rpc::types::Log,
    sol_types::SolEvent,
};
use clearing_chain::contracts::{AnchorRegistry, BalanceVault, BatchSettler, Escrow, Subscriptions};
use clearing_ledger::{
    JobId, Projections, RawLog,
    index::{
        Anchor, BalanceChange, CreditParty, EscrowCredit, EscrowJob, FundFailure, JobEvent, JobStatus, LogPosition,
        PaymentOutcome, SettlerPayment, SubscriptionEvent, SubscriptionEventKind, VaultEvent, VaultEventKind,
    },
};
use tracing::warn;

use crate::{Error, Result};

/// The addresses whose events are projected, and the escrow's fee recipient (immutable, so read once).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Decoder {
    pub(crate) batch_settler: Address,
    pub(crate) escrow: Address,
    pub(crate) anchor_registry: Address,
    pub(crate) balance_vault: Option<Address>,
    pub(crate) subscriptions: Option<Address>,
    pub(crate) fee_recipient: Address,
}

/// A node's log in stored form; pending logs (without a position) are refused.
pub(crate) fn raw(log: &Log) -> Result<RawLog> {
    let block = log.block_number;
    let missing = |field| Error::IncompleteLog { block, field };
    Ok(RawLog {
        position: LogPosition {
            block_number: block.ok_or_else(|| missing("block number"))?,
            log_index: log.log_index.ok_or_else(|| missing("log index"))?,
            block_hash: log.block_hash.ok_or_else(|| missing("block hash"))?,
            tx_hash: log.transaction_hash.ok_or_else(|| missing("transaction hash"))?,
        },
        tx_index: log.transaction_index.ok_or_else(|| missing("transaction index"))?,
        address: log.address(),
        topics: log.topics().to_vec(),
        data: log.data().data.clone(),
    })
}

impl Decoder {
    /// The projections of `logs`, in log order. A log of a followed contract that does not decode is kept raw and
    /// reported, never guessed at.
    pub(crate) fn project(&self, logs: &[RawLog]) -> Projections {
        let mut out = Projections::default();
        for log in logs {
            if let Err(error) = self.project_one(log, &mut out) {
                warn!(block = log.position.block_number, log_index = log.position.log_index, %error,
                      "undecodable log kept raw only");
            }
        }
        out
    }

    fn project_one(&self, log: &RawLog, out: &mut Projections) -> alloy::sol_types::Result<()> {
        let Some(&topic0) = log.topics.first() else { return Ok(()) };
        let position = log.position;
        let topics = log.topics.iter().copied();
        let data = log.data.as_ref();
        if log.address == self.batch_settler {
            if topic0 == BatchSettler::PaymentSettled::SIGNATURE_HASH {
                let e = BatchSettler::PaymentSettled::decode_raw_log(topics, data)?;
                out.payments.push(SettlerPayment {
                    position,
                    settler: log.address,
                    payer: e.payer,
                    nonce: e.nonce,
                    outcome: PaymentOutcome::Settled { token: e.token, pay_to: e.to, value: e.value },
                });
            } else if topic0 == BatchSettler::PaymentFailed::SIGNATURE_HASH {
                let e = BatchSettler::PaymentFailed::decode_raw_log(topics, data)?;
                out.payments.push(SettlerPayment {
                    position,
                    settler: log.address,
                    payer: e.payer,
                    nonce: e.nonce,
                    outcome: PaymentOutcome::Failed { reason: e.reason },
                });
            }
        } else if log.address == self.escrow {
            self.project_escrow(log, topic0, out)?;
        } else if Some(log.address) == self.balance_vault {
            project_vault(log, topic0, out)?;
        } else if Some(log.address) == self.subscriptions {
            project_subscription(log, topic0, out)?;
        } else if log.address == self.anchor_registry && topic0 == AnchorRegistry::Anchored::SIGNATURE_HASH {
            let e = AnchorRegistry::Anchored::decode_raw_log(topics, data)?;
            out.anchors.push(Anchor {
                position,
                registry: log.address,
                index: e.index,
                root: e.root,
                first_seq: e.firstSeq,
                last_seq: e.lastSeq,
            });
        }
        Ok(())
    }

    fn project_escrow(&self, log: &RawLog, topic0: B256, out: &mut Projections) -> alloy::sol_types::Result<()> {
        let position = log.position;
        let escrow = log.address;
        let topics = log.topics.iter().copied();
        let data = log.data.as_ref();
        let event = |job_id, status| JobEvent {
            position,
            escrow,
            job_id,
            status,
            completed: None,
            provider_bps: None,
            payer_amount: None,
            provider_amount: None,
            fee_amount: None,
        };
        let mut credits = |job_id: JobId, parts: &[(CreditParty, U256)]| {
            for (part, &(party, amount)) in (0u8..).zip(parts) {
                if !amount.is_zero() {
                    out.balance_changes.push(BalanceChange::Credit { position, part, escrow, job_id, party, amount });
                }
            }
        };
        let fee = CreditParty::FeeRecipient(self.fee_recipient);
        match topic0 {
            t if t == Escrow::JobFunded::SIGNATURE_HASH => {
                let e = Escrow::JobFunded::decode_raw_log(topics, data)?;
                let terms = e.terms;
                out.jobs.push(EscrowJob {
                    position,
                    escrow,
                    job_id: JobId(e.jobId),
                    payer: terms.payer,
                    provider: terms.provider,
                    token: terms.token,
                    amount: terms.amount,
                    fee: terms.fee,
                    arbiter: terms.arbiter,
                    funding_deadline: terms.fundingDeadline,
                    completion_deadline: terms.completionDeadline,
                    review_window: terms.reviewWindow,
                    salt: terms.salt,
                });
                out.job_events.push(event(JobId(e.jobId), JobStatus::Funded));
            }
            t if t == Escrow::JobFundFailed::SIGNATURE_HASH => {
                let e = Escrow::JobFundFailed::decode_raw_log(topics, data)?;
                out.fund_failures.push(FundFailure {
                    position,
                    escrow,
                    job_id: JobId(e.jobId),
                    payer: e.payer,
                    reason: e.reason,
                });
            }
            t if t == Escrow::JobCompleted::SIGNATURE_HASH => {
                let e = Escrow::JobCompleted::decode_raw_log(topics, data)?;
                out.job_events.push(JobEvent {
                    completed: Some((e.completedAt, e.reviewEndsAt)),
                    ..event(JobId(e.jobId), JobStatus::Completed)
                });
            }
            t if t == Escrow::JobDisputed::SIGNATURE_HASH => {
                let e = Escrow::JobDisputed::decode_raw_log(topics, data)?;
                out.job_events.push(event(JobId(e.jobId), JobStatus::Disputed));
            }
            t if t == Escrow::JobReleased::SIGNATURE_HASH => {
                let e = Escrow::JobReleased::decode_raw_log(topics, data)?;
                out.job_events.push(JobEvent {
                    provider_amount: Some(e.providerAmount),
                    fee_amount: Some(e.feeAmount),
                    ..event(JobId(e.jobId), JobStatus::Released)
                });
                credits(JobId(e.jobId), &[(CreditParty::Provider, e.providerAmount), (fee, e.feeAmount)]);
            }
            t if t == Escrow::JobRefunded::SIGNATURE_HASH => {
                let e = Escrow::JobRefunded::decode_raw_log(topics, data)?;
                out.job_events
                    .push(JobEvent { payer_amount: Some(e.payerAmount), ..event(JobId(e.jobId), JobStatus::Refunded) });
                credits(JobId(e.jobId), &[(CreditParty::Payer, e.payerAmount)]);
            }
            t if t == Escrow::JobResolved::SIGNATURE_HASH => {
                let e = Escrow::JobResolved::decode_raw_log(topics, data)?;
                out.job_events.push(JobEvent {
                    provider_bps: Some(e.providerBps),
                    payer_amount: Some(e.payerAmount),
                    provider_amount: Some(e.providerAmount),
                    fee_amount: Some(e.feeAmount),
                    ..event(JobId(e.jobId), JobStatus::Resolved)
                });
                credits(
                    JobId(e.jobId),
                    &[
                        (CreditParty::Payer, e.payerAmount),
                        (CreditParty::Provider, e.providerAmount),
                        (fee, e.feeAmount),
                    ],
                );
            }
            t if t == Escrow::PaymentCredited::SIGNATURE_HASH => {
                let e = Escrow::PaymentCredited::decode_raw_log(topics, data)?;
                out.credits.push(EscrowCredit {
                    position,
                    escrow,
                    token: e.token,
                    payer: e.payer,
                    nonce: e.nonce,
                    provider: e.provider,
                    provider_amount: e.providerAmount,
                    fee_amount: e.feeAmount,
                });
                let parts = [(e.provider, e.providerAmount), (self.fee_recipient, e.feeAmount)];
                for (part, (account, amount)) in (0u8..).zip(parts) {
                    if !amount.is_zero() {
                        out.balance_changes.push(BalanceChange::Direct {
                            position,
                            part,
                            escrow,
                            token: e.token,
                            account,
                            amount,
                        });
                    }
                }
            }
            t if t == Escrow::Claimed::SIGNATURE_HASH => {
                let e = Escrow::Claimed::decode_raw_log(topics, data)?;
                out.balance_changes.push(BalanceChange::Claim {
                    position,
                    escrow,
                    token: e.token,
                    account: e.account,
                    to: e.to,
                    amount: e.amount,
                });
            }
            _ => {}
        }
        Ok(())
    }
}

/// A `BalanceVault` log that moves or locks money, as a [`VaultEvent`]; batch-closing, failure and setup events are
/// left raw (a failed item changed nothing, and the batcher reads failures from its receipts).
fn project_vault(log: &RawLog, topic0: B256, out: &mut Projections) -> alloy::sol_types::Result<()> {
    let topics = log.topics.iter().copied();
    let data = log.data.as_ref();
    let event = |token, kind, account| VaultEvent {
        position: log.position,
        vault: log.address,
        token,
        kind,
        account,
        provider: None,
        amount: U256::ZERO,
        fee: U256::ZERO,
        reference: None,
        unlock_at: None,
    };
    let row = match topic0 {
        BalanceVault::Deposited::SIGNATURE_HASH => {
            let e = BalanceVault::Deposited::decode_raw_log(topics, data)?;
            VaultEvent {
                amount: e.amount,
                reference: Some(e.nonce),
                ..event(e.token, VaultEventKind::Deposited, e.account)
            }
        }
        BalanceVault::Debited::SIGNATURE_HASH => {
            let e = BalanceVault::Debited::decode_raw_log(topics, data)?;
            VaultEvent {
                provider: Some(e.provider),
                amount: e.amount,
                fee: e.fee,
                reference: Some(e.id),
                ..event(e.token, VaultEventKind::Debited, e.payer)
            }
        }
        BalanceVault::Charged::SIGNATURE_HASH => {
            let e = BalanceVault::Charged::decode_raw_log(topics, data)?;
            VaultEvent {
                provider: Some(e.provider),
                amount: e.amount,
                fee: e.fee,
                reference: Some(e.r#ref),
                ..event(e.token, VaultEventKind::Charged, e.payer)
            }
        }
        BalanceVault::WithdrawalRequested::SIGNATURE_HASH => {
            let e = BalanceVault::WithdrawalRequested::decode_raw_log(topics, data)?;
            VaultEvent {
                amount: e.balance,
                unlock_at: Some(e.unlockAt.saturating_to()),
                ..event(e.token, VaultEventKind::WithdrawalRequested, e.account)
            }
        }
        BalanceVault::WithdrawalCancelled::SIGNATURE_HASH => {
            let e = BalanceVault::WithdrawalCancelled::decode_raw_log(topics, data)?;
            event(e.token, VaultEventKind::WithdrawalCancelled, e.account)
        }
        BalanceVault::Withdrawn::SIGNATURE_HASH => {
            let e = BalanceVault::Withdrawn::decode_raw_log(topics, data)?;
            VaultEvent { amount: e.amount, ..event(e.token, VaultEventKind::Withdrawn, e.account) }
        }
        BalanceVault::Claimed::SIGNATURE_HASH => {
            let e = BalanceVault::Claimed::decode_raw_log(topics, data)?;
            VaultEvent { amount: e.amount, ..event(e.token, VaultEventKind::Claimed, e.account) }
        }
        _ => return Ok(()),
    };
    out.vault_events.push(row);
    Ok(())
}

/// A `Subscriptions` log that changes where a subscription stands, as a [`SubscriptionEvent`]; batch-closing and
/// failure events are left raw (a failed item wrote nothing).
fn project_subscription(log: &RawLog, topic0: B256, out: &mut Projections) -> alloy::sol_types::Result<()> {
    let topics = log.topics.iter().copied();
    let data = log.data.as_ref();
    let event = |id, kind| SubscriptionEvent {
        position: log.position,
        contract: log.address,
        subscription_id: id,
        kind,
        period: None,
        at: None,
        actor: None,
    };
    let seconds = |value: U256| value.saturating_to::<u64>();
    let row = match topic0 {
        Subscriptions::Subscribed::SIGNATURE_HASH => {
            let e = Subscriptions::Subscribed::decode_raw_log(topics, data)?;
            SubscriptionEvent { actor: Some(e.subscriber), ..event(e.id, SubscriptionEventKind::Subscribed) }
        }
        Subscriptions::SubscriptionCharged::SIGNATURE_HASH => {
            let e = Subscriptions::SubscriptionCharged::decode_raw_log(topics, data)?;
            SubscriptionEvent {
                period: Some(seconds(e.period)),
                at: Some(seconds(e.paidThrough)),
                ..event(e.id, SubscriptionEventKind::Charged)
            }
        }
        Subscriptions::SubscriptionPastDue::SIGNATURE_HASH => {
            let e = Subscriptions::SubscriptionPastDue::decode_raw_log(topics, data)?;
            SubscriptionEvent {
                period: Some(seconds(e.period)),
                at: Some(seconds(e.lapseAt)),
                ..event(e.id, SubscriptionEventKind::PastDue)
            }
        }
        Subscriptions::SubscriptionExpired::SIGNATURE_HASH => {
            let e = Subscriptions::SubscriptionExpired::decode_raw_log(topics, data)?;
            SubscriptionEvent { period: Some(seconds(e.period)), ..event(e.id, SubscriptionEventKind::Expired) }
        }
        Subscriptions::SubscriptionCancelled::SIGNATURE_HASH => {
            let e = Subscriptions::SubscriptionCancelled::decode_raw_log(topics, data)?;
            SubscriptionEvent {
                at: Some(seconds(e.paidThrough)),
                actor: Some(e.by),
                ..event(e.id, SubscriptionEventKind::Cancelled)
            }
        }
        Subscriptions::SubscriptionPaused::SIGNATURE_HASH => {
            let e = Subscriptions::SubscriptionPaused::decode_raw_log(topics, data)?;
            SubscriptionEvent { actor: Some(e.by), ..event(e.id, SubscriptionEventKind::Paused) }
        }
        Subscriptions::SubscriptionResumed::SIGNATURE_HASH => {
            let e = Subscriptions::SubscriptionResumed::decode_raw_log(topics, data)?;
            SubscriptionEvent { actor: Some(e.by), ..event(e.id, SubscriptionEventKind::Resumed) }
        }
        _ => return Ok(()),
    };
    out.subscription_events.push(row);
    Ok(())
}
