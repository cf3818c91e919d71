//! The payloads this paywall sent to `/settle` and got no answer for: the one case in which a retry answered
//! `invalid_exact_evm_nonce_already_used` is a settlement of this paywall's own, not a refusal.
//!
//! A facilitator answers `success` at most once per payment, and records that before it replies. If the reply is
//! lost (the facilitator crashed, the connection broke), the payer was charged and nobody was told; every retry of
//! the same payload is told `invalid_exact_evm_nonce_already_used` with the transaction that moved it. Only the
//! resource server whose own settle of that exact payload went unanswered may take that as settled, and only once:
//! anyone else presenting the payload (a second resource server it was also sent to) gets no such grace.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use alloy_primitives::{B256, keccak256};
use clearing_x402::{ExactEvmPayload, PaymentRequest};

/// Most unanswered payloads remembered; beyond it the oldest are forgotten first.
const CAPACITY: usize = 10_000;
/// How long an unanswered payload is remembered: far longer than a client waits before retrying its request.
const KEEP: Duration = Duration::from_secs(3_600);

/// The exact signed payment a request carries: its network, authorization and signature bytes, hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct PayloadId(B256);

impl PayloadId {
    /// The identity of `request`'s `exact` EVM payload with `exact` its parse.
    pub(crate) fn of(request: &PaymentRequest, exact: &ExactEvmPayload) -> Self {
        let authorization = &exact.authorization;
        let mut bytes = Vec::with_capacity(256 + exact.signature.len());
        bytes.extend_from_slice(request.network().as_bytes());
        // The network name is variable-length: a separator that no name contains keeps the fields apart.
        bytes.push(0);
        bytes.extend_from_slice(authorization.from.as_slice());
        bytes.extend_from_slice(authorization.to.as_slice());
        bytes.extend_from_slice(&authorization.value.to_be_bytes::<32>());
        bytes.extend_from_slice(&authorization.valid_after.to_be_bytes::<32>());
        bytes.extend_from_slice(&authorization.valid_before.to_be_bytes::<32>());
        bytes.extend_from_slice(authorization.nonce.as_slice());
        bytes.extend_from_slice(&exact.signature);
        Self(keccak256(bytes))
    }
}

/// Payloads whose settle went unanswered, each with when it was sent.
#[derive(Debug, Default)]
pub(crate) struct Unanswered {
    sent: Mutex<HashMap<PayloadId, Instant>>,
}

impl Unanswered {
    /// Remembers that a settle of `id` was sent and got no answer.
    pub(crate) fn insert(&self, id: PayloadId) {
        let now = Instant::now();
        let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        if sent.len() >= CAPACITY {
            sent.retain(|_, at| now.duration_since(*at) < KEEP);
        }
        if sent.len() >= CAPACITY
            && let Some(oldest) = sent.iter().min_by_key(|(_, at)| **at).map(|(id, _)| *id)
        {
            sent.remove(&oldest);
        }
        sent.insert(id, now);
    }

    /// Whether a settle of `id` went unanswered (lately enough to be remembered).
    pub(crate) fn contains(&self, id: PayloadId) -> bool {
        let sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        sent.get(&id).is_some_and(|at| at.elapsed() < KEEP)
    }

    /// Forgets `id`; true if it was remembered. Taking it is what grants its one grace, so two retries racing
    /// each other cannot both be served.
    pub(crate) fn take(&self, id: PayloadId) -> bool {
        let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        sent.remove(&id).is_some_and(|at| at.elapsed() < KEEP)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_is_granted_once_and_the_oldest_go_first() {
        let unanswered = Unanswered::default();
        let id = |byte| PayloadId(B256::repeat_byte(byte));
        unanswered.insert(id(1));
        assert!(unanswered.contains(id(1)));
        assert!(unanswered.take(id(1)));
        assert!(!unanswered.take(id(1)), "a second retry gets no grace");
        assert!(!unanswered.contains(id(2)));

        for i in 0..CAPACITY {
            unanswered
                .sent
                .lock()
                .unwrap()
                .insert(PayloadId(B256::from(alloy_primitives::U256::from(i))), Instant::now());
        }
        unanswered.insert(id(3));
        assert_eq!(unanswered.sent.lock().unwrap().len(), CAPACITY);
        assert!(unanswered.contains(id(3)));
    }
}
