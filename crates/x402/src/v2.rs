//! x402 v2 wire types: `PAYMENT-REQUIRED`, its requirements, and the `PAYMENT-SIGNATURE` payload.
//!
//! Fields mirror the JSON exactly, in the reference client's key order (so our encoding of a reference
//! header is byte-for-byte the same); unknown fields are ignored on input; absent optionals are omitted.

use alloy_primitives::{Address, U256};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Network, RawPayload, SCHEME_EXACT, TokenDomain, Version};

/// The resource a v2 402 (and payment) is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceInfo {
    /// The resource's URL.
    pub url: String,
    /// What the payment buys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The resource's MIME type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
}

impl ResourceInfo {
    /// A resource with only its URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into(), description: None, mime_type: None }
    }

    /// The same resource with a description.
    #[must_use]
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// The same resource with a MIME type.
    #[must_use]
    pub fn with_mime_type(mut self, mime_type: impl Into<String>) -> Self {
        self.mime_type = Some(mime_type.into());
        self
    }
}

/// One way to pay, as a v2 402 lists it (and a v2 payment echoes verbatim as `accepted`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequirementsV2 {
    /// The payment scheme, e.g. `exact`.
    pub scheme: String,
    /// A CAIP-2 network, e.g. `eip155:8453`.
    pub network: String,
    /// The price in atomic units of `asset`, a decimal string (exact payments must match it).
    pub amount: String,
    /// The token contract.
    pub asset: String,
    /// The payee.
    pub pay_to: String,
    /// How long the payment may take, in seconds.
    pub max_timeout_seconds: u64,
    /// Scheme extras; for `exact` on EVM the token's EIP-712 `name` and `version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Value>,
}

/// `{"name": .., "version": ..}`: the `extra` that lets an `exact` EVM client sign for a token.
pub(crate) fn eip712_extra(domain: &TokenDomain) -> Value {
    serde_json::json!({ "name": domain.name(), "version": domain.version() })
}

impl PaymentRequirementsV2 {
    /// `exact` requirements for `amount` of the token of `domain` paid to `pay_to` on `network`; `extra`
    /// carries the domain's name and version.
    pub fn exact(
        network: Network,
        domain: &TokenDomain,
        amount: U256,
        pay_to: Address,
        max_timeout_seconds: u64,
    ) -> Self {
        Self {
            scheme: SCHEME_EXACT.to_owned(),
            network: network.caip2(),
            amount: amount.to_string(),
            asset: domain.token().to_checksum(None),
            pay_to: pay_to.to_checksum(None),
            max_timeout_seconds,
            extra: Some(eip712_extra(domain)),
        }
    }
}

/// The v2 402 requirements, carried (base64 JSON) in `PAYMENT-REQUIRED`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequiredV2 {
    /// Always 2.
    pub x402_version: Version<2>,
    /// Why payment is required, or why the last one failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The resource.
    pub resource: ResourceInfo,
    /// The ways to pay.
    pub accepts: Vec<PaymentRequirementsV2>,
    /// Protocol extensions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<Value>,
}

/// A v2 payment, carried (base64 JSON) in `PAYMENT-SIGNATURE`. Key order is the reference client's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentPayloadV2 {
    /// Always 2.
    pub x402_version: Version<2>,
    /// The scheme's payload, verbatim.
    pub payload: RawPayload,
    /// The resource paid for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceInfo>,
    /// The requirement the client chose, echoed verbatim.
    pub accepted: PaymentRequirementsV2,
    /// Protocol extensions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extensions: Option<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUIRED: &str = r#"{"x402Version":2,"resource":{"url":"http://127.0.0.1:4021/weather","description":"weather","mimeType":"application/json"},"accepts":[{"scheme":"exact","network":"eip155:8453","amount":"10000","asset":"0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913","payTo":"0x72B1a530D64885cbFeAd1A4Ce11462855098B02C","maxTimeoutSeconds":300,"extra":{"name":"USD Coin","version":"2"}}]}"#;

    #[test]
    fn required_round_trips_byte_for_byte() {
        let r: PaymentRequiredV2 = serde_json::from_str(REQUIRED).unwrap();
        assert_eq!(r.accepts[0].amount, "10000");
        assert_eq!(r.error, None);
        assert_eq!(serde_json::to_string(&r).unwrap(), REQUIRED);
    }

    #[test]
    fn exact_constructor_matches_the_reference_shape() {
        let r: PaymentRequiredV2 = serde_json::from_str(REQUIRED).unwrap();
        let domain = TokenDomain::new(8453, r.accepts[0].asset.parse().unwrap(), "USD Coin", "2");
        let built = PaymentRequirementsV2::exact(
            Network::BASE,
            &domain,
            U256::from(10_000),
            r.accepts[0].pay_to.parse().unwrap(),
            300,
        );
        assert_eq!(built, r.accepts[0]);
        let resource = ResourceInfo::new("http://127.0.0.1:4021/weather")
            .with_description("weather")
            .with_mime_type("application/json");
        assert_eq!(resource, r.resource);
    }

    #[test]
    fn optional_resource_fields_may_be_absent() {
        let bare = r#"{"x402Version":2,"resource":{"url":"u"},"accepts":[],"error":"e","later":true}"#;
        let r: PaymentRequiredV2 = serde_json::from_str(bare).unwrap();
        assert_eq!(r.resource, ResourceInfo::new("u"));
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"x402Version":2,"error":"e","resource":{"url":"u"},"accepts":[]}"#
        );
    }
}
