//! [`Paywall`], the tower [`Layer`], and [`PaywallService`], the service it wraps a route in.
//!
//! | request | answer |
//! | --- | --- |
//! | no `PAYMENT-SIGNATURE` / `X-PAYMENT` | 402: v1 body + v2 `PAYMENT-REQUIRED` |
//! | undecodable header, or a payment for other terms | 402 whose `error` names the problem |
//! | facilitator unreachable, non-200, unreadable | 502 `{"error":"facilitator_error"}`, handler not run or its response dropped |
//! | `/verify` invalid | 402 whose `error` is the `invalidReason` |
//! | verified, handler answers non-2xx (settle after) | the handler's response; nothing settled |
//! | verified, handler 2xx, `/settle` fails (also `settlement_pending` after the retries) | 402 + the failed settle response in the payment-response header; the handler's response is dropped |
//! | verified, handler 2xx, settled | the handler's response + `PAYMENT-RESPONSE` (v2) / `X-PAYMENT-RESPONSE` (v1) |
//! | a retry of a payload whose `/settle` went unanswered here, now answered `invalid_exact_evm_nonce_already_used` with its transaction | served as settled, once (the answer was lost, the payment made) |
//! | settle before: `/settle` fails | 402 as above; handler not run |
//! | settle before: settled | the handler's response, whatever its status, + the payment-response header |

use std::{
    convert::Infallible,
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use axum::{
    BoxError,
    body::{Body, Bytes, HttpBody},
    http::{HeaderMap, HeaderValue, Request, Response, header},
};
use clearing_x402::{ExactEvmPayload, PaymentRequest, Reason, SettleResponse, X402Version};
use tower::{Layer, Service};
use tracing::{debug, info, warn};

use crate::{
    FacilitatorClient, Price,
    response::{self, PAYMENT_SIGNATURE, X_PAYMENT},
    unanswered::{PayloadId, Unanswered},
};

/// How many times a settle answered `settlement_pending` is asked again by default (the reference resource
/// server retries once; the facilitator waits for the same transaction).
pub const DEFAULT_PENDING_RETRIES: u32 = 1;

/// The `error` of a 402 answered to a request that carries no payment.
const NO_PAYMENT: &str = "payment required: send PAYMENT-SIGNATURE (x402 v2) or X-PAYMENT (x402 v1)";

/// A layer that puts a route behind an x402 payment of [`Price`], verified and settled by a facilitator.
///
/// ```no_run
/// # use axum::{Router, routing::get};
/// # use clearing_paywall::{FacilitatorClient, Paywall, Price};
/// # use clearing_x402::Network;
/// # fn app(pay_to: alloy_primitives::Address) -> clearing_paywall::Result<Router> {
/// let facilitator = FacilitatorClient::new("http://127.0.0.1:8402".parse().unwrap())?;
/// let price = Price::usdc(Network::BASE, alloy_primitives::U256::from(10_000), pay_to).unwrap();
/// Ok(Router::new().route("/weather", get(|| async { "sunny" }).layer(Paywall::new(facilitator, price))))
/// # }
/// ```
///
/// Cheap to clone. Settles after the handler succeeded (2xx) unless told [`Paywall::settle_before_handler`].
#[derive(Clone)]
pub struct Paywall {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    facilitator: FacilitatorClient,
    price: Price,
    settle_before: bool,
    pending_retries: u32,
    /// Payloads whose settle got no answer; shared by every clone, kept across [`Paywall::map`].
    unanswered: Arc<Unanswered>,
}

impl fmt::Debug for Paywall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Paywall")
            .field("facilitator", &self.shared.facilitator.url().as_str())
            .field("price", &self.shared.price)
            .field("settle_before", &self.shared.settle_before)
            .field("pending_retries", &self.shared.pending_retries)
            .finish()
    }
}

impl Paywall {
    /// A paywall charging `price`, verifying and settling through `facilitator`, settling after the handler.
    pub fn new(facilitator: FacilitatorClient, price: Price) -> Self {
        Self {
            shared: Arc::new(Shared {
                facilitator,
                price,
                settle_before: false,
                pending_retries: DEFAULT_PENDING_RETRIES,
                unanswered: Arc::default(),
            }),
        }
    }

    /// Settles before running the handler (`true`) instead of after it succeeded (`false`, the default). Use it
    /// for handlers with effects that must not happen unpaid; the payer is then charged even if the handler
    /// fails, and the payment-response header rides on whatever it answers.
    #[must_use]
    pub fn settle_before_handler(self, before: bool) -> Self {
        self.map(|shared| shared.settle_before = before)
    }

    /// How many times to ask `/settle` again when it answers `settlement_pending` (default
    /// [`DEFAULT_PENDING_RETRIES`]). A payment still pending after that is answered 402 with the pending settle
    /// response (it names the transaction), and the resource is not served.
    #[must_use]
    pub fn with_pending_retries(self, retries: u32) -> Self {
        self.map(|shared| shared.pending_retries = retries)
    }

