//! The x402 edge of the market's paid routes: what a route costs ([`X402Edge::price`]), the 402 asking for it
//! ([`PaymentDemand`], the same answer `clearing-paywall` gives: the v1 JSON body and the v2 `PAYMENT-REQUIRED`
//! header, built by `clearing-x402`'s [`Price::challenge`]), and the payment verified ([`X402Edge::verify`]) and
//! settled ([`X402Edge::settle_routed`]; a fee route's for the request that first presented it alone,
//! `settle_first_presented`) in this process by the facilitator's `Verifier` and `SettleService`, so market payments
//! join the durable queue and the BatchSettler batches of `POST /settle`, with the same answers.
//!
//! A paid handler reads the payment, verifies it (learning the payer: the authorization's `from`, whose signature
//! the verifier checked), checks what the payer may do, settles, and only then acts; the settled answer carries
//! `PAYMENT-RESPONSE` (v2) or `X-PAYMENT-RESPONSE` (v1) ([`Settled::attach`]). Nothing is settled for a request
//! refused before that point.

use alloy_primitives::{Address, B256, Bytes, U256};
use axum::{
    Json,
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use clearing_facilitator::{
    UsedBy, Verifier, WalletSignature,
    http::{RoutedSettle, SettleService},
};
use clearing_ledger::Route;
use clearing_x402::{
    PAYMENT_REQUIRED, PAYMENT_SIGNATURE, PaymentRequest, Price, Reason, SettleResponse, TokenDomain, Usdc, X_PAYMENT,
    X402Version, encode_header, response_header,
};
use serde::Serialize;
use tracing::{debug, info, warn};
use url::Url;

use crate::{MarketError, Result};

/// The `error` of a 402 answered to a request that carries no payment (the paywall's words).
const NO_PAYMENT: &str = "payment required: send PAYMENT-SIGNATURE (x402 v2) or X-PAYMENT (x402 v1)";

/// Prices the market's paid routes and takes their payments in-process. Cheap to clone.
#[derive(Debug, Clone)]
pub struct X402Edge {
    verifier: Verifier,
    settle: SettleService,
    domain: TokenDomain,
    pay_to: Address,
    public_url: Option<Url>,
}

/// A payment a request carries, read against its route's price.
#[derive(Debug, Clone)]
pub struct Payment {
    price: Price,
    resource: String,
    request: PaymentRequest,
}

/// A payment that verified: it would settle now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// The payer: the authorization's `from`, whose signature was checked.
    pub payer: Address,
    /// The authorization's EIP-3009 nonce.
    pub nonce: B256,
    /// The authorization's `validBefore`, unix seconds (saturated).
    pub valid_before: u64,
}

/// A payment that settled, with the answer the client is owed.
#[derive(Debug, Clone)]
pub struct Settled {
    /// The payer, as the facilitator settled it.
    pub payer: Address,
    response: SettleResponse,
    version: X402Version,
}

impl X402Edge {
    /// Payments in `domain`'s token to `pay_to`, verified by `verifier` and settled through `settle`.
    pub fn new(verifier: Verifier, settle: SettleService, domain: TokenDomain, pay_to: Address) -> Self {
        Self { verifier, settle, domain, pay_to, public_url: None }
    }

    /// Names paid resources under `url` (the API's public base URL) instead of the request's `Host`.
    #[must_use]
    pub fn with_public_url(mut self, url: Option<Url>) -> Self {
        self.public_url = url;
        self
    }

    /// Who the payments go to.
    pub const fn pay_to(&self) -> Address {
        self.pay_to
    }

    /// The price of a route: `amount` of the token to the payee, buying `description`.
    pub fn price(&self, amount: Usdc, description: &str) -> Price {
        Price::new(amount.to_u256(), self.domain.clone(), self.pay_to).with_description(description)
    }

