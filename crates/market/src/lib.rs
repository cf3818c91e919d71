//! The marketplace API.
//!
//! This crate will own the service catalog, threads and quotes, escrowed jobs with verify and dispute, signed
//! webhooks, provider earnings and subscriptions, driven by indexed chain events (a later issue).
