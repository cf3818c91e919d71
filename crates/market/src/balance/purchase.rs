//! A purchase paid from the prepaid balance: `POST /v1/services/{id}/purchase` with `X-BALANCE-AUTH`.
//!
//! Answered from PostgreSQL in one call: the debit joins the next batch of its agent's writer
//! ([`clearing_ledger::market::DebitQueue`]), decided and committed with the others queued meanwhile; the listing
//! and the credential come from short-lived copies ([`super::hot`]) that the batch checks again. No chain call and
//! no facilitator round trip. The debit is accepted at once and posted to the vault later, in `debitMany` batches. A
//! retry with the same idempotency key (the `Idempotency-Key` header, else one derived from the credential, the
//! service and the brief, matching for at least 10 minutes either way) is answered with the debit it made, never a
//! second one. A short balance (or a standing withdrawal request) falls through to the ordinary x402 answer, 402,
//! with the reason in `X-Balance-Refused`; a credential over a cap or out of scope is refused with the reason.
//! `data_api` services and `automated_service` jobs are sold this way (a job's money is held until its provider
//! delivers: [`super::job`]); a `human_service` is an escrow job with a review window, whose money must be in the
//! escrow before it runs.

use axum::{
    Json,
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use clearing_ledger::market::{
    BalanceAccount, BalanceCredential, BalanceDebit, DebitDecision, DebitRequest, Service, ServiceType,
};
use clearing_x402::Usdc;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tracing::info;

use super::{credentials, hot::Holder, usdc};
use crate::{ErrorCode, Market, MarketError, Result, fees};

/// The header a client names its idempotency key in.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
/// The header a fall-through 402 says why the balance did not pay in.
pub const BALANCE_REFUSED_HEADER: &str = "x-balance-refused";
/// Seconds in one window of a derived idempotency key; a repeat matches this window's key and the nearer neighbour's.
const DERIVED_WINDOW_SECS: u64 = 1_200;

/// What a balance purchase came to: answered, or handed to x402 with the reason the balance did not pay.
pub(crate) enum BalanceAnswer {
    /// The answer to send.
    Answered(Response),
    /// The balance is short or locked: answer as x402 does, naming this reason.
    FallThrough(&'static str),
    /// The service's listing changed since it was read (repriced, paused, removed): nothing was spent; read it
    /// again and start over.
    Stale,
}

/// Pays `service` from the balance of the credential's owner, if it can.
pub(crate) async fn pay_from_balance(
    market: &Market,
    service: &Service,
    brief: &Value,
    headers: &HeaderMap,
    holder: &Holder,
) -> Result<BalanceAnswer> {
    let (credential, owner) = (&holder.credential, &holder.owner);
    if service.service_type == ServiceType::HumanService {
        return Err(MarketError::refused(
            ErrorCode::BalanceNotAccepted,
            "a human_service is an escrow job with a review window, paid into the escrow before it runs: pay it with \
             x402 (balances pay data_api and automated_service services)",
        ));
    }
    if service.service_type == ServiceType::AutomatedService && market.config().automated_review_secs > 0 {
        return Err(MarketError::refused(
            ErrorCode::BalanceNotAccepted,
            "this market gives automated_service jobs a review window ([market] automated_review_secs), which needs \
             the money in the escrow: pay it with x402",
        ));
    }
    if let Some(services) = &credential.services
        && !services.contains(&service.id)
    {
        return Err(MarketError::refused(
            ErrorCode::BalanceCredentialScope,
            format!("this balance credential may not buy service {}: it lists the services it buys", service.id.0),
        ));
    }
    let amount = service.price.to_u256();
    check_request_cap(credential, service.price)?;
    let vault = market.vault()?;
    let (key, also_matches) = idempotency_keys(headers, credential, service.id.0, Some(brief))?;
    let request = DebitRequest {
        account: BalanceAccount {
            chain_id: market.edge().chain_id(),
            vault,
            token: market.edge().token(),
            account: owner.wallet,
        },
        provider: service.provider_wallet,
        amount,
        fee: fees::fee(service.price, market.fee()).to_u256(),
        credential: credential.id,
        max_per_day: credential.max_per_day,
        idempotency_key: key,
        also_matches,
        service_id: Some(service.id),
    };
    if service.service_type == ServiceType::AutomatedService {
        return super::job::buy(market, service, brief, request, holder).await;
    }
    match market.balance_hot().debits(market.ledger()).debit(request).await? {
        DebitDecision::Accepted(debit) => {
            info!(debit = %debit.id, service = %service.id.0, payer = %owner.wallet, "purchased from balance");
            Ok(BalanceAnswer::Answered((StatusCode::CREATED, Json(view(market, service, &debit))).into_response()))
        }
        DebitDecision::Repeat(debit) => {
            if debit.service_id != Some(service.id) || debit.debit.amount != amount {
                return Err(MarketError::refused(
                    ErrorCode::IdempotencyKeyReused,
                    format!("this idempotency key already paid for purchase {}: use a new key", debit.id),
                ));
            }
            Ok(BalanceAnswer::Answered((StatusCode::OK, Json(view(market, service, &debit))).into_response()))
        }
        refused => service_refusal(market, service, holder, refused),
    }
}

/// The answer to a service's debit the batch did not accept (never `Accepted` or `Repeat`): the listing found stale
/// (read it again), or [`refusal`].
pub(super) fn service_refusal(
    market: &Market,
    service: &Service,
    holder: &Holder,
    decision: DebitDecision,
) -> Result<BalanceAnswer> {
    if decision == DebitDecision::ServiceChanged {
        market.balance_hot().forget_listing(service.id);
        return Ok(BalanceAnswer::Stale);
    }
    refusal(market, &holder.credential, decision, service.price).map(BalanceAnswer::FallThrough)
}

/// What a debit the balance did not pay comes to: the reason to fall through to x402 with (the balance is short, or
/// locked by a withdrawal request), or the credential's refusal naming its rule (a cap, a revoke, the expiry).
pub(crate) fn refusal(
    market: &Market,
    credential: &BalanceCredential,
    decision: DebitDecision,
    price: Usdc,
) -> Result<&'static str> {
    match decision {
        DebitDecision::Insufficient { .. } => Ok("insufficient_balance"),
        DebitDecision::WithdrawalPending { .. } => Ok("withdrawal_pending"),
        DebitDecision::OverDailyCap { spent, cap } => Err(MarketError::refused(
            ErrorCode::BalanceCredentialCap,
            format!(
                "the price {price} would pass this credential's daily cap, {} (spent today: {})",
                usdc(cap),
                usdc(spent)
            ),
        )),
        DebitDecision::CredentialRevoked => {
            market.balance_hot().forget_credential(credential.id);
            Err(credentials::revoked())
        }
        DebitDecision::CredentialExpired { at } => Err(credentials::expired(at)),
        DebitDecision::Accepted(_) | DebitDecision::Repeat(_) | DebitDecision::ServiceChanged => {
            Err(MarketError::Internal(format!("debit decision {decision:?} is not a refusal")))
        }
    }
}

/// The cap per request of `credential`, checked before anything is debited.
pub(crate) fn check_request_cap(credential: &BalanceCredential, price: Usdc) -> Result<()> {
    if let Some(cap) = credential.max_per_request
        && price.to_u256() > cap
    {
        return Err(MarketError::refused(
            ErrorCode::BalanceCredentialCap,
            format!("the price {price} is over this credential's cap per request, {}", usdc(cap)),
        ));
    }
    Ok(())
}

/// Marks a fall-through 402 with the reason the balance did not pay.
pub(crate) fn mark_fall_through(mut response: Response, reason: &'static str) -> Response {
    response.headers_mut().insert(BALANCE_REFUSED_HEADER, HeaderValue::from_static(reason));
    response
}

/// The key this debit is accepted under, and a second one a repeat may carry. Keys belong to one credential: the
/// client's `Idempotency-Key` (1 to 200 visible ASCII characters) under this credential, else one derived from the
/// credential, what it buys (a service's or a product's id) and the brief, for this window of time
/// ([`derived_keys`]). Another of the agent's credentials sending the same key makes another purchase: it never
/// reads this one's.
pub(crate) fn idempotency_keys(
    headers: &HeaderMap,
    credential: &BalanceCredential,
    target: uuid::Uuid,
    brief: Option<&Value>,
) -> Result<(String, Option<String>)> {
    if let Some(value) = headers.get(IDEMPOTENCY_KEY_HEADER) {
        let key = value.to_str().ok().filter(|k| {
            (1..=200).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()) && !k.starts_with("derived:")
        });
        let key = key.ok_or_else(|| {
            MarketError::invalid(
                "Idempotency-Key",
                "Idempotency-Key is 1 to 200 visible ASCII characters, not starting with \"derived:\"",
            )
        })?;
        return Ok((format!("key:{}:{key}", credential.id.0), None));
    }
    let mut hash = Sha256::new();
    hash.update(credential.id.0.as_bytes());
    hash.update(target.as_bytes());
    if let Some(brief) = brief {
        hash.update(serde_json::to_vec(brief).unwrap_or_default());
    }
    let digest = alloy_primitives::hex::encode(hash.finalize());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (key, also) = derived_keys(&digest, now);
    Ok((key, Some(also)))
}

