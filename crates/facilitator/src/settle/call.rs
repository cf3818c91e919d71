//! Queued payments to the call that carries them: each route's items become its contract's batch arguments.

use alloy::{
    primitives::{Address, U256},
    sol_types::SolValue,
};
use clearing_chain::{
    BatchCall, Debit, DirectPayment, JobTerms, SettlePayment, Step, SubscriptionOperation, TransferDeposit,
    TransferFunding, TransferredDeposit,
};
use clearing_ledger::{Action, EscrowAction, Route, RouteKind, Settlement};
use tracing::error;

/// The call of one batch of `route`: every item is of that route (the ledger claims a batch per route).
///
/// An item whose stored route is not `route` cannot be in the batch (the ledger claims by route); were one there, it
/// would go with zero terms, which its contract refuses item by item, rather than panic the batcher.
pub(super) fn batch_call(route: RouteKind, asset: Address, items: &[Settlement]) -> BatchCall {
    match route {
        RouteKind::Transfer => BatchCall::Settle { token: asset, payments: items.iter().map(settle_payment).collect() },
        RouteKind::EscrowJob => {
            BatchCall::FundJobs { token: asset, items: items.iter().map(|item| funding(asset, item)).collect() }
        }
        RouteKind::EscrowCredit => {
            BatchCall::PayCredits { token: asset, payments: items.iter().map(direct_payment).collect() }
        }
        RouteKind::VaultDeposit => {
            BatchCall::Deposits { token: asset, items: items.iter().map(transfer_deposit).collect() }
        }
        RouteKind::EscrowStep
        | RouteKind::EscrowClaim
        | RouteKind::VaultDebit
        | RouteKind::VaultClaim
        | RouteKind::VaultBook
        | RouteKind::EscrowReturn
        | RouteKind::SubscriptionCharge
        | RouteKind::SubscriptionOperation => {
            error!(%route, "an action route's batch built from payments");
            BatchCall::Steps { token: asset, steps: Vec::new() }
        }
    }
}

/// The call of one batch of an action route (`escrow_step`, `escrow_claim`, `vault_debit`, `subscription_charge`
/// or `subscription_operation`).
pub(super) fn action_call(route: RouteKind, asset: Address, actions: &[EscrowAction]) -> BatchCall {
    if route == RouteKind::VaultClaim {
        let accounts = actions
            .iter()
            .filter_map(|a| match &a.action.action {
                Action::VaultClaim { account } => Some(*account),
                _ => None,
            })
            .collect();
        return BatchCall::VaultClaims { token: asset, accounts };
    }
    if route == RouteKind::VaultBook {
        let items = actions
            .iter()
            .filter_map(|a| match &a.action.action {
                Action::Booking(booking) => {
                    Some(TransferredDeposit { from: booking.payer, amount: booking.amount, nonce: booking.nonce })
                }
                _ => None,
            })
            .collect();
        return BatchCall::Bookings { token: asset, items };
    }
    if route == RouteKind::EscrowReturn {
        let payments = actions
            .iter()
            .filter_map(|a| match &a.action.action {
                // Credited to the payer itself with no fee: its own money back, claimable.
                Action::Return(back) => Some(DirectPayment {
                    payer: back.payer,
                    provider: back.payer,
                    amount: back.amount,
                    fee: U256::ZERO,
                    validAfter: U256::ZERO,
                    validBefore: U256::ZERO,
                    nonce: back.nonce,
                    signature: Default::default(),
                }),
                _ => None,
            })
            .collect();
        return BatchCall::Returns { token: asset, payments };
    }
    if route == RouteKind::SubscriptionCharge {
        let ids = actions
            .iter()
            .filter_map(|a| match &a.action.action {
                Action::Charge { subscription, .. } => Some(*subscription),
                _ => None,
            })
            .collect();
        return BatchCall::Charges { token: asset, ids };
    }
    if route == RouteKind::SubscriptionOperation {
        let ops = actions
            .iter()
            .filter_map(|a| match &a.action.action {
                Action::Operation { encoded, .. } => match SubscriptionOperation::abi_decode(encoded) {
                    Ok(op) => Some(op),
                    Err(e) => {
                        error!(id = %a.id, error = %e, "a stored subscription operation does not decode");
                        None
                    }
                },
                _ => None,
            })
            .collect();
        return BatchCall::Operations { token: asset, ops };
    }
    if route == RouteKind::EscrowClaim {
        let accounts = actions
            .iter()
            .filter_map(|a| match &a.action.action {
                Action::Claim { account } => Some(*account),
                _ => None,
            })
            .collect();
        return BatchCall::Claims { token: asset, accounts };
    }
    if route == RouteKind::VaultDebit {
        let debits = actions
            .iter()
            .filter_map(|a| match &a.action.action {
                Action::Debit(debit) => Some(Debit {
                    id: debit.id,
                    payer: debit.payer,
                    provider: debit.provider,
                    amount: debit.amount,
                    fee: debit.fee,
                }),
                _ => None,
            })
            .collect();
        return BatchCall::Debits { token: asset, debits };
    }
    BatchCall::Steps { token: asset, steps: actions.iter().filter_map(step).collect() }
}