    /// The price of a purchase: `amount` of the token paid into the escrow at `escrow` (settled on an escrow route
    /// by [`X402Edge::settle_routed`], never by a plain transfer).
    pub fn escrow_price(&self, amount: Usdc, escrow: Address, description: &str) -> Price {
        Price::new(amount.to_u256(), self.domain.clone(), escrow).with_description(description)
    }

    /// The chain the payments are on.
    pub const fn chain_id(&self) -> u64 {
        self.domain.chain_id()
    }

    /// The token the payments are in.
    pub const fn token(&self) -> Address {
        self.domain.token()
    }

    /// The payment `headers` carry for `price` (`PAYMENT-SIGNATURE`, else `X-PAYMENT`); a 402 when there is none
    /// or it cannot be read as a payment of this price. `uri` is the request's as it arrived (axum's `OriginalUri`:
    /// a nested router sees its path without the prefix), which names the resource paid for.
    pub fn payment(&self, price: &Price, uri: &Uri, headers: &HeaderMap) -> Result<Payment> {
        let resource = self.resource_url(uri, headers);
        let header = |name: &str| headers.get(name).map(HeaderValue::as_bytes);
        match price.payment_request(header(PAYMENT_SIGNATURE), header(X_PAYMENT), &resource) {
            None => Err(PaymentDemand::new(price, resource, NO_PAYMENT).into()),
            Some(Err(problem)) => Err(PaymentDemand::new(price, resource, &problem).into()),
            Some(Ok(request)) => Ok(Payment { price: price.clone(), resource, request }),
        }
    }

    /// Verifies `payment` (commits nothing); a 402 naming the x402 reason when it would not settle.
    pub async fn verify(&self, payment: &Payment) -> Result<Verified> {
        match self.verifier.verify(&payment.request).await {
            Ok(verified) => Ok(Verified {
                payer: verified.payer,
                nonce: verified.authorization.nonce,
                valid_before: u64::try_from(verified.authorization.valid_before).unwrap_or(u64::MAX),
            }),
            Err(rejection) => {
                debug!(reason = %rejection.reason, "market: payment invalid");
                Err(PaymentDemand::new(&payment.price, payment.resource.clone(), rejection.reason.as_str()).into())
            }
        }
    }

    /// What the chain says of `payer`'s `signature` over `digest` on `chain_id` (its code, and for a payer with code
    /// its ERC-1271 answer), read by the verifier's coalescer as a wallet's payment is; `token` is the asset the
    /// signed step moves. For the payer's escrow authorisations, checked before they are relayed.
    pub async fn wallet_signature(
        &self,
        chain_id: u64,
        token: Address,
        payer: Address,
        digest: B256,
        signature: Bytes,
    ) -> Result<WalletSignature> {
        self.verifier
            .wallet_signature(chain_id, token, payer, digest, signature)
            .await
            .map_err(|e| MarketError::Internal(format!("the payer's signature could not be read on chain: {e}")))
    }

    /// Who signed `payment`, and its nonce, from what needs no chain (the signature recovered, the terms checked
    /// against the price); `None` when that fails. For finding what an earlier send of this very payment bought,
    /// once it no longer verifies because it settled: the queue then shares its outcome only with exactly that
    /// payment ([`X402Edge::settle_keyed`]).
    pub fn signed_by(&self, payment: &Payment) -> Option<(Address, B256)> {
        let signed = self.verifier.precheck(&payment.request).ok()?;
        Some((signed.payer, signed.authorization.nonce))
    }

    /// [`X402Edge::signed_by`] with the authorization's value.
    pub fn authorization(&self, payment: &Payment) -> Option<(Address, B256, U256)> {
        let signed = self.verifier.precheck(&payment.request).ok()?;
        Some((signed.payer, signed.authorization.nonce, signed.authorization.value))
    }

    /// Settles `payment` through the facilitator's queue on `route` and waits for its outcome; a 402 carrying the
    /// failed settle answer in the payment-response header when it did not settle for this request (a payment still
    /// pending names its transaction: a retry of the same payment waits for it). For a purchase paid into the escrow,
    /// booked as a job or credited, through the escrow routes of the same queue.
    pub async fn settle_routed(&self, payment: &Payment, route: Route) -> Result<Settled> {
        self.settle_on(payment, route, false).await
    }