/// A derived key at unix second `now`: this window's, and the neighbouring window nearer to `now`, which a repeat
/// also matches. Two requests less than half a window apart (10 minutes), in either order and whichever process's
/// clock each read, always share one of their keys: the earlier one's window is this one or that neighbour. Requests
/// more than one and a half windows apart (30 minutes) never do.
fn derived_keys(digest: &str, now: u64) -> (String, String) {
    let window = now / DERIVED_WINDOW_SECS;
    let nearer =
        if now % DERIVED_WINDOW_SECS < DERIVED_WINDOW_SECS / 2 { window.saturating_sub(1) } else { window + 1 };
    (format!("derived:{digest}:{window}"), format!("derived:{digest}:{nearer}"))
}

/// A balance purchase as the API answers it.
fn view(market: &Market, service: &Service, debit: &BalanceDebit) -> Value {
    let fee = usdc(debit.debit.fee);
    let amount = usdc(debit.debit.amount);
    json!({
        "id": debit.id,
        "service_id": service.id.0,
        "service_type": service.service_type.as_str(),
        "paid_by": "balance",
        "payer": debit.debit.payer.to_checksum(None),
        "provider": debit.debit.provider.to_checksum(None),
        "amount": amount,
        "fee": fee,
        "provider_receives": amount.checked_sub(fee).unwrap_or(Usdc::ZERO),
        "debit": {
            "id": debit.debit.id.to_string(),
            "status": debit_status(debit),
            "tx_hash": debit.tx_hash.map(|tx| tx.to_string()),
            "failure_reason": debit.failure_reason,
        },
        "links": { "balance": format!("{}/v1/balance", market.public_base()) },
        "created_at": debit.created_at,
    })
}

