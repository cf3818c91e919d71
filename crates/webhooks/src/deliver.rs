//! One delivery attempt: sign, POST, read the status and the start of the answer.

use std::{
    error::Error as _,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use clearing_ledger::{AttemptResponse, ClaimedWebhook};
use reqwest::{Client, header::CONTENT_TYPE, redirect};

use crate::{
    Error, Result, WebhooksConfig,
    guard::{GuardedResolver, UrlRefused, check_literal},
    schedule::parse_retry_after,
    sign::sign,
};

/// The most of an answer's body read (and logged for its owner).
const SNIPPET_BYTES: usize = 1_024;

/// Sent as `User-Agent`, so receivers can tell our requests apart.
const USER_AGENT: &str = concat!("Clearing-Webhooks/", env!("CARGO_PKG_VERSION"));

/// What one attempt got.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) response: AttemptResponse,
    /// The answer's `Retry-After`, as a wait.
    pub(crate) retry_after: Option<Duration>,
}

/// Sends webhooks: no redirects, no proxy, every hostname resolved through the guard.
#[derive(Debug, Clone)]
pub(crate) struct Sender {
    client: Client,
    allow_private: bool,
}

impl Sender {
    pub(crate) fn new(config: &WebhooksConfig) -> Result<Self> {
        let client = Client::builder()
            .redirect(redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver { allow_private: config.allow_private }))
            .timeout(config.timeout())
            .connect_timeout(config.timeout())
            .user_agent(USER_AGENT)
            .build()
            .map_err(Error::Client)?;
        Ok(Self { client, allow_private: config.allow_private })
    }

    /// Makes one attempt of `event`, signed at the current time.
    pub(crate) async fn attempt(&self, event: &ClaimedWebhook) -> Outcome {
        if !self.allow_private
            && let Err(refused) = check_literal(&event.url)
        {
            return transport(refused.to_string());
        }
        let body = serde_json::to_vec(&event.payload).expect("a JSON value always serializes");
        let timestamp = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let headers = sign(&event.secret, &event.id.to_string(), timestamp, &body);
        let mut request = self.client.post(event.url.clone()).header(CONTENT_TYPE, "application/json");
        for (name, value) in headers.pairs() {
            request = request.header(name, value);
        }
        let mut response = match request.body(body).send().await {
            Ok(response) => response,
            Err(e) => return transport(describe(&e)),
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let mut snippet = Vec::new();
        // Only the start is read: a receiver cannot make us hold or store more. A body that breaks off or is slow
        // past the timeout keeps what came; the status already decided the attempt.
        while snippet.len() < SNIPPET_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => snippet.extend_from_slice(&chunk[..chunk.len().min(SNIPPET_BYTES - snippet.len())]),
                Ok(None) | Err(_) => break,
            }
        }
        let snippet = String::from_utf8_lossy(&snippet).into_owned();
        Outcome { response: AttemptResponse::Http { status, snippet }, retry_after }
    }
}

fn transport(error: String) -> Outcome {
    Outcome { response: AttemptResponse::Transport { error }, retry_after: None }
}

/// A transport failure for the owner's log: the guard's refusal as its owner may read it, otherwise what failed and
/// the innermost cause, without the URL (which the log has beside it).
fn describe(e: &reqwest::Error) -> String {
    let mut source = e.source();
    let mut innermost = None;
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<UrlRefused>() {
            return refused.for_owner();
        }
        innermost = Some(cause);
        source = cause.source();
    }
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_request() {
        "request failed"
    } else {
        "transport error"
    };
    match innermost {
        Some(cause) if !e.is_timeout() => format!("{what}: {cause}"),
        _ => what.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Receivers are https in production: the client speaks TLS (a plain-text listener fails the handshake; a build
    /// without TLS would refuse the scheme before connecting).
    #[tokio::test]
    async fn https_receivers_are_reached_over_tls() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            tokio::io::AsyncWriteExt::write_all(&mut stream, b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
        });
        let sender = Sender::new(&WebhooksConfig { allow_private: true, ..WebhooksConfig::default() }).unwrap();
        let error = sender.client.post(format!("https://127.0.0.1:{port}/hook")).send().await.unwrap_err();
        assert!(!error.is_builder() && error.is_connect(), "{error:?}");
        accepted.await.unwrap();
    }
}
