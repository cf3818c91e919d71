//! The x402 protocol, pure and without I/O.
//!
//! This crate will own the x402 v1 and v2 wire types, the base64 header codecs, the v1 network names and
//! their CAIP-2 ids, the EIP-3009 EIP-712 digests, signature parsing and recovery, and the reason codes with
//! their reference strings (issue 3: the facilitator). It must never touch the network, a database or a clock.
