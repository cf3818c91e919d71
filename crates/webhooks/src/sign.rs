//! The signature headers of one delivery, and endpoint secrets.
//!
//! Standard Webhooks (standardwebhooks.com, spec "Signature scheme"): `webhook-signature: v1,<base64 of
//! HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}")>`, the key being the bytes the base64 after `whsec_`
//! encodes, as the spec's reference libraries decode it.
//!
//! the402's legacy headers, for receivers written against it: `X-Webhook-Signature: sha256=<hex of
//! HMAC-SHA256(key, "{timestamp}.{body}")>` with `X-Webhook-Timestamp`. the402 hands each participant one secret
//! string and its receivers key the HMAC with that string's bytes, so the legacy key is the whole `whsec_...`
//! secret as UTF-8, not the decoded bytes (docs/WEBHOOKS.md).

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use clearing_ledger::WebhookSecret;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// Standard Webhooks: the event's id, the same on every attempt (an idempotency key for the receiver).
pub const WEBHOOK_ID: &str = "webhook-id";
/// Standard Webhooks: the attempt's time, unix seconds.
pub const WEBHOOK_TIMESTAMP: &str = "webhook-timestamp";
/// Standard Webhooks: `v1,<base64 signature>`.
pub const WEBHOOK_SIGNATURE: &str = "webhook-signature";
/// the402: the attempt's time, unix seconds (the same value as `webhook-timestamp`).
pub const LEGACY_TIMESTAMP: &str = "x-webhook-timestamp";
/// the402: `sha256=<hex signature>`.
pub const LEGACY_SIGNATURE: &str = "x-webhook-signature";

/// Random bytes in a generated secret: within Standard Webhooks' 24 to 64.
const SECRET_BYTES: usize = 32;

/// The signature headers of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    /// `webhook-id`.
    pub id: String,
    /// `webhook-timestamp` and `X-Webhook-Timestamp`, unix seconds.
    pub timestamp: u64,
    /// `webhook-signature`: `v1,<base64>`.
    pub signature: String,
    /// `X-Webhook-Signature`: `sha256=<hex>`.
    pub legacy_signature: String,
}

impl SignedHeaders {
    /// (name, value) of each header, lowercase names.
    pub fn pairs(&self) -> [(&'static str, String); 5] {
        let timestamp = self.timestamp.to_string();
        [
            (WEBHOOK_ID, self.id.clone()),
            (WEBHOOK_TIMESTAMP, timestamp.clone()),
            (WEBHOOK_SIGNATURE, self.signature.clone()),
            (LEGACY_TIMESTAMP, timestamp),
            (LEGACY_SIGNATURE, self.legacy_signature.clone()),
        ]
    }
}

/// Signs `body` sent as event `id` at `timestamp` (unix seconds) with `secret`.
pub fn sign(secret: &WebhookSecret, id: &str, timestamp: u64, body: &[u8]) -> SignedHeaders {
    let standard = hmac(secret.key(), &[id.as_bytes(), b".", timestamp.to_string().as_bytes(), b".", body]);
    let legacy = hmac(secret.expose().as_bytes(), &[timestamp.to_string().as_bytes(), b".", body]);
    SignedHeaders {
        id: id.to_owned(),
        timestamp,
        signature: format!("v1,{}", BASE64.encode(standard)),
        legacy_signature: format!("sha256={}", hex(&legacy)),
    }
}

/// A new endpoint secret: `whsec_` and the base64 of 32 bytes from the operating system's generator (through
/// `rand`'s thread-local CSPRNG, seeded and reseeded from it).
pub fn generate_secret() -> WebhookSecret {
    let mut key = [0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut key);
    WebhookSecret::from_key(&key).expect("32 bytes is within the secret's 24 to 64")
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Standard Webhooks' own test vector (the reference libraries' `test_sign`).
    #[test]
    fn the_reference_libraries_vector_signs_alike() {
        let secret = WebhookSecret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        let body = br#"{"email":"test@example.com","username":"test_user"}"#;
        let signed = sign(&secret, "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", 1_649_367_553, body);
        assert_eq!(signed.signature, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
    }

    #[test]
    fn generated_secrets_are_fresh_and_well_formed() {
        let (a, b) = (generate_secret(), generate_secret());
        assert_ne!(a, b);
        assert!(a.expose().starts_with("whsec_"));
        assert_eq!(a.key().len(), SECRET_BYTES);
        assert_eq!(WebhookSecret::parse(a.expose()), Some(a));
    }

    #[test]
    fn the_headers_share_one_timestamp() {
        let signed = sign(&generate_secret(), "msg_1", 1_700_000_000, b"{}");
        let pairs = signed.pairs();
        assert_eq!(pairs[1].1, "1700000000");
        assert_eq!(pairs[3].1, "1700000000");
        assert!(pairs[4].1.starts_with("sha256=") && pairs[4].1.len() == 7 + 64);
    }
}
