//! [`FacilitatorClient`]: `POST /verify`, `POST /settle` and `GET /supported` of an x402 facilitator over HTTP.

use std::time::Duration;

use clearing_x402::{PaymentRequest, SettleResponse, SupportedResponse, VerifyResponse};
use serde::de::DeserializeOwned;
use url::Url;

use crate::{Error, Result};

/// How long one facilitator call may take by default: longer than Clearing's own 30 s request limit, because a
/// settle waits for its batch to be mined.
pub const DEFAULT_FACILITATOR_TIMEOUT: Duration = Duration::from_secs(40);

/// An x402 facilitator reached over HTTP. Cheap to clone (the connection pool is shared).
///
/// The client built by [`FacilitatorClient::new`] speaks plain HTTP (this workspace builds reqwest without a TLS
/// backend). For an `https` facilitator, enable a reqwest TLS feature in your own build and pass a client with
/// [`FacilitatorClient::with_client`].
#[derive(Debug, Clone)]
pub struct FacilitatorClient {
    base: Url,
    http: reqwest::Client,
    timeout: Duration,
}

impl FacilitatorClient {
    /// A client of the facilitator at `base` (e.g. `http://127.0.0.1:8402`; endpoints are resolved under it, so
    /// `http://host/x402/` reaches `http://host/x402/verify`).
    pub fn new(base: Url) -> Result<Self> {
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(Error::InvalidUrl { url: base.to_string() });
        }
        let mut base = base;
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        Ok(Self { base, http: reqwest::Client::new(), timeout: DEFAULT_FACILITATOR_TIMEOUT })
    }

    /// The same facilitator through `http` (e.g. one built with a TLS backend, a proxy or default headers).
    #[must_use]
    pub fn with_client(mut self, http: reqwest::Client) -> Self {
        self.http = http;
        self
    }

    /// The same facilitator with a per-call time limit (default [`DEFAULT_FACILITATOR_TIMEOUT`]).
    #[must_use]
    pub const fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The facilitator's base URL (ending in `/`).
    pub const fn url(&self) -> &Url {
        &self.base
    }

    /// `POST /verify`.
    pub async fn verify(&self, request: &PaymentRequest) -> Result<VerifyResponse> {
        self.post("verify", "/verify", request).await
    }

    /// `POST /settle`.
    pub async fn settle(&self, request: &PaymentRequest) -> Result<SettleResponse> {
        self.post("settle", "/settle", request).await
    }

    /// `GET /supported`.
    pub async fn supported(&self) -> Result<SupportedResponse> {
        let endpoint = "/supported";
        let request = self.http.get(self.endpoint("supported")).timeout(self.timeout);
        Self::read(endpoint, request).await
    }

    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        endpoint: &'static str,
        request: &PaymentRequest,
    ) -> Result<T> {
        let body = serde_json::to_vec(request).expect("a payment request always serialises");
        let request = self
            .http
            .post(self.endpoint(path))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .timeout(self.timeout);
        Self::read(endpoint, request).await
    }

    fn endpoint(&self, path: &str) -> Url {
        self.base.join(path).expect("a relative path joins onto an http(s) base URL")
    }

    async fn read<T: DeserializeOwned>(endpoint: &'static str, request: reqwest::RequestBuilder) -> Result<T> {
        let response = request.send().await.map_err(|source| Error::Request { endpoint, source })?;
        let status = response.status();
        if status != reqwest::StatusCode::OK {
            return Err(Error::Status { endpoint, status: status.as_u16() });
        }
        let body = response.bytes().await.map_err(|source| Error::Request { endpoint, source })?;
        serde_json::from_slice(&body).map_err(|source| Error::Decode { endpoint, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_resolve_under_the_base() {
        let client = FacilitatorClient::new("http://127.0.0.1:8402".parse().unwrap()).unwrap();
        assert_eq!(client.endpoint("verify").as_str(), "http://127.0.0.1:8402/verify");
        let nested = FacilitatorClient::new("http://host/x402".parse().unwrap()).unwrap();
        assert_eq!(nested.url().as_str(), "http://host/x402/");
        assert_eq!(nested.endpoint("settle").as_str(), "http://host/x402/settle");
    }

    #[test]
    fn refuses_urls_that_are_not_http_bases() {
        for url in ["mailto:a@b.c", "ftp://host/", "data:text/plain,x"] {
            let err = FacilitatorClient::new(url.parse().unwrap()).unwrap_err();
            assert!(matches!(err, Error::InvalidUrl { .. }), "{url}: {err}");
        }
    }
}
