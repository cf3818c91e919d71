//! Loading `eip3009-x402.json`.

use std::sync::LazyLock;

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use k256::ecdsa::SigningKey;
use serde::Deserialize;
use serde_json::Value;

/// Where the vectors live (tests/vectors/README.md says who made them).
const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/vectors/eip3009-x402.json");

/// A clock inside every x402 vector's validity window (v1: [1795245402, 1795246302]; v2: validAfter 0,
/// validBefore 1795246295), with the 6 s margin to spare.
pub(crate) const NOW: u64 = 1_795_246_000;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Vectors {
    pub(crate) eip712: Vec<Eip712Vector>,
    pub(crate) x402v2: Vec<V2Vector>,
    pub(crate) x402v1: Vec<V1Vector>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Eip712Vector {
    pub(crate) primary_type: String,
    pub(crate) private_key: B256,
    pub(crate) domain: Domain,
    pub(crate) message: Message,
    pub(crate) digest: B256,
    pub(crate) signature: Bytes,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Domain {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) chain_id: u64,
    pub(crate) verifying_contract: Address,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Message {
    pub(crate) from: Address,
    pub(crate) to: Address,
    pub(crate) value: String,
    pub(crate) valid_after: String,
    pub(crate) valid_before: String,
    pub(crate) nonce: B256,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct V2Vector {
    pub(crate) payment_required: Value,
    pub(crate) payment_required_header: String,
    pub(crate) payment_payload: Value,
    pub(crate) payment_signature_header: String,
    pub(crate) payer: Address,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct V1Vector {
    pub(crate) payment_requirements: Value,
    pub(crate) payment_required: Value,
    pub(crate) x_payment_header: String,
    pub(crate) payment_payload: Value,
    pub(crate) payer: Address,
}

pub(crate) static VECTORS: LazyLock<Vectors> = LazyLock::new(|| {
    let text = std::fs::read_to_string(PATH).unwrap_or_else(|e| panic!("{PATH}: {e}"));
    serde_json::from_str(&text).expect("vectors parse")
});

impl Message {
    pub(crate) fn authorization(&self) -> clearing_x402::ExactEvmAuthorization {
        clearing_x402::ExactEvmAuthorization {
            from: self.from,
            to: self.to,
            value: self.value.parse::<U256>().unwrap(),
            valid_after: self.valid_after.parse::<U256>().unwrap(),
            valid_before: self.valid_before.parse::<U256>().unwrap(),
            nonce: self.nonce,
        }
    }
}

/// The address of a private key, computed independently of the crate.
pub(crate) fn address_of(key: &SigningKey) -> Address {
    let point = key.verifying_key().to_sec1_point(false);
    Address::from_slice(&keccak256(&point.as_bytes()[1..])[12..])
}

/// A 65-byte r‖s‖v (v = 27/28) signature of `digest`.
pub(crate) fn sign(key: &SigningKey, digest: &B256) -> Bytes {
    let (signature, recovery_id) = key.sign_prehash_recoverable(digest.as_slice());
    let mut out = signature.to_bytes().to_vec();
    out.push(27 + recovery_id.to_byte());
    out.into()
}

/// The v2 facilitator request of a vector: its payload against the requirement it accepted.
pub(crate) fn v2_request_json(v: &V2Vector) -> Value {
    serde_json::json!({
        "x402Version": 2,
        "paymentPayload": v.payment_payload,
        "paymentRequirements": v.payment_required["accepts"][0],
    })
}

/// The v1 facilitator request of a vector.
pub(crate) fn v1_request_json(v: &V1Vector) -> Value {
    serde_json::json!({
        "x402Version": 1,
        "paymentPayload": v.payment_payload,
        "paymentRequirements": v.payment_requirements,
    })
}

#[test]
fn the_vector_file_has_what_the_readme_promises() {
    assert_eq!(VECTORS.eip712.len(), 24);
    assert_eq!(VECTORS.x402v2.len(), 3);
    assert_eq!(VECTORS.x402v1.len(), 2);
    let receive = VECTORS.eip712.iter().filter(|v| v.primary_type == "ReceiveWithAuthorization").count();
    assert!(receive > 0 && receive < 24);
}
