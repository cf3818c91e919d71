use alloy_primitives::{address, keccak256};
use alloy_sol_types::SolValue;
use k256::ecdsa::SigningKey;

use super::*;
use crate::{
    EIP6492_MAGIC, ExactEvmPayload, PaymentPayloadV1, PaymentPayloadV2, PaymentRequirementsV1, PaymentRequirementsV2,
    Version,
};

const NOW: u64 = 1_800_000_000;
const ASSET: Address = address!("833589fCD6eDb6E08f4c7C32D4f71b54bdA02913");
const PAY_TO: Address = address!("72B1a530D64885cbFeAd1A4Ce11462855098B02C");

fn key(n: u8) -> SigningKey {
    SigningKey::from_slice(&[n; 32]).unwrap()
}

fn address_of(key: &SigningKey) -> Address {
    let point = key.verifying_key().to_sec1_point(false);
    Address::from_slice(&keccak256(&point.as_bytes()[1..])[12..])
}

fn sign(key: &SigningKey, digest: &B256) -> Bytes {
    let (signature, recovery_id) = key.sign_prehash_recoverable(digest.as_slice());
    let mut out = signature.to_bytes().to_vec();
    out.push(27 + recovery_id.to_byte());
    out.into()
}

fn domain() -> TokenDomain {
    TokenDomain::new(8453, ASSET, "USD Coin", "2")
}

/// Every knob a test can turn; `request()` signs whatever authorization results.
#[derive(Clone)]
struct Spec {
    payload_scheme: &'static str,
    scheme: &'static str,
    corrupt_payload: bool,
    extra: Option<Value>,
    payload_network: &'static str,
    network: &'static str,
    signer: u8,
    to: Address,
    pay_to: Address,
    valid_before: u64,
    valid_after: u64,
    value: u64,
    amount: &'static str,
    accepted_asset: Option<String>,
}

impl Spec {
    fn good() -> Self {
        Self {
            payload_scheme: "exact",
            scheme: "exact",
            corrupt_payload: false,
            extra: Some(serde_json::json!({"name": "USD Coin", "version": "2"})),
            payload_network: "eip155:8453",
            network: "eip155:8453",
            signer: 7,
            to: PAY_TO,
            pay_to: PAY_TO,
            valid_before: NOW + 300,
            valid_after: NOW - 10,
            value: 10_000,
            amount: "10000",
            accepted_asset: None,
        }
    }

    fn authorization(&self) -> ExactEvmAuthorization {
        ExactEvmAuthorization {
            from: address_of(&key(7)),
            to: self.to,
            value: U256::from(self.value),
            valid_after: U256::from(self.valid_after),
            valid_before: U256::from(self.valid_before),
            nonce: B256::repeat_byte(0x42),
        }
    }

