//! [`Price`]: what one route costs, and the x402 v1 and v2 requirements it is offered as.

use alloy_primitives::{Address, U256, address};
use clearing_x402::{Network, PaymentRequirementsV1, PaymentRequirementsV2, ResourceInfo, TokenDomain};

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
