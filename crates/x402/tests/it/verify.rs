//! The reference clients' payments verify at a fixed clock; each rejection reason is reachable from them.

use alloy_primitives::{Address, Bytes, U256};
use alloy_sol_types::SolValue;
use clearing_x402::{
    EIP6492_MAGIC, ExactEvmPayload, MAX_CLOCK_SKEW_SECS, Network, PayerCode, PayerSignature, PaymentPayloadV2,
    PaymentRequest, PaymentRequirementsV2, RawPayload, Reason, SignatureCheck, TokenDomain, VALID_BEFORE_MARGIN_SECS,
    VerifyOptions, Version, X402Version, verify_exact,
};
use serde_json::{Value, json};

use crate::vectors::{NOW, VECTORS, v1_request_json, v2_request_json};

fn parse(body: &Value) -> PaymentRequest {
    PaymentRequest::from_json(&body.to_string()).unwrap()
}

fn reason(body: &Value, now: u64, code: PayerCode) -> Reason {
    let options = VerifyOptions::new().with_payer_code(code);
    verify_exact(&parse(body), now, options).expect_err("should be rejected").reason
}

#[test]
fn every_reference_payment_verifies_inside_its_window() {
    let cases = VECTORS
        .x402v2
        .iter()
        .map(|v| (v2_request_json(v), v.payer, X402Version::V2))
        .chain(VECTORS.x402v1.iter().map(|v| (v1_request_json(v), v.payer, X402Version::V1)));
    for (body, payer, version) in cases {
        let request = parse(&body);
        let network = request.parsed_network().unwrap();
        for code in [PayerCode::Unknown, PayerCode::NoCode] {
            let ok = verify_exact(&request, NOW, VerifyOptions::new().with_payer_code(code)).unwrap();
            assert_eq!(ok.payer, payer);
            assert_eq!(ok.x402_version, version);
            assert_eq!(ok.network, network);
            assert_eq!(ok.signature_check, SignatureCheck::Recovered);
            assert!(matches!(ok.signature, PayerSignature::Ecdsa(_)));
            assert_eq!(ok.domain.transfer_digest(&ok.authorization), ok.digest);
            assert_eq!(ok.authorization.value, U256::from(10_000));
        }
        // With a cached domain the answer is the same.
        let first = verify_exact(&request, NOW, VerifyOptions::new()).unwrap();
        let cache = [first.domain.clone()];
        assert_eq!(verify_exact(&request, NOW, VerifyOptions::new().with_domains(&cache)).unwrap(), first);
    }
}

#[test]
fn v1_names_map_to_the_chains_the_v2_vectors_use() {
    let v1: Vec<_> = VECTORS.x402v1.iter().map(|v| parse(&v1_request_json(v)).parsed_network().unwrap()).collect();
    assert_eq!(v1, [Network::BASE_SEPOLIA, Network::BASE]);
    let v2: Vec<_> = VECTORS.x402v2.iter().map(|v| parse(&v2_request_json(v)).parsed_network().unwrap()).collect();
    assert_eq!(v2, [Network::BASE, Network::BASE_SEPOLIA, Network::ANVIL]);
}

#[test]
fn the_window_edges_use_the_six_second_margin() {
    let v = &VECTORS.x402v1[0];
    let mut body = v1_request_json(v);
    // The v1 client signs validAfter = now - 600: at that edge its validBefore lies 900 s ahead, so the
    // requirements' timeout is widened for this test alone.
    body["paymentRequirements"]["maxTimeoutSeconds"] = json!(900);
    let valid_after: u64 =
        v.payment_payload["payload"]["authorization"]["validAfter"].as_str().unwrap().parse().unwrap();
    let valid_before: u64 =
        v.payment_payload["payload"]["authorization"]["validBefore"].as_str().unwrap().parse().unwrap();
    let request = parse(&body);
    let verify = |now| verify_exact(&request, now, VerifyOptions::new()).map_err(|r| r.reason);
    assert!(verify(valid_after).is_ok());
    assert_eq!(verify(valid_after - 1), Err(Reason::ValidAfter));
    assert!(verify(valid_before - VALID_BEFORE_MARGIN_SECS).is_ok());
    assert_eq!(verify(valid_before - VALID_BEFORE_MARGIN_SECS + 1), Err(Reason::ValidBefore));
}

/// A v2 vector body with `edit` applied.
fn v2_edited(edit: impl FnOnce(&mut Value)) -> Value {
    let mut body = v2_request_json(&VECTORS.x402v2[0]);
    edit(&mut body);
    body
}

