//! x402 v1 wire types: the JSON 402 body, its requirements, and the `X-PAYMENT` payload.
//!
//! Fields mirror the JSON exactly (strings stay strings) so a body re-encodes as it came; verification
//! ([`crate::verify_exact`]) turns them into typed values. Unknown fields are ignored on input; absent
//! optionals are omitted on output.

use alloy_primitives::{Address, U256};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Network, RawPayload, SCHEME_EXACT, TokenDomain, Version};

/// One way to pay, as a v1 402 body lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequirementsV1 {
    /// The payment scheme, e.g. `exact`.
    pub scheme: String,
    /// A v1 network name, e.g. `base-sepolia`.
    pub network: String,
    /// The price in atomic units of `asset`, a decimal string (exact payments must match it).
    pub max_amount_required: String,
    /// The URL of the paid resource.
    pub resource: String,
    /// What the payment buys.
    pub description: String,
    /// The resource's MIME type.
    pub mime_type: String,
    /// The resource's input/output schema, if described.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Value>,
    /// The payee.
    pub pay_to: String,
    /// How long the payment may take, in seconds.
    pub max_timeout_seconds: u64,
    /// The token contract.
    pub asset: String,
    /// Scheme extras; for `exact` on EVM the token's EIP-712 `name` and `version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<Value>,
}

impl PaymentRequirementsV1 {
    /// `exact` requirements for `amount` of the token of `domain` paid to `pay_to` on `network`, which must
    /// have a v1 name (`None` otherwise). `extra` carries the domain's name and version.
    pub fn exact(
        network: Network,
        domain: &TokenDomain,
        amount: U256,
        pay_to: Address,
        resource: impl Into<String>,
        max_timeout_seconds: u64,
    ) -> Option<Self> {
        Some(Self {
            scheme: SCHEME_EXACT.to_owned(),
            network: network.v1_name()?.to_owned(),
            max_amount_required: amount.to_string(),
            resource: resource.into(),
            description: String::new(),
            mime_type: String::new(),
            output_schema: None,
            pay_to: pay_to.to_checksum(None),
            max_timeout_seconds,
            asset: domain.token().to_checksum(None),
            extra: Some(crate::v2::eip712_extra(domain)),
        })
    }

    /// The same requirements with a description.
    #[must_use]
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// The same requirements with a MIME type.
    #[must_use]
    pub fn with_mime_type(mut self, mime_type: impl Into<String>) -> Self {
        self.mime_type = mime_type.into();
        self
    }
}

/// The JSON body of a v1 402 response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequiredV1 {
    /// Always 1.
    pub x402_version: Version<1>,
    /// Why payment is required (e.g. "X-PAYMENT header is required").
    pub error: String,
    /// The ways to pay.
    pub accepts: Vec<PaymentRequirementsV1>,
}

/// A v1 payment, as carried (base64 JSON) in `X-PAYMENT`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentPayloadV1 {
    /// Always 1.
    pub x402_version: Version<1>,
    /// The scheme paid with.
    pub scheme: String,
    /// The v1 network name paid on.
    pub network: String,
    /// The scheme's payload, verbatim.
    pub payload: RawPayload,
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = r#"{"x402Version":1,"error":"X-PAYMENT header is required","accepts":[{"scheme":"exact","network":"base-sepolia","maxAmountRequired":"10000","resource":"http://127.0.0.1:4021/weather","description":"weather","mimeType":"application/json","payTo":"0x0c9f478c4490b13b1f01da8407b7364c894b9614","maxTimeoutSeconds":300,"asset":"0x036CbD53842c5426634e7929541eC2318f3dCF7e","extra":{"name":"USDC","version":"2"}}]}"#;

    #[test]
    fn body_round_trips_byte_for_byte() {
        let body: PaymentRequiredV1 = serde_json::from_str(BODY).unwrap();
        assert_eq!(body.accepts[0].max_amount_required, "10000");
        assert_eq!(serde_json::to_string(&body).unwrap(), BODY);
    }

    #[test]
    fn unknown_fields_are_tolerated_and_versions_enforced() {
        let with_more = BODY.replacen("\"error\"", "\"future\":{\"x\":1},\"error\"", 1);
        assert!(serde_json::from_str::<PaymentRequiredV1>(&with_more).is_ok());
        let v2 = BODY.replacen("\"x402Version\":1", "\"x402Version\":2", 1);
        assert!(serde_json::from_str::<PaymentRequiredV1>(&v2).is_err());
    }

    #[test]
    fn exact_constructor() {
        let domain = TokenDomain::new(84532, Address::repeat_byte(1), "USDC", "2");
        let r = PaymentRequirementsV1::exact(Network::BASE_SEPOLIA, &domain, U256::from(5), Address::ZERO, "/x", 60)
            .unwrap()
            .with_description("d")
            .with_mime_type("text/plain");
        assert_eq!(r.network, "base-sepolia");
        assert_eq!(r.max_amount_required, "5");
        assert_eq!(r.extra, Some(serde_json::json!({"name":"USDC","version":"2"})));
        assert!(
            PaymentRequirementsV1::exact(Network::ANVIL, &domain, U256::from(5), Address::ZERO, "/x", 60).is_none()
        );
    }
}
