//! [`Price`]: what one paid route costs, the x402 v1 and v2 requirements it is offered as, the 402 that offers them
//! ([`Price::challenge`]), and the payment a retry carries read against them ([`Price::payment_request`]). Shared by
//! every resource server of ours: `clearing-paywall` (which settles through a facilitator over HTTP) and
//! `clearing-market` (which settles in-process); only the HTTP framing is theirs.

use std::fmt;

use alloy_primitives::{Address, U256, address};

use crate::{
    Network, PaymentPayloadV1, PaymentPayloadV2, PaymentRequest, PaymentRequiredV1, PaymentRequiredV2,
    PaymentRequirementsV1, PaymentRequirementsV2, ResourceInfo, SCHEME_EXACT, TokenDomain, Version, decode_header,
};

/// How long a payment may take by default, in seconds (the reference resource servers' default).
pub const DEFAULT_MAX_TIMEOUT_SECONDS: u64 = 60;

/// USDC on Base mainnet: FiatToken v2.2, EIP-712 name "USD Coin", version "2" (docs/PROTOCOL.md, "USDC and EIP-3009").
pub const BASE_USDC: Address = address!("833589fCD6eDb6E08f4c7C32D4f71b54bdA02913");
/// USDC on Base Sepolia: EIP-712 name "USDC", version "2" (docs/PROTOCOL.md, "USDC and EIP-3009").
pub const BASE_SEPOLIA_USDC: Address = address!("036CbD53842c5426634e7929541eC2318f3dCF7e");

/// The price of a route: `amount` atomic units of an EIP-3009 token, paid to `pay_to` with the `exact` scheme.
///
/// The token's EIP-712 domain (chain id, address, name, version) decides the network and rides in the
/// requirements' `extra`, so clients can sign for tokens they do not know (e.g. a local MockUSDC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Price {
    amount: U256,
    domain: TokenDomain,
    pay_to: Address,
    description: String,
    mime_type: String,
    max_timeout_seconds: u64,
    resource: Option<String>,
}

impl Price {
    /// `amount` atomic units of the token of `domain`, paid to `pay_to`. No description, MIME type
    /// `application/json`, [`DEFAULT_MAX_TIMEOUT_SECONDS`], and the resource URL taken from each request.
    pub fn new(amount: U256, domain: TokenDomain, pay_to: Address) -> Self {
        Self {
            amount,
            domain,
            pay_to,
            description: String::new(),
            mime_type: "application/json".to_owned(),
            max_timeout_seconds: DEFAULT_MAX_TIMEOUT_SECONDS,
            resource: None,
        }
    }

    /// `amount` atomic units of Circle's USDC on Base or Base Sepolia (6 decimals: 10,000 is one cent); `None`
    /// on any other network.
    pub fn usdc(network: Network, amount: U256, pay_to: Address) -> Option<Self> {
        let (token, name) = match network {
            Network::BASE => (BASE_USDC, "USD Coin"),
            Network::BASE_SEPOLIA => (BASE_SEPOLIA_USDC, "USDC"),
            _ => return None,
        };
        Some(Self::new(amount, TokenDomain::new(network.chain_id(), token, name, "2"), pay_to))
    }

    /// The same price with a description of what it buys.
    #[must_use]
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// The same price for a resource of this MIME type.
    #[must_use]
    pub fn with_mime_type(mut self, mime_type: impl Into<String>) -> Self {
        self.mime_type = mime_type.into();
        self
    }

    /// The same price with a payment time limit, seconds.
    #[must_use]
    pub const fn with_max_timeout_seconds(mut self, seconds: u64) -> Self {
        self.max_timeout_seconds = seconds;
        self
    }

    /// The same price advertising a fixed resource URL (e.g. the public `https://` URL behind a proxy) instead of
    /// one built from each request's URI and `Host` header.
    #[must_use]
    pub fn with_resource(mut self, url: impl Into<String>) -> Self {
        self.resource = Some(url.into());
        self
    }

    /// The amount, atomic units.
    pub const fn amount(&self) -> U256 {
        self.amount
    }

    /// The token's EIP-712 domain.
    pub const fn domain(&self) -> &TokenDomain {
        &self.domain
    }

    /// The network: the domain's chain.
    pub const fn network(&self) -> Network {
        Network::new(self.domain.chain_id())
    }

    /// The payee.
    pub const fn pay_to(&self) -> Address {
        self.pay_to
    }

    /// The fixed resource URL, if one was set.
    pub fn resource(&self) -> Option<&str> {
        self.resource.as_deref()
    }

    /// The v2 requirement (`PAYMENT-REQUIRED` `accepts[0]`; a v2 payment must echo it verbatim as `accepted`).
    pub fn requirements_v2(&self) -> PaymentRequirementsV2 {
        PaymentRequirementsV2::exact(self.network(), &self.domain, self.amount, self.pay_to, self.max_timeout_seconds)
    }