#[test]
fn each_pure_rejection_reason_from_a_reference_payment() {
    let other = "0x0000000000000000000000000000000000000001";
    let wrapped = {
        let inner: Bytes = VECTORS.x402v2[0].payment_payload["payload"]["signature"].as_str().unwrap().parse().unwrap();
        let wrapper = (Address::repeat_byte(0x64), Bytes::from_static(b"\x12\x34"), inner).abi_encode_params();
        format!("0x{}", alloy_primitives::hex::encode([wrapper, EIP6492_MAGIC.to_vec()].concat()))
    };
    let long = format!("0x{}", "11".repeat(100));
    let cases: Vec<(Reason, Value, u64)> = vec![
        (Reason::InvalidScheme, v2_edited(|b| b["paymentRequirements"]["scheme"] = json!("upto")), NOW),
        (Reason::InvalidScheme, v2_edited(|b| b["paymentPayload"]["accepted"]["scheme"] = json!("upto")), NOW),
        (
            Reason::InvalidPayload,
            v2_edited(|b| b["paymentPayload"]["payload"]["authorization"]["value"] = json!(10000)),
            NOW,
        ),
        (Reason::MissingEip712Domain, v2_edited(|b| b["paymentRequirements"]["extra"] = Value::Null), NOW),
        (Reason::MissingEip712Domain, v2_edited(|b| b["paymentRequirements"]["extra"]["version"] = json!("")), NOW),
        (Reason::UnsupportedNetwork, v2_edited(|b| b["paymentRequirements"]["network"] = json!("solana:mainnet")), NOW),
        (Reason::NetworkMismatch, v2_edited(|b| b["paymentRequirements"]["network"] = json!("base-sepolia")), NOW),
        (Reason::NetworkMismatch, v2_edited(|b| b["paymentPayload"]["accepted"]["network"] = json!("eip155:1")), NOW),
        // Another token name changes the domain, so the signature recovers someone else.
        (Reason::InvalidSignature, v2_edited(|b| b["paymentRequirements"]["extra"]["name"] = json!("USDC")), NOW),
        (Reason::InvalidSignature, v2_edited(|b| b["paymentRequirements"]["asset"] = json!(other)), NOW),
        (Reason::UndeployedSmartWallet, v2_edited(|b| b["paymentPayload"]["payload"]["signature"] = json!(long)), NOW),
        (
            Reason::Eip6492FactoryNotAllowed,
            v2_edited(|b| b["paymentPayload"]["payload"]["signature"] = json!(wrapped)),
            NOW,
        ),
        (Reason::InvalidPaymentRequirements, v2_edited(|b| b["paymentRequirements"]["asset"] = json!("usdc")), NOW),
        (Reason::RecipientMismatch, v2_edited(|b| b["paymentRequirements"]["payTo"] = json!(other)), NOW),
        (Reason::ValidBefore, v2_request_json(&VECTORS.x402v2[0]), 1_795_246_295 - VALID_BEFORE_MARGIN_SECS + 1),
        (Reason::ValidBeforeTooFar, v2_request_json(&VECTORS.x402v2[0]), 1_795_246_295 - 300 - MAX_CLOCK_SKEW_SECS - 1),
        (
            Reason::ValidAfter,
            {
                let mut body = v1_request_json(&VECTORS.x402v1[0]);
                body["paymentRequirements"]["maxTimeoutSeconds"] = json!(900);
                body
            },
            1_795_245_401,
        ),
        (Reason::ValueMismatch, v2_edited(|b| b["paymentRequirements"]["amount"] = json!("1000")), NOW),
        (Reason::AssetMismatch, v2_edited(|b| b["paymentPayload"]["accepted"]["asset"] = json!(other)), NOW),
    ];
    for (expected, body, now) in cases {
        assert_eq!(reason(&body, now, PayerCode::NoCode), expected, "{body}");
    }
}

#[test]
fn an_unrecovered_signature_needs_the_chain_unless_the_payer_has_no_code() {
    let body = v2_edited(|b| b["paymentRequirements"]["extra"]["name"] = json!("USDC"));
    let ok = verify_exact(&parse(&body), NOW, VerifyOptions::new()).unwrap();
    assert_eq!(ok.signature_check, SignatureCheck::NeedsContractCheck);
    assert!(matches!(ok.signature, PayerSignature::Contract(ref b) if b.len() == 65));
    // The digest is the one the contract wallet must be asked about.
    let domain = TokenDomain::new(8453, ok.domain.token(), "USDC", "2");
    assert_eq!(ok.digest, domain.transfer_digest(&ok.authorization));
    assert_eq!(reason(&body, NOW, PayerCode::NoCode), Reason::InvalidSignature);
}

#[test]
fn rejections_name_expected_and_got() {
    let body = v2_edited(|b| b["paymentRequirements"]["amount"] = json!("1000"));
    let rejection = verify_exact(&parse(&body), NOW, VerifyOptions::new()).unwrap_err();
    assert!(rejection.message.contains("10000") && rejection.message.contains("1000"), "{rejection}");
    assert_eq!(rejection.payer, Some(VECTORS.x402v2[0].payer));
    let body = v2_edited(|b| b["paymentRequirements"]["payTo"] = json!("0x0000000000000000000000000000000000000001"));
    let rejection = verify_exact(&parse(&body), NOW, VerifyOptions::new()).unwrap_err();
    assert!(rejection.message.contains("0x72B1a530D64885cbFeAd1A4Ce11462855098B02C"), "{rejection}");
}

#[test]
fn every_transfer_vector_verifies_as_an_x402_v2_payment() {
    let transfers = VECTORS.eip712.iter().filter(|v| v.primary_type == "TransferWithAuthorization");
    let mut n = 0;
    for v in transfers {
        let d = &v.domain;
        let domain = TokenDomain::new(d.chain_id, d.verifying_contract, &d.name, &d.version);
        let authorization = v.message.authorization();
        // These windows are the signer's, not a client's: the requirements' timeout allows them.
        let timeout = authorization.valid_before.saturating_to::<u64>().saturating_sub(NOW);
        let requirements = PaymentRequirementsV2::exact(
            Network::new(d.chain_id),
            &domain,
            authorization.value,
            authorization.to,
            timeout,
        );
        let payload = PaymentPayloadV2 {
            x402_version: Version,
            payload: RawPayload::from_exact_evm(&ExactEvmPayload { authorization, signature: v.signature.clone() }),
            resource: None,
            accepted: requirements.clone(),
            extensions: None,
        };
        let request = PaymentRequest::V2 { payload, requirements };
        let ok = verify_exact(&request, NOW, VerifyOptions::new().with_payer_code(PayerCode::NoCode)).unwrap();
        assert_eq!((ok.payer, ok.digest), (v.message.from, v.digest));
        n += 1;
    }
    assert_eq!(n, 18);
}