    /// The price.
    pub fn price(&self) -> &Price {
        &self.shared.price
    }

    fn map(self, f: impl FnOnce(&mut Shared)) -> Self {
        let mut shared = Arc::try_unwrap(self.shared).unwrap_or_else(|shared| Shared {
            facilitator: shared.facilitator.clone(),
            price: shared.price.clone(),
            settle_before: shared.settle_before,
            pending_retries: shared.pending_retries,
            unanswered: shared.unanswered.clone(),
        });
        f(&mut shared);
        Self { shared: Arc::new(shared) }
    }
}

impl<S> Layer<S> for Paywall {
    type Service = PaywallService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        PaywallService { inner, paywall: self.clone() }
    }
}

/// A service (a route or handler) behind a [`Paywall`].
#[derive(Debug, Clone)]
pub struct PaywallService<S> {
    inner: S,
    paywall: Paywall,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for PaywallService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: HttpBody<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // The service that was polled ready is the one that must be called; leave a fresh clone in its place.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let paywall = self.paywall.clone();
        Box::pin(async move { paywall.handle(inner, request).await })
    }
}

/// How a settle attempt ended, when it did not settle.
enum Unsettled {
    /// The facilitator answered `success: false`.
    Failed(SettleResponse),
    /// The facilitator could not be asked.
    Unreachable,
}

impl Paywall {
    async fn handle<S, ReqBody, ResBody>(
        self,
        mut inner: S,
        request: Request<ReqBody>,
    ) -> Result<Response<Body>, S::Error>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>>,
        ResBody: HttpBody<Data = Bytes> + Send + 'static,
        ResBody::Error: Into<BoxError>,
    {
        let shared = &self.shared;
        let resource = self.resource_url(&request);
        let required = |error: &str| response::payment_required(&shared.price, &resource, error, None);

        let payment = match self.read_payment(request.headers(), &resource) {
            None => return Ok(required(NO_PAYMENT)),
            Some(Err(problem)) => return Ok(required(&problem)),
            Some(Ok(payment)) => payment,
        };
        let version = payment.version();
        let exact = payment.raw_payload().exact_evm().ok().map(|exact| (PayloadId::of(&payment, &exact), exact));
        let sent = Sent { payment: &payment, exact: exact.as_ref() };

        match shared.facilitator.verify(&payment).await {
            Err(error) => {
                warn!(%error, "paywall: verify failed");
                return Ok(response::facilitator_error());
            }
            // Our own settle of this very payload went unanswered: it may have settled (so it no longer verifies);
            // only the facilitator's settle answer can say.
            Ok(verified) if !verified.is_valid && sent.went_unanswered(&shared.unanswered) => {
                let reason = verified.invalid_reason.map(Reason::as_str);
                info!(reason, "paywall: retry of a payload whose settle went unanswered; asking settle");
            }
            Ok(verified) if !verified.is_valid => {
                let reason = verified.invalid_reason.map_or("invalid_payment", Reason::as_str);
                debug!(reason, payer = verified.payer.map(display), "paywall: payment invalid");
                return Ok(required(reason));
            }
            Ok(_) => {}
        }

        if shared.settle_before {
            let settled = match self.settle(&sent).await {
                Ok(settled) => settled,
                Err(unsettled) => return Ok(self.unsettled(unsettled, &resource, version)),
            };
            let mut response = inner.call(request).await?.map(Body::new);
            response::attach_settlement(&mut response, version, &settled);
            return Ok(response);
        }

        let response = inner.call(request).await?;
        if !response.status().is_success() {
            debug!(status = %response.status(), "paywall: handler did not succeed; nothing settled");
            return Ok(response.map(Body::new));
        }
        match self.settle(&sent).await {
            Ok(settled) => {
                let mut response = response.map(Body::new);
                response::attach_settlement(&mut response, version, &settled);
                Ok(response)
            }
            // The resource is dropped unsent: nothing is handed out whose payment did not settle.
            Err(unsettled) => Ok(self.unsettled(unsettled, &resource, version)),
        }
    }

