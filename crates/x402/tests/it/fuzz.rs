//! Property tests: no decoder panics on arbitrary input, and verification never panics on whatever parses.

use base64::Engine;
use clearing_x402::{
    EcdsaSignature, ExactEvmPayload, Network, PayerSignature, PaymentPayloadV1, PaymentPayloadV2, PaymentRequest,
    PaymentRequiredV1, PaymentRequiredV2, SettleResponse, SupportedResponse, VerifyOptions, VerifyResponse,
    decode_header, verify_exact,
};
use proptest::prelude::*;

use crate::vectors::{NOW, VECTORS, v1_request_json, v2_request_json};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Every header type, decoded from `value`.
fn decode_all(value: &str) {
    let _ = decode_header::<PaymentPayloadV1>(value);
    let _ = decode_header::<PaymentPayloadV2>(value);
    let _ = decode_header::<PaymentRequiredV1>(value);
    let _ = decode_header::<PaymentRequiredV2>(value);
    let _ = decode_header::<SettleResponse>(value);
    let _ = decode_header::<VerifyResponse>(value);
    let _ = decode_header::<SupportedResponse>(value);
}

/// Reference texts to mutate: request bodies, payloads and headers' JSON.
fn seeds() -> Vec<String> {
    let mut out: Vec<String> = VECTORS.x402v2.iter().map(|v| v2_request_json(v).to_string()).collect();
    out.extend(VECTORS.x402v1.iter().map(|v| v1_request_json(v).to_string()));
    out.extend(VECTORS.x402v2.iter().map(|v| v.payment_payload["payload"].to_string()));
    out
}

/// A seed with one character replaced and a span deleted.
fn mutated() -> impl Strategy<Value = String> {
    (0..seeds().len(), any::<prop::sample::Index>(), any::<char>(), 0usize..4).prop_map(|(seed, at, c, cut)| {
        let mut chars: Vec<char> = seeds()[seed].chars().collect();
        let i = at.index(chars.len());
        chars[i] = c;
        let end = (i + 1 + cut).min(chars.len());
        chars.drain(i + 1..end);
        chars.into_iter().collect()
    })
}

proptest! {
    #[test]
    fn decode_header_never_panics_on_strings(s in ".*") {
        decode_all(&s);
    }

    #[test]
    fn decode_header_never_panics_on_base64_of_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        decode_all(&b64(&bytes));
    }

    #[test]
    fn decode_header_never_panics_on_base64_of_near_json(text in mutated()) {
        decode_all(&b64(text.as_bytes()));
    }

    #[test]
    fn signature_parsing_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(PayerSignature::Ecdsa(sig)) = PayerSignature::parse(&bytes) {
            let _ = sig.recover(&alloy_primitives::keccak256(&bytes));
        }
    }

    #[test]
    fn every_65_bytes_parse_or_fail_cleanly_and_recover_or_fail_cleanly(
        bytes in prop::array::uniform32(any::<u8>()),
        s in prop::array::uniform32(any::<u8>()),
        v in any::<u8>(),
        digest in prop::array::uniform32(any::<u8>()),
    ) {
        let mut sig = [0u8; 65];
        sig[..32].copy_from_slice(&bytes);
        sig[32..64].copy_from_slice(&s);
        sig[64] = v;
        if let Ok(parsed) = EcdsaSignature::from_bytes(&sig) {
            prop_assert!(matches!(v, 0 | 1 | 27 | 28));
            prop_assert_eq!(parsed.to_bytes()[..64].to_vec(), sig[..64].to_vec());
            let _ = parsed.recover(&digest.into());
        }
    }

    #[test]
    fn network_parsing_never_panics(s in ".*") {
        if let Ok(network) = Network::parse(&s) {
            prop_assert_eq!(Network::parse(&network.caip2()).unwrap(), network);
        }
    }

    #[test]
    fn caip2_round_trips(id in 1u64..) {
        let network = Network::new(id);
        prop_assert_eq!(Network::parse(&format!("eip155:{id}")).unwrap(), network);
        prop_assert_eq!(network.to_string(), format!("eip155:{id}"));
    }

    #[test]
    fn payload_parsing_never_panics(s in ".*") {
        let _ = ExactEvmPayload::from_json(&s);
    }

    #[test]
    fn payload_parsing_never_panics_near_valid(text in mutated()) {
        let _ = ExactEvmPayload::from_json(&text);
    }

    #[test]
    fn decimal_fields_parse_exactly_the_decimals(value in "[0-9]{1,40}|.{0,12}") {
        let body = VECTORS.x402v2[0].payment_payload["payload"].to_string().replacen("\"10000\"", &serde_json::to_string(&value).unwrap(), 1);
        let parsed = ExactEvmPayload::from_json(&body);
        let is_decimal = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
        prop_assert_eq!(parsed.is_ok(), is_decimal);
        if let Ok(p) = parsed {
            prop_assert_eq!(p.authorization.value, value.parse::<alloy_primitives::U256>().unwrap());
        }
    }

    #[test]
    fn request_parsing_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = PaymentRequest::from_slice(&bytes);
    }

    #[test]
    fn verify_never_panics_on_whatever_parses(text in mutated(), now in prop_oneof![Just(NOW), any::<u64>()]) {
        if let Ok(request) = PaymentRequest::from_json(&text) {
            let _ = verify_exact(&request, now, VerifyOptions::new());
        }
    }
}
