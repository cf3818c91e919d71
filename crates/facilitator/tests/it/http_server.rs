//! The server over real TCP (the header-read timeout), and what a body that is not a request is told. A verifier
//! with no chain is enough: nothing here reaches verify's chain reads.

use std::{collections::HashMap, net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    Router,
    body::Body,
    extract::ConnectInfo,
    http::{Request, Response},
};
use clearing_facilitator::{
    InFlight, Metrics, SystemClock, Verifier,
    http::{AppState, HttpConfig, router, serve_with},
};
use clearing_x402::SupportedResponse;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};
use tower::ServiceExt;

use crate::harness::json_of;

/// Connections that stop halfway through their headers.
const HALF_HEADERS: usize = 50;

fn chainless_router(config: &HttpConfig) -> Router {
    let verifier = Verifier::new(HashMap::new(), Arc::new(SystemClock), InFlight::default());
    router(AppState::new(verifier, Arc::new(Metrics::default()), SupportedResponse::default()), config)
}

async fn post(router: &Router, body: impl Into<Body>) -> Response<Body> {
    let mut request = Request::post("/verify").header("content-type", "application/json").body(body.into()).unwrap();
    request.extensions_mut().insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    router.clone().oneshot(request).await.unwrap()
}

/// Reads until the server closes the connection; what it sent before closing.
async fn read_until_closed(mut stream: TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    match stream.read_to_end(&mut received).await {
        Ok(_) => received,
        // A close with unread data in the server's buffer arrives as a reset.
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => received,
        Err(e) => panic!("reading: {e}"),
    }
}

#[tokio::test]
async fn connections_that_stop_halfway_through_their_headers_are_closed() {
    let config = HttpConfig { header_read_timeout_ms: 300, ..HttpConfig::default() };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_with(listener, chainless_router(&config), &config, async move {
        let _ = stopped.await;
    }));

    let mut stalled = Vec::new();
    for _ in 0..HALF_HEADERS {
        let mut stream = TcpStream::connect(address).await.unwrap();
        stream.write_all(b"POST /verify HTTP/1.1\r\nHost: clearing\r\nContent-Ty").await.unwrap();
        stalled.push(stream);
    }
    let silent = TcpStream::connect(address).await.unwrap();

    // A guard against a hang (the failure this test exists for), far above the 300 ms timeout: not a measurement.
    let closed = tokio::time::timeout(Duration::from_secs(60), async {
        let mut answers = Vec::new();
        for stream in stalled {
            answers.push(read_until_closed(stream).await);
        }
        answers.push(read_until_closed(silent).await);
        answers
    })
    .await
    .expect("the server keeps connections with half-sent headers open");
    for answer in closed {
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 408"), "{answer}");
    }

    // The server still serves complete requests.
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(b"GET /health HTTP/1.1\r\nHost: clearing\r\nConnection: close\r\n\r\n").await.unwrap();
    let answer = String::from_utf8(read_until_closed(stream).await).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_body_that_is_json_but_not_an_object_is_told_what_a_request_is() {
    let router = chainless_router(&HttpConfig::default());
    for (body, found) in [("null", "not null"), ("[]", "not an array"), ("42", "not a number")] {
        let response = post(&router, body).await;
        assert_eq!(response.status(), 400, "{body}");
        let json = json_of(response).await;
        assert_eq!(json["error"], "invalid_request");
        let message = json["message"].as_str().unwrap();
        assert!(
            message.contains("the body must be a JSON object with x402Version, paymentPayload and paymentRequirements"),
            "{message}"
        );
        assert!(message.ends_with(found), "{message}");
        assert!(!message.contains("VersionProbe"), "{message}");
    }
}

#[tokio::test]
async fn a_body_that_is_not_utf8_is_told_so() {
    let router = chainless_router(&HttpConfig::default());
    let response = post(&router, b"{\"x402Version\": \"\xff\"}".to_vec()).await;
    assert_eq!(response.status(), 400);
    let json = json_of(response).await;
    assert_eq!(json["error"], "invalid_request");
    let message = json["message"].as_str().unwrap();
    assert!(message.starts_with("the body is not valid UTF-8"), "{message}");
    assert!(!message.contains("header"), "{message}");
}
