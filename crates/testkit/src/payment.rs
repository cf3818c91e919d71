//! x402 payments as a payer makes them: what a resource server asks ([`Terms`]), signed by the product's client
//! (`clearing-client`'s [`sign_payment`]), and the `/verify` and `/settle` bodies that carry them.

use alloy::{
    primitives::{Address, B256, Bytes, U256},
    signers::local::PrivateKeySigner,
};
use clearing_chain::SettlePayment;
use clearing_client::{Offer, PaymentHeader, PaymentRequired, sign_payment};
use clearing_x402::{
    ExactEvmAuthorization, ExactEvmPayload, Network, PaymentPayloadV1, PaymentPayloadV2, PaymentRequest,
    PaymentRequiredV1, PaymentRequiredV2, PaymentRequirementsV1, PaymentRequirementsV2, ResourceInfo, TokenDomain,
    Version, decode_header,
};
use serde_json::Value;

use crate::sign::{now, settle_payment};

/// The resource every [`Terms`] asks payment for.
pub const RESOURCE: &str = "http://127.0.0.1/resource";
/// How long a payment may take unless told otherwise, seconds (the paywall's default).
pub const DEFAULT_MAX_TIMEOUT_SECONDS: u64 = 300;

/// What a resource server asks for: one `exact` requirement.
#[derive(Debug, Clone)]
pub struct Terms {
    /// The token, its chain and its EIP-712 name and version.
    pub domain: TokenDomain,
    /// The payee.
    pub pay_to: Address,
    /// The price, atomic units.
    pub amount: U256,
    /// How long the payment may take, seconds.
    pub max_timeout_seconds: u64,
}

impl Terms {
    /// `amount` of `domain`'s token to `pay_to`, within [`DEFAULT_MAX_TIMEOUT_SECONDS`].
    pub fn new(domain: TokenDomain, pay_to: Address, amount: u64) -> Self {
        Self { domain, pay_to, amount: U256::from(amount), max_timeout_seconds: DEFAULT_MAX_TIMEOUT_SECONDS }
    }

    /// The same terms within `seconds`.
    #[must_use]
    pub fn with_max_timeout(self, seconds: u64) -> Self {
        Self { max_timeout_seconds: seconds, ..self }
    }

    /// The chain.
    pub fn network(&self) -> Network {
        Network::new(self.domain.chain_id())
    }

    /// The v2 requirement.
    pub fn requirements(&self) -> PaymentRequirementsV2 {
        PaymentRequirementsV2::exact(self.network(), &self.domain, self.amount, self.pay_to, self.max_timeout_seconds)
    }

    /// The v1 requirement; only a network with a v1 name has one.
    pub fn requirements_v1(&self) -> PaymentRequirementsV1 {
        let network = self.network();
        PaymentRequirementsV1::exact(
            network,
            &self.domain,
            self.amount,
            self.pay_to,
            RESOURCE,
            self.max_timeout_seconds,
        )
        .unwrap_or_else(|| panic!("{network} has no v1 name"))
    }

    /// The 402 of a v2 resource server asking these terms, as the client reads it.
    pub fn required(&self) -> PaymentRequired {
        PaymentRequired::V2(PaymentRequiredV2 {
            x402_version: Version,
            error: None,
            resource: ResourceInfo::new(RESOURCE),
            accepts: vec![self.requirements()],
            extensions: None,
        })
    }

    /// The 402 of a v1 resource server asking these terms.
    pub fn required_v1(&self) -> PaymentRequired {
        PaymentRequired::V1(PaymentRequiredV1 {
            x402_version: Version,
            error: "X-PAYMENT header is required".to_owned(),
            accepts: vec![self.requirements_v1()],
        })
    }

    /// `payer`'s v2 payment of these terms, signed now.
    pub fn pay(&self, payer: &PrivateKeySigner) -> SignedPayment {
        pay(payer, &self.required())
    }

    /// `payer`'s v2 payment of these terms as signed at `now` (unix seconds).
    pub fn pay_at(&self, payer: &PrivateKeySigner, now: u64) -> SignedPayment {
        pay_at(payer, &self.required(), now)
    }

