//! End-to-end tests of Clearing on a real anvil and PostgreSQL; the tests live in `tests/`.
