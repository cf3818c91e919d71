//! The facilitator over HTTP (`tower::ServiceExt::oneshot`) against a real anvil with MockUSDC.

mod harness;
mod http;
mod verify;