    /// The v1 requirement for `resource`, if the network has an x402 v1 name (v1 clients know no other).
    pub fn requirements_v1(&self, resource: &str) -> Option<PaymentRequirementsV1> {
        Some(
            PaymentRequirementsV1::exact(
                self.network(),
                &self.domain,
                self.amount,
                self.pay_to,
                resource,
                self.max_timeout_seconds,
            )?
            .with_description(&self.description)
            .with_mime_type(&self.mime_type),
        )
    }

    /// The v2 resource description for `url`.
    pub fn resource_info(&self, url: &str) -> ResourceInfo {
        let info = ResourceInfo::new(url);
        let info = if self.description.is_empty() { info } else { info.with_description(&self.description) };
        if self.mime_type.is_empty() { info } else { info.with_mime_type(&self.mime_type) }
    }

    /// The 402 asking for this price for `resource`, saying `error`, in both protocol versions at once: a server
    /// answers the v1 body and puts the v2 one in `PAYMENT-REQUIRED`, so either kind of client can pay.
    /// `v1.accepts` is empty when the network has no v1 name.
    pub fn challenge(&self, resource: &str, error: &str) -> Challenge {
        Challenge {
            v1: PaymentRequiredV1 {
                x402_version: Version,
                error: error.to_owned(),
                accepts: self.requirements_v1(resource).into_iter().collect(),
            },
            v2: PaymentRequiredV2 {
                x402_version: Version,
                error: Some(error.to_owned()),
                resource: self.resource_info(resource),
                accepts: vec![self.requirements_v2()],
                extensions: None,
            },
        }
    }

    /// The payment a request carries, as the facilitator request that verifies and settles it against this price:
    /// the `PAYMENT-SIGNATURE` header (v2) if there is one, else `X-PAYMENT` (v1). `None` when it carries neither;
    /// an error naming the problem (it becomes the 402's `error`) when the header does not decode or pays for other
    /// terms than this price's.
    pub fn payment_request(
        &self,
        payment_signature: Option<&[u8]>,
        x_payment: Option<&[u8]>,
        resource: &str,
    ) -> Option<Result<PaymentRequest, String>> {
        if let Some(value) = payment_signature {
            return Some(self.payment_v2(value));
        }
        Some(self.payment_v1(x_payment?, resource))
    }

    fn payment_v2(&self, value: &[u8]) -> Result<PaymentRequest, String> {
        let payload: PaymentPayloadV2 =
            decode_header(value).map_err(|e| format!("invalid {} header: {e}", crate::PAYMENT_SIGNATURE))?;
        let requirements = self.requirements_v2();
        if let Some(problem) = mismatch(&requirements, &payload.accepted) {
            return Err(problem);
        }
        Ok(PaymentRequest::V2 { payload, requirements })
    }

    fn payment_v1(&self, value: &[u8], resource: &str) -> Result<PaymentRequest, String> {
        let payload: PaymentPayloadV1 =
            decode_header(value).map_err(|e| format!("invalid {} header: {e}", crate::X_PAYMENT))?;
        let network = self.network();
        let requirements = self
            .requirements_v1(resource)
            .ok_or_else(|| format!("x402 v1 is not offered: {network} has no v1 network name; pay with x402 v2"))?;
        if payload.scheme != SCHEME_EXACT {
            return Err(format!("payment scheme {:?}, this route requires {SCHEME_EXACT:?}", payload.scheme));
        }
        if Network::parse(&payload.network).ok() != Some(network) {
            return Err(format!(
                "payment network {:?}, this route requires {:?}",
                payload.network, requirements.network
            ));
        }
        Ok(PaymentRequest::V1 { payload, requirements })
    }
}

/// A 402's content in both protocol versions ([`Price::challenge`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The JSON body (x402 v1).
    pub v1: PaymentRequiredV1,
    /// The `PAYMENT-REQUIRED` header's content (x402 v2, base64 JSON on the wire).
    pub v2: PaymentRequiredV2,
}

