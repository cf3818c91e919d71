//! What payers have committed but the chain has not yet debited: queued and submitted settlements count against
//! a payer's balance in verify, so two payments that each fit a balance but not together are not both accepted.
//!
//! Verify may answer from a block read a little earlier (its answer cache), so a settlement that just became final
//! is not forgotten at once: it retires, stamped with the moment, and still counts against any chain answer older
//! than that moment (whose block may predate the settlement's). It is dropped once no answer can be that old.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use alloy::primitives::{Address, B256, U256};

/// How long a retired settlement is kept for answers read before it retired; far beyond any read's age.
const RETIRED_KEEP: Duration = Duration::from_secs(60);

/// One payer of one token on one chain.
type PayerKey = (u64, Address, Address);

/// One authorization accepted for settlement.
#[derive(Debug, Clone, Copy)]
struct Entry {
    nonce: B256,
    value: U256,
    /// When it became final; `None` while it is in flight.
    retired: Option<Instant>,
}

impl Entry {
    /// Whether a chain answer that reflects every transaction mined before `as_of` may still miss this payment.
    fn counts_for(&self, as_of: Instant) -> bool {
        self.retired.is_none_or(|retired| retired >= as_of)
    }
}

#[derive(Debug, Default)]
struct State {
    payers: HashMap<PayerKey, Vec<Entry>>,
    /// When retired entries were last swept out.
    swept: Option<Instant>,
}

/// Settlements accepted and not yet final, per payer; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct InFlight {
    inner: Arc<Mutex<State>>,
}

impl InFlight {
    /// Counts `value` of authorization `nonce` against `payer`'s balance until [`InFlight::remove`].
    pub fn add(&self, chain_id: u64, token: Address, payer: Address, nonce: B256, value: U256) {
        let mut state = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let entries = state.payers.entry((chain_id, token, payer)).or_default();
        match entries.iter_mut().find(|entry| entry.nonce == nonce) {
            Some(entry) => entry.retired = None,
            None => entries.push(Entry { nonce, value, retired: None }),
        }
    }

    /// Stops counting authorization `nonce` (it settled, failed or expired) for chain answers that reflect
    /// everything mined from now on.
    pub fn remove(&self, chain_id: u64, token: Address, payer: Address, nonce: B256) {
        let now = Instant::now();
        let keep = |entry: &Entry| entry.retired.is_none_or(|retired| now.duration_since(retired) < RETIRED_KEEP);
        let mut state = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entries) = state.payers.get_mut(&(chain_id, token, payer)) {
            for entry in entries.iter_mut().filter(|entry| entry.nonce == nonce && entry.retired.is_none()) {
                entry.retired = Some(now);
            }
        }
        // Drop what no answer can still need, sweeping every payer now and then.
        if state.swept.is_none_or(|swept| now.duration_since(swept) >= RETIRED_KEEP / 4) {
            state.swept = Some(now);
            state.payers.retain(|_, entries| {
                entries.retain(keep);
                !entries.is_empty()
            });
        }
    }

    /// How many settlements are in flight (not yet final).
    pub fn len(&self) -> usize {
        let state = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        state.payers.values().flatten().filter(|entry| entry.retired.is_none()).count()
    }

    /// Whether nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The sum in flight for `payer` as seen by a chain answer that reflects every transaction mined before
    /// `as_of`, leaving out `except` (the payment being verified, if it is itself queued).
    pub fn committed(&self, chain_id: u64, token: Address, payer: Address, except: B256, as_of: Instant) -> U256 {
        let state = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        state
            .payers
            .get(&(chain_id, token, payer))
            .map(|entries| {
                entries
                    .iter()
                    .filter(|entry| entry.nonce != except && entry.counts_for(as_of))
                    .map(|entry| entry.value)
                    .sum()
            })
            .unwrap_or_default()
    }

    /// If authorization `nonce` is this facilitator's and may have reached the chain, the moment after which a
    /// chain answer must be read to know its state: now while it is in flight (it may be mined any moment), the
    /// moment it became final once retired. `None` for an authorization this facilitator does not hold.
    pub fn unsettled_since(&self, chain_id: u64, token: Address, payer: Address, nonce: B256) -> Option<Instant> {
        let state = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let entry = state.payers.get(&(chain_id, token, payer))?.iter().find(|entry| entry.nonce == nonce)?;
        Some(entry.retired.unwrap_or_else(Instant::now))
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

        let now = Instant::now();
        assert_eq!(inflight.committed(1, token, payer, B256::ZERO, now), U256::from(15));
        assert_eq!(inflight.committed(1, token, payer, B256::repeat_byte(1), now), U256::from(5));
        assert_eq!(inflight.committed(2, token, payer, B256::ZERO, now), U256::ZERO, "another chain");
        assert_eq!(inflight.len(), 3);

        inflight.remove(1, token, payer, B256::repeat_byte(1));
        assert_eq!(inflight.committed(1, token, payer, B256::ZERO, Instant::now()), U256::from(5));
        assert_eq!(inflight.len(), 2);
    }

    #[test]
    fn a_final_settlement_still_counts_for_answers_read_before_it_became_final() {
        let inflight = InFlight::default();
        let (token, payer, nonce) = (Address::repeat_byte(1), Address::repeat_byte(2), B256::repeat_byte(1));
        inflight.add(1, token, payer, nonce, U256::from(10));
        let read_before = Instant::now();
        std::thread::sleep(Duration::from_millis(2));
        inflight.remove(1, token, payer, nonce);
        std::thread::sleep(Duration::from_millis(2));
        let read_after = Instant::now();

        // A block read before the settlement was final may not show the debit yet: keep counting it.
        assert_eq!(inflight.committed(1, token, payer, B256::ZERO, read_before), U256::from(10));
        // A block read after it shows the debit: counting it again would count it twice.
        assert_eq!(inflight.committed(1, token, payer, B256::ZERO, read_after), U256::ZERO);
        assert!(inflight.is_empty(), "a final settlement is not in flight");
    }

    #[test]
    fn an_own_nonce_needs_an_answer_newer_than_its_last_change() {
        let inflight = InFlight::default();
        let (token, payer, nonce) = (Address::repeat_byte(1), Address::repeat_byte(2), B256::repeat_byte(1));
        assert_eq!(inflight.unsettled_since(1, token, payer, nonce), None, "not ours: any current answer will do");

        inflight.add(1, token, payer, nonce, U256::from(10));
        let before = Instant::now();
        let since = inflight.unsettled_since(1, token, payer, nonce).unwrap();
        assert!(since >= before, "in flight: it may be mined any moment, so only an answer from now on");

        inflight.remove(1, token, payer, nonce);
        let retired = inflight.unsettled_since(1, token, payer, nonce).unwrap();
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(inflight.unsettled_since(1, token, payer, nonce), Some(retired), "final: fixed at that moment");
    }
}
