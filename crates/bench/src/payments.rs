//! Payers' signed x402 v2 `exact` payments, as the request bodies a resource server sends.

use alloy::signers::local::PrivateKeySigner;
use bytes::Bytes;
use clearing_testkit::Terms;

/// How long the signed payments stay valid, seconds (the requirements' `maxTimeoutSeconds`): longer than any run.
pub const VALIDITY_SECS: u64 = 3_600;
/// Distinct payments between a payment and its repetition in [`repeated`]: at 16 connections and 15,000/s about
/// 17 ms, the time a resource server might take between its verify and its settle.
pub const REPEAT_GAP: usize = 256;

/// `count` request bodies (`{x402Version, paymentPayload, paymentRequirements}`) of `terms`, cycling through
/// `payers`, each signed at `now` by the product's client (`clearing-client`) under a fresh random nonce.
pub fn signed_bodies(terms: &Terms, payers: &[PrivateKeySigner], count: usize, now: u64) -> Vec<Bytes> {
    (0..count).map(|i| Bytes::from(terms.pay_at(&payers[i % payers.len()], now).body_string())).collect()
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
    use alloy::primitives::Address;
    use clearing_x402::{PaymentRequest, TokenDomain};

    use super::*;

    #[test]
    fn bodies_cycle_through_the_payers_each_with_its_own_nonce() {
        let payers: Vec<_> = (0..2).map(|_| PrivateKeySigner::random()).collect();
        let domain = TokenDomain::new(31337, Address::repeat_byte(0x11), "USDC", "2");
        let terms = Terms::new(domain, Address::repeat_byte(0x7a), 1_000).with_max_timeout(VALIDITY_SECS);
        let bodies = signed_bodies(&terms, &payers, 3, 1_000_000);
        let exact: Vec<_> = bodies
            .iter()
            .map(|body| PaymentRequest::from_slice(body).unwrap().raw_payload().exact_evm().unwrap().authorization)
            .collect();
        let froms: Vec<_> = exact.iter().map(|a| a.from).collect();
        assert_eq!(froms, [payers[0].address(), payers[1].address(), payers[0].address()]);
        assert_ne!(exact[0].nonce, exact[2].nonce);
        assert!(exact.iter().all(|a| a.valid_before == alloy::primitives::U256::from(1_000_000 + VALIDITY_SECS)));
    }

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