    /// `payer`'s v2 payment of these terms signed now, but valid until `valid_before` rather than for
    /// `maxTimeoutSeconds`: a payer that does not keep to the requirement's timeout.
    pub fn pay_until(&self, payer: &PrivateKeySigner, valid_before: u64) -> SignedPayment {
        let now = now();
        sign(payer, &self.required(), now, |offer| offer.max_timeout_seconds = valid_before.saturating_sub(now))
    }
}

/// `payer`'s payment of the first option `required` lists, signed now by `clearing-client` under a fresh random
/// nonce. The option need not be one a payer's policy would accept (a zero price, say): tests send those too.
pub fn pay(payer: &PrivateKeySigner, required: &PaymentRequired) -> SignedPayment {
    pay_at(payer, required, now())
}

/// [`pay`] as signed at `now` (unix seconds).
pub fn pay_at(payer: &PrivateKeySigner, required: &PaymentRequired, now: u64) -> SignedPayment {
    sign(payer, required, now, |_| {})
}

fn sign(
    payer: &PrivateKeySigner,
    required: &PaymentRequired,
    now: u64,
    adjust: impl FnOnce(&mut Offer),
) -> SignedPayment {
    let mut offer =
        required.offers().into_iter().next().expect("the 402 lists an option").expect("an exact EVM option");
    adjust(&mut offer);
    // 32 random bytes, from a fresh key (as the client draws its nonces).
    let nonce: B256 = PrivateKeySigner::random().to_bytes();
    let header = sign_payment(payer, required, &offer, now, nonce).expect("signing with a local key");
    SignedPayment { required: required.clone(), offer, header }
}

/// A payment `clearing-client` signed, with the 402 it answers.
#[derive(Debug, Clone)]
pub struct SignedPayment {
    /// What the resource server asked.
    pub required: PaymentRequired,
    /// The option paid, as signed.
    pub offer: Offer,
    /// The `PAYMENT-SIGNATURE` (v2) or `X-PAYMENT` (v1) header.
    pub header: PaymentHeader,
}

impl SignedPayment {
    /// What was signed.
    pub fn authorization(&self) -> &ExactEvmAuthorization {
        &self.header.authorization
    }

    /// The payer.
    pub fn payer(&self) -> Address {
        self.header.authorization.from
    }

    /// The EIP-3009 nonce.
    pub fn nonce(&self) -> B256 {
        self.header.authorization.nonce
    }

    /// The scheme payload the header carries.
    pub fn exact_evm(&self) -> ExactEvmPayload {
        let payload = match &self.required {
            PaymentRequired::V1(_) => self.payload_v1().payload,
            PaymentRequired::V2(_) => self.payload_v2().payload,
        };
        payload.exact_evm().expect("an exact EVM payload")
    }

    /// The signature.
    pub fn signature(&self) -> Bytes {
        self.exact_evm().signature
    }

    /// The authorization as `BatchSettler.settle` (or the token's `transferWithAuthorization`) takes it.
    pub fn settle_payment(&self) -> SettlePayment {
        settle_payment(self.authorization(), self.signature())
    }

    /// The v2 payment payload the header carries; panics for a v1 payment.
    pub fn payload_v2(&self) -> PaymentPayloadV2 {
        decode_header(&self.header.value).expect("a v2 payment header")
    }

    /// The v1 payment payload the header carries; panics for a v2 payment.
    pub fn payload_v1(&self) -> PaymentPayloadV1 {
        decode_header(&self.header.value).expect("a v1 payment header")
    }

    /// The `/verify` and `/settle` request a resource server sends: the payment against the requirement paid.
    pub fn request(&self) -> PaymentRequest {
        match &self.required {
            PaymentRequired::V1(r) => {
                PaymentRequest::V1 { payload: self.payload_v1(), requirements: r.accepts[self.offer.index].clone() }
            }
            PaymentRequired::V2(r) => self.request_against(r.accepts[self.offer.index].clone()),
        }
    }

    /// The v2 request presenting this payment against `requirements` (other than those paid, for a test of a
    /// mismatch).
    pub fn request_against(&self, requirements: PaymentRequirementsV2) -> PaymentRequest {
        PaymentRequest::V2 { payload: self.payload_v2(), requirements }
    }