    /// [`X402Edge::settle_routed`] for a payment that buys something keyed by the payment itself (a job): if it
    /// settled for an earlier send of it (a retry after a lost answer or a crash, or a concurrent duplicate), it
    /// counts as settled for this one too, with its transaction. The queue answers
    /// `invalid_exact_evm_nonce_already_used` with that transaction only to exactly the payment that settled (same
    /// terms and signature bytes), so this never lends one payment's money to another; and what a repeat gets is
    /// what the payment bought, answered again, never bought again.
    pub async fn settle_keyed(&self, payment: &Payment, route: Route) -> Result<Settled> {
        self.settle_on(payment, route, true).await
    }

    /// Settles a fee route's `payment` for the request that first presented it and no other: a request whose call
    /// found the payment queued already (someone sending the same header, read from the mempool or the chain, or a
    /// retry) is refused even if its call claimed the payment's `success`; the request that queued it is answered
    /// settled whoever claimed that. Says also whether that request's batch found the nonce used by another
    /// transaction, which may have carried the payment ([`X402Edge::used_by`]).
    pub(crate) async fn settle_first_presented(&self, payment: &Payment) -> (Result<Settled>, bool) {
        let mut told = self.settle.settle_routed_told(&self.verifier, &payment.request, Route::Transfer).await;
        let front_run = told.front_run_after_queued;
        if !told.queued_here && (told.response.success || told.settled_earlier) {
            told.settled_earlier = false;
            told.response.success = false;
            told.response.error_reason = Some(Reason::NonceAlreadyUsed);
            told.response.error_message =
                Some("this payment was presented by an earlier request, which is the one it pays for".to_owned());
        }
        let first = told.queued_here;
        (self.settled(payment, told, first), front_run)
    }

    /// The transaction that carried `payment`, by the token's logs, when its nonce is used: the facilitator's own
    /// or someone else's ([`clearing_facilitator::Verifier::used_by`]). `None` when there is none, or when the chain
    /// could not be read (logged).
    pub(crate) async fn used_by(&self, payment: &Payment) -> Option<UsedBy> {
        match self.verifier.used_by(&payment.request).await {
            Ok(used) => used,
            Err(e) => {
                warn!(error = %e, "market: the token's logs could not be read for a used nonce");
                None
            }
        }
    }

    /// The answer owed for `payment` carried by `used` (someone else's transaction): settled, in that transaction.
    /// `None` when the payment does not pass the checks that need no chain.
    pub(crate) fn carried(&self, payment: &Payment, used: UsedBy) -> Option<Settled> {
        let signed = self.verifier.precheck(&payment.request).ok()?;
        let network = payment.request.network().to_owned();
        let response =
            SettleResponse::settled(signed.payer, used.transaction, network).with_amount(signed.authorization.value);
        Some(Settled { payer: signed.payer, response, version: payment.request.version() })
    }

    async fn settle_on(&self, payment: &Payment, route: Route, repeat: bool) -> Result<Settled> {
        let told = self.settle.settle_routed_told(&self.verifier, &payment.request, route).await;
        self.settled(payment, told, repeat)
    }

    fn settled(&self, payment: &Payment, told: RoutedSettle, repeat: bool) -> Result<Settled> {
        let mut response = told.response;
        let version = payment.request.version();
        // Only a payment that settled counts: one whose authorization someone else submitted to the token first is
        // refused for the same reason (nonce used), and bought nothing.
        if repeat && told.settled_earlier {
            response.success = true;
            response.error_reason = None;
            response.error_message = None;
        }
        match response.payer {
            Some(payer) if response.success => {
                info!(%payer, tx = ?response.transaction, "market: payment settled");
                Ok(Settled { payer, response, version })
            }
            _ => {
                let reason = response.error_reason.map_or("settlement_failed", |reason| reason.as_str());
                debug!(reason, tx = ?response.transaction, "market: payment not settled");
                let demand = PaymentDemand::new(&payment.price, payment.resource.clone(), reason)
                    .with_settlement(version, response);
                Err(demand.into())
            }
        }
    }

