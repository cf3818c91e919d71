//! Signing an offer: the EIP-3009 authorization and the header that carries it.

use alloy::{
    primitives::{B256, U256},
    signers::{SignerSync, local::PrivateKeySigner},
};
use clearing_x402::{
    ExactEvmAuthorization, ExactEvmPayload, PAYMENT_SIGNATURE, PaymentPayloadV1, PaymentPayloadV2, RawPayload,
    SCHEME_EXACT, TokenDomain, Version, X_PAYMENT, encode_header,
};

use crate::{Error, Offer, PaymentRequired, Result};

/// How far before now the authorization becomes valid, seconds: as the reference EVM clients do (`now - 600`), so
/// a facilitator or chain whose clock runs behind the payer's still accepts it.
pub const VALID_AFTER_SKEW_SECS: u64 = 600;

/// A signed payment, ready to send.
#[derive(Clone, PartialEq, Eq)]
pub struct PaymentHeader {
    /// `PAYMENT-SIGNATURE` (v2) or `X-PAYMENT` (v1).
    pub name: &'static str,
    /// Base64 of the payment payload's JSON.
    pub value: String,
    /// What was signed.
    pub authorization: ExactEvmAuthorization,
}

impl std::fmt::Debug for PaymentHeader {
    // The header value is a bearer instrument until it settles: keep it out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaymentHeader")
            .field("name", &self.name)
            .field("value", &format_args!("<{} bytes>", self.value.len()))
            .field("authorization", &self.authorization)
            .finish()
    }
}

/// Signs `offer` (one of `required`'s options) as `signer`: a `transferWithAuthorization` of exactly the offer's
/// amount to its payee, valid from `now - VALID_AFTER_SKEW_SECS` until `now + max_timeout_seconds`, under `nonce`
/// (32 random bytes; [`Payer`](crate::Payer) draws a fresh one per payment). The header echoes the chosen
/// requirement verbatim, as the protocol asks.
pub fn sign_payment(
    signer: &PrivateKeySigner,
    required: &PaymentRequired,
    offer: &Offer,
    now: u64,
    nonce: B256,
) -> Result<PaymentHeader> {
    let authorization = ExactEvmAuthorization {
        from: signer.address(),
        to: offer.pay_to,
        value: offer.amount,
        valid_after: U256::from(now.saturating_sub(VALID_AFTER_SKEW_SECS)),
        valid_before: U256::from(now.saturating_add(offer.max_timeout_seconds)),
        nonce,
    };
    let domain = TokenDomain::new(offer.network.chain_id(), offer.asset, &offer.token_name, &offer.token_version);
    let signature =
        signer.sign_hash_sync(&domain.transfer_digest(&authorization)).map_err(|e| Error::Signing(e.to_string()))?;
    let payload =
        RawPayload::from_exact_evm(&ExactEvmPayload { authorization, signature: signature.as_bytes().to_vec().into() });
    let (name, value) = match required {
        PaymentRequired::V1(r) => {
            let chosen = &r.accepts[offer.index];
            let payment = PaymentPayloadV1 {
                x402_version: Version,
                scheme: SCHEME_EXACT.to_owned(),
                network: chosen.network.clone(),
                payload,
            };
            (X_PAYMENT, encode_header(&payment))
        }
        PaymentRequired::V2(r) => {
            let payment = PaymentPayloadV2 {
                x402_version: Version,
                payload,
                resource: Some(r.resource.clone()),
                accepted: r.accepts[offer.index].clone(),
                extensions: r.extensions.clone(),
            };
            (PAYMENT_SIGNATURE, encode_header(&payment))
        }
    };
    let value = value.map_err(|e| Error::Signing(format!("encoding the payment header: {e}")))?;
    Ok(PaymentHeader { name, value, authorization })
}

#[cfg(test)]
mod tests {
    use alloy::primitives::Address;
    use clearing_x402::{
        Network, PayerSignature, PaymentRequiredV2, PaymentRequirementsV2, ResourceInfo, decode_header,
    };

    use super::*;
    use crate::Policy;

    fn required(network: Network) -> PaymentRequired {
        let domain = TokenDomain::new(network.chain_id(), Address::repeat_byte(0x11), "USDC", "2");
        PaymentRequired::V2(PaymentRequiredV2 {
            x402_version: Version,
            error: None,
            resource: ResourceInfo::new("http://127.0.0.1/weather"),
            accepts: vec![PaymentRequirementsV2::exact(
                network,
                &domain,
                U256::from(10_000),
                Address::repeat_byte(2),
                60,
            )],
            extensions: None,
        })
    }

    #[test]
    fn a_v2_header_carries_a_signature_the_payer_recovers_from() {
        let signer = PrivateKeySigner::random();
        let required = required(Network::BASE_SEPOLIA);
        let offer = Policy::at_most(U256::from(10_000)).choose(&required).unwrap();
        let header = sign_payment(&signer, &required, &offer, 1_000_000, B256::repeat_byte(7)).unwrap();
        assert_eq!(header.name, PAYMENT_SIGNATURE);
        assert!(!format!("{header:?}").contains(&header.value));

        let payment: PaymentPayloadV2 = decode_header(&header.value).unwrap();
        let PaymentRequired::V2(r) = &required else { unreachable!() };
        assert_eq!(payment.accepted, r.accepts[0]);
        assert_eq!(payment.resource, Some(r.resource.clone()));
        let exact = payment.payload.exact_evm().unwrap();
        assert_eq!(exact.authorization, header.authorization);
        let a = exact.authorization;
        assert_eq!((a.from, a.to, a.value), (signer.address(), offer.pay_to, U256::from(10_000)));
        assert_eq!((a.valid_after, a.valid_before), (U256::from(999_400), U256::from(1_000_060)));
        assert_eq!(a.nonce, B256::repeat_byte(7));

        let domain = TokenDomain::new(84532, offer.asset, "USDC", "2");
        let PayerSignature::Ecdsa(ecdsa) = PayerSignature::parse(&exact.signature).unwrap() else {
            panic!("an EOA signature")
        };
        assert_eq!(ecdsa.recover(&domain.transfer_digest(&a)).unwrap(), signer.address());
    }

    #[test]
    fn a_v1_header_names_the_v1_network() {
        let signer = PrivateKeySigner::random();
        let domain = TokenDomain::new(84532, Address::repeat_byte(0x11), "USDC", "2");
        let accepts = vec![
            clearing_x402::PaymentRequirementsV1::exact(
                Network::BASE_SEPOLIA,
                &domain,
                U256::from(5),
                Address::repeat_byte(3),
                "http://x/y",
                30,
            )
            .unwrap(),
        ];
        let required = PaymentRequired::V1(clearing_x402::PaymentRequiredV1 {
            x402_version: Version,
            error: "X-PAYMENT header is required".into(),
            accepts,
        });
        let offer = Policy::at_most(U256::from(5)).choose(&required).unwrap();
        let header = sign_payment(&signer, &required, &offer, 100, B256::ZERO).unwrap();
        assert_eq!(header.name, X_PAYMENT);
        let payment: PaymentPayloadV1 = decode_header(&header.value).unwrap();
        assert_eq!((payment.scheme.as_str(), payment.network.as_str()), ("exact", "base-sepolia"));
        assert_eq!(payment.payload.exact_evm().unwrap().authorization.valid_after, U256::ZERO);
    }
}
