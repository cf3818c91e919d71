//! Reading a 402 answer and choosing what to pay.

use std::fmt;

use alloy::primitives::{Address, U256};
use clearing_x402::{
    Network, PAYMENT_REQUIRED, PaymentRequiredV1, PaymentRequiredV2, PaymentRequirementsV1, PaymentRequirementsV2,
    SCHEME_EXACT, X402Version, decode_header,
};

use crate::{Error, Result};

/// The requirements of a 402 answer, in the protocol version the server spoke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentRequired {
    /// A v1 JSON body.
    V1(PaymentRequiredV1),
    /// A v2 `PAYMENT-REQUIRED` header.
    V2(PaymentRequiredV2),
}

impl PaymentRequired {
    /// Reads a 402 answer: the v2 `PAYMENT-REQUIRED` header when present (v2 servers may also send a body), else
    /// the body as a v1 `{x402Version: 1, accepts: [...]}`.
    pub fn from_response(required_header: Option<&[u8]>, body: &[u8]) -> Result<Self> {
        if let Some(header) = required_header {
            return decode_header::<PaymentRequiredV2>(header)
                .map(Self::V2)
                .map_err(|e| Error::UnreadableRequirements(format!("the {PAYMENT_REQUIRED} header: {e}")));
        }
        serde_json::from_slice::<PaymentRequiredV1>(body).map(Self::V1).map_err(|e| {
            Error::UnreadableRequirements(format!(
                "no {PAYMENT_REQUIRED} header, and the body is not a v1 402 body ({e})"
            ))
        })
    }

    /// The protocol version.
    pub const fn version(&self) -> X402Version {
        match self {
            Self::V1(_) => X402Version::V1,
            Self::V2(_) => X402Version::V2,
        }
    }

    /// How many payment options the answer lists.
    pub fn len(&self) -> usize {
        match self {
            Self::V1(r) => r.accepts.len(),
            Self::V2(r) => r.accepts.len(),
        }
    }

    /// Whether the answer lists no payment option at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Each listed option read as an `exact` EVM offer, or why it cannot be one.
    pub fn offers(&self) -> Vec<std::result::Result<Offer, Refusal>> {
        match self {
            Self::V1(r) => r.accepts.iter().enumerate().map(|(i, q)| Offer::from_v1(i, q)).collect(),
            Self::V2(r) => r.accepts.iter().enumerate().map(|(i, q)| Offer::from_v2(i, q)).collect(),
        }
    }
}

/// One `exact` EVM payment option, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// Its position in the 402's `accepts`.
    pub index: usize,
    /// The chain.
    pub network: Network,
    /// The token contract.
    pub asset: Address,
    /// The payee.
    pub pay_to: Address,
    /// The price, atomic units of `asset`.
    pub amount: U256,
    /// How long the payment may take, seconds: the authorization is valid until now plus this.
    pub max_timeout_seconds: u64,
    /// The token's EIP-712 domain name (`extra.name`).
    pub token_name: String,
    /// The token's EIP-712 domain version (`extra.version`).
    pub token_version: String,
}

/// Why one payment option was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Its position in the 402's `accepts`.
    pub index: usize,
    /// Why, in the payer's terms.
    pub reason: String,
}

impl Refusal {
    fn new(index: usize, reason: impl Into<String>) -> Self {
        Self { index, reason: reason.into() }
    }

    pub(crate) fn list(refusals: &[Self]) -> String {
        if refusals.is_empty() {
            return "the 402 lists no payment option".to_owned();
        }
        refusals.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "option {}: {}", self.index, self.reason)
    }
}

/// The fields both versions share, as strings from the wire.
struct WireOffer<'a> {
    scheme: &'a str,
    network: Option<Network>,
    network_name: &'a str,
    amount: &'a str,
    asset: &'a str,
    pay_to: &'a str,
    max_timeout_seconds: u64,
    extra: Option<&'a serde_json::Value>,
}

impl Offer {
    fn from_v1(index: usize, q: &PaymentRequirementsV1) -> std::result::Result<Self, Refusal> {
        Self::from_wire(
            index,
            WireOffer {
                scheme: &q.scheme,
                network: Network::from_v1_name(&q.network),
                network_name: &q.network,
                amount: &q.max_amount_required,
                asset: &q.asset,
                pay_to: &q.pay_to,
                max_timeout_seconds: q.max_timeout_seconds,
                extra: q.extra.as_ref(),
            },
        )
    }