    /// Settles, asking again while the answer is `settlement_pending` (up to the configured retries).
    ///
    /// A settle that gets no answer is remembered, and a later retry of that exact payload answered
    /// `invalid_exact_evm_nonce_already_used` with the transaction that moved it counts as settled, once
    /// ([`Sent::lost_answer`]).
    async fn settle(&self, sent: &Sent<'_>) -> Result<SettleResponse, Unsettled> {
        let mut attempts = 0;
        loop {
            let settled = match self.shared.facilitator.settle(sent.payment).await {
                Ok(settled) => settled,
                Err(error) => {
                    warn!(%error, "paywall: settle failed");
                    if error.answer_may_be_lost()
                        && let Some((id, _)) = sent.exact
                    {
                        self.shared.unanswered.insert(*id);
                    }
                    return Err(Unsettled::Unreachable);
                }
            };
            if settled.success {
                info!(payer = settled.payer.map(display), tx = settled.transaction.map(display), network = %settled.network, "paywall: settled");
                // This payload's one success is spent: no later retry of it may be served on a lost answer.
                if let Some((id, _)) = sent.exact {
                    self.shared.unanswered.take(*id);
                }
                return Ok(settled);
            }
            if let Some(settled) = sent.lost_answer(&settled, &self.shared.unanswered) {
                return Ok(settled);
            }
            let pending = settled.error_reason == Some(Reason::SettlementPending) && settled.transaction.is_some();
            if pending && attempts < self.shared.pending_retries {
                attempts += 1;
                debug!(tx = settled.transaction.map(display), attempts, "paywall: settlement pending, asking again");
                continue;
            }
            warn!(
                reason = settled.error_reason.map(display),
                payer = settled.payer.map(display),
                tx = settled.transaction.map(display),
                "paywall: not settled"
            );
            return Err(Unsettled::Failed(settled));
        }
    }

    fn unsettled(&self, unsettled: Unsettled, resource: &str, version: X402Version) -> Response<Body> {
        match unsettled {
            Unsettled::Unreachable => response::facilitator_error(),
            Unsettled::Failed(settled) => {
                let reason = settled.error_reason.map_or("settlement_failed", Reason::as_str);
                response::payment_required(&self.shared.price, resource, reason, Some((version, &settled)))
            }
        }
    }

    /// The payment a request carries, as a facilitator request against this route's requirements:
    /// `PAYMENT-SIGNATURE` (v2) if present, else `X-PAYMENT` (v1); `None` for neither; an error naming the problem
    /// for a header that does not decode or a payment for other terms.
    fn read_payment(&self, headers: &HeaderMap, resource: &str) -> Option<Result<PaymentRequest, String>> {
        let header = |name| headers.get(name).map(HeaderValue::as_bytes);
        self.shared.price.payment_request(header(PAYMENT_SIGNATURE), header(X_PAYMENT), resource)
    }

    /// The URL the payment is for: the configured one, else the request's absolute URI, else `http://` + `Host`
    /// + path, else the path alone.
    fn resource_url<B>(&self, request: &Request<B>) -> String {
        if let Some(url) = self.shared.price.resource() {
            return url.to_owned();
        }
        let uri = request.uri();
        if uri.scheme().is_some() && uri.authority().is_some() {
            return uri.to_string();
        }
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        match request.headers().get(header::HOST).and_then(|host| host.to_str().ok()) {
            Some(host) => format!("http://{host}{path}"),
            None => path.to_owned(),
        }
    }
}

/// A payment request as sent to the facilitator, with its `exact` EVM payload (if it parses) and that payload's
/// identity.
struct Sent<'a> {
    payment: &'a PaymentRequest,
    exact: Option<&'a (PayloadId, ExactEvmPayload)>,
}

impl Sent<'_> {
    /// Whether this paywall's own settle of this exact payload went unanswered.
    fn went_unanswered(&self, unanswered: &Unanswered) -> bool {
        self.exact.is_some_and(|(id, _)| unanswered.contains(*id))
    }

    /// `answer`, a settle refusal, read as the lost answer of this paywall's own earlier settle: the payment settled,
    /// in the transaction the answer names. Granted once per unanswered payload (the grace is taken), and only when
    /// the answer says this payload's nonce is used by a transaction that moved this payload: reason
    /// `invalid_exact_evm_nonce_already_used`, a transaction, and the payer, amount (when given) and network of this
    /// payload. The payTo is not in an x402 answer: that the transaction paid this very payload (its payTo
    /// included) is the facilitator's word, as `success` is. Clearing answers this reason with a transaction only
    /// to a request carrying exactly the payload that settled (README, "Settle").
    fn lost_answer(&self, answer: &SettleResponse, unanswered: &Unanswered) -> Option<SettleResponse> {
        let (id, exact) = self.exact?;
        let transaction = answer.transaction?;
        let authorization = &exact.authorization;
        let ours = answer.error_reason == Some(Reason::NonceAlreadyUsed)
            && answer.payer == Some(authorization.from)
            && answer.amount.is_none_or(|amount| amount == authorization.value)
            && answer.network == self.payment.network();
        if !ours || !unanswered.take(*id) {
            return None;
        }
        info!(payer = %authorization.from, nonce = %authorization.nonce, tx = %transaction,
            "paywall: our earlier settle of this payload went unanswered; it settled in this transaction");
        Some(
            SettleResponse::settled(authorization.from, transaction, answer.network.clone())
                .with_amount(authorization.value),
        )
    }
}

// The service must fit axum's `route_layer` / `MethodRouter::layer`, whose routes never fail.
const _: fn() = || {
    fn fits<T: Service<Request<Body>, Error = Infallible> + Clone + Send + Sync + 'static>() {}
    fits::<PaywallService<axum::routing::Route>>();
};
