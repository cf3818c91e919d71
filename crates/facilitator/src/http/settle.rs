//! `POST /settle`: verify, then queue durably and wait for the one outcome.
//!
//! Every payment is verified first (the chain checks included). One that verifies is counted in flight against
//! the payer's balance until it is final and queued, unless its authorization is queued already; one that does
//! not is looked up, and if exactly that payment is queued (same terms and signature bytes: it may have settled
//! since, using its nonce) it waits for the queued one; anything else under the same key (a forgery) is refused for
//! the reason its own verify gave. The settler answers a queued payment from its row: the first caller told of a
//! success gets `success`, every later one `invalid_exact_evm_nonce_already_used` with the original transaction;
//! a pending one waits for the same transaction. A payment that verifies while another one holds its key is
//! answered `invalid_exact_evm_nonce_already_used` without a transaction. (New payments, the common case, thus
//! cost one chain read and one insert before they wait; the lookup is left to payments that fail verify.) A receipt that does not arrive
//! within the settle timeout is answered `settlement_pending` with the transaction hash, never a plain failure.

use std::{sync::Arc, time::Duration};

use alloy::primitives::{Address, B256};
use clearing_ledger::{Ledger, PaymentKey, Route};
use clearing_x402::{PaymentRequest, Reason, Rejection, SettleResponse, VerifiedPayment};
use tracing::{debug, warn};

use crate::{InFlight, PaymentToSettle, SettleOutcome, SettleResult, Settler, verify::token_signature};

/// How often a payment answered `settlement_pending` is looked up until it is final, to stop counting it in flight.
const IN_FLIGHT_POLL: Duration = Duration::from_secs(1);

/// What `/settle` needs besides the verifier.
#[derive(Debug, Clone)]
pub struct SettleService {
    settler: Settler,
    ledger: Ledger,
    inflight: InFlight,
    /// The assets the batcher relays; settling another one would wait forever.
    assets: Arc<Vec<Address>>,
    /// Payees `/settle` refuses: contracts whose payments only their own routes may book (the escrow, the balance
    /// vault). A transfer to either outside a booking would leave the payer's money there with no job, no credit and
    /// no balance.
    escrow: Option<Address>,
    vault: Option<Address>,
}

/// What [`SettleService::settle_routed_told`] answers.
#[derive(Debug, Clone)]
pub struct RoutedSettle {
    /// The x402 answer.
    pub response: SettleResponse,
    /// The payment settled and an earlier call was told so ([`SettleResult::SettledEarlier`]).
    pub settled_earlier: bool,
    /// This call queued the payment (it was not queued before): for a caller that serves only the request that
    /// first presented a payment, never another sending the same header (read from the mempool or the chain), whose
    /// call finds it queued, and may even be the one to claim its `success`.
    pub queued_here: bool,
    /// This call queued the payment and its batch found the nonce used by another transaction: that transaction may
    /// have carried it ([`crate::Verifier::used_by`] tells, and whether it carried this payment or another under the
    /// same nonce).
    pub front_run_after_queued: bool,
}

impl RoutedSettle {
    const fn answer(response: SettleResponse) -> Self {
        Self { response, settled_earlier: false, queued_here: false, front_run_after_queued: false }
    }
}

impl SettleService {
    /// Settles through `settler` the payments in `assets`, counting them in `inflight` until final.
    pub fn new(settler: Settler, ledger: Ledger, inflight: InFlight, assets: Vec<Address>) -> Self {
        Self { settler, ledger, inflight, assets: Arc::new(assets), escrow: None, vault: None }
    }

    /// The same service, refusing plain transfers to the escrow and the vault, which only their own routes may pay
    /// (see [`SettleService::settle_routed`]).
    #[must_use]
    pub const fn reserving(mut self, escrow: Option<Address>, vault: Option<Address>) -> Self {
        self.escrow = escrow;
        self.vault = vault;
        self
    }

    /// Settles `request` as `POST /settle` does (a plain transfer to the requirement's `payTo`, never to a reserved
    /// payee), verified by `verifier`, and answers what `/settle` would: for a resource server in this process (the
    /// market) that settles without an HTTP round trip. Waits for the one outcome (or `settlement_pending` with the
    /// transaction once the settle timeout passes).
    pub async fn settle(&self, verifier: &crate::Verifier, request: &PaymentRequest) -> SettleResponse {
        self.settle_routed(verifier, request, Route::Transfer).await
    }

