//! The chain indexer.
//!
//! This crate will own following `BatchSettler`, `Escrow` and `AnchorRegistry` logs from a start block to the
//! head, surviving reorgs and restarts, and writing raw logs, projections and its checkpoint in one
//! transaction per batch (issue 4). It is the only writer of chain-derived state.
