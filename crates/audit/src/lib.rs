//! Audit tooling.
//!
//! This crate will own the canonical leaf encoding of settlement records, the Merkle trees over contiguous
//! ranges of them, anchoring roots in `AnchorRegistry`, and the offline `verify` and `rebuild` checks that need
//! nothing but an RPC endpoint (issue 4).
