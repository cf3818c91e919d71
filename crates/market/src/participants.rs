//! Participants and their keys: `POST /v1/register` and `POST /v1/participants/rotate-key` (both paid through x402),
//! `GET /v1/participants/{id}` (public, more for its owner) and `PUT /v1/participants/{id}` (its owner).
//!
//! The wallet is the payer the facilitator verified: the payment is the proof of it, so no request names a wallet.
//! Registering creates the wallet's participant and answers its API key and webhook secret, once; registering again
//! from that wallet verifies the payment (proving the wallet), settles nothing and answers the participant without
//! them (a lost key is replaced by rotating it). Two first registrations of one wallet at the same moment both pay
//! and make one participant; the second is answered as a registration again.

use alloy_primitives::Address;
use axum::{
    Router,
    extract::{OriginalUri, Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use clearing_ledger::market::{
    NewParticipant, Participant, ParticipantId, ParticipantKind, ProfileUpdate, Registration,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tracing::info;

use crate::{
    ApiKey, Authenticated, ErrorCode, JsonBody, Market, MarketError, Result, WebhookSecret,
    body::{nullable, text, texts},
    front_runs,
    webhook_url::check_webhook_url,
};

/// Most capabilities a participant lists.
const MAX_CAPABILITIES: usize = 50;
/// Longest capability, characters.
const MAX_CAPABILITY_LEN: usize = 100;

/// The participant routes.
pub(crate) fn routes() -> Router<Market> {
    Router::new()
        .route("/register", post(register))
        .route("/participants/rotate-key", post(rotate_key))
        .route("/participants/rotate-webhook-secret", post(rotate_webhook_secret))
        .route("/participants/{id}", get(profile).put(update_profile))
}

/// `POST /v1/register`'s body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterRequest {
    #[serde(rename = "type")]
    kind: ParticipantKind,
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    webhook_url: Option<String>,
    #[serde(default)]
    capabilities: Vec<String>,
}

/// `POST /v1/participants/rotate-key`'s body: whose key, when the payer's own participant is not meant.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RotateRequest {
    #[serde(default)]
    participant_id: Option<ParticipantId>,
}

/// `PUT /v1/participants/{id}`'s body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateRequest {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    webhook_url: Option<Option<String>>,
    #[serde(default)]
    capabilities: Option<Vec<String>>,
}

/// A participant as anyone sees it; its owner also sees the `owner` fields.
#[derive(Debug, Serialize)]
struct ProfileView<'a> {
    participant_id: ParticipantId,
    #[serde(rename = "type")]
    kind: ParticipantKind,
    wallet: String,
    name: &'a str,
    description: &'a str,
    capabilities: &'a [String],
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(flatten)]
    owner: Option<OwnerFields<'a>>,
}

#[derive(Debug, Serialize)]
struct OwnerFields<'a> {
    webhook_url: Option<&'a str>,
    api_key_prefix: &'a str,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    key_rotated_at: Option<OffsetDateTime>,
}

impl<'a> ProfileView<'a> {
    fn of(participant: &'a Participant, owner: bool) -> Self {
        Self {
            participant_id: participant.id,
            kind: participant.kind,
            wallet: participant.wallet.to_checksum(None),
            name: &participant.name,
            description: &participant.description,
            capabilities: &participant.capabilities,
            created_at: participant.created_at,
            owner: owner.then(|| OwnerFields {
                webhook_url: participant.webhook_url.as_deref(),
                api_key_prefix: &participant.api_key_prefix,
                updated_at: participant.updated_at,
                key_rotated_at: participant.key_rotated_at,
            }),
        }
    }
}

/// The answer to a first registration: the credentials, shown this once.
#[derive(Debug, Serialize)]
struct Registered<'a> {
    #[serde(flatten)]
    profile: ProfileView<'a>,
    api_key: &'a str,
    webhook_secret: &'a str,
    created: bool,
}

/// The answer to a registration of a wallet that has a participant.
#[derive(Debug, Serialize)]
struct AlreadyRegistered<'a> {
    #[serde(flatten)]
    profile: ProfileView<'a>,
    created: bool,
    message: &'static str,
}

/// What a registration again is told.
const ALREADY_REGISTERED: &str = "this wallet is already registered; nothing was charged. Its API key and webhook \
     secret are shown only once; to get a new key, POST /v1/participants/rotate-key";