    /// The URL a payment is for: the public base URL and the path, else `http://` + `Host` + path, else the path.
    fn resource_url(&self, uri: &Uri, headers: &HeaderMap) -> String {
        let path = uri.path();
        if let Some(base) = &self.public_url {
            return format!("{}{path}", base.as_str().trim_end_matches('/'));
        }
        match headers.get(header::HOST).and_then(|host| host.to_str().ok()) {
            Some(host) => format!("http://{host}{path}"),
            None => path.to_owned(),
        }
    }
}

impl Payment {
    /// The URL the payment is for.
    pub fn resource(&self) -> &str {
        &self.resource
    }
}

impl Settled {
    /// Puts the settlement in the answer's payment-response header (`PAYMENT-RESPONSE` for v2, `X-PAYMENT-RESPONSE`
    /// for v1).
    pub fn attach(&self, mut response: Response) -> Response {
        response.headers_mut().insert(header_name(response_header(self.version)), header_value(&self.response));
        response
    }

    /// The settlement transaction.
    pub fn transaction(&self) -> Option<B256> {
        self.response.transaction
    }

    /// The wallet that paid.
    pub const fn payer(&self) -> Address {
        self.payer
    }
}

/// x402's 402: a route's price asked for again, saying why, in both protocol versions at once.
#[derive(Debug, Clone)]
pub struct PaymentDemand {
    price: Price,
    resource: String,
    error: String,
    /// A failed settle answer, in the header of the payment's version.
    settlement: Option<(X402Version, SettleResponse)>,
}

impl PaymentDemand {
    fn new(price: &Price, resource: String, error: &str) -> Self {
        Self { price: price.clone(), resource, error: error.to_owned(), settlement: None }
    }

    /// The x402 reason the payment was refused for.
    pub(crate) fn reason(&self) -> &str {
        &self.error
    }

    fn with_settlement(mut self, version: X402Version, response: SettleResponse) -> Self {
        self.settlement = Some((version, response));
        self
    }

    /// Why payment is asked for: an x402 reason code or what was wrong with the payment header.
    pub fn error(&self) -> &str {
        &self.error
    }
}

impl From<PaymentDemand> for MarketError {
    fn from(demand: PaymentDemand) -> Self {
        Self::PaymentRequired(Box::new(demand))
    }
}

impl IntoResponse for PaymentDemand {
    fn into_response(self) -> Response {
        let challenge = self.price.challenge(&self.resource, &self.error);
        let mut response = (StatusCode::PAYMENT_REQUIRED, Json(challenge.v1)).into_response();
        let headers = response.headers_mut();
        headers.insert(header_name(PAYMENT_REQUIRED), header_value(&challenge.v2));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some((version, settle)) = &self.settlement {
            headers.insert(header_name(response_header(*version)), header_value(settle));
        }
        response
    }
}

/// Whether `headers` carry an x402 payment (`PAYMENT-SIGNATURE` or `X-PAYMENT`), readable or not.
pub(crate) fn carries_payment(headers: &HeaderMap) -> bool {
    headers.contains_key(PAYMENT_SIGNATURE) || headers.contains_key(X_PAYMENT)
}

/// An x402 header name, as the lower-case name the `http` crate stores.
fn header_name(name: &'static str) -> HeaderName {
    HeaderName::from_bytes(name.as_bytes()).expect("x402 header names are valid header names")
}

fn header_value<T: Serialize>(value: &T) -> HeaderValue {
    let encoded = encode_header(value).expect("x402 response types always serialise");
    HeaderValue::try_from(encoded).expect("base64 is a valid header value")
}