    fn from_v2(index: usize, q: &PaymentRequirementsV2) -> std::result::Result<Self, Refusal> {
        Self::from_wire(
            index,
            WireOffer {
                scheme: &q.scheme,
                network: Network::from_caip2(&q.network),
                network_name: &q.network,
                amount: &q.amount,
                asset: &q.asset,
                pay_to: &q.pay_to,
                max_timeout_seconds: q.max_timeout_seconds,
                extra: q.extra.as_ref(),
            },
        )
    }

    fn from_wire(index: usize, w: WireOffer<'_>) -> std::result::Result<Self, Refusal> {
        let refuse = |reason: String| Refusal::new(index, reason);
        if w.scheme != SCHEME_EXACT {
            return Err(refuse(format!("scheme {:?} is not supported (only \"exact\")", w.scheme)));
        }
        let network = w.network.ok_or_else(|| refuse(format!("network {:?} is not an EVM network", w.network_name)))?;
        let amount = U256::from_str_radix(w.amount, 10)
            .map_err(|_| refuse(format!("amount {:?} is not a decimal number of atomic units", w.amount)))?;
        let asset = w.asset.parse().map_err(|_| refuse(format!("asset {:?} is not an address", w.asset)))?;
        let pay_to = w.pay_to.parse().map_err(|_| refuse(format!("payTo {:?} is not an address", w.pay_to)))?;
        let field = |name: &str| w.extra.and_then(|extra| extra.get(name)).and_then(|v| v.as_str()).map(str::to_owned);
        let (Some(token_name), Some(token_version)) = (field("name"), field("version")) else {
            return Err(refuse(
                "extra.name and extra.version (the token's EIP-712 domain) are missing, so it cannot be signed".into(),
            ));
        };
        Ok(Self {
            index,
            network,
            asset,
            pay_to,
            amount,
            max_timeout_seconds: w.max_timeout_seconds,
            token_name,
            token_version,
        })
    }
}

/// What a payer agrees to pay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The most one payment may cost, atomic units of the token.
    pub max_amount: U256,
    /// The networks the payer pays on; empty means any.
    pub networks: Vec<Network>,
}

impl Policy {
    /// Any network, at most `max_amount` atomic units per payment.
    pub fn at_most(max_amount: U256) -> Self {
        Self { max_amount, networks: Vec::new() }
    }

    /// The same policy restricted to `networks`.
    #[must_use]
    pub fn on(mut self, networks: impl IntoIterator<Item = Network>) -> Self {
        self.networks = networks.into_iter().collect();
        self
    }

    /// The cheapest option of `required` this policy accepts (the first listed among equals), or every reason
    /// none is.
    pub fn choose(&self, required: &PaymentRequired) -> Result<Offer> {
        let mut refusals = Vec::new();
        let mut best: Option<Offer> = None;
        for offer in required.offers() {
            match offer.and_then(|o| self.accept(o)) {
                Ok(o) if best.as_ref().is_none_or(|b| o.amount < b.amount) => best = Some(o),
                Ok(_) => {}
                Err(refusal) => refusals.push(refusal),
            }
        }
        best.ok_or(Error::NothingPayable(refusals))
    }

    fn accept(&self, offer: Offer) -> std::result::Result<Offer, Refusal> {
        if !self.networks.is_empty() && !self.networks.contains(&offer.network) {
            return Err(Refusal::new(offer.index, format!("network {} is not one the payer pays on", offer.network)));
        }
        if offer.amount > self.max_amount {
            return Err(Refusal::new(
                offer.index,
                format!("the price {} is above the cap of {} atomic units", offer.amount, self.max_amount),
            ));
        }
        if offer.amount.is_zero() {
            return Err(Refusal::new(offer.index, "the price is zero: nothing to authorize"));
        }
        Ok(offer)
    }
}

#[cfg(test)]
mod tests {
    use clearing_x402::encode_header;

    use super::*;

