//! What can go wrong when paying, in the payer's terms.

use crate::Refusal;

/// A payment that could not be made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The 402 answer carried neither a readable `PAYMENT-REQUIRED` header nor a v1 JSON body.
    #[error("the 402 answer has no payment requirements Clearing can read: {0}")]
    UnreadableRequirements(String),
    /// No requirement of the 402 is payable under the policy; each refusal says why.
    #[error("none of the {} payment options can be paid: {}", .0.len(), Refusal::list(.0))]
    NothingPayable(Vec<Refusal>),
    /// The signer failed.
    #[error("signing the authorization failed: {0}")]
    Signing(String),
    /// The HTTP exchange failed (connection, timeout, body).
    #[error("HTTP request to {url} failed: {source}")]
    Http {
        /// The URL requested.
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered 402 again after the payment was sent: it refused the payment.
    #[error("the server refused the payment (402 again){}", .0.as_deref().map(|r| format!(": {r}")).unwrap_or_default())]
    PaymentRefused(Option<String>),
    /// A request header given by the caller is not a valid HTTP header.
    #[error("invalid request header {0:?}: expected `Name: value`")]
    InvalidHeader(String),
}

/// This crate's result.
pub type Result<T> = std::result::Result<T, Error>;
