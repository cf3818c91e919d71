//! The hot path (parse the payload, digest, recover) allocates nothing it does not keep: digest and recovery
//! allocate nothing at all, the payload parse only the signature bytes.

use std::{
    alloc::{GlobalAlloc, Layout, System},
    cell::Cell,
};

use clearing_x402::{ExactEvmPayload, PayerSignature, TokenDomain};

use crate::vectors::VECTORS;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every call is forwarded unchanged to the system allocator; counting touches only a const
// thread-local `Cell`, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which is `System.alloc`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations `f` makes on this thread.
fn allocations<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = ALLOCATIONS.with(Cell::get);
    let out = f();
    (out, ALLOCATIONS.with(Cell::get) - before)
}

#[test]
fn digest_and_recovery_allocate_nothing() {
    let v = &VECTORS.eip712[0];
    let d = &v.domain;
    let domain = TokenDomain::new(d.chain_id, d.verifying_contract, &d.name, &d.version);
    let authorization = v.message.authorization();
    let PayerSignature::Ecdsa(signature) = PayerSignature::parse(&v.signature).unwrap() else { panic!() };
    // Warm up anything initialised once (e.g. precomputed tables).
    signature.recover(&v.digest).unwrap();

    let (digest, n) = allocations(|| domain.transfer_digest(&authorization));
    assert_eq!((digest, n), (v.digest, 0));
    let (signer, n) = allocations(|| signature.recover(&digest).unwrap());
    assert_eq!((signer, n), (v.message.from, 0));
    let (parsed, n) = allocations(|| PayerSignature::parse(&v.signature).unwrap());
    assert!(matches!(parsed, PayerSignature::Ecdsa(_)));
    assert_eq!(n, 0);
}

#[test]
fn parsing_the_payload_allocates_only_the_signature() {
    let payload = VECTORS.x402v2[0].payment_payload["payload"].to_string();
    let (parsed, n) = allocations(|| ExactEvmPayload::from_json(&payload).unwrap());
    assert_eq!(parsed.authorization.from, VECTORS.x402v2[0].payer);
    assert_eq!(n, 1, "only the signature's bytes");
}
