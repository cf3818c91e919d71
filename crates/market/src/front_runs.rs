//! Payments someone front-ran: whoever sees an agent's x402 payment in flight can submit its authorization straight
//! to the token, so its USDC reaches the vault or the escrow as surplus while the deposit or purchase fails. The
//! market notes each payment refused on a used nonce, and the keeper recovers it from the chain's evidence
//! ([`clearing_ledger::Ledger::recover_front_runs`]): a deposit is booked to its payer, a purchase's money is given
//! back to the payer's wallet.
//!
//! A payment to the market's own fee routes (registration, key rotation, a paid job read or download) pays an
//! account, the fee recipient, so the token's transfer is the whole payment: when someone else's transaction carried
//! it exactly as signed while the request that queued it waited, that request is served as paid ([`settle_fee`]).

use clearing_ledger::market::{CarriedFee, FrontRunRecipient};
use clearing_x402::Reason;
use tracing::{info, warn};

use crate::{Market, MarketError, Payment, Result, Settled};

/// Payments recovered per contract and keeper round.
const RECOVERIES_PER_ROUND: u32 = 100;

/// Notes `payment` to `recipient` if `refused` says its nonce is used: if someone else submitted it to the token, the
/// keeper finds its transfer and recovers it. Anything else refused is left alone; a note that cannot be written is
/// logged, and the refusal stands either way.
pub(crate) async fn note(market: &Market, recipient: FrontRunRecipient, payment: &Payment, refused: &MarketError) {
    if refused.payment_reason() != Some(Reason::NonceAlreadyUsed.as_str()) {
        return;
    }
    let Some((payer, nonce, amount)) = market.edge().authorization(payment) else { return };
    let (chain_id, token) = (market.edge().chain_id(), market.edge().token());
    match market.ledger().note_front_run(chain_id, recipient, token, payer, nonce, amount).await {
        Ok(()) => {
            info!(%payer, %nonce, "payment refused on a used nonce: noted, recovered if its transfer reached {recipient:?}")
        }
        Err(e) => warn!(%payer, %nonce, error = %e, "noting a payment refused on a used nonce failed"),
    }
}

/// [`crate::X402Edge::settle_keyed`], noting the payment if it is refused because its nonce is used: the queue may
/// find that out only now (the request's own verify read the chain before the front-run's block).
pub(crate) async fn settle_keyed(
    market: &Market,
    recipient: FrontRunRecipient,
    payment: &Payment,
    route: clearing_ledger::Route,
) -> Result<crate::Settled> {
    match market.edge().settle_keyed(payment, route).await {
        Ok(settled) => Ok(settled),
        Err(refused) => {
            note(market, recipient, payment, &refused).await;
            Err(refused)
        }
    }
}

/// Settles a fee route's payment ([`crate::X402Edge::settle_first_presented`]): serves only the request that first presented the payment (whose call
/// queued it), since anyone who reads the authorization in the mempool or on chain can rebuild the header, and a
/// registration, a key or a buyer's job must not go to them; every other request with it is refused. If that
/// request's batch found the nonce used by someone else's transaction, the payment counts as paid in that
/// transaction when the token's logs show it carried the payment exactly as signed (once per authorization, never a
/// payment this facilitator's queue settled). A payment someone front-ran before it reached the market is refused,
/// and its money stays with the fee recipient.
pub(crate) async fn settle_fee(market: &Market, payment: &Payment) -> Result<Settled> {
    let edge = market.edge();
    let (answer, front_run) = edge.settle_first_presented(payment).await;
    let refused = match answer {
        Ok(settled) => return Ok(settled),
        Err(refused) if front_run => refused,
        Err(refused) => return Err(refused),
    };
    let Some(used) = edge.used_by(payment).await else { return Err(refused) };
    let (Some((payer, nonce, amount)), Some(settled)) = (edge.authorization(payment), edge.carried(payment, used))
    else {
        return Err(refused);
    };
    let fee = CarriedFee {
        chain_id: edge.chain_id(),
        token: edge.token(),
        payer,
        nonce,
        pay_to: edge.pay_to(),
        amount,
        tx_hash: used.transaction,
        block_number: used.block,
        resource: payment.resource().to_owned(),
    };
    if market.ledger().count_carried_fee(&fee).await? {
        let tx = used.transaction;
        info!(%payer, %nonce, %tx, "fee payment carried by someone else's transaction: counted as paid");
        Ok(settled)
    } else {
        Err(refused)
    }
}

/// The keeper's round: recovers the front-run payments into the vault and the escrow, whichever are deployed.
pub(crate) async fn recover(market: &Market) {
    let mut recipients = Vec::new();
    recipients.extend(market.vault().ok().map(FrontRunRecipient::Vault));
    recipients.extend(market.escrow().ok().map(FrontRunRecipient::Escrow));
    let (chain_id, token) = (market.edge().chain_id(), market.edge().token());
    for recipient in recipients {
        match market.ledger().recover_front_runs(chain_id, recipient, token, RECOVERIES_PER_ROUND).await {
            Ok(recovered) => {
                for r in recovered {
                    info!(payer = %r.payer, nonce = %r.nonce, amount = %r.amount, transfer = %r.transfer_tx,
                        action = %r.action, "front-run payment: recovery queued ({:?})", r.recipient);
                }
            }
            Err(e) => warn!(error = %e, "recovering front-run payments failed ({recipient:?})"),
        }
    }
}