    fn raw_payload(&self) -> RawPayload {
        if self.corrupt_payload {
            return RawPayload::from_json(r#"{"signature":"0x"}"#).unwrap();
        }
        let authorization = self.authorization();
        let signature = sign(&key(self.signer), &domain().transfer_digest(&authorization));
        RawPayload::from_exact_evm(&ExactEvmPayload { authorization, signature })
    }

    fn request(&self) -> PaymentRequest {
        let requirements = PaymentRequirementsV2 {
            scheme: self.scheme.to_owned(),
            network: self.network.to_owned(),
            amount: self.amount.to_owned(),
            asset: ASSET.to_string(),
            pay_to: self.pay_to.to_string(),
            max_timeout_seconds: 300,
            extra: self.extra.clone(),
        };
        let mut accepted = requirements.clone();
        accepted.scheme = self.payload_scheme.to_owned();
        accepted.network = self.payload_network.to_owned();
        if let Some(asset) = &self.accepted_asset {
            accepted.asset.clone_from(asset);
        }
        let payload = PaymentPayloadV2 {
            x402_version: Version,
            payload: self.raw_payload(),
            resource: None,
            accepted,
            extensions: None,
        };
        PaymentRequest::V2 { payload, requirements }
    }

    fn verify(&self, code: PayerCode) -> Result<VerifiedPayment, Rejection> {
        verify_exact(&self.request(), NOW, VerifyOptions::new().with_payer_code(code))
    }
}

#[test]
fn a_good_payment_verifies_with_every_payer_code_but_has_code() {
    let spec = Spec::good();
    for code in [PayerCode::Unknown, PayerCode::NoCode] {
        let ok = spec.verify(code).unwrap();
        assert_eq!(ok.signature_check, SignatureCheck::Recovered);
        assert_eq!(ok.payer, address_of(&key(7)));
        assert_eq!(ok.network, Network::BASE);
        assert_eq!(ok.x402_version, X402Version::V2);
        assert_eq!(ok.digest, domain().transfer_digest(&spec.authorization()));
        assert_eq!(ok.domain, domain());
        assert!(matches!(ok.signature, PayerSignature::Ecdsa(_)));
    }
    let contract = spec.verify(PayerCode::HasCode).unwrap();
    assert_eq!(contract.signature_check, SignatureCheck::NeedsContractCheck);
    assert!(matches!(contract.signature, PayerSignature::Contract(ref b) if b.len() == 65));
}

#[test]
fn a_cached_domain_is_used_and_a_foreign_one_ignored() {
    let request = Spec::good().request();
    let foreign = TokenDomain::new(1, ASSET, "USD Coin", "2");
    let cached = [foreign, domain()];
    let ok = verify_exact(&request, NOW, VerifyOptions::new().with_domains(&cached)).unwrap();
    assert_eq!(ok.domain, domain());
}

/// A change to a good payment and the reason it must be rejected with.
type Mutation = (Reason, fn(&mut Spec));

/// Mutation `i` makes check `i` fail and leaves earlier checks passing.
fn mutations() -> Vec<Mutation> {
    vec![
        (Reason::InvalidScheme, |s| s.scheme = "upto"),
        (Reason::InvalidPayload, |s| s.corrupt_payload = true),
        (Reason::MissingEip712Domain, |s| s.extra = Some(serde_json::json!({"name": "USD Coin"}))),
        (Reason::NetworkMismatch, |s| s.payload_network = "eip155:84532"),
        (Reason::InvalidSignature, |s| s.signer = 8),
        (Reason::RecipientMismatch, |s| s.pay_to = Address::repeat_byte(9)),
        // Each of these leaves a field an earlier mutation changed as it is.
        (Reason::RecipientIsToken, |s| {
            s.to = ASSET;
            if s.pay_to == PAY_TO {
                s.pay_to = ASSET;
            }
        }),
        (Reason::ValidBefore, |s| s.valid_before = NOW + VALID_BEFORE_MARGIN_SECS - 1),
        (Reason::ValidBeforeTooFar, |s| {
            if s.valid_before == NOW + 300 {
                s.valid_before = NOW + 300 + MAX_CLOCK_SKEW_SECS + 1;
            }
        }),
        (Reason::ValidAfter, |s| s.valid_after = NOW + 1),
        (Reason::ValueMismatch, |s| s.amount = "10001"),
        (Reason::InvalidAuthorizationValue, |s| {
            if s.amount == "10000" {
                (s.amount, s.value) = ("0", 0);
            }
        }),
        (Reason::AssetMismatch, |s| s.accepted_asset = Some(Address::repeat_byte(1).to_string())),
    ]
}

#[test]
fn each_check_alone_reports_its_reason() {
    for (reason, mutate) in mutations() {
        let mut spec = Spec::good();
        mutate(&mut spec);
        let rejection = spec.verify(PayerCode::NoCode).unwrap_err();
        assert_eq!(rejection.reason, reason, "{rejection}");
        assert!(!rejection.message.is_empty());
        let expect_payer = (reason != Reason::InvalidPayload).then(|| address_of(&key(7)));
        assert_eq!(rejection.payer, expect_payer, "{reason}");
    }
}

#[test]
fn the_earliest_failing_check_wins_in_reference_order() {
    let all = mutations();
    for (i, (reason, _)) in all.iter().enumerate() {
        let mut spec = Spec::good();
        for (_, mutate) in &all[i..] {
            mutate(&mut spec);
        }
        assert_eq!(spec.verify(PayerCode::NoCode).unwrap_err().reason, *reason);
    }
}

#[test]
fn validity_window_boundaries() {
    let mut spec = Spec::good();
    spec.valid_before = NOW + VALID_BEFORE_MARGIN_SECS;
    spec.valid_after = NOW;
    assert!(spec.verify(PayerCode::NoCode).is_ok());
    spec.valid_before -= 1;
    assert_eq!(spec.verify(PayerCode::NoCode).unwrap_err().reason, Reason::ValidBefore);
    let mut spec = Spec::good();
    spec.valid_after = NOW + 1;
    assert_eq!(spec.verify(PayerCode::NoCode).unwrap_err().reason, Reason::ValidAfter);
}

#[test]
fn valid_before_may_lie_max_timeout_seconds_and_the_clock_skew_ahead_and_no_further() {
    // The requirements ask for maxTimeoutSeconds = 300; the reference clients sign now + 300.
    let mut spec = Spec::good();
    spec.valid_before = NOW + 300 + MAX_CLOCK_SKEW_SECS;
    assert!(spec.verify(PayerCode::NoCode).is_ok());
    spec.valid_before += 1;
    let rejection = spec.verify(PayerCode::NoCode).unwrap_err();
    assert_eq!(rejection.reason, Reason::ValidBeforeTooFar);
    assert!(rejection.message.contains("maxTimeoutSeconds 300"), "{rejection}");
    // The deadline that was once settled: 2^256 - 1.
    let mut request = Spec::good().request();
    if let PaymentRequest::V2 { payload, .. } = &mut request {
        let mut exact = payload.payload.exact_evm().unwrap();
        exact.authorization.valid_before = U256::MAX;
        exact.signature = sign(&key(7), &domain().transfer_digest(&exact.authorization));
        payload.payload = RawPayload::from_exact_evm(&exact);
    }
    assert_eq!(verify_exact(&request, NOW, VerifyOptions::new()).unwrap_err().reason, Reason::ValidBeforeTooFar);
}

#[test]
fn a_zero_payment_and_a_payment_to_the_token_are_refused() {
    let mut spec = Spec::good();
    (spec.amount, spec.value) = ("0", 0);
    assert_eq!(spec.verify(PayerCode::NoCode).unwrap_err().reason, Reason::InvalidAuthorizationValue);
    let mut spec = Spec::good();
    (spec.to, spec.pay_to) = (ASSET, ASSET);
    assert_eq!(spec.verify(PayerCode::NoCode).unwrap_err().reason, Reason::RecipientIsToken);
}

#[test]
fn value_must_match_exactly_both_ways() {
    for amount in ["9999", "10001"] {
        let mut spec = Spec::good();
        spec.amount = amount;
        let rejection = spec.verify(PayerCode::NoCode).unwrap_err();
        assert_eq!(rejection.reason, Reason::ValueMismatch);
        assert!(rejection.message.contains(amount), "{rejection}");
    }
}

#[test]
fn malformed_requirements_are_named() {
    let mut spec = Spec::good();
    spec.network = "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp";
    assert_eq!(spec.verify(PayerCode::Unknown).unwrap_err().reason, Reason::UnsupportedNetwork);
    let mut spec = Spec::good();
    spec.amount = "ten";
    assert_eq!(spec.verify(PayerCode::Unknown).unwrap_err().reason, Reason::InvalidPaymentRequirements);
    let mut request = Spec::good().request();
    if let PaymentRequest::V2 { requirements, .. } = &mut request {
        requirements.pay_to = "nobody".into();
    }
    let rejection = verify_exact(&request, NOW, VerifyOptions::new()).unwrap_err();
    assert_eq!(rejection.reason, Reason::InvalidPaymentRequirements);
    assert!(rejection.message.contains("payTo"), "{rejection}");
}

#[test]
fn networks_compare_by_chain_id_across_forms() {
    let mut spec = Spec::good();
    spec.payload_network = "base";
    assert!(spec.verify(PayerCode::NoCode).is_ok());
}

#[test]
fn v1_requests_verify_against_max_amount_required() {
    let spec = Spec::good();
    let requirements =
        PaymentRequirementsV1::exact(Network::BASE, &domain(), U256::from(10_000), PAY_TO, "/r", 300).unwrap();
    let payload = PaymentPayloadV1 {
        x402_version: Version,
        scheme: "exact".into(),
        network: "base".into(),
        payload: spec.raw_payload(),
    };
    let mut request = PaymentRequest::V1 { payload, requirements };
    let ok = verify_exact(&request, NOW, VerifyOptions::new()).unwrap();
    assert_eq!(ok.x402_version, X402Version::V1);
    if let PaymentRequest::V1 { requirements, .. } = &mut request {
        requirements.max_amount_required = "10001".into();
    }
    assert_eq!(verify_exact(&request, NOW, VerifyOptions::new()).unwrap_err().reason, Reason::ValueMismatch);
}

#[test]
fn long_client_strings_are_cut_in_messages() {
    let request = {
        let mut r = Spec::good().request();
        if let PaymentRequest::V2 { requirements, .. } = &mut r {
            requirements.scheme = "x".repeat(10_000);
        }
        r
    };
    let rejection = verify_exact(&request, NOW, VerifyOptions::new()).unwrap_err();
    assert_eq!(rejection.reason, Reason::InvalidScheme);
    assert!(rejection.message.len() < 300, "{}", rejection.message.len());
}

/// The decision table of the signature step.
#[test]
fn signature_step_by_payer_code() {
    use PayerCode::{HasCode, NoCode, Unknown};
    use SignatureCheck::{NeedsContractCheck, Recovered};
    let auth = Spec::good().authorization();
    let digest = domain().transfer_digest(&auth);
    let from = auth.from;
    let good = sign(&key(7), &digest);
    let other = sign(&key(8), &digest);
    let mut bad_v = good.to_vec();
    bad_v[64] = 5;
    let long: Bytes = [good.as_ref(), &[1u8; 35]].concat().into();
    let short: Bytes = good[..64].to_vec().into();
    let huge: Bytes = vec![1u8; crate::MAX_SIGNATURE_LEN + 1].into();
    let wrapped: Bytes = [
        (Address::repeat_byte(6), Bytes::from_static(b"deploy"), good.clone()).abi_encode_params(),
        EIP6492_MAGIC.to_vec(),
    ]
    .concat()
    .into();

    let check =
        |bytes: &Bytes, code| check_signature(bytes, &digest, from, code, None).map(|(_, c)| c).map_err(|(r, _)| r);
    let table: [(&Bytes, PayerCode, Result<SignatureCheck, Reason>); 21] = [
        (&good, Unknown, Ok(Recovered)),
        (&good, NoCode, Ok(Recovered)),
        (&good, HasCode, Ok(NeedsContractCheck)),
        (&other, Unknown, Ok(NeedsContractCheck)),
        (&other, NoCode, Err(Reason::InvalidSignature)),
        (&other, HasCode, Ok(NeedsContractCheck)),
        (&Bytes::from(bad_v.clone()), Unknown, Ok(NeedsContractCheck)),
        (&Bytes::from(bad_v), NoCode, Err(Reason::InvalidSignature)),
        (&long, Unknown, Ok(NeedsContractCheck)),
        (&long, NoCode, Err(Reason::UndeployedSmartWallet)),
        (&long, HasCode, Ok(NeedsContractCheck)),
        (&short, Unknown, Err(Reason::InvalidSignature)),
        (&short, NoCode, Err(Reason::InvalidSignature)),
        (&short, HasCode, Ok(NeedsContractCheck)),
        (&wrapped, Unknown, Err(Reason::Eip6492FactoryNotAllowed)),
        (&wrapped, NoCode, Err(Reason::Eip6492FactoryNotAllowed)),
        (&wrapped, HasCode, Ok(NeedsContractCheck)),
        (&Bytes::new(), NoCode, Err(Reason::InvalidSignature)),
        // Too long for a batch to carry, whoever the payer is.
        (&huge, Unknown, Err(Reason::InvalidSignature)),
        (&huge, NoCode, Err(Reason::InvalidSignature)),
        (&huge, HasCode, Err(Reason::InvalidSignature)),
    ];
    for (i, (bytes, code, expected)) in table.into_iter().enumerate() {
        assert_eq!(check(bytes, code), expected, "row {i}");
    }
    // Bytes owed to the chain are the bytes as sent; a wrapper is kept for the caller to unwrap.
    let (sig, _) = check_signature(&good, &digest, from, HasCode, None).unwrap();
    assert_eq!(sig, PayerSignature::Contract(good.clone()));
    let (sig, _) = check_signature(&wrapped, &digest, from, HasCode, None).unwrap();
    assert!(matches!(sig, PayerSignature::Eip6492(w) if w.inner == good));
}

/// Counts lookups and keeps what it is given.
#[derive(Default)]
struct Remembered {
    signers: std::sync::Mutex<Vec<(B256, Vec<u8>, Address)>>,
    hits: std::sync::atomic::AtomicUsize,
}

impl Recoveries for Remembered {
    fn get(&self, digest: &B256, signature: &[u8]) -> Option<Address> {
        let signers = self.signers.lock().unwrap();
        let signer = signers.iter().find(|(d, s, _)| d == digest && s == signature).map(|(_, _, signer)| *signer);
        if signer.is_some() {
            self.hits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        signer
    }

    fn put(&self, digest: &B256, signature: &[u8], signer: Address) {
        self.signers.lock().unwrap().push((*digest, signature.to_vec(), signer));
    }
}

#[test]
fn a_remembered_recovery_gives_the_same_answer_without_recovering_again() {
    let remembered = Remembered::default();
    let request = Spec::good().request();
    let first = verify_exact(&request, NOW, VerifyOptions::new().with_recoveries(&remembered)).unwrap();
    assert_eq!(remembered.signers.lock().unwrap().len(), 1);
    let second = verify_exact(&request, NOW, VerifyOptions::new().with_recoveries(&remembered)).unwrap();
    assert_eq!(first, second);
    assert_eq!(remembered.hits.load(std::sync::atomic::Ordering::Relaxed), 1);

    // A signature by someone else is refused either way, and a failed match is remembered as its real signer.
    let forged = Spec { signer: 9, ..Spec::good() }.request();
    let options = VerifyOptions::new().with_recoveries(&remembered).with_payer_code(PayerCode::NoCode);
    for _ in 0..2 {
        assert_eq!(verify_exact(&forged, NOW, options).unwrap_err().reason, Reason::InvalidSignature);
    }
    assert_eq!(remembered.signers.lock().unwrap()[1].2, address_of(&key(9)));
}
