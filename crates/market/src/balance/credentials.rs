//! Balance credentials: scoped, capped tokens that spend their owner's prepaid balance, sent as `X-BALANCE-AUTH`.
//!
//! An agent makes them with its API key (`POST /v1/balance/credentials`), each with an optional cap per request and
//! per UTC day, an optional list of the only services it buys, and an optional expiry; it lists and revokes them.
//! A token is `clb_` and 43 characters of unpadded base64url (32 random bytes), shown once; the ledger keeps its
//! SHA-256, as for API keys. The API key itself is refused in `X-BALANCE-AUTH`: a leaked credential can spend at
//! most what its caps allow, never rotate the key or change the profile.

use std::sync::Arc;

use alloy_primitives::U256;
use axum::{
    Json,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use clearing_ledger::market::{BalanceCredential, CredentialId, NewCredential, ServiceId};
use clearing_x402::Usdc;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::hot::Holder;
use crate::{
    API_KEY_PREFIX, Authenticated, ErrorCode, JsonBody, Market, MarketError, Result,
    auth::{hash_key, random_bytes},
};

/// The header carrying a balance credential.
pub const BALANCE_AUTH_HEADER: &str = "x-balance-auth";
/// Every balance credential starts with this.
pub const CREDENTIAL_PREFIX: &str = "clb_";
/// Characters of a credential.
const CREDENTIAL_LEN: usize = CREDENTIAL_PREFIX.len() + 43;
/// Most services one credential may be limited to.
const MAX_SERVICES: usize = 100;
/// Latest `expires_at`: 9999-12-31T23:59:59Z, well inside what PostgreSQL's timestamps hold.
const MAX_EXPIRES_AT: i64 = 253_402_300_799;

/// `POST /v1/balance/credentials`' body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateCredential {
    /// The owner's label.
    name: String,
    /// Largest debit, USDC.
    #[serde(default)]
    max_per_request: Option<Usdc>,
    /// Largest total per UTC day, USDC.
    #[serde(default)]
    max_per_day: Option<Usdc>,
    /// The only services it buys.
    #[serde(default)]
    services: Option<Vec<Uuid>>,
    /// Unix seconds after which it is refused.
    #[serde(default)]
    expires_at: Option<i64>,
}

