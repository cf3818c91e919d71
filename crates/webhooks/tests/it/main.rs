//! The webhooks crate against a real PostgreSQL (`DATABASE_URL`; each test gets a throwaway database from
//! `clearing-testkit`) and real HTTP receivers on loopback (axum): signatures checked by the Standard Webhooks
//! reference library and by an independent HMAC, retries, ordering, 410, timeouts, redelivery, two dispatchers
//! on one database, the private-address guard, and the `[webhooks]` configuration keys.

mod config;
mod delivery;
mod dispatchers;
mod signatures;
mod ssrf;
mod support;