    const V1: &str = r#"{"x402Version":1,"error":"X-PAYMENT header is required","accepts":[{"scheme":"exact","network":"base-sepolia","maxAmountRequired":"10000","resource":"http://127.0.0.1:4021/weather","description":"weather","mimeType":"application/json","payTo":"0x0c9f478c4490b13b1f01da8407b7364c894b9614","maxTimeoutSeconds":300,"asset":"0x036CbD53842c5426634e7929541eC2318f3dCF7e","extra":{"name":"USDC","version":"2"}}]}"#;
    const V2: &str = r#"{"x402Version":2,"resource":{"url":"http://127.0.0.1:4021/weather"},"accepts":[{"scheme":"upto","network":"eip155:8453","amount":"1","asset":"0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913","payTo":"0x72B1a530D64885cbFeAd1A4Ce11462855098B02C","maxTimeoutSeconds":300},{"scheme":"exact","network":"eip155:8453","amount":"20000","asset":"0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913","payTo":"0x72B1a530D64885cbFeAd1A4Ce11462855098B02C","maxTimeoutSeconds":300,"extra":{"name":"USD Coin","version":"2"}},{"scheme":"exact","network":"eip155:8453","amount":"10000","asset":"0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913","payTo":"0x72B1a530D64885cbFeAd1A4Ce11462855098B02C","maxTimeoutSeconds":60,"extra":{"name":"USD Coin","version":"2"}},{"scheme":"exact","network":"solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp","amount":"1","asset":"x","payTo":"y","maxTimeoutSeconds":60}]}"#;

    fn v2() -> PaymentRequired {
        let header = encode_header(&serde_json::from_str::<serde_json::Value>(V2).unwrap()).unwrap();
        PaymentRequired::from_response(Some(header.as_bytes()), b"ignored").unwrap()
    }

    #[test]
    fn reads_v1_bodies_and_v2_headers() {
        let v1 = PaymentRequired::from_response(None, V1.as_bytes()).unwrap();
        assert_eq!(v1.version(), X402Version::V1);
        let offer = v1.offers().remove(0).unwrap();
        assert_eq!(offer.network, Network::BASE_SEPOLIA);
        assert_eq!(offer.amount, U256::from(10_000));
        assert_eq!((offer.token_name.as_str(), offer.token_version.as_str()), ("USDC", "2"));
        assert_eq!(v2().version(), X402Version::V2);
        assert_eq!(v2().len(), 4);
    }

    #[test]
    fn unreadable_answers_say_what_is_missing() {
        let err = PaymentRequired::from_response(None, b"<html>402</html>").unwrap_err().to_string();
        assert!(err.contains("no PAYMENT-REQUIRED header, and the body is not a v1 402 body"), "{err}");
        let err = PaymentRequired::from_response(Some(b"!!"), b"").unwrap_err().to_string();
        assert!(err.contains("the PAYMENT-REQUIRED header"), "{err}");
    }

    #[test]
    fn chooses_the_cheapest_payable_option_and_explains_the_rest() {
        let offer = Policy::at_most(U256::from(1_000_000)).choose(&v2()).unwrap();
        assert_eq!((offer.index, offer.amount, offer.max_timeout_seconds), (2, U256::from(10_000), 60));

        let capped = Policy::at_most(U256::from(5_000)).choose(&v2()).unwrap_err().to_string();
        assert!(capped.contains("none of the 4 payment options can be paid"), "{capped}");
        assert!(capped.contains("option 0: scheme \"upto\" is not supported"), "{capped}");
        assert!(capped.contains("option 1: the price 20000 is above the cap of 5000"), "{capped}");
        assert!(capped.contains("option 3: network \"solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp\""), "{capped}");

        let elsewhere = Policy::at_most(U256::MAX).on([Network::BASE_SEPOLIA]).choose(&v2()).unwrap_err().to_string();
        assert!(elsewhere.contains("is not one the payer pays on"), "{elsewhere}");
    }

    #[test]
    fn an_option_without_the_token_domain_cannot_be_signed() {
        let bare = V1.replace(r#","extra":{"name":"USDC","version":"2"}"#, "");
        let required = PaymentRequired::from_response(None, bare.as_bytes()).unwrap();
        let err = Policy::at_most(U256::MAX).choose(&required).unwrap_err().to_string();
        assert!(err.contains("extra.name and extra.version"), "{err}");
    }
}