    /// Verifies `request` and settles it on `route` (the marketplace books escrow jobs and credits this way), with
    /// every guarantee of `/settle`: queued once per authorization, answered `success` once. The requirement in
    /// `request` is the caller's: it must name the escrow as `payTo` for an escrow route, which only that route may
    /// pay.
    pub async fn settle_routed(
        &self,
        verifier: &crate::Verifier,
        request: &PaymentRequest,
        route: Route,
    ) -> SettleResponse {
        self.settle_routed_told(verifier, request, route).await.response
    }

    /// [`SettleService::settle_routed`], saying also whether the payment had settled and an earlier call was told
    /// so: for a caller that answers a repeat of a payment with what it bought, which the wire answer alone
    /// (`invalid_exact_evm_nonce_already_used` with a transaction) does not tell from a payment that someone else
    /// submitted to the token first.
    pub async fn settle_routed_told(
        &self,
        verifier: &crate::Verifier,
        request: &PaymentRequest,
        route: Route,
    ) -> RoutedSettle {
        let network = request.network().to_owned();
        let payment = match verifier.precheck(request) {
            Ok(payment) => payment,
            Err(rejection) => return RoutedSettle::answer(SettleResponse::failed(&rejection, network)),
        };
        let pay_to = payment.authorization.to;
        let refused = match route {
            Route::Transfer if Some(pay_to) == self.escrow => {
                Some(format!("payTo {pay_to} is the escrow: only a marketplace purchase may pay it"))
            }
            Route::Transfer if Some(pay_to) == self.vault => {
                Some(format!("payTo {pay_to} is the balance vault: only a balance deposit may pay it"))
            }
            Route::Transfer => None,
            Route::VaultDeposit if Some(pay_to) != self.vault => {
                Some(format!("a balance deposit must pay the balance vault, not {pay_to}"))
            }
            Route::VaultDeposit => None,
            _ if Some(pay_to) != self.escrow => Some(format!("an escrow booking must pay the escrow, not {pay_to}")),
            _ => None,
        };
        if let Some(why) = refused {
            let rejection = Rejection::new(Reason::InvalidPaymentRequirements, why).with_payer(Some(payment.payer));
            return RoutedSettle::answer(SettleResponse::failed(&rejection, network));
        }
        let asset = payment.domain.token();
        if !self.assets.contains(&asset) {
            let rejection = Rejection::new(
                Reason::InvalidPaymentRequirements,
                format!("asset {asset} is not one this facilitator settles ({:?})", self.assets),
            )
            .with_payer(Some(payment.payer));
            return RoutedSettle::answer(SettleResponse::failed(&rejection, network));
        }
        let key = PaymentKey {
            chain_id: payment.network.chain_id(),
            asset,
            payer: payment.payer,
            nonce: payment.authorization.nonce,
        };
        let to_settle = PaymentToSettle {
            chain_id: key.chain_id,
            asset,
            payer: payment.payer,
            pay_to: payment.authorization.to,
            value: payment.authorization.value,
            valid_after: payment.authorization.valid_after,
            valid_before: payment.authorization.valid_before,
            nonce: payment.authorization.nonce,
            signature: token_signature(&payment.signature),
            x402_version: payment.x402_version,
            network: network.clone(),
            route,
        };
        let mut queued_here = false;
        let outcome = match verifier.verify(request).await {
            Ok(_) => {
                self.inflight.add(key.chain_id, asset, key.payer, key.nonce, to_settle.value);
                self.settler.settle_queued(&to_settle).await.map(|(outcome, queued)| {
                    queued_here = queued;
                    outcome
                })
            }
            // It may be a repeat of a queued payment whose nonce that very payment has used since. It shares that
            // payment's outcome only if it is that payment (same terms and signature bytes): anything else, a
            // forgery on its key included, is refused for its own reason and can never take its `success`.
            Err(rejection) => match self.settler.join(&to_settle).await {
                Ok(Some(outcome)) => Ok(outcome),
                Ok(None) => return RoutedSettle::answer(SettleResponse::failed(&rejection, network)),
                Err(e) => Err(e),
            },
        };
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(e) => {
                self.forget_when_final(key);
                return RoutedSettle::answer(unexpected(&payment, network, &e));
            }
        };
        match outcome.result {
            // Another payment holds the nonce: it stays counted until that one is final.
            SettleResult::Pending { .. } | SettleResult::NonceTaken => self.forget_when_final(key),
            _ => self.inflight.remove(key.chain_id, asset, key.payer, key.nonce),
        }
        debug!(payer = %outcome.payer, nonce = %key.nonce, result = ?outcome.result, "settle answered");
        RoutedSettle {
            settled_earlier: matches!(outcome.result, SettleResult::SettledEarlier { .. }),
            queued_here,
            front_run_after_queued: queued_here
                && matches!(outcome.result, SettleResult::Failed { reason: Reason::NonceAlreadyUsed, .. }),
            response: response(&outcome),
        }
    }

    /// Settlements accepted by this process and not yet final.
    pub(super) fn queue_depth(&self) -> usize {
        self.inflight.len()
    }

    /// Keeps counting the payment in flight until its row is final, then stops.
    fn forget_when_final(&self, key: PaymentKey) {
        let (ledger, inflight) = (self.ledger.clone(), self.inflight.clone());
        tokio::spawn(async move {
            loop {
                match ledger.settlement(&key).await {
                    Ok(Some(row)) if !row.status.is_final() => {}
                    Ok(_) => break,
                    Err(error) => warn!(%error, payer = %key.payer, nonce = %key.nonce, "in-flight lookup failed"),
                }
                tokio::time::sleep(IN_FLIGHT_POLL).await;
            }
            inflight.remove(key.chain_id, key.asset, key.payer, key.nonce);
        });
    }
}

