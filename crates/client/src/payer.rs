//! The whole exchange over HTTP: request, 402, sign, retry, read the settlement.

use std::{
    fmt,
    time::{SystemTime, UNIX_EPOCH},
};

use alloy::{
    primitives::{Address, B256},
    signers::local::PrivateKeySigner,
};
use clearing_x402::{
    ExactEvmAuthorization, PAYMENT_REQUIRED, PAYMENT_RESPONSE, SettleResponse, X_PAYMENT_RESPONSE, decode_header,
};
use reqwest::{
    Method, StatusCode,
    header::{HeaderMap, HeaderName, HeaderValue},
};
use url::Url;

use crate::{Error, Offer, PaymentRequired, Policy, Result, sign_payment};

/// A payer: a key, a spending policy and an HTTP client.
#[derive(Clone)]
pub struct Payer {
    http: reqwest::Client,
    signer: PrivateKeySigner,
    policy: Policy,
}

impl fmt::Debug for Payer {
    // Only the address: the key never reaches a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Payer").field("address", &self.signer.address()).field("policy", &self.policy).finish()
    }
}

/// The answer to a request, paid for or not.
#[derive(Debug)]
pub struct Paid {
    /// The final status.
    pub status: StatusCode,
    /// The final headers.
    pub headers: HeaderMap,
    /// The final body.
    pub body: Vec<u8>,
    /// The payment made, if the server asked for one.
    pub payment: Option<Payment>,
}

/// A payment made for a request.
#[derive(Debug, Clone)]
pub struct Payment {
    /// The option paid.
    pub offer: Offer,
    /// What was signed.
    pub authorization: ExactEvmAuthorization,
    /// The settlement the server reported in `PAYMENT-RESPONSE` / `X-PAYMENT-RESPONSE`, if it sent one that parses.
    pub settlement: Option<SettleResponse>,
}

impl Payer {
    /// A payer signing with `signer` under `policy`.
    pub fn new(signer: PrivateKeySigner, policy: Policy) -> Self {
        Self { http: reqwest::Client::new(), signer, policy }
    }

    /// The same payer sending through `http` (for TLS, proxies or timeouts of your own).
    #[must_use]
    pub fn with_client(mut self, http: reqwest::Client) -> Self {
        self.http = http;
        self
    }

    /// The payer's address.
    pub fn address(&self) -> Address {
        self.signer.address()
    }

    /// Sends `method url` with `headers` and `body`; if the answer is 402, pays the cheapest option the policy
    /// accepts and sends the request once more with the payment. A second 402 is [`Error::PaymentRefused`].
    pub async fn pay(&self, method: Method, url: Url, headers: HeaderMap, body: Option<Vec<u8>>) -> Result<Paid> {
        let first = self.send(&method, &url, &headers, body.as_deref(), None).await?;
        if first.status != StatusCode::PAYMENT_REQUIRED {
            return Ok(Paid { payment: None, ..first });
        }
        let required = PaymentRequired::from_response(
            first.headers.get(PAYMENT_REQUIRED).map(HeaderValue::as_bytes),
            &first.body,
        )?;
        let offer = self.policy.choose(&required)?;
        let header = sign_payment(&self.signer, &required, &offer, unix_now(), random_nonce())?;
        tracing::info!(
            url = %url, network = %offer.network, amount = %offer.amount, pay_to = %offer.pay_to,
            "paying"
        );
        let paid = self.send(&method, &url, &headers, body.as_deref(), Some((header.name, &header.value))).await?;
        if paid.status == StatusCode::PAYMENT_REQUIRED {
            return Err(Error::PaymentRefused(refusal_reason(&paid)));
        }
        let settlement = [PAYMENT_RESPONSE, X_PAYMENT_RESPONSE]
            .into_iter()
            .find_map(|name| paid.headers.get(name))
            .and_then(|value| decode_header::<SettleResponse>(value.as_bytes()).ok());
        let payment = Payment { offer, authorization: header.authorization, settlement };
        Ok(Paid { payment: Some(payment), ..paid })
    }

    async fn send(
        &self,
        method: &Method,
        url: &Url,
        headers: &HeaderMap,
        body: Option<&[u8]>,
        payment: Option<(&str, &str)>,
    ) -> Result<Paid> {
        let http_error = |source| Error::Http { url: url.to_string(), source };
        let mut request = self.http.request(method.clone(), url.clone()).headers(headers.clone());
        if let Some(body) = body {
            request = request.body(body.to_vec());
        }
        if let Some((name, value)) = payment {
            let value = HeaderValue::from_str(value).map_err(|_| Error::Signing("header is not ASCII".into()))?;
            // `from_bytes` lowercases the protocol's upper-case names, as HTTP/2 requires.
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| Error::Signing("header name".into()))?;
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(http_error)?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(http_error)?.to_vec();
        Ok(Paid { status, headers, body, payment: None })
    }
}

/// Parses `Name: value` request headers as a command line gives them.
pub(crate) fn parse_header_line(line: &str) -> Result<(HeaderName, HeaderValue)> {
    let invalid = || Error::InvalidHeader(line.to_owned());
    let (name, value) = line.split_once(':').ok_or_else(invalid)?;
    let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| invalid())?;
    let value = HeaderValue::from_str(value.trim()).map_err(|_| invalid())?;
    Ok((name, value))
}

impl Payer {
    /// Builds a header map from `Name: value` lines (as `curl -H` takes them).
    pub fn headers<'a>(lines: impl IntoIterator<Item = &'a str>) -> Result<HeaderMap> {
        let mut map = HeaderMap::new();
        for line in lines {
            let (name, value) = parse_header_line(line)?;
            map.append(name, value);
        }
        Ok(map)
    }
}

/// Why a server refused the payment: the v2 `PAYMENT-REQUIRED` header's `error`, else the v1 body's.
fn refusal_reason(answer: &Paid) -> Option<String> {
    let required =
        PaymentRequired::from_response(answer.headers.get(PAYMENT_REQUIRED).map(HeaderValue::as_bytes), &answer.body)
            .ok()?;
    match required {
        PaymentRequired::V1(r) => Some(r.error),
        PaymentRequired::V2(r) => r.error,
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// 32 bytes from the operating system's generator, by way of a fresh random key (alloy's signer draws it from
/// the OS), so this crate needs no RNG of its own.
fn random_nonce() -> B256 {
    PrivateKeySigner::random().to_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lines_parse_like_curl() {
        let map = Payer::headers(["Accept: application/json", "X-Trace:  abc "]).unwrap();
        assert_eq!(map["accept"], "application/json");
        assert_eq!(map["x-trace"], "abc");
        let err = Payer::headers(["no colon"]).unwrap_err().to_string();
        assert!(err.contains("expected `Name: value`"), "{err}");
    }

    #[test]
    fn debug_shows_the_address_not_the_key() {
        let signer = PrivateKeySigner::random();
        let key = alloy::hex::encode(signer.to_bytes());
        let payer = Payer::new(signer, Policy::at_most(alloy::primitives::U256::from(1)));
        let shown = format!("{payer:?}");
        assert!(!shown.contains(&key));
        assert!(shown.contains("address"));
    }
}
