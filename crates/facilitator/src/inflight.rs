//! What payers have committed but the chain has not yet debited: queued and submitted settlements count against
//! a payer's balance in verify, so two payments that each fit a balance but not together are not both accepted.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use alloy::primitives::{Address, B256, U256};

/// One payer of one token on one chain.
type PayerKey = (u64, Address, Address);
/// A payer's authorizations in flight: (nonce, value).
type Committed = Vec<(B256, U256)>;

/// Settlements accepted and not yet final, per payer; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct InFlight {
    inner: Arc<Mutex<HashMap<PayerKey, Committed>>>,
}

impl InFlight {
    /// Counts `value` of authorization `nonce` against `payer`'s balance until [`InFlight::remove`].
    pub fn add(&self, chain_id: u64, token: Address, payer: Address, nonce: B256, value: U256) {
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let entries = map.entry((chain_id, token, payer)).or_default();
        if !entries.iter().any(|(n, _)| *n == nonce) {
            entries.push((nonce, value));
        }
    }

    /// Stops counting authorization `nonce` (it settled, failed or expired).
    pub fn remove(&self, chain_id: u64, token: Address, payer: Address, nonce: B256) {
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entries) = map.get_mut(&(chain_id, token, payer)) {
            entries.retain(|(n, _)| *n != nonce);
            if entries.is_empty() {
                map.remove(&(chain_id, token, payer));
            }
        }
    }

    /// How many settlements are in flight.
    pub fn len(&self) -> usize {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).values().map(Vec::len).sum()
    }

    /// Whether nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The sum in flight for `payer`, leaving out `except` (the payment being verified, if it is itself queued).
    pub fn committed(&self, chain_id: u64, token: Address, payer: Address, except: B256) -> U256 {
        let map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&(chain_id, token, payer))
            .map(|entries| entries.iter().filter(|(n, _)| *n != except).map(|(_, v)| *v).sum())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_other_payments_of_the_same_payer_only() {
        let inflight = InFlight::default();
        let (token, payer) = (Address::repeat_byte(1), Address::repeat_byte(2));
        inflight.add(1, token, payer, B256::repeat_byte(1), U256::from(10));
        inflight.add(1, token, payer, B256::repeat_byte(2), U256::from(5));
        inflight.add(1, token, payer, B256::repeat_byte(2), U256::from(5)); // the same authorization once
        inflight.add(1, token, Address::repeat_byte(3), B256::repeat_byte(9), U256::from(99));

        assert_eq!(inflight.committed(1, token, payer, B256::ZERO), U256::from(15));
        assert_eq!(inflight.committed(1, token, payer, B256::repeat_byte(1)), U256::from(5));
        assert_eq!(inflight.committed(2, token, payer, B256::ZERO), U256::ZERO, "another chain");

        inflight.remove(1, token, payer, B256::repeat_byte(1));
        assert_eq!(inflight.committed(1, token, payer, B256::ZERO), U256::from(5));
    }
}