/// The x402 answer for a settle outcome.
fn response(outcome: &SettleOutcome) -> SettleResponse {
    let network = outcome.network.clone();
    let response = match &outcome.result {
        SettleResult::Settled { transaction } => SettleResponse::settled(outcome.payer, *transaction, network),
        SettleResult::Pending { transaction: Some(transaction) } => {
            SettleResponse::pending(outcome.payer, *transaction, network)
        }
        SettleResult::Pending { transaction: None } => SettleResponse::failed(
            &Rejection::new(Reason::SettlementPending, "queued; no transaction broadcast yet")
                .with_payer(Some(outcome.payer)),
            network,
        ),
        SettleResult::NonceTaken => SettleResponse::failed(
            &Rejection::new(
                Reason::NonceAlreadyUsed,
                "another authorization with this payer and nonce is queued or settled; this one can never settle",
            )
            .with_payer(Some(outcome.payer)),
            network,
        ),
        SettleResult::SettledEarlier { transaction } => {
            failed(outcome, Reason::NonceAlreadyUsed, Some(*transaction), network)
        }
        // A payment whose nonce someone else used first names the transaction that refused it only in the message:
        // `invalid_exact_evm_nonce_already_used` with a `transaction` says "settled, for an earlier call" (see
        // docs/FACILITATOR.md, "A lost answer"), and this one moved nothing.
        SettleResult::Failed { reason: Reason::NonceAlreadyUsed, transaction: Some(tx) } => SettleResponse::failed(
            &Rejection::new(
                Reason::NonceAlreadyUsed,
                format!("the authorization was used before transaction {tx} could carry it: it moved nothing here"),
            )
            .with_payer(Some(outcome.payer)),
            network,
        ),
        SettleResult::Failed { reason, transaction } => failed(outcome, *reason, *transaction, network),
    };
    response.with_amount(outcome.amount)
}

/// A failure answer naming `transaction`, the one that carried or refused the payment, if any.
fn failed(outcome: &SettleOutcome, reason: Reason, transaction: Option<B256>, network: String) -> SettleResponse {
    let message = match transaction {
        Some(tx) => format!("{reason} in transaction {tx}"),
        None => format!("{reason}; nothing was broadcast"),
    };
    let failed = SettleResponse::failed(&Rejection::new(reason, message).with_payer(Some(outcome.payer)), network);
    match transaction {
        Some(tx) => failed.with_transaction(tx),
        None => failed,
    }
}

fn unexpected(payment: &VerifiedPayment, network: String, error: &dyn std::fmt::Display) -> SettleResponse {
    warn!(%error, payer = %payment.payer, nonce = %payment.authorization.nonce, "settle failed unexpectedly");
    SettleResponse::failed(
        &Rejection::new(Reason::UnexpectedSettleError, "internal error; the payment may be retried")
            .with_payer(Some(payment.payer)),
        network,
    )
}