/// The answer to a key rotation.
#[derive(Debug, Serialize)]
struct Rotated<'a> {
    participant_id: ParticipantId,
    api_key: &'a str,
    api_key_prefix: &'a str,
    #[serde(with = "time::serde::rfc3339::option")]
    key_rotated_at: Option<OffsetDateTime>,
}

async fn register(
    State(market): State<Market>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    JsonBody(request): JsonBody<RegisterRequest>,
) -> Result<Response> {
    // The body is checked before payment is asked for: nobody pays for a request that will be refused.
    let profile = NewProfile::check(&market, request)?;
    let edge = market.edge();
    let payment = edge.payment(market.register_price(), &uri, &headers)?;
    let verified = edge.verify(&payment).await?;
    if let Some(existing) = market.ledger().participant_by_wallet(verified.payer).await? {
        return Ok(already_registered(&existing));
    }
    let settled = front_runs::settle_fee(&market, &payment).await?;
    let (key, secret) = (ApiKey::generate()?, WebhookSecret::generate()?);
    let new = NewParticipant {
        id: ParticipantId::random(),
        wallet: settled.payer,
        kind: profile.kind,
        name: profile.name,
        description: profile.description,
        webhook_url: profile.webhook_url,
        capabilities: profile.capabilities,
        api_key_hash: key.hash(),
        api_key_prefix: key.prefix().to_owned(),
        webhook_secret: secret.expose().to_owned(),
        registration_nonce: verified.nonce,
    };
    let response = match market.ledger().register_participant(&new).await? {
        Registration::Created(participant) => {
            info!(participant = %participant.id, wallet = %participant.wallet, kind = %participant.kind, "market: registered");
            let body = Registered {
                profile: ProfileView::of(&participant, true),
                api_key: key.expose(),
                webhook_secret: secret.expose(),
                created: true,
            };
            (StatusCode::CREATED, axum::Json(body)).into_response()
        }
        // Another registration of this wallet committed first; this payment bought nothing new.
        Registration::Existing(existing) => already_registered(&existing),
    };
    Ok(settled.attach(response))
}