pub(super) async fn create(
    State(market): State<Market>,
    caller: Authenticated,
    JsonBody(body): JsonBody<CreateCredential>,
) -> Result<Response> {
    let name = crate::body::text("name", &body.name, 1, 100, false)?;
    let name = name.as_str();
    let positive = |field: &str, value: Option<Usdc>| match value {
        Some(v) if v.is_zero() => {
            Err(MarketError::invalid(field, format!("{field} is above zero, or absent for no cap")))
        }
        _ => Ok(value.map(Usdc::to_u256)),
    };
    let max_per_request = positive("max_per_request", body.max_per_request)?;
    let max_per_day = positive("max_per_day", body.max_per_day)?;
    if let Some(services) = &body.services
        && (services.is_empty() || services.len() > MAX_SERVICES)
    {
        return Err(MarketError::invalid(
            "services",
            format!("services lists 1 to {MAX_SERVICES} service ids, or is absent for any service"),
        ));
    }
    let now = now();
    if let Some(expires_at) = body.expires_at
        && (expires_at <= now || expires_at > MAX_EXPIRES_AT)
    {
        return Err(MarketError::invalid(
            "expires_at",
            format!("expires_at is a unix time in the future, at most {MAX_EXPIRES_AT} (the end of 9999)"),
        ));
    }
    let token = format!("{CREDENTIAL_PREFIX}{}", URL_SAFE_NO_PAD.encode(random_bytes()?));
    let new = NewCredential {
        id: CredentialId(Uuid::new_v4()),
        participant_id: caller.0.id,
        token_hash: hash_key(&token),
        name: name.to_owned(),
        max_per_request,
        max_per_day,
        services: body.services.map(|ids| ids.into_iter().map(ServiceId).collect()),
        expires_at: body.expires_at,
    };
    let credential = market.ledger().insert_credential(&new).await?;
    let mut view = view(&credential);
    view["token"] = Value::String(token);
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

pub(super) async fn list(State(market): State<Market>, caller: Authenticated) -> Result<Json<Value>> {
    let credentials = market.ledger().credentials(caller.0.id).await?;
    Ok(Json(json!({ "credentials": credentials.iter().map(view).collect::<Vec<_>>() })))
}

pub(super) async fn revoke(
    State(market): State<Market>,
    caller: Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let not_found =
        || MarketError::refused(ErrorCode::CredentialNotFound, format!("you have no live balance credential {id}"));
    let parsed = id.parse::<Uuid>().map_err(|_| not_found())?;
    match market.ledger().revoke_credential(caller.0.id, CredentialId(parsed)).await? {
        true => {
            market.balance_hot().forget_credential(CredentialId(parsed));
            Ok(StatusCode::NO_CONTENT)
        }
        false => Err(not_found()),
    }
}

/// A credential as the API shows it (never its token).
fn view(credential: &BalanceCredential) -> Value {
    let usdc = |v: Option<U256>| v.map(|v| Usdc::from_atomic(u128::try_from(v).unwrap_or(u128::MAX)));
    json!({
        "id": credential.id.0,
        "name": credential.name,
        "max_per_request": usdc(credential.max_per_request),
        "max_per_day": usdc(credential.max_per_day),
        "services": credential.services.as_ref().map(|s| s.iter().map(|id| id.0).collect::<Vec<_>>()),
        "expires_at": credential.expires_at,
        "revoked_at": credential.revoked_at,
        "created_at": credential.created_at,
    })
}

/// The credential and owner `X-BALANCE-AUTH` names, if the header is present: refused (401) when it is not a live
/// credential, with the reason (unknown, revoked, expired, or an API key sent in its place). A credential found is
/// kept a minute ([`super::hot`]): its revocation is enforced by the debit itself, which reads it under a lock.
pub(crate) async fn from_headers(market: &Market, headers: &HeaderMap) -> Result<Option<Arc<Holder>>> {
    let Some(value) = headers.get(BALANCE_AUTH_HEADER) else { return Ok(None) };
    let token = value.to_str().unwrap_or_default().trim();
    if token.starts_with(API_KEY_PREFIX) {
        return Err(MarketError::refused(
            ErrorCode::InvalidBalanceCredential,
            "X-BALANCE-AUTH takes a balance credential (clb_...), never your API key: make one with \
             POST /v1/balance/credentials",
        ));
    }
    let unknown = || {
        MarketError::refused(
            ErrorCode::InvalidBalanceCredential,
            "X-BALANCE-AUTH is not a balance credential of this marketplace",
        )
    };
    let well_formed = token.len() == CREDENTIAL_LEN
        && token.starts_with(CREDENTIAL_PREFIX)
        && token[CREDENTIAL_PREFIX.len()..].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return Err(unknown());
    }
    let hash = hash_key(token);
    let holder = match market.balance_hot().holder(&hash) {
        Some(holder) => holder,
        None => {
            let credential = market.ledger().credential_by_hash(&hash).await?.ok_or_else(unknown)?;
            let owner = market.ledger().participant(credential.participant_id).await?.ok_or_else(unknown)?;
            market.balance_hot().keep_holder(hash, Holder { credential, owner })
        }
    };
    if holder.credential.revoked_at.is_some() {
        return Err(revoked());
    }
    if let Some(expires_at) = holder.credential.expires_at
        && expires_at <= now()
    {
        return Err(expired(expires_at));
    }
    market.limits().check_key(holder.owner.id)?;
    Ok(Some(holder))
}

/// A revoked credential's refusal.
pub(crate) fn revoked() -> MarketError {
    MarketError::refused(ErrorCode::BalanceCredentialRevoked, "this balance credential was revoked")
}

/// An expired credential's refusal.
pub(crate) fn expired(expires_at: i64) -> MarketError {
    MarketError::refused(
        ErrorCode::BalanceCredentialExpired,
        format!("this balance credential expired at unix time {expires_at}"),
    )
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
