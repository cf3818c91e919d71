//! The arbiter's routes under `/v1/admin`: the split of a disputed job.
//!
//! The escrow pays out a dispute only on the word of the arbiter its terms name, so the route never decides anything
//! itself: it relays the arbiter's EIP-712 `Resolve(jobId, providerBps, deadline)` in a `stepMany` batch. The
//! signature is the arbiter's own (an off-line key: `GET` hands out the typed data, `POST` carries the signature), or
//! made here with `[market] arbiter_key` when the operator keeps that key on the server. Either way the route is
//! behind the arbiter's bearer token (`[market] arbiter_token`), and the job's status moves to `resolved` only when
//! the indexer has confirmed `JobResolved`.

use alloy::signers::SignerSync;
use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_sol_types::SolValue;
use axum::{
    Json, Router,
    extract::{FromRef, FromRequestParts, Path, RawQuery, State},
    http::{StatusCode, header::AUTHORIZATION, request::Parts},
    response::{IntoResponse, Response},
    routing::get,
};
use clearing_chain::JobTerms;
use clearing_ledger::{Action, StepKind, market::Job};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use tracing::info;

use super::{JobStatus, load, now, signed, status_of, view::JobView};
use crate::{ErrorCode, JsonBody, Market, MarketError, Result};

/// Largest provider share, bps.
const MAX_BPS: u16 = 10_000;
/// How long a signature made here stays valid, seconds: the batcher sends it within seconds.
const SIGNED_HERE_LIFETIME: u64 = 3_600;

/// The arbiter's routes.
pub(crate) fn routes() -> Router<Market> {
    Router::new().route("/admin/jobs/{id}/resolve", get(resolve_typed_data).post(resolve))
}

/// A request carrying the arbiter's bearer token.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Arbiter;

impl<S> FromRequestParts<S> for Arbiter
where
    Market: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = MarketError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        let market = Market::from_ref(state);
        let Some(expected) = &market.config().arbiter_token else {
            return Err(MarketError::refused(
                ErrorCode::ArbiterDisabled,
                "the arbiter's routes are off on this server: set [market] arbiter_token (or CLEARING_ARBITER_TOKEN)",
            ));
        };
        let Some(given) = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
        else {
            return Err(MarketError::refused(
                ErrorCode::MissingArbiterToken,
                "this route needs the arbiter's token in an `Authorization: Bearer <token>` header",
            ));
        };
        // Compared as digests, so the time taken says nothing about how much of the token matched.
        if Sha256::digest(given.trim().as_bytes()) != Sha256::digest(expected.expose().as_bytes()) {
            return Err(MarketError::refused(ErrorCode::InvalidArbiterToken, "the bearer token is not the arbiter's"));
        }
        Ok(Self)
    }
}

/// `POST /v1/admin/jobs/{id}/resolve`'s body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResolveRequest {
    /// The provider side's share of the amount, bps (0 refunds the payer in full, 10,000 pays the provider).
    provider_bps: u16,
    /// The arbiter's signature over the `Resolve` typed data; absent when the server holds the arbiter's key.
    #[serde(default)]
    signature: Option<Bytes>,
    /// The signature's deadline, unix seconds; required with `signature`.
    #[serde(default)]
    deadline: Option<u64>,
}

/// The disputed job `id`, its escrow id and the arbiter its terms name.
async fn disputed(market: &Market, id: &str) -> Result<(Job, B256, Address)> {
    let job = load(market, id).await?;
    let Some((job_id, terms)) = &job.new.escrow_job else {
        return Err(MarketError::refused(ErrorCode::TransitionNotAllowed, "a data_api purchase has no dispute"));
    };
    let current = status_of(&job);
    if current != JobStatus::Disputed {
        return Err(MarketError::refused(
            ErrorCode::TransitionNotAllowed,
            format!("only a disputed job is resolved; this one is {}", current.as_str()),
        ));
    }
    let arbiter =
        JobTerms::abi_decode(terms).map_err(|e| MarketError::Internal(format!("stored job terms: {e}")))?.arbiter;
    let job_id = job_id.0;
    Ok((job, job_id, arbiter))
}

fn check_bps(provider_bps: u16) -> Result<()> {
    if provider_bps > MAX_BPS {
        return Err(MarketError::invalid("provider_bps", format!("0 to {MAX_BPS}; this one is {provider_bps}")));
    }
    Ok(())
}

/// `GET /v1/admin/jobs/{id}/resolve?provider_bps=<bps>[&deadline=<unix seconds>]`: the typed data the arbiter signs.
async fn resolve_typed_data(
    State(market): State<Market>,
    _: Arbiter,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response> {
    let (mut provider_bps, mut deadline) = (None, None);
    for pair in query.as_deref().unwrap_or_default().split('&').filter(|pair| !pair.is_empty()) {
        let number = |field: &'static str, value: &str| {
            value.parse::<u64>().map_err(|_| MarketError::field(ErrorCode::InvalidQuery, field, "a whole number"))
        };
        match pair.split_once('=') {
            Some(("provider_bps", value)) => {
                provider_bps = Some(u16::try_from(number("provider_bps", value)?).unwrap_or(u16::MAX));
            }
            Some(("deadline", value)) => deadline = Some(number("deadline", value)?),
            _ => {
                return Err(MarketError::refused(
                    ErrorCode::InvalidQuery,
                    "the query parameters are provider_bps and deadline",
                ));
            }
        }
    }
    let Some(provider_bps) = provider_bps else {
        return Err(MarketError::field(ErrorCode::InvalidQuery, "provider_bps", "name the provider's share in bps"));
    };
    check_bps(provider_bps)?;
    let (job, job_id, arbiter) = disputed(&market, &id).await?;
    let deadline = deadline.unwrap_or(now() + SIGNED_HERE_LIFETIME);
    let data = signed::resolve_typed_data(job.new.chain_id, job.new.escrow, job_id, provider_bps, deadline);
    Ok(Json(json!({"job_id": job.new.id, "arbiter": arbiter.to_checksum(None), "typed_data": data})).into_response())
}