    /// [`SignedPayment::request`] as JSON.
    pub fn body(&self) -> Value {
        serde_json::to_value(self.request()).expect("a request serializes")
    }

    /// [`SignedPayment::request`] as the bytes a resource server sends (keys in the wire types' order).
    pub fn body_string(&self) -> String {
        serde_json::to_string(&self.request()).expect("a request serializes")
    }

    /// [`SignedPayment::request_against`] as JSON.
    pub fn body_against(&self, requirements: PaymentRequirementsV2) -> Value {
        serde_json::to_value(self.request_against(requirements)).expect("a request serializes")
    }
}

#[cfg(test)]
mod tests {
    use clearing_x402::{PAYMENT_SIGNATURE, PayerSignature, X_PAYMENT};

    use super::*;

    fn terms(network: Network) -> Terms {
        let domain = TokenDomain::new(network.chain_id(), Address::repeat_byte(0x11), "USDC", "2");
        Terms::new(domain, Address::repeat_byte(0x7a), 1_000)
    }

    fn recovered(payment: &SignedPayment, domain: &TokenDomain) -> Address {
        let exact = payment.exact_evm();
        let PayerSignature::Ecdsa(ecdsa) = PayerSignature::parse(&exact.signature).unwrap() else { panic!("EOA") };
        ecdsa.recover(&domain.transfer_digest(&exact.authorization)).unwrap()
    }

    #[test]
    fn a_v2_body_parses_as_the_facilitator_reads_it_and_carries_the_payers_signature() {
        let payer = PrivateKeySigner::random();
        let terms = terms(Network::new(31337));
        let payment = terms.pay_at(&payer, 1_000_000);
        assert_eq!(payment.header.name, PAYMENT_SIGNATURE);

        let wire = payment.body_string();
        assert_eq!(PaymentRequest::from_json(&wire).unwrap(), payment.request());
        assert_eq!(serde_json::from_str::<Value>(&wire).unwrap(), payment.body());
        let parsed = PaymentRequest::from_json(&payment.body().to_string()).unwrap();
        assert_eq!(parsed.raw_payload().exact_evm().unwrap(), payment.exact_evm());
        let PaymentRequest::V2 { payload, requirements } = parsed else { panic!("v2") };
        assert_eq!(requirements, terms.requirements());
        assert_eq!(payload.accepted, requirements);
        let a = payment.authorization();
        assert_eq!((a.from, a.to, a.value), (payer.address(), terms.pay_to, terms.amount));
        assert_eq!((a.valid_after, a.valid_before), (U256::from(999_400), U256::from(1_000_300)));
        assert_eq!(recovered(&payment, &terms.domain), payer.address());
        assert_eq!(payment.settle_payment().signature, payment.signature());
    }

    #[test]
    fn a_v1_body_names_the_v1_network() {
        let payer = PrivateKeySigner::random();
        let payment = pay(&payer, &terms(Network::BASE_SEPOLIA).required_v1());
        assert_eq!(payment.header.name, X_PAYMENT);
        let body = payment.body();
        assert_eq!(
            (body["x402Version"].as_u64(), body["paymentPayload"]["network"].as_str()),
            (Some(1), Some("base-sepolia"))
        );
        let parsed = PaymentRequest::from_json(&body.to_string()).unwrap();
        assert_eq!(parsed.raw_payload().exact_evm().unwrap(), payment.exact_evm());
        assert_eq!(recovered(&payment, &terms(Network::BASE_SEPOLIA).domain), payer.address());
    }

    #[test]
    fn pay_until_signs_the_window_asked_and_body_against_keeps_the_payment() {
        let payer = PrivateKeySigner::random();
        let terms = terms(Network::new(31337));
        let until = now() + 3_600;
        let payment = terms.pay_until(&payer, until);
        assert_eq!(payment.authorization().valid_before, U256::from(until));
        assert_eq!(recovered(&payment, &terms.domain), payer.address());

        let other = Terms { amount: U256::from(2_000), ..terms.clone() }.requirements();
        let body = payment.body_against(other.clone());
        assert_eq!(body["paymentRequirements"]["amount"], "2000");
        assert_eq!(body["paymentPayload"]["accepted"]["amount"], "1000");
    }
}
