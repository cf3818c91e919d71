//! API keys, webhook secrets, and [`Authenticated`], the `X-API-Key` extractor.
//!
//! A key is `clr_` and 43 characters of unpadded base64url: 32 bytes from the operating system's CSPRNG. The ledger
//! stores only its SHA-256. A fast hash is enough here, where a password needs a slow one: a password is guessable,
//! so its hash must make each guess expensive; a key is 256 random bits, so no number of guesses at any speed finds
//! one, and a fast hash keeps authenticating a request to one hash and one index lookup. The first 12 characters
//! (`clr_` and 8 more, 48 bits) are kept in the clear as the key's visible prefix, for its owner and support to tell
//! keys apart. Neither keys nor secrets are ever logged: their `Debug` is redacted.

use std::fmt;

use axum::{
    extract::{FromRef, FromRequestParts, OptionalFromRequestParts},
    http::request::Parts,
};
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use clearing_ledger::market::Participant;
use sha2::{Digest, Sha256};

use crate::{ErrorCode, Market, MarketError, Result};

/// The header carrying an API key.
pub const API_KEY_HEADER: &str = "x-api-key";
/// Every API key starts with this.
pub const API_KEY_PREFIX: &str = "clr_";
/// Random bytes in a key and in a webhook secret.
const SECRET_BYTES: usize = 32;
/// Characters of a key: the prefix and 32 bytes in unpadded base64url.
const API_KEY_LEN: usize = API_KEY_PREFIX.len() + 43;
/// Characters of a key kept in the clear.
const VISIBLE_LEN: usize = API_KEY_PREFIX.len() + 8;

/// A new API key, to be shown once.
pub struct ApiKey(String);

impl ApiKey {
    /// A fresh key from the operating system's CSPRNG.
    pub fn generate() -> Result<Self> {
        let bytes = random_bytes()?;
        Ok(Self(format!("{API_KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))))
    }

    /// The key itself, for the one answer that shows it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the ledger stores in its place.
    pub fn hash(&self) -> [u8; 32] {
        hash_key(&self.0)
    }

    /// Its visible start (`clr_` and 8 characters).
    pub fn prefix(&self) -> &str {
        &self.0[..VISIBLE_LEN]
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({}…)", self.prefix())
    }
}

/// A Standard Webhooks signing secret: `whsec_` and the base64 of 32 random bytes.
pub struct WebhookSecret(String);

impl WebhookSecret {
    /// A fresh secret from the operating system's CSPRNG.
    pub fn generate() -> Result<Self> {
        Ok(Self(format!("whsec_{}", STANDARD.encode(random_bytes()?))))
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

pub(crate) fn random_bytes() -> Result<[u8; SECRET_BYTES]> {
    let mut bytes = [0u8; SECRET_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| MarketError::Internal(format!("the OS random source failed: {e}")))?;
    Ok(bytes)
}

/// SHA-256 of a presented key.
pub(crate) fn hash_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Whether `key` has a key's form; anything else is refused without a lookup.
fn well_formed(key: &str) -> bool {
    key.len() == API_KEY_LEN
        && key.starts_with(API_KEY_PREFIX)
        && key[API_KEY_PREFIX.len()..].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The participant whose current API key a request carries in `X-API-Key`. Missing or wrong: 401. Each
/// authenticated request is charged to the participant's rate limit (429 past it).
#[derive(Debug, Clone)]
pub struct Authenticated(pub Participant);

impl<S> FromRequestParts<S> for Authenticated
where
    Market: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = MarketError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        let market = Market::from_ref(state);
        let Some(value) = parts.headers.get(API_KEY_HEADER) else {
            return Err(MarketError::refused(
                ErrorCode::MissingApiKey,
                "this route needs your API key in the X-API-Key header (POST /v1/register gives one)",
            ));
        };
        let invalid = || {
            MarketError::refused(
                ErrorCode::InvalidApiKey,
                "the X-API-Key is not a current API key (a rotated key stops working at once)",
            )
        };
        let key = value.to_str().map_err(|_| invalid())?;
        if !well_formed(key) {
            return Err(invalid());
        }
        let participant = market.ledger().participant_by_key_hash(&hash_key(key)).await?.ok_or_else(invalid)?;
        market.limits().check_key(participant.id)?;
        Ok(Self(participant))
    }
}

/// An `X-API-Key` is optional on public routes (the owner sees more); one that is sent must be valid.
impl<S> OptionalFromRequestParts<S> for Authenticated
where
    Market: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = MarketError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Option<Self>> {
        if !parts.headers.contains_key(API_KEY_HEADER) {
            return Ok(None);
        }
        <Self as FromRequestParts<S>>::from_request_parts(parts, state).await.map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_has_its_form_and_is_stored_as_its_hash() {
        let key = ApiKey::generate().unwrap();
        assert_eq!(key.expose().len(), API_KEY_LEN);
        assert!(well_formed(key.expose()), "{}", key.expose());
        assert!(key.expose().starts_with(key.prefix()) && key.prefix().starts_with("clr_"));
        assert_eq!(key.prefix().len(), 12);
        assert_eq!(key.hash(), hash_key(key.expose()));
        assert_ne!(ApiKey::generate().unwrap().expose(), key.expose(), "each key is fresh");
        assert!(!format!("{key:?}").contains(&key.expose()[12..]), "Debug shows the prefix only");
    }

    #[test]
    fn only_well_formed_keys_are_looked_up() {
        let key = ApiKey::generate().unwrap();
        assert!(!well_formed(&key.expose()[1..]));
        assert!(!well_formed(&format!("{}=", key.expose())));
        assert!(!well_formed(&key.expose().replace("clr_", "sk_x")));
        assert!(!well_formed(""));
    }

    #[test]
    fn a_webhook_secret_is_standard_webhooks_form() {
        let secret = WebhookSecret::generate().unwrap();
        let encoded = secret.expose().strip_prefix("whsec_").unwrap();
        assert_eq!(STANDARD.decode(encoded).unwrap().len(), 32);
        assert_eq!(format!("{secret:?}"), "WebhookSecret(<redacted>)");
    }
}
