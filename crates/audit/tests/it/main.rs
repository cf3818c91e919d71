//! The audit trail on a real anvil (the npm binary) and PostgreSQL (`DATABASE_URL`; each test gets its own
//! database from `#[sqlx::test]`): sequencing, anchoring, proofs through `AnchorRegistry.verify`, rebuild and
//! the HTTP route.

mod flow;
mod merkle;
mod support;