/// The `stepMany` item of a step action; `None` (and an error log) for a claim or terms that do not decode, which
/// the ledger's schema rules out.
fn step(action: &EscrowAction) -> Option<Step> {
    let Action::Step { kind, terms, signed, .. } = &action.action.action else {
        error!(id = %action.id, "a claim or a debit in a step batch");
        return None;
    };
    let terms = match JobTerms::abi_decode(terms) {
        Ok(terms) => terms,
        Err(e) => {
            error!(id = %action.id, error = %e, "stored job terms do not decode");
            return None;
        }
    };
    let (signature, deadline) = signed.clone().unwrap_or_default();
    // `Escrow.StepKind`'s order: Complete, Release, ReleaseWithSig, DisputeWithSig, Refund, ResolveWithSig.
    let (kind, provider_bps) = match *kind {
        clearing_ledger::StepKind::Complete => (0, 0),
        clearing_ledger::StepKind::Release => (1, 0),
        clearing_ledger::StepKind::ReleaseWithSig => (2, 0),
        clearing_ledger::StepKind::DisputeWithSig => (3, 0),
        clearing_ledger::StepKind::Refund => (4, 0),
        clearing_ledger::StepKind::ResolveWithSig { provider_bps } => (5, provider_bps),
    };
    Some(Step { kind, terms, deadline, signature, providerBps: provider_bps })
}

fn settle_payment(item: &Settlement) -> SettlePayment {
    let p = &item.payment;
    SettlePayment {
        from: p.key.payer,
        to: p.pay_to,
        value: p.value,
        validAfter: p.valid_after,
        validBefore: p.valid_before,
        nonce: p.key.nonce,
        signature: p.signature.clone(),
    }
}

/// The job terms an escrow-job item books: the authorization's payer, value, token and nonce (the salt) with the
/// operator's terms.
fn job_terms(asset: Address, item: &Settlement) -> JobTerms {
    let p = &item.payment;
    let booking = match &p.route {
        Route::EscrowJob(booking) => *booking,
        other => {
            error!(id = %item.id, route = ?other.kind(), "a non-job item in an escrow job batch");
            clearing_ledger::JobBooking {
                provider: Address::ZERO,
                fee: U256::ZERO,
                arbiter: Address::ZERO,
                funding_deadline: 0,
                completion_deadline: 0,
                review_window: 0,
            }
        }
    };
    JobTerms {
        payer: p.key.payer,
        provider: booking.provider,
        token: asset,
        amount: p.value,
        fee: booking.fee,
        arbiter: booking.arbiter,
        fundingDeadline: booking.funding_deadline,
        completionDeadline: booking.completion_deadline,
        reviewWindow: booking.review_window,
        salt: p.key.nonce,
    }
}

fn funding(asset: Address, item: &Settlement) -> TransferFunding {
    let p = &item.payment;
    TransferFunding {
        terms: job_terms(asset, item),
        validAfter: p.valid_after,
        validBefore: p.valid_before,
        signature: p.signature.clone(),
    }
}

fn direct_payment(item: &Settlement) -> DirectPayment {
    let p = &item.payment;
    let (provider, fee) = match &p.route {
        Route::EscrowCredit { provider, fee } => (*provider, *fee),
        other => {
            error!(id = %item.id, route = ?other.kind(), "a non-credit item in an escrow credit batch");
            (Address::ZERO, U256::ZERO)
        }
    };
    DirectPayment {
        payer: p.key.payer,
        provider,
        amount: p.value,
        fee,
        validAfter: p.valid_after,
        validBefore: p.valid_before,
        nonce: p.key.nonce,
        signature: p.signature.clone(),
    }
}

fn transfer_deposit(item: &Settlement) -> TransferDeposit {
    let p = &item.payment;
    TransferDeposit {
        from: p.key.payer,
        amount: p.value,
        validAfter: p.valid_after,
        validBefore: p.valid_before,
        nonce: p.key.nonce,
        signature: p.signature.clone(),
    }
}
