//! Subscriptions to providers' plans on the `Subscriptions` contract, paid from prepaid balances in the vault.
//!
//! The market builds the terms (the plan's price plus the market's fee per period, the plan's interval, the
//! configured grace, a random salt, starting at the chain's time) and queues the operator's `operateMany` Open,
//! which creates the subscription and charges period 0 in one item; the ledger holds the price back from the balance
//! until the chain answers ([`clearing_ledger::Ledger::subscribe`]). Everything after is the chain's word, read from
//! the indexed events: the keeper ([`keep`]) queues each due renewal, its retries over the grace, and the final
//! charge that writes an expiry; cancel, pause and resume are queued operations like the open.
//!
//! The HTTP routes are in [`routes`], their OpenAPI fragment in [`openapi`].

mod openapi;
mod routes;

pub(crate) use openapi::OPENAPI;
pub(crate) use routes::routes;

use alloy_primitives::{B256, U256};
use alloy_sol_types::SolValue;
use clearing_chain::{SubscriptionOperation, SubscriptionTerms, subscription_id};
use clearing_ledger::market::{
    BalanceAccount, ChargeQueued, NewSubscription, OperationDecision, OperationKind, Participant, Plan,
    SubscribeDecision, SubscriptionView,
};
use tracing::{debug, info, warn};

use crate::{ErrorCode, Market, MarketError, Result, fees};

/// Due periods the keeper reads at once.
const KEEPER_BATCH: u32 = 500;
/// Due periods queued in one transaction: each holds its agents' balance rows (and so their balance purchases) until
/// it commits, about 85 ms for this many (1.7 ms a charge in the renewal benchmark), once per keeper round.
const QUEUE_CHUNK: usize = 50;

/// `Subscriptions.OperationKind`'s order.
const fn kind_index(kind: OperationKind) -> u8 {
    match kind {
        OperationKind::Cancel => 1,
        OperationKind::Pause => 2,
        OperationKind::Resume => 3,
    }
}

/// Subscribes `agent` to `plan` (whose provider is `provider`), paying period 0 from the agent's balance.
pub async fn subscribe(market: &Market, plan: &Plan, provider: &Participant, agent: &Participant) -> Result<B256> {
    let contract = market.subscriptions()?;
    let vault = market.vault()?;
    if plan.deleted_at.is_some() {
        return Err(MarketError::refused(ErrorCode::PlanNotFound, "this plan was deleted: it takes no new subscriber"));
    }
    let chain_id = market.edge().chain_id();
    let net = super::balance::usdc(plan.new.price);
    let fee = fees::fee(net, market.fee()).to_u256();
    let price = plan.new.price.saturating_add(fee);
    let period = plan.new.interval.seconds();
    let grace = market.config().subscription_grace_secs.min(period);
    let start = market.ledger().chain_now(chain_id).await?;
    let mut salt = [0u8; 32];
    getrandom::fill(&mut salt).map_err(|e| MarketError::Internal(format!("the OS random source failed: {e}")))?;
    let terms = SubscriptionTerms {
        subscriber: agent.wallet,
        provider: provider.wallet,
        token: market.edge().token(),
        price,
        fee,
        period,
        start,
        grace,
        salt: B256::from(salt),
    };
    let id = subscription_id(chain_id, contract, &terms);
    let open = SubscriptionOperation { kind: 0, id, terms: terms.clone() };
    let new = NewSubscription {
        id,
        account: BalanceAccount { chain_id, vault, token: terms.token, account: agent.wallet },
        contract,
        plan_id: plan.new.id,
        participant_id: agent.id,
        provider: provider.wallet,
        price,
        fee,
        period,
        start,
        grace,
        salt: terms.salt,
        service_ids: plan.new.service_ids.clone(),
        max_requests: plan.new.max_requests,
        open: open.abi_encode().into(),
    };
    let decided = market.ledger().subscribe(&new).await?;
    market.balance_hot().forget_subscriber(agent.id);
    match decided {
        SubscribeDecision::Queued(id) => {
            info!(subscription = %id, plan = %plan.new.id.0, agent = %agent.wallet, "subscription queued");
            Ok(id)
        }
        SubscribeDecision::AlreadySubscribed(id) => Err(MarketError::refused(
            ErrorCode::AlreadySubscribed,
            format!("you already have a live subscription to this plan: {id}"),
        )),
        SubscribeDecision::Insufficient { available } => Err(MarketError::refused(
            ErrorCode::InsufficientBalance,
            format!(
                "the first period costs {} USDC and your balance has {} available: deposit with POST \
                 /v1/balance/deposit",
                super::balance::usdc(price),
                super::balance::usdc(available)
            ),
        )),
        SubscribeDecision::WithdrawalPending => Err(MarketError::refused(
            ErrorCode::WithdrawalPending,
            "a withdrawal request stands on your balance: cancel it to pay from the balance again",
        )),
        SubscribeDecision::PlanChanged => Err(plan_changed(plan)),
    }
}