/// A debit's status as the API names it: accepted (queued or in a batch not yet mined, or a balance-paid job's held
/// debit), applied, refused by the vault (its amount given back to the balance), or refunded (a balance-paid job's
/// hold ended unpaid: the provider failed or its deadline passed; its amount given back).
pub(crate) fn debit_status(debit: &BalanceDebit) -> &'static str {
    use clearing_ledger::SettlementStatus::{Confirmed, Expired, Failed, Settled};
    match debit.status {
        Settled | Confirmed => "applied",
        // A vault refusal is in a batch and carries its reason (from the receipt); a hold ends unposted, without one.
        Failed if debit.failure_reason.is_none() && debit.tx_hash.is_none() => "refunded",
        Failed | Expired => "refused",
        _ => "accepted",
    }
}

#[cfg(test)]
mod tests {
    use clearing_ledger::market::{CredentialId, ParticipantId};

    use super::*;

    fn credential() -> BalanceCredential {
        BalanceCredential {
            id: CredentialId(uuid::Uuid::new_v4()),
            participant_id: ParticipantId(uuid::Uuid::nil()),
            name: "worker".into(),
            max_per_request: None,
            max_per_day: None,
            services: None,
            expires_at: None,
            revoked_at: None,
            created_at: 0,
        }
    }

    #[test]
    fn a_client_key_belongs_to_its_credential() {
        let mut headers = HeaderMap::new();
        headers.insert(IDEMPOTENCY_KEY_HEADER, HeaderValue::from_static("order-17"));
        let target = uuid::Uuid::new_v4();
        let (one, two) = (credential(), credential());
        let key = |c: &BalanceCredential| idempotency_keys(&headers, c, target, None).unwrap();
        assert_eq!(key(&one), key(&one), "a retry under one credential repeats");
        assert_ne!(key(&one).0, key(&two).0, "another credential of the agent makes its own purchase");
        assert_eq!(key(&two).1, None);
    }

    #[test]
    fn derived_keys_of_requests_under_half_a_window_apart_always_meet() {
        let half = DERIVED_WINDOW_SECS / 2;
        let boundary = 1_800_000_000 / DERIVED_WINDOW_SECS * DERIVED_WINDOW_SECS;
        let meet = |first: u64, retry: u64| {
            let stored = derived_keys("d", first).0;
            let (key, also) = derived_keys("d", retry);
            stored == key || stored == also
        };
        for first in (boundary - 2 * DERIVED_WINDOW_SECS..boundary + 2 * DERIVED_WINDOW_SECS).step_by(7) {
            for gap in [0, 1, 60, half / 2, half - 1] {
                assert!(meet(first, first + gap), "a retry {gap} s after {first}");
                // The retry's clock behind the first's (another process), or its key made before the first's.
                assert!(meet(first, first - gap), "a retry {gap} s before {first}");
            }
            for gap in [3 * half + 1, 4 * half] {
                assert!(!meet(first, first + gap), "{gap} s later is another purchase");
            }
        }
    }
}
