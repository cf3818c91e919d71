//! Payers and their signed x402 v2 `exact` payments, as request bodies.

use alloy::{
    primitives::{Address, U256},
    signers::{SignerSync, local::PrivateKeySigner},
};
use bytes::Bytes;
use clearing_x402::{ExactEvmAuthorization, TokenDomain};
use serde_json::json;

/// The EIP-712 domain version of MockUSDC (as USDC's).
const TOKEN_VERSION: &str = "2";
/// How long the signed payments stay valid, seconds: longer than any run.
const VALIDITY_SECS: u64 = 3_600;
/// Distinct payments between a payment and its repetition in [`repeated`]: at 16 connections and 15,000/s about
/// 17 ms, the time a resource server might take between its verify and its settle.
pub const REPEAT_GAP: usize = 256;

/// What every payment of a run shares.
#[derive(Debug, Clone)]
pub struct PaymentTerms {
    /// The chain.
    pub chain_id: u64,
    /// The token and its EIP-712 name.
    pub asset: Address,
    /// Its EIP-712 name.
    pub token_name: String,
    /// The merchant.
    pub pay_to: Address,
    /// Atomic units per payment.
    pub value: u64,
}

/// `count` request bodies (`{x402Version, paymentPayload, paymentRequirements}`), cycling through `payers`, each
/// with a fresh random nonce and a real signature.
pub fn signed_bodies(terms: &PaymentTerms, payers: &[PrivateKeySigner], count: usize, now: u64) -> Vec<Bytes> {
    let domain = TokenDomain::new(terms.chain_id, terms.asset, &terms.token_name, TOKEN_VERSION);
    let requirements = json!({
        "scheme": "exact",
        "network": format!("eip155:{}", terms.chain_id),
        "amount": terms.value.to_string(),
        "asset": terms.asset.to_checksum(None),
        "payTo": terms.pay_to.to_checksum(None),
        // Verify refuses a validBefore further ahead than the requirements' timeout allows.
        "maxTimeoutSeconds": VALIDITY_SECS,
        "extra": {"name": terms.token_name, "version": TOKEN_VERSION}
    });
    (0..count)
        .map(|i| {
            let payer = &payers[i % payers.len()];
            let authorization = ExactEvmAuthorization {
                from: payer.address(),
                to: terms.pay_to,
                value: U256::from(terms.value),
                valid_after: U256::ZERO,
                valid_before: U256::from(now + VALIDITY_SECS),
                // 32 random bytes, from a fresh key.
                nonce: PrivateKeySigner::random().to_bytes(),
            };
            let digest = domain.transfer_digest(&authorization);
            let signature = payer.sign_hash_sync(&digest).expect("signing a digest with a local key");
            let body = json!({
                "x402Version": 2,
                "paymentPayload": {
                    "x402Version": 2,
                    "accepted": requirements,
                    "payload": {
                        "signature": format!("0x{}", alloy::hex::encode(signature.as_bytes())),
                        "authorization": {
                            "from": authorization.from.to_checksum(None),
                            "to": authorization.to.to_checksum(None),
                            "value": authorization.value.to_string(),
                            "validAfter": authorization.valid_after.to_string(),
                            "validBefore": authorization.valid_before.to_string(),
                            "nonce": authorization.nonce.to_string(),
                        }
                    }
                },
                "paymentRequirements": requirements,
            });
            Bytes::from(body.to_string())
        })
        .collect()
}

/// `bodies` with each body sent `times` times: runs of [`REPEAT_GAP`] distinct bodies, each run then sent again
/// `times - 1` times (a resource server verifies a payment, serves, then settles it, and settle verifies again).
pub fn repeated(bodies: Vec<Bytes>, times: usize) -> Vec<Bytes> {
    if times <= 1 {
        return bodies;
    }
    let mut out = Vec::with_capacity(bodies.len() * times);
    for run in bodies.chunks(REPEAT_GAP) {
        for _ in 0..times {
            out.extend_from_slice(run);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_each_run_of_distinct_bodies_in_place() {
        let bodies: Vec<Bytes> = (0..REPEAT_GAP + 2).map(|i| Bytes::from(i.to_string())).collect();
        let out = repeated(bodies.clone(), 2);
        assert_eq!(out.len(), 2 * bodies.len());
        assert_eq!(out[..REPEAT_GAP], bodies[..REPEAT_GAP]);
        assert_eq!(out[REPEAT_GAP..2 * REPEAT_GAP], bodies[..REPEAT_GAP]);
        assert_eq!(out[2 * REPEAT_GAP..], [&bodies[REPEAT_GAP..], &bodies[REPEAT_GAP..]].concat()[..]);
        assert_eq!(repeated(bodies.clone(), 1), bodies);
    }
}
