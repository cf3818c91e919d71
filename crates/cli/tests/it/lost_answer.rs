//! The lost answer: `clearing serve` records a payment's one `success` and dies (SIGKILL) before the answer reaches
//! the resource server. The payer is charged once and nobody was told; the client's retry through
//! `clearing-paywall` must still get the resource, exactly once, and nobody else may get it for that payment.
//!
//! The facilitator is reached through a TCP proxy that holds back the first bytes of the `/settle` answer, so the
//! kill lands after the facilitator recorded the claim (checked in the ledger) and before the resource server heard
//! anything; the proxy then drops the connection, as the kernel would once the process is gone.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use alloy::{primitives::U256, signers::local::PrivateKeySigner};
use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode},
    routing::get,
};
use clearing_chain::contracts::MockUSDC;
use clearing_client::PaymentRequired;
use clearing_ledger::{Ledger, PaymentKey, SettlementStatus};
use clearing_paywall::{FacilitatorClient, Paywall, Price};
use clearing_x402::{PAYMENT_REQUIRED, SettleResponse, decode_header};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::{mpsc, oneshot},
};
use tower::ServiceExt;

use crate::crash::{set_up, start};

const PRICE: u64 = 10_000;
const RESOURCE: &str = "{\"weather\":\"sunny\"}";

#[tokio::test(flavor = "multi_thread")]
async fn a_settle_answer_lost_in_a_crash_still_delivers_the_resource_once() {
    let setup = set_up("lost_answer").await;
    let payer = PrivateKeySigner::random();
    setup.chain.mint(payer.address(), PRICE).await;
    let ledger = Ledger::connect(setup.database.url(), 2).await.unwrap();
    let (proxy, mut held) = Proxy::start(setup.listen).await;

    let price = Price::new(U256::from(PRICE), setup.chain.domain(), setup.pay_to);
    let paywall = Paywall::new(FacilitatorClient::new(proxy.url().parse().unwrap()).unwrap(), price.clone());
    let shop = shop(paywall);
    // The payer reads the shop's 402 and pays it as the product's client does.
    let payment = clearing_testkit::pay(&payer, &required(shop.clone()).await);
    let (nonce, header) = (payment.nonce(), payment.header.value);

    // The first try: the facilitator settles, records the success, and dies before its answer arrives.
    let mut facilitator = start(&setup);
    proxy.hold_next_settle_answer();
    let first = tokio::spawn(fetch(shop.clone(), header.clone()));
    // Bounded: were verify to refuse the payment, no settle would come and the test must fail, not hang.
    let release = tokio::time::timeout(std::time::Duration::from_secs(60), held.recv())
        .await
        .expect("the paywall settles within 60 s (it verified the payment)")
        .expect("the proxy holds the settle answer");
    facilitator.kill().expect("SIGKILL");
    facilitator.wait().unwrap();
    let key = PaymentKey { chain_id: setup.chain.chain_id, asset: setup.chain.token, payer: payer.address(), nonce };
    let row = ledger.settlement(&key).await.unwrap().expect("the payment is queued");
    assert_eq!(row.status, SettlementStatus::Settled, "the payment settled before the kill");
    assert!(row.success_reported, "its one success was recorded before the kill");
    let _ = release.send(());
    let (status, _, _) = first.await.unwrap();
    assert_eq!(status, StatusCode::BAD_GATEWAY, "the resource server heard nothing: no resource");

    // The retry, after the facilitator came back: served, once, naming the transaction that moved the money.
    let mut facilitator = start(&setup);
    let (status, body, response) = fetch(shop.clone(), header.clone()).await;
    assert_eq!(status, StatusCode::OK, "the payer is made whole: {body}");
    assert_eq!(body, RESOURCE);
    let settled: SettleResponse = decode_header(response.unwrap().as_bytes()).unwrap();
    assert!(settled.success, "{settled:?}");
    assert_eq!(settled.transaction, row.tx_hash, "the payment response names the transaction that paid");

    // Once only: a further retry, and the same payload at a resource server that never sent it, get nothing.
    let (again, body, _) = fetch(shop.clone(), header.clone()).await;
    assert_eq!(again, StatusCode::PAYMENT_REQUIRED, "{body}");
    assert!(body.contains("invalid_exact_evm_nonce_already_used"), "{body}");
    let elsewhere = Paywall::new(FacilitatorClient::new(proxy.url().parse().unwrap()).unwrap(), price);
    let (elsewhere, body, _) = fetch(self::shop(elsewhere), header).await;
    assert_eq!(elsewhere, StatusCode::PAYMENT_REQUIRED, "a payload this paywall never sent gets no grace: {body}");
    facilitator.kill().unwrap();
    facilitator.wait().unwrap();

    let usdc = MockUSDC::new(setup.chain.token, &setup.chain.provider);
    assert_eq!(usdc.balanceOf(setup.pay_to).call().await.unwrap(), U256::from(PRICE), "paid once");
    assert_eq!(usdc.balanceOf(payer.address()).call().await.unwrap(), U256::ZERO, "charged once");
    ledger.close().await;
}