fn already_registered(participant: &Participant) -> Response {
    let body =
        AlreadyRegistered { profile: ProfileView::of(participant, false), created: false, message: ALREADY_REGISTERED };
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// A registration's profile, checked.
struct NewProfile {
    kind: ParticipantKind,
    name: String,
    description: String,
    webhook_url: Option<String>,
    capabilities: Vec<String>,
}

impl NewProfile {
    fn check(market: &Market, request: RegisterRequest) -> Result<Self> {
        Ok(Self {
            kind: request.kind,
            name: text("name", &request.name, 1, 100, false)?,
            description: text("description", &request.description, 0, 5_000, true)?,
            webhook_url: request.webhook_url.map(|url| webhook_url(market, &url)).transpose()?,
            capabilities: texts("capabilities", &request.capabilities, MAX_CAPABILITIES, MAX_CAPABILITY_LEN)?,
        })
    }
}

/// A webhook URL checked by [`check_webhook_url`].
fn webhook_url(market: &Market, url: &str) -> Result<String> {
    check_webhook_url(url.trim(), market.config().allow_private_webhooks).map(String::from).map_err(|problem| {
        let code = match problem {
            crate::webhook_url::WebhookUrlProblem::Private(_) => ErrorCode::PrivateWebhookUrl,
            _ => ErrorCode::InvalidField,
        };
        MarketError::field(code, "webhook_url", problem.to_string())
    })
}

async fn rotate_key(
    State(market): State<Market>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    key: Option<Authenticated>,
    JsonBody(request): JsonBody<RotateRequest>,
) -> Result<Response> {
    let edge = market.edge();
    let payment = edge.payment(market.rotate_key_price(), &uri, &headers)?;
    let verified = edge.verify(&payment).await?;
    // Whose key: the one named, else the presented key's participant, else the paying wallet's own.
    let target = match (request.participant_id, key) {
        (Some(id), _) => Some(market.ledger().participant(id).await?.ok_or_else(|| participant_not_found(id))?),
        (None, Some(Authenticated(participant))) => Some(participant),
        (None, None) => market.ledger().participant_by_wallet(verified.payer).await?,
    };
    let Some(participant) = target else {
        return Err(MarketError::refused(
            ErrorCode::NotRegistered,
            format!(
                "wallet {} has registered no participant (POST /v1/register first); nothing was charged",
                verified.payer
            ),
        ));
    };
    if participant.wallet != verified.payer {
        return Err(wallet_mismatch(participant.id, verified.payer));
    }
    let settled = front_runs::settle_fee(&market, &payment).await?;
    let key = ApiKey::generate()?;
    let rotated =
        market.ledger().rotate_api_key(participant.id, &key.hash(), key.prefix()).await?.ok_or_else(|| {
            MarketError::Internal(format!("participant {} vanished during its key rotation", participant.id))
        })?;
    info!(participant = %rotated.id, prefix = %rotated.api_key_prefix, "market: API key rotated");
    let body = Rotated {
        participant_id: rotated.id,
        api_key: key.expose(),
        api_key_prefix: &rotated.api_key_prefix,
        key_rotated_at: rotated.key_rotated_at,
    };
    Ok(settled.attach(axum::Json(body).into_response()))
}

/// `POST /v1/participants/rotate-webhook-secret`: a new signing secret for the caller's webhooks, shown once; the
/// old one signs nothing from now on. For a secret that leaked from a receiver's logs or config: whoever holds it
/// could otherwise sign deliveries the receiver would trust for as long as the participant exists.
async fn rotate_webhook_secret(State(market): State<Market>, Authenticated(me): Authenticated) -> Result<Response> {
    let secret = WebhookSecret::generate()?;
    if !market.ledger().rotate_webhook_secret(me.id, secret.expose()).await? {
        return Err(participant_not_found(me.id));
    }
    info!(participant = %me.id, "market: webhook secret rotated");
    let body = serde_json::json!({"participant_id": me.id, "webhook_secret": secret.expose()});
    Ok(axum::Json(body).into_response())
}

fn wallet_mismatch(participant: ParticipantId, payer: Address) -> MarketError {
    MarketError::refused(
        ErrorCode::WalletMismatch,
        format!(
            "only the wallet that registered participant {participant} may rotate its key; {payer} paid. Nothing was \
             charged"
        ),
    )
}

fn participant_not_found(id: ParticipantId) -> MarketError {
    MarketError::refused(ErrorCode::ParticipantNotFound, format!("no participant has id {id}"))
}

/// A participant id from the path; one that is no UUID names no participant.
fn parse_id(text: &str) -> Result<ParticipantId> {
    text.parse().map(ParticipantId).map_err(|_| {
        MarketError::refused(ErrorCode::ParticipantNotFound, format!("no participant has id {text:?} (ids are UUIDs)"))
    })
}

async fn profile(
    State(market): State<Market>,
    Path(id): Path<String>,
    viewer: Option<Authenticated>,
) -> Result<Response> {
    let id = parse_id(&id)?;
    let participant = market.ledger().participant(id).await?.ok_or_else(|| participant_not_found(id))?;
    let owner = viewer.is_some_and(|Authenticated(viewer)| viewer.id == id);
    Ok(axum::Json(ProfileView::of(&participant, owner)).into_response())
}

async fn update_profile(
    State(market): State<Market>,
    Path(id): Path<String>,
    Authenticated(me): Authenticated,
    JsonBody(request): JsonBody<UpdateRequest>,
) -> Result<Response> {
    let id = parse_id(&id)?;
    if id != me.id {
        return Err(MarketError::refused(
            ErrorCode::NotYourProfile,
            format!("the X-API-Key is participant {}'s; only participant {id} may change its profile", me.id),
        ));
    }
    let update = ProfileUpdate {
        name: request.name.map(|name| text("name", &name, 1, 100, false)).transpose()?,
        description: request.description.map(|d| text("description", &d, 0, 5_000, true)).transpose()?,
        webhook_url: match request.webhook_url {
            Some(Some(url)) => Some(Some(webhook_url(&market, &url)?)),
            Some(None) => Some(None),
            None => None,
        },
        capabilities: request
            .capabilities
            .map(|c| texts("capabilities", &c, MAX_CAPABILITIES, MAX_CAPABILITY_LEN))
            .transpose()?,
    };
    let updated = market.ledger().update_participant(id, &update).await?.ok_or_else(|| participant_not_found(id))?;
    // A provider's name shows in its catalog entries.
    market.catalog_changed();
    Ok(axum::Json(ProfileView::of(&updated, true)).into_response())
}
