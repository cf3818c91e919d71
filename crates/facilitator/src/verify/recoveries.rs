//! Signers already recovered, by (digest, signature). A pure function's results, so nothing here can go stale:
//! the same payment verified again (settle after a resource server's verify, a client's retry) skips the ~40 µs
//! of ECDSA recovery.

use std::sync::Mutex;

use alloy::primitives::{Address, B256, map::HashMap};
use clearing_x402::{ECDSA_SIGNATURE_LEN, Recoveries};

/// Most recoveries remembered (about 120 bytes each); when full the map starts over, so memory stays bounded and
/// the worst case is recovering again.
const MAX_RECOVERIES: usize = 100_000;

/// Recovered signers of 65-byte ECDSA signatures.
#[derive(Debug, Default)]
pub(crate) struct RecoveryCache {
    signers: Mutex<HashMap<(B256, [u8; ECDSA_SIGNATURE_LEN]), Address>>,
}

impl Recoveries for RecoveryCache {
    fn get(&self, digest: &B256, signature: &[u8]) -> Option<Address> {
        let signature: [u8; ECDSA_SIGNATURE_LEN] = signature.try_into().ok()?;
        self.signers.lock().unwrap_or_else(|e| e.into_inner()).get(&(*digest, signature)).copied()
    }

    fn put(&self, digest: &B256, signature: &[u8], signer: Address) {
        let Ok(signature) = <[u8; ECDSA_SIGNATURE_LEN]>::try_from(signature) else { return };
        let mut signers = self.signers.lock().unwrap_or_else(|e| e.into_inner());
        if signers.len() >= MAX_RECOVERIES {
            signers.clear();
        }
        signers.insert((*digest, signature), signer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_by_digest_and_signature_and_starts_over_when_full() {
        let cache = RecoveryCache::default();
        let signature = [7u8; ECDSA_SIGNATURE_LEN];
        cache.put(&B256::repeat_byte(1), &signature, Address::repeat_byte(9));
        assert_eq!(cache.get(&B256::repeat_byte(1), &signature), Some(Address::repeat_byte(9)));
        assert_eq!(cache.get(&B256::repeat_byte(2), &signature), None, "another digest");
        assert_eq!(cache.get(&B256::repeat_byte(1), &[8u8; ECDSA_SIGNATURE_LEN]), None, "another signature");
        assert_eq!(cache.get(&B256::repeat_byte(1), &[7u8; 64]), None, "not an ECDSA signature");

        for i in 0..MAX_RECOVERIES as u64 {
            cache.put(&B256::from(alloy::primitives::U256::from(i + 10)), &signature, Address::ZERO);
        }
        assert!(cache.signers.lock().unwrap().len() <= MAX_RECOVERIES);
    }
}