/// A resource server with `/weather` behind `paywall`.
fn shop(paywall: Paywall) -> Router {
    Router::new().route("/weather", get(|| async { RESOURCE }).layer(paywall))
}

/// GETs `/weather` paying with `header`: the status, the body and the `PAYMENT-RESPONSE` header.
async fn fetch(shop: Router, header: String) -> (StatusCode, String, Option<String>) {
    let request = Request::get("http://shop.test/weather").header("payment-signature", header).body(Body::empty());
    let response = shop.oneshot(request.unwrap()).await.unwrap();
    let status = response.status();
    let payment_response = response.headers().get("payment-response").map(|value| value.to_str().unwrap().to_owned());
    let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap(), payment_response)
}

/// What `/weather` asks for: the 402 of a request without payment, read by the product's client.
async fn required(shop: Router) -> PaymentRequired {
    let response = shop.oneshot(Request::get("http://shop.test/weather").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYMENT_REQUIRED);
    let header = response.headers().get(PAYMENT_REQUIRED).map(|value| value.as_bytes().to_vec());
    let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    PaymentRequired::from_response(header.as_deref(), &body).unwrap()
}

/// A TCP proxy in front of the facilitator that can hold back one `/settle` answer.
struct Proxy {
    address: SocketAddr,
    hold: Arc<AtomicBool>,
}

impl Proxy {
    /// Starts forwarding to `upstream`; the receiver gets, for each held answer, the sender that lets it go (the
    /// proxy then closes both connections without forwarding it).
    async fn start(upstream: SocketAddr) -> (Self, mpsc::UnboundedReceiver<oneshot::Sender<()>>) {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let address = listener.local_addr().unwrap();
        let hold = Arc::new(AtomicBool::new(false));
        let (held, receiver) = mpsc::unbounded_channel();
        let armed = hold.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(forward(client, upstream, armed.clone(), held.clone()));
            }
        });
        (Self { address, hold }, receiver)
    }

    fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Holds back the answer to the next `/settle` request.
    fn hold_next_settle_answer(&self) {
        self.hold.store(true, Ordering::SeqCst);
    }
}

/// Forwards one connection both ways (HTTP/1.1, one request at a time), holding back a `/settle` answer if armed.
async fn forward(
    client: TcpStream,
    upstream: SocketAddr,
    hold: Arc<AtomicBool>,
    held: mpsc::UnboundedSender<oneshot::Sender<()>>,
) {
    let Ok(server) = TcpStream::connect(upstream).await else { return };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    // Whether the request in flight on this connection is a `/settle` (requests start with their request line).
    let settling = Arc::new(AtomicBool::new(false));
    let seen = settling.clone();
    let upward = tokio::spawn(async move {
        let mut buffer = vec![0; 64 * 1024];
        loop {
            let n = match client_read.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let chunk = &buffer[..n];
            if chunk.starts_with(b"POST ") || chunk.starts_with(b"GET ") {
                let line = chunk.split(|&b| b == b'\r').next().unwrap_or_default();
                seen.store(line.windows(8).any(|w| w == b"/settle "), Ordering::SeqCst);
            }
            if server_write.write_all(chunk).await.is_err() {
                return;
            }
        }
    });
    let mut buffer = vec![0; 64 * 1024];
    loop {
        let n = match server_read.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if settling.load(Ordering::SeqCst) && hold.swap(false, Ordering::SeqCst) {
            let (release, released) = oneshot::channel();
            let _ = held.send(release);
            let _ = released.await;
            break;
        }
        if client_write.write_all(&buffer[..n]).await.is_err() {
            break;
        }
    }
    upward.abort();
}