/// The first field in which a v2 payment's `accepted` differs from the route's requirement, as an error.
fn mismatch(ours: &PaymentRequirementsV2, accepted: &PaymentRequirementsV2) -> Option<String> {
    let differs = |field: &str, got: &dyn fmt::Debug, expected: &dyn fmt::Debug| {
        Some(format!("payment accepted {field} {got:?}, this route requires {expected:?}"))
    };
    if accepted.scheme != ours.scheme {
        return differs("scheme", &accepted.scheme, &ours.scheme);
    }
    if accepted.network != ours.network {
        return differs("network", &accepted.network, &ours.network);
    }
    if accepted.amount != ours.amount {
        return differs("amount", &accepted.amount, &ours.amount);
    }
    if accepted.asset != ours.asset {
        return differs("asset", &accepted.asset, &ours.asset);
    }
    if accepted.pay_to != ours.pay_to {
        return differs("payTo", &accepted.pay_to, &ours.pay_to);
    }
    if accepted.max_timeout_seconds != ours.max_timeout_seconds {
        return differs("maxTimeoutSeconds", &accepted.max_timeout_seconds, &ours.max_timeout_seconds);
    }
    if accepted.extra != ours.extra {
        let show = |extra: &Option<serde_json::Value>| extra.as_ref().map_or("none".to_owned(), ToString::to_string);
        return differs("extra", &show(&accepted.extra), &show(&ours.extra));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usdc_on_base_and_base_sepolia_only() {
        let pay_to = Address::repeat_byte(7);
        let base = Price::usdc(Network::BASE, U256::from(10_000), pay_to).unwrap();
        assert_eq!(base.network(), Network::BASE);
        assert!(base.domain().is(8453, BASE_USDC, "USD Coin", "2"));
        let v2 = base.requirements_v2();
        assert_eq!(v2.network, "eip155:8453");
        assert_eq!(v2.amount, "10000");
        assert_eq!(v2.asset, "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913");
        assert_eq!(v2.extra, Some(serde_json::json!({"name": "USD Coin", "version": "2"})));
        let sepolia = Price::usdc(Network::BASE_SEPOLIA, U256::from(1), pay_to).unwrap();
        assert!(sepolia.domain().is(84532, BASE_SEPOLIA_USDC, "USDC", "2"));
        assert!(Price::usdc(Network::ANVIL, U256::from(1), pay_to).is_none());
    }

    #[test]
    fn v1_only_where_the_network_has_a_v1_name() {
        let domain = TokenDomain::new(31337, Address::repeat_byte(1), "USDC", "2");
        let price = Price::new(U256::from(5), domain, Address::ZERO).with_description("d").with_max_timeout_seconds(9);
        assert!(price.requirements_v1("http://x/y").is_none());
        assert_eq!(price.requirements_v2().max_timeout_seconds, 9);
        let v1 = Price::usdc(Network::BASE_SEPOLIA, U256::from(5), Address::ZERO)
            .unwrap()
            .with_description("weather")
            .requirements_v1("http://x/weather")
            .unwrap();
        assert_eq!(v1.network, "base-sepolia");
        assert_eq!(v1.max_amount_required, "5");
        assert_eq!(v1.resource, "http://x/weather");
        assert_eq!(v1.description, "weather");
        assert_eq!(v1.mime_type, "application/json");
    }

    #[test]
    fn a_challenge_offers_both_versions_and_says_why() {
        let price = Price::usdc(Network::BASE_SEPOLIA, U256::from(10_000), Address::repeat_byte(7)).unwrap();
        let challenge = price.challenge("http://x/v1/register", "payment required");
        assert_eq!(challenge.v1.error, "payment required");
        assert_eq!(challenge.v1.accepts, vec![price.requirements_v1("http://x/v1/register").unwrap()]);
        assert_eq!(challenge.v2.error.as_deref(), Some("payment required"));
        assert_eq!(challenge.v2.accepts, vec![price.requirements_v2()]);
        assert_eq!(challenge.v2.resource.url, "http://x/v1/register");
        let anvil = Price::new(U256::from(1), TokenDomain::new(31337, Address::ZERO, "USDC", "2"), Address::ZERO);
        assert!(anvil.challenge("u", "e").v1.accepts.is_empty(), "no v1 name, no v1 offer");
    }

    #[test]
    fn a_payment_is_read_against_the_price_it_must_pay() {
        let price = Price::usdc(Network::BASE_SEPOLIA, U256::from(10_000), Address::repeat_byte(7)).unwrap();
        assert!(price.payment_request(None, None, "u").is_none(), "no header, no payment");
        let garbled = price.payment_request(Some(b"!"), None, "u").unwrap().unwrap_err();
        assert!(garbled.starts_with("invalid PAYMENT-SIGNATURE header"), "{garbled}");
        let payload = |accepted: PaymentRequirementsV2| PaymentPayloadV2 {
            x402_version: Version,
            payload: crate::RawPayload::from_json("{}").unwrap(),
            resource: None,
            accepted,
            extensions: None,
        };
        let ours = crate::encode_header(&payload(price.requirements_v2())).unwrap();
        let read = price.payment_request(Some(ours.as_bytes()), Some(b"ignored"), "u").unwrap().unwrap();
        assert!(matches!(read, PaymentRequest::V2 { requirements, .. } if requirements == price.requirements_v2()));
        let cheaper = Price::usdc(Network::BASE_SEPOLIA, U256::from(1), Address::repeat_byte(7)).unwrap();
        let other = crate::encode_header(&payload(cheaper.requirements_v2())).unwrap();
        let refused = price.payment_request(Some(other.as_bytes()), None, "u").unwrap().unwrap_err();
        assert_eq!(refused, "payment accepted amount \"1\", this route requires \"10000\"");
    }

    #[test]
    fn resource_info_omits_what_is_empty() {
        let price = Price::usdc(Network::BASE, U256::from(1), Address::ZERO).unwrap().with_mime_type("");
        assert_eq!(price.resource_info("u"), ResourceInfo::new("u"));
        let described = price.with_description("d").with_mime_type("text/plain");
        assert_eq!(
            described.resource_info("u"),
            ResourceInfo::new("u").with_description("d").with_mime_type("text/plain")
        );
    }
}