/// The refusal of a subscribe whose plan changed (or was deleted) between its read and the subscription's write.
fn plan_changed(plan: &Plan) -> MarketError {
    MarketError::refused(
        ErrorCode::PlanChanged,
        format!("plan {} changed while you subscribed: read it again (GET /v1/plans/{})", plan.new.id.0, plan.new.id.0),
    )
}

/// Queues `kind` on `subscription` (the caller's).
pub async fn operate(market: &Market, subscription: &SubscriptionView, kind: OperationKind) -> Result<()> {
    let contract = market.subscriptions()?;
    let op = SubscriptionOperation {
        kind: kind_index(kind),
        id: subscription.id,
        terms: SubscriptionTerms {
            subscriber: alloy_primitives::Address::ZERO,
            provider: alloy_primitives::Address::ZERO,
            token: alloy_primitives::Address::ZERO,
            price: U256::ZERO,
            fee: U256::ZERO,
            period: 0,
            start: 0,
            grace: 0,
            salt: B256::ZERO,
        },
    };
    match market.ledger().operate_subscription(subscription, contract, kind, &op.abi_encode()).await? {
        OperationDecision::Queued => Ok(()),
        OperationDecision::NotNow { status } => Err(MarketError::refused(
            ErrorCode::SubscriptionStatusConflict,
            format!("a {status} subscription cannot be asked to {}", kind.as_str()),
        )),
    }
}

/// One keeper round: queues every due renewal, retry and expiry (see `Ledger::due_charges`), [`KEEPER_BATCH`] read
/// at a time and [`QUEUE_CHUNK`] queued per transaction, until none is left that can be queued now; how many were
/// queued.
pub async fn keep(market: &Market) -> usize {
    let chain_id = market.edge().chain_id();
    let mut queued = 0;
    loop {
        let due = match market.ledger().due_charges(chain_id, KEEPER_BATCH).await {
            Ok(due) => due,
            Err(e) => {
                warn!(error = %e, "looking for due subscriptions failed");
                return queued;
            }
        };
        let mut this_batch = 0;
        for chunk in due.chunks(QUEUE_CHUNK) {
            let decided = match market.ledger().queue_charges(chunk).await {
                Ok(decided) => decided,
                Err(e) => {
                    // One charge that fails every time must not hold back the rest of its chunk: each alone.
                    warn!(error = %e, charges = chunk.len(), "queueing subscription charges failed: one at a time");
                    let mut decided = Vec::with_capacity(chunk.len());
                    for charge in chunk {
                        match market.ledger().queue_charge(charge).await {
                            Ok(decision) => decided.push(decision),
                            Err(e) => {
                                warn!(subscription = %charge.subscription, error = %e, "queueing a charge failed");
                                decided.push(ChargeQueued::AlreadyQueued);
                            }
                        }
                    }
                    decided
                }
            };
            for (charge, decision) in chunk.iter().zip(decided) {
                match decision {
                    ChargeQueued::Reserved | ChargeQueued::Unreserved => {
                        this_batch += 1;
                        debug!(subscription = %charge.subscription, period = charge.period,
                               attempts = charge.attempts, lapsed = charge.lapsed, "subscription charge queued");
                    }
                    ChargeQueued::Deferred => {
                        debug!(subscription = %charge.subscription, "charge deferred: the agent's debits are in flight");
                    }
                    ChargeQueued::AlreadyQueued => {}
                }
            }
        }
        queued += this_batch;
        // A short batch was the last; a batch that queued nothing (all deferred) would only come back the same.
        if due.len() < KEEPER_BATCH as usize || this_batch == 0 {
            if queued > 0 {
                info!(queued, "subscription charges queued");
            }
            return queued;
        }
    }
}