/// `POST /v1/admin/jobs/{id}/resolve`: relays the arbiter's split of a disputed job.
async fn resolve(
    State(market): State<Market>,
    _: Arbiter,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ResolveRequest>,
) -> Result<Response> {
    check_bps(body.provider_bps)?;
    let (job, job_id, arbiter) = disputed(&market, &id).await?;
    let (chain_id, escrow) = (job.new.chain_id, job.new.escrow);
    let (signature, deadline) = match (body.signature, body.deadline) {
        (Some(signature), Some(deadline)) => {
            signed::check_deadline(deadline, now())?;
            check_arbiter_signature(
                &signature,
                arbiter,
                signed::resolve_digest(chain_id, escrow, job_id, body.provider_bps, deadline),
            )?;
            (signature, deadline)
        }
        (Some(_), None) => {
            return Err(MarketError::field(ErrorCode::MissingField, "deadline", "a signature goes with its deadline"));
        }
        (None, _) => sign_here(&market, arbiter, chain_id, escrow, job_id, body.provider_bps)?,
    };
    let Some((escrow_job_id, terms)) = &job.new.escrow_job else {
        return Err(MarketError::Internal("a disputed job without escrow terms".into()));
    };
    let action = clearing_ledger::NewAction {
        chain_id,
        escrow,
        asset: job.new.asset,
        action: Action::Step {
            kind: StepKind::ResolveWithSig { provider_bps: body.provider_bps },
            job_id: *escrow_job_id,
            terms: terms.clone(),
            signed: Some((signature, U256::from(deadline))),
        },
    };
    let (queued, _) = market.ledger().enqueue_action(&action).await?;
    if let Action::Step { kind: StepKind::ResolveWithSig { provider_bps }, .. } = queued.action.action
        && provider_bps != body.provider_bps
    {
        return Err(MarketError::refused(
            ErrorCode::TransitionNotAllowed,
            format!("a resolution of {provider_bps} bps to the provider is already on its way for this job"),
        ));
    }
    info!(job = %id, provider_bps = body.provider_bps, "arbiter's resolution queued");
    Ok((StatusCode::ACCEPTED, Json(JobView::of(&market, &job))).into_response())
}

/// Checks a 65-byte signature recovers to `arbiter`; a longer one is a contract wallet's, for the chain to judge, up
/// to the bound every relayed signature keeps (a longer one could push its batch past what a node accepts).
fn check_arbiter_signature(signature: &Bytes, arbiter: Address, digest: B256) -> Result<()> {
    if signature.len() > super::signed::MAX_SIGNATURE_LEN {
        return Err(MarketError::field(
            ErrorCode::InvalidSignature,
            "signature",
            format!(
                "a signature of more than {} bytes is refused; this one has {}",
                super::signed::MAX_SIGNATURE_LEN,
                signature.len()
            ),
        ));
    }
    let Ok(bytes) = <&[u8; clearing_x402::ECDSA_SIGNATURE_LEN]>::try_from(signature.as_ref()) else {
        return Ok(());
    };
    let wrong = || {
        MarketError::field(
            ErrorCode::InvalidSignature,
            "signature",
            format!("the signature is not the arbiter's ({arbiter}) over this job's Resolve typed data"),
        )
    };
    let signer =
        clearing_x402::EcdsaSignature::from_bytes(bytes).map_err(|_| wrong())?.recover(&digest).map_err(|_| wrong())?;
    if signer != arbiter {
        return Err(wrong());
    }
    Ok(())
}

/// Signs the resolution with the server's arbiter key, which must be the key of the arbiter the job names.
fn sign_here(
    market: &Market,
    arbiter: Address,
    chain_id: u64,
    escrow: Address,
    job_id: B256,
    provider_bps: u16,
) -> Result<(Bytes, u64)> {
    let Some(signer) = market.arbiter_signer() else {
        return Err(MarketError::field(
            ErrorCode::MissingField,
            "signature",
            "this server holds no arbiter key: sign the typed data from GET and send signature and deadline",
        ));
    };
    if signer.address() != arbiter {
        return Err(MarketError::field(
            ErrorCode::MissingField,
            "signature",
            format!(
                "this job names the arbiter {arbiter}, whose key this server does not hold: send that arbiter's \
                 signature and deadline"
            ),
        ));
    }
    let deadline = now() + SIGNED_HERE_LIFETIME;
    let digest = signed::resolve_digest(chain_id, escrow, job_id, provider_bps, deadline);
    let signature = signer.sign_hash_sync(&digest).map_err(|e| MarketError::Internal(format!("signing: {e}")))?;
    Ok((Bytes::from(signature.as_bytes().to_vec()), deadline))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_longer_than_any_relayed_one_is_refused() {
        let refused = check_arbiter_signature(&Bytes::from(vec![7u8; 769]), Address::ZERO, B256::ZERO);
        assert!(refused.is_err_and(|e| e.to_string().contains("768 bytes")));
        // A contract wallet's (not 65 bytes) within the bound is the chain's to judge.
        check_arbiter_signature(&Bytes::from(vec![7u8; 100]), Address::ZERO, B256::ZERO).unwrap();
    }
}
