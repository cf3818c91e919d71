//! The paywall against a fake facilitator: a tiny in-process axum app on a loopback port that answers `/verify`
//! and `/settle` as told and records the order of calls (with the handler's) in one log.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
};

use alloy_primitives::{Address, B256, U256, address};
use axum::{
    Json, Router,
    body::{Body, Bytes},
    extract::State,
    http::{HeaderMap, Request, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use clearing_paywall::{FACILITATOR_ERROR, FacilitatorClient, Paywall, Price};
use clearing_x402::{
    Network, PaymentPayloadV1, PaymentPayloadV2, PaymentRequest, PaymentRequiredV1, PaymentRequiredV2, RawPayload,
    Reason, Rejection, SettleResponse, TokenDomain, VerifyResponse, Version, X402Version, decode_header, encode_header,
};
use tower::ServiceExt;

const PAYER: Address = address!("6CC7e1Eb68DC07E8efc620f18809CFb30B802d5A");
const PAY_TO: Address = address!("0c9f478c4490b13B1F01dA8407b7364c894b9614");
const TX: B256 = B256::repeat_byte(0xab);
const RESOURCE: &str = "{\"weather\":\"sunny\"}";
const HOST: &str = "shop.test";

/// A well-formed `exact` EVM payload; the fake facilitator never checks it.
fn scheme_payload() -> RawPayload {
    RawPayload::from_json(format!(
        r#"{{"signature":"0x{}","authorization":{{"from":"{PAYER}","to":"{PAY_TO}","value":"10000","validAfter":"0","validBefore":"9999999999","nonce":"0x{}"}}}}"#,
        "11".repeat(65),
        "22".repeat(32)
    ))
    .unwrap()
}

/// What the fake facilitator answers and what it saw.
#[derive(Default)]
struct Facilitator {
    verify: Mutex<Option<VerifyResponse>>,
    /// Answers in order; the last one repeats. Empty: HTTP 500.
    settle: Mutex<VecDeque<SettleResponse>>,
    verify_status: Mutex<Option<StatusCode>>,
    /// How many settles to answer HTTP 500 before the answers above (a facilitator that died mid-request, behind
    /// a proxy).
    settle_failures: Mutex<u32>,
    log: Mutex<Vec<&'static str>>,
    requests: Mutex<Vec<PaymentRequest>>,
}

impl Facilitator {
    fn log(&self) -> Vec<&'static str> {
        self.log.lock().unwrap().clone()
    }

    fn requests(&self) -> Vec<PaymentRequest> {
        self.requests.lock().unwrap().clone()
    }
}

async fn fake_verify(State(fake): State<Arc<Facilitator>>, body: Bytes) -> Response {
    fake.log.lock().unwrap().push("verify");
    fake.requests.lock().unwrap().push(PaymentRequest::from_slice(&body).unwrap());
    if let Some(status) = *fake.verify_status.lock().unwrap() {
        return status.into_response();
    }
    let answer = fake.verify.lock().unwrap().clone().unwrap_or(VerifyResponse::valid(PAYER));
    Json(answer).into_response()
}

async fn fake_settle(State(fake): State<Arc<Facilitator>>, body: Bytes) -> Response {
    fake.log.lock().unwrap().push("settle");
    fake.requests.lock().unwrap().push(PaymentRequest::from_slice(&body).unwrap());
    {
        let mut failures = fake.settle_failures.lock().unwrap();
        if *failures > 0 {
            *failures -= 1;
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    }
    let mut answers = fake.settle.lock().unwrap();
    let answer = if answers.len() > 1 { answers.pop_front() } else { answers.front().cloned() };
    match answer {
        Some(answer) => Json(answer).into_response(),
        None => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Serves the fake facilitator on a loopback port; it settles every payment unless told otherwise.
async fn facilitator() -> (Arc<Facilitator>, FacilitatorClient) {
    let fake = Arc::new(Facilitator::default());
    fake.settle.lock().unwrap().push_back(SettleResponse::settled(PAYER, TX, "eip155:84532"));
    let app = Router::new()
        .route("/verify", post(fake_verify))
        .route("/settle", post(fake_settle))
        .with_state(Arc::clone(&fake));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (fake, FacilitatorClient::new(url.parse().unwrap()).unwrap())
}

/// A facilitator URL nothing listens on.
async fn unreachable() -> FacilitatorClient {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    FacilitatorClient::new(url.parse().unwrap()).unwrap()
}

/// 0.01 USDC on Base Sepolia (a network with a v1 name), described.
fn price() -> Price {
    Price::usdc(Network::BASE_SEPOLIA, U256::from(10_000), PAY_TO).unwrap().with_description("weather")
}

/// `GET /weather` (answers the resource) and `GET /broken` (answers 500), both behind `paywall`; the handlers
/// write to the fake facilitator's log so the order of calls can be checked.
fn app(paywall: Paywall, fake: &Arc<Facilitator>) -> Router {
    let weather = {
        let fake = Arc::clone(fake);
        move || async move {
            fake.log.lock().unwrap().push("handler");
            ([("content-type", "application/json")], RESOURCE)
        }
    };
    let broken = {
        let fake = Arc::clone(fake);
        move || async move {
            fake.log.lock().unwrap().push("handler");
            (StatusCode::INTERNAL_SERVER_ERROR, "boom")
        }
    };
    Router::new().route("/weather", get(weather)).route("/broken", get(broken)).route_layer(paywall)
}

fn v2_payment(price: &Price) -> String {
    let payload = PaymentPayloadV2 {
        x402_version: Version,
        payload: scheme_payload(),
        resource: None,
        accepted: price.requirements_v2(),
        extensions: None,
    };
    encode_header(&payload).unwrap()
}

fn v1_payment(network: &str) -> String {
    let payload = PaymentPayloadV1 {
        x402_version: Version,
        scheme: "exact".into(),
        network: network.into(),
        payload: scheme_payload(),
    };
    encode_header(&payload).unwrap()
}

async fn get_with(app: Router, path: &str, headers: &[(&str, &str)]) -> (StatusCode, HeaderMap, Bytes) {
    let mut request = Request::get(path).header("host", HOST);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app.oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, headers, body)
}

/// The 402's two halves, decoded with the x402 types: the v1 body and the v2 header.
fn required(headers: &HeaderMap, body: &[u8]) -> (PaymentRequiredV1, PaymentRequiredV2) {
    let v1: PaymentRequiredV1 = serde_json::from_slice(body).unwrap();
    let v2: PaymentRequiredV2 =
        decode_header(headers.get("PAYMENT-REQUIRED").expect("PAYMENT-REQUIRED").as_bytes()).unwrap();
    (v1, v2)
}

fn settle_header(headers: &HeaderMap, name: &str) -> SettleResponse {
    decode_header(headers.get(name).unwrap_or_else(|| panic!("no {name}")).as_bytes()).unwrap()
}

#[tokio::test]
async fn no_payment_is_a_402_in_both_versions() {
    let (fake, client) = facilitator().await;
    let price = price();
    let (status, headers, body) =
        get_with(app(Paywall::new(client, price.clone()), &fake), "/weather?city=x", &[]).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    let (v1, v2) = required(&headers, &body);
    let url = format!("http://{HOST}/weather?city=x");
    assert!(v1.error.contains("PAYMENT-SIGNATURE") && v1.error.contains("X-PAYMENT"), "{}", v1.error);
    assert_eq!(v1.accepts, vec![price.requirements_v1(&url).unwrap()]);
    assert_eq!(v1.accepts[0].network, "base-sepolia");
    assert_eq!(v1.accepts[0].max_amount_required, "10000");
    assert_eq!(v1.accepts[0].extra, Some(serde_json::json!({"name": "USDC", "version": "2"})));
    assert_eq!(v2.accepts, vec![price.requirements_v2()]);
    assert_eq!(v2.accepts[0].network, "eip155:84532");
    assert_eq!(v2.resource.url, url);
    assert_eq!(v2.resource.description.as_deref(), Some("weather"));
    assert_eq!(v2.error.as_deref(), Some(v1.error.as_str()));
    assert!(fake.log().is_empty(), "{:?}", fake.log());
}

#[tokio::test]
async fn a_network_without_a_v1_name_offers_v2_only() {
    let (fake, client) = facilitator().await;
    let domain = TokenDomain::new(31337, Address::repeat_byte(0x55), "USDC", "2");
    let price = Price::new(U256::from(7), domain, PAY_TO).with_resource("https://public.test/weather");
    let app = app(Paywall::new(client, price.clone()), &fake);
    let (status, headers, body) = get_with(app.clone(), "/weather", &[]).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    let (v1, v2) = required(&headers, &body);
    assert!(v1.accepts.is_empty());
    assert_eq!(v2.accepts[0].network, "eip155:31337");
    assert_eq!(v2.resource.url, "https://public.test/weather");

    let (status, headers, body) = get_with(app, "/weather", &[("X-PAYMENT", &v1_payment("base-sepolia"))]).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    let (v1, _) = required(&headers, &body);
    assert!(v1.error.contains("x402 v1 is not offered") && v1.error.contains("eip155:31337"), "{}", v1.error);
    assert!(fake.log().is_empty());
}

#[tokio::test]
async fn an_undecodable_header_is_a_402_naming_the_problem() {
    let (fake, client) = facilitator().await;
    let app = app(Paywall::new(client, price()), &fake);
    let (status, headers, body) = get_with(app.clone(), "/weather", &[("PAYMENT-SIGNATURE", "not base64!")]).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    let (_, v2) = required(&headers, &body);
    let error = v2.error.unwrap();
    assert!(error.starts_with("invalid PAYMENT-SIGNATURE header: header is not base64"), "{error}");

    let v1_as_v2 = v1_payment("base-sepolia");
    let (status, headers, body) = get_with(app.clone(), "/weather", &[("PAYMENT-SIGNATURE", &v1_as_v2)]).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    let error = required(&headers, &body).1.error.unwrap();
    assert!(error.contains("x402Version 1, expected 2"), "{error}");

    let (status, headers, body) = get_with(app, "/weather", &[("X-PAYMENT", "e30=")]).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    let (v1, _) = required(&headers, &body);
    assert!(v1.error.starts_with("invalid X-PAYMENT header: invalid JSON"), "{}", v1.error);
    assert!(fake.log().is_empty());
}

#[tokio::test]
async fn a_payment_for_other_terms_is_refused_before_the_facilitator() {
    let (fake, client) = facilitator().await;
    let price = price();
    let app = app(Paywall::new(client, price.clone()), &fake);
    let cheaper = price.clone().with_max_timeout_seconds(61);
    let (status, headers, body) =
        get_with(app.clone(), "/weather", &[("PAYMENT-SIGNATURE", &v2_payment(&cheaper))]).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    let error = required(&headers, &body).1.error.unwrap();
    assert_eq!(error, "payment accepted maxTimeoutSeconds 61, this route requires 60");

    let other = Price::new(U256::from(9_999), price.domain().clone(), PAY_TO);
    let (_, headers, body) = get_with(app.clone(), "/weather", &[("PAYMENT-SIGNATURE", &v2_payment(&other))]).await;
    let error = required(&headers, &body).1.error.unwrap();
    assert_eq!(error, "payment accepted amount \"9999\", this route requires \"10000\"");

    let (_, headers, body) = get_with(app, "/weather", &[("X-PAYMENT", &v1_payment("base"))]).await;
    let (v1, _) = required(&headers, &body);
    assert_eq!(v1.error, "payment network \"base\", this route requires \"base-sepolia\"");
    assert!(fake.log().is_empty());
}

#[tokio::test]
async fn an_invalid_payment_is_a_402_with_the_reason_and_runs_nothing() {
    let (fake, client) = facilitator().await;
    let rejection = Rejection::new(Reason::InsufficientBalance, "balance 1 < 10000").with_payer(Some(PAYER));
    *fake.verify.lock().unwrap() = Some(VerifyResponse::invalid(&rejection));
    let price = price();
    let (status, headers, body) = get_with(
        app(Paywall::new(client, price.clone()), &fake),
        "/weather",
        &[("PAYMENT-SIGNATURE", &v2_payment(&price))],
    )
    .await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    let (v1, v2) = required(&headers, &body);
    assert_eq!(v2.error.as_deref(), Some("invalid_exact_evm_insufficient_balance"));
    assert_eq!(v1.error, "invalid_exact_evm_insufficient_balance");
    assert!(headers.get("PAYMENT-RESPONSE").is_none());
    assert_eq!(fake.log(), ["verify"]);
}

#[tokio::test]
async fn a_v2_payment_is_verified_served_settled_and_answered() {
    let (fake, client) = facilitator().await;
    let price = price();
    let (status, headers, body) = get_with(
        app(Paywall::new(client, price.clone()), &fake),
        "/weather",
        &[("PAYMENT-SIGNATURE", &v2_payment(&price))],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, RESOURCE);
    assert_eq!(fake.log(), ["verify", "handler", "settle"]);
    let settled = settle_header(&headers, "PAYMENT-RESPONSE");
    assert!(settled.success);
    assert_eq!(settled.transaction, Some(TX));
    assert_eq!(settled.payer, Some(PAYER));
    assert!(headers.get("X-PAYMENT-RESPONSE").is_none());
    // Verify and settle were asked about the same payment against this route's requirement.
    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0], requests[1]);
    match &requests[0] {
        PaymentRequest::V2 { payload, requirements } => {
            assert_eq!(*requirements, price.requirements_v2());
            assert_eq!(payload.payload, scheme_payload());
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_v1_payment_is_answered_in_v1() {
    let (fake, client) = facilitator().await;
    let price = price();
    let (status, headers, body) = get_with(
        app(Paywall::new(client, price.clone()), &fake),
        "/weather",
        &[("X-PAYMENT", &v1_payment("base-sepolia"))],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, RESOURCE);
    assert!(settle_header(&headers, "X-PAYMENT-RESPONSE").success);
    assert!(headers.get("PAYMENT-RESPONSE").is_none());
    let requests = fake.requests();
    assert_eq!(requests[0].version(), X402Version::V1);
    match &requests[1] {
        PaymentRequest::V1 { requirements, .. } => {
            assert_eq!(*requirements, price.requirements_v1(&format!("http://{HOST}/weather")).unwrap());
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_handler_that_fails_is_not_settled() {
    let (fake, client) = facilitator().await;
    let price = price();
    let (status, headers, body) = get_with(
        app(Paywall::new(client, price.clone()), &fake),
        "/broken",
        &[("PAYMENT-SIGNATURE", &v2_payment(&price))],
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body, "boom");
    assert!(headers.get("PAYMENT-RESPONSE").is_none());
    assert_eq!(fake.log(), ["verify", "handler"]);
}

#[tokio::test]
async fn a_failed_settlement_withholds_the_resource() {
    let (fake, client) = facilitator().await;
    let failed = SettleResponse::failed(&Rejection::new(Reason::TransactionFailed, "reverted"), "eip155:84532")
        .with_transaction(TX);
    *fake.settle.lock().unwrap() = VecDeque::from([failed.clone()]);
    let price = price();
    let (status, headers, body) = get_with(
        app(Paywall::new(client, price.clone()), &fake),
        "/weather",
        &[("PAYMENT-SIGNATURE", &v2_payment(&price))],
    )
    .await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(fake.log(), ["verify", "handler", "settle"]);
    let (v1, v2) = required(&headers, &body);
    assert_eq!(v2.error.as_deref(), Some("invalid_exact_evm_transaction_failed"));
    assert_eq!(v1.error, "invalid_exact_evm_transaction_failed");
    assert!(!String::from_utf8_lossy(&body).contains("sunny"));
    assert_eq!(settle_header(&headers, "PAYMENT-RESPONSE"), failed);
}

#[tokio::test]
async fn a_pending_settlement_is_asked_again_then_withheld() {
    let pending = SettleResponse::pending(PAYER, TX, "eip155:84532");
    let settled = SettleResponse::settled(PAYER, TX, "eip155:84532");
    let price = price();

    // Pending once, then settled: the default single retry serves the resource.
    let (fake, client) = facilitator().await;
    *fake.settle.lock().unwrap() = VecDeque::from([pending.clone(), settled.clone()]);
    let (status, headers, body) = get_with(
        app(Paywall::new(client, price.clone()), &fake),
        "/weather",
        &[("PAYMENT-SIGNATURE", &v2_payment(&price))],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, RESOURCE);
    assert_eq!(settle_header(&headers, "PAYMENT-RESPONSE"), settled);
    assert_eq!(fake.log(), ["verify", "handler", "settle", "settle"]);

    // Still pending after the retries: 402 with the pending response (it names the transaction), no resource.
    let (fake, client) = facilitator().await;
    *fake.settle.lock().unwrap() = VecDeque::from([pending.clone()]);
    let paywall = Paywall::new(client, price.clone()).with_pending_retries(2);
    let (status, headers, body) =
        get_with(app(paywall, &fake), "/weather", &[("PAYMENT-SIGNATURE", &v2_payment(&price))]).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(required(&headers, &body).1.error.as_deref(), Some("settlement_pending"));
    assert_eq!(settle_header(&headers, "PAYMENT-RESPONSE"), pending);
    assert_eq!(fake.log(), ["verify", "handler", "settle", "settle", "settle"]);
}

#[tokio::test]
async fn settle_before_runs_the_handler_only_after_settlement() {
    let price = price();
    let (fake, client) = facilitator().await;
    let paywall = Paywall::new(client, price.clone()).settle_before_handler(true);
    let app_ = app(paywall, &fake);
    let (status, headers, body) =
        get_with(app_.clone(), "/weather", &[("PAYMENT-SIGNATURE", &v2_payment(&price))]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, RESOURCE);
    assert!(settle_header(&headers, "PAYMENT-RESPONSE").success);
    assert_eq!(fake.log(), ["verify", "settle", "handler"]);

    // Paid before the handler failed: the payer is told, on the handler's own answer.
    let (status, headers, _) = get_with(app_, "/broken", &[("PAYMENT-SIGNATURE", &v2_payment(&price))]).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(settle_header(&headers, "PAYMENT-RESPONSE").success);

    // Not settled: the handler never runs.
    let (fake, client) = facilitator().await;
    let failed = SettleResponse::failed(&Rejection::new(Reason::NonceAlreadyUsed, "used"), "eip155:84532");
    *fake.settle.lock().unwrap() = VecDeque::from([failed]);
    let paywall = Paywall::new(client, price.clone()).settle_before_handler(true);
    let (status, headers, body) =
        get_with(app(paywall, &fake), "/weather", &[("PAYMENT-SIGNATURE", &v2_payment(&price))]).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(required(&headers, &body).1.error.as_deref(), Some("invalid_exact_evm_nonce_already_used"));
    assert!(!settle_header(&headers, "PAYMENT-RESPONSE").success);
    assert_eq!(fake.log(), ["verify", "settle"]);
}

fn assert_facilitator_error(status: StatusCode, body: &[u8]) {
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    let body: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(body["error"], FACILITATOR_ERROR);
}

#[tokio::test]
async fn facilitator_trouble_is_a_502_and_never_the_resource() {
    let price = price();
    let payment = v2_payment(&price);

    // Unreachable.
    let (fake, _) = facilitator().await;
    let (status, headers, body) = get_with(
        app(Paywall::new(unreachable().await, price.clone()), &fake),
        "/weather",
        &[("PAYMENT-SIGNATURE", &payment)],
    )
    .await;
    assert_facilitator_error(status, &body);
    assert!(headers.get("PAYMENT-RESPONSE").is_none());
    assert!(fake.log().is_empty());

    // /verify answers 500.
    let (fake, client) = facilitator().await;
    *fake.verify_status.lock().unwrap() = Some(StatusCode::INTERNAL_SERVER_ERROR);
    let (status, _, body) =
        get_with(app(Paywall::new(client, price.clone()), &fake), "/weather", &[("PAYMENT-SIGNATURE", &payment)]).await;
    assert_facilitator_error(status, &body);
    assert_eq!(fake.log(), ["verify"]);

    // /settle answers 500 after the handler ran: its response is dropped.
    let (fake, client) = facilitator().await;
    fake.settle.lock().unwrap().clear();
    let (status, headers, body) =
        get_with(app(Paywall::new(client, price.clone()), &fake), "/weather", &[("PAYMENT-SIGNATURE", &payment)]).await;
    assert_facilitator_error(status, &body);
    assert!(headers.get("PAYMENT-RESPONSE").is_none());
    assert_eq!(fake.log(), ["verify", "handler", "settle"]);
}

#[tokio::test]
async fn v2_wins_when_both_headers_are_sent() {
    let (fake, client) = facilitator().await;
    let price = price();
    let headers = [("PAYMENT-SIGNATURE", v2_payment(&price)), ("X-PAYMENT", "garbage".to_owned())];
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let (status, response_headers, _) = get_with(app(Paywall::new(client, price), &fake), "/weather", &headers).await;
    assert_eq!(status, StatusCode::OK);
    assert!(response_headers.get("PAYMENT-RESPONSE").is_some());
    assert_eq!(fake.requests()[0].version(), X402Version::V2);
}

/// What Clearing answers a repeat of a payload that settled in `TX` (its `success` told to an earlier caller).
fn nonce_used(payer: Address) -> SettleResponse {
    let rejection = Rejection::new(Reason::NonceAlreadyUsed, "used").with_payer(Some(payer));
    SettleResponse::failed(&rejection, "eip155:84532").with_transaction(TX).with_amount(U256::from(10_000))
}

/// The facilitator's verify answer once the payload's nonce is used.
fn nonce_used_at_verify() -> VerifyResponse {
    VerifyResponse::invalid(&Rejection::new(Reason::NonceAlreadyUsed, "used").with_payer(Some(PAYER)))
}

#[tokio::test]
async fn a_retry_of_a_payload_whose_settle_went_unanswered_is_served_once() {
    let (fake, client) = facilitator().await;
    *fake.settle_failures.lock().unwrap() = 1;
    *fake.settle.lock().unwrap() = [nonce_used(PAYER)].into();
    let price = price();
    let app = app(Paywall::new(client, price.clone()), &fake);
    let payment = [("PAYMENT-SIGNATURE", v2_payment(&price))];
    let payment: Vec<(&str, &str)> = payment.iter().map(|(n, v)| (*n, v.as_str())).collect();

    let (status, _, _) = get_with(app.clone(), "/weather", &payment).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "the settle got no answer");
    // It settled meanwhile: verify now says the nonce is used, settle names the transaction.
    *fake.verify.lock().unwrap() = Some(nonce_used_at_verify());
    let (status, headers, body) = get_with(app.clone(), "/weather", &payment).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert_eq!(body, RESOURCE);
    let settled = settle_header(&headers, "PAYMENT-RESPONSE");
    assert!(settled.success && settled.transaction == Some(TX), "{settled:?}");
    assert_eq!(fake.log(), ["verify", "handler", "settle", "verify", "handler", "settle"]);

    let (status, headers, body) = get_with(app, "/weather", &payment).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "served once only");
    assert_eq!(required(&headers, &body).0.error, "invalid_exact_evm_nonce_already_used");
}

#[tokio::test]
async fn a_nonce_used_answer_is_no_grace_unless_this_paywall_sent_that_payload_unanswered() {
    let price = price();
    let payment = [("PAYMENT-SIGNATURE", v2_payment(&price))];
    let payment: Vec<(&str, &str)> = payment.iter().map(|(n, v)| (*n, v.as_str())).collect();

    // Never sent here before.
    let (fake, client) = facilitator().await;
    *fake.settle.lock().unwrap() = [nonce_used(PAYER)].into();
    let (status, _, _) = get_with(app(Paywall::new(client, price.clone()), &fake), "/weather", &payment).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);

    // Sent, and refused (an answer, not a lost one).
    let (fake, client) = facilitator().await;
    let refusal = Rejection::new(Reason::InsufficientBalance, "poor").with_payer(Some(PAYER));
    *fake.settle.lock().unwrap() = [SettleResponse::failed(&refusal, "eip155:84532"), nonce_used(PAYER)].into();
    let app_once = app(Paywall::new(client, price.clone()), &fake);
    for _ in 0..2 {
        let (status, _, _) = get_with(app_once.clone(), "/weather", &payment).await;
        assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    }

    // Sent unanswered, then answered for another payer's payment, or without a transaction.
    let (fake, client) = facilitator().await;
    *fake.settle_failures.lock().unwrap() = 1;
    let mut no_transaction = nonce_used(PAYER);
    no_transaction.transaction = None;
    *fake.settle.lock().unwrap() = [nonce_used(Address::repeat_byte(1)), no_transaction, nonce_used(PAYER)].into();
    let app = app(Paywall::new(client, price), &fake);
    let (status, _, _) = get_with(app.clone(), "/weather", &payment).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    for _ in 0..2 {
        let (status, _, _) = get_with(app.clone(), "/weather", &payment).await;
        assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    }
    // The grace was not spent on those: the answer that names this payload's transaction is served.
    let (status, _, _) = get_with(app, "/weather", &payment).await;
    assert_eq!(status, StatusCode::OK);
}
