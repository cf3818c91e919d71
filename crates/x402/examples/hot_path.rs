//! Times the verify hot path on one core: signature recovery alone, the digest alone, and a whole
//! `POST /verify` body (parse + digest + recover + checks). Run it optimised:
//! `cargo run -p clearing-x402 --release --example hot_path`.

use std::{hint::black_box, time::Instant};

use clearing_x402::{
    ExactEvmPayload, PayerSignature, PaymentPayloadV2, PaymentRequest, PaymentRequirementsV2, RawPayload, TokenDomain,
    VerifyOptions, Version, verify_exact,
};

/// The reference v2 client's Base payment (`tests/vectors/eip3009-x402.json`, `x402v2[0]`).
const PAYLOAD: &str = r#"{"authorization":{"from":"0xB23b8595b75f2E3772120593Eb256AEb660C6025","to":"0x72B1a530D64885cbFeAd1A4Ce11462855098B02C","value":"10000","validAfter":"0","validBefore":"1795246295","nonce":"0xb8a9c4c1a8989da7bddcf88daa4cf3f602386f78ff016edad986a88aee5f1708"},"signature":"0xe4c0780f712c1b2b78064892779357860474903766b010c4ae61539c34baab5734fd106d62376db13ba97c2a8acbdd0ba8d88c1a748ebceea41e9b7500d82b401b"}"#;
const NOW: u64 = 1_795_246_000;
const ROUNDS: u32 = 5_000;

fn per_op(label: &str, mut f: impl FnMut()) {
    for _ in 0..ROUNDS / 10 {
        f();
    }
    let start = Instant::now();
    for _ in 0..ROUNDS {
        f();
    }
    let micros = start.elapsed().as_secs_f64() * 1e6 / f64::from(ROUNDS);
    println!("{label:<44} {micros:>8.2} µs/op");
}

fn main() {
    let payload = ExactEvmPayload::from_json(PAYLOAD).expect("payload");
    let asset = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913".parse().expect("asset");
    let domain = TokenDomain::new(8453, asset, "USD Coin", "2");
    let requirements = PaymentRequirementsV2::exact(
        clearing_x402::Network::BASE,
        &domain,
        payload.authorization.value,
        payload.authorization.to,
        300,
    );
    let request = PaymentRequest::V2 {
        payload: PaymentPayloadV2 {
            x402_version: Version,
            payload: RawPayload::from_exact_evm(&payload),
            resource: None,
            accepted: requirements.clone(),
            extensions: None,
        },
        requirements,
    };
    let body = serde_json::to_string(&request).expect("body");
    let digest = domain.transfer_digest(&payload.authorization);
    let PayerSignature::Ecdsa(signature) = PayerSignature::parse(&payload.signature).expect("signature") else {
        panic!("not ECDSA");
    };
    let cached = [domain.clone()];

    per_op("k256 0.14 recover_from_prehash + address", || {
        black_box(signature.recover(black_box(&digest)).expect("recover"));
    });
    per_op("TransferWithAuthorization digest (cached domain)", || {
        black_box(domain.transfer_digest(black_box(&payload.authorization)));
    });
    per_op("domain separator (uncached)", || {
        black_box(TokenDomain::new(8453, asset, black_box("USD Coin"), "2"));
    });
    per_op("parse /verify body", || {
        black_box(PaymentRequest::from_json(black_box(&body)).expect("parse"));
    });
    per_op("parse /verify body + verify_exact (cached domain)", || {
        let request = PaymentRequest::from_json(black_box(&body)).expect("parse");
        black_box(verify_exact(&request, NOW, VerifyOptions::new().with_domains(&cached)).expect("verify"));
    });
}
