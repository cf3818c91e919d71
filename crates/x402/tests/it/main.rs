//! `clearing-x402` against third-party vectors (`tests/vectors/eip3009-x402.json`, made with viem and the
//! reference x402 clients), plus allocation counts of the hot path and property tests of every decoder.

mod alloc;
mod eip712;
mod fuzz;
mod headers;
mod network_table;
mod vectors;
mod verify;
