//! A scripted webhook receiver on loopback, and helpers to set up endpoints and wait for outcomes.

use std::{
    collections::{HashMap, VecDeque},
    future::Future,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use clearing_ledger::{Ledger, NewWebhookEvent, WebhookEvent, WebhookEventId, WebhookStatus, market::ParticipantId};
use clearing_webhooks::{WebhookSecret, WebhooksConfig, generate_secret};
use tokio::{sync::Notify, time::Instant};
use url::Url;
use uuid::Uuid;

/// How a receiver answers one request.
#[derive(Debug, Clone)]
pub(crate) enum Reply {
    /// This status, empty body.
    Status(u16),
    /// This status with a `Retry-After` header.
    RetryAfter(u16, &'static str),
    /// This status after a pause.
    Delayed(Duration, u16),
    /// Never answers.
    Hang,
    /// 302 to another path of the same receiver.
    Redirect(&'static str),
    /// This status with this body.
    Body(u16, &'static [u8]),
}

/// One request as it arrived.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) path: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) at: Instant,
}

impl Received {
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_else(|| panic!("no {name} header"))
    }

    pub(crate) fn id(&self) -> &str {
        self.header("webhook-id")
    }
}

#[derive(Debug, Default)]
struct Inner {
    requests: Mutex<Vec<Received>>,
    /// Replies per path, in order; once a path's run out, 200.
    script: Mutex<HashMap<String, VecDeque<Reply>>>,
    /// Every path's reply, used when it has none scripted.
    default: Mutex<Option<Reply>>,
    arrived: Notify,
}

/// An HTTP server on 127.0.0.1 that records every request and answers as scripted.
#[derive(Debug, Clone)]
pub(crate) struct Receiver {
    pub(crate) port: u16,
    inner: Arc<Inner>,
}

impl Receiver {
    pub(crate) async fn start() -> Self {
        let inner = Arc::new(Inner::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = Router::new().fallback(handle).with_state(inner.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { port, inner }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub(crate) fn url(&self, path: &str) -> Url {
        Url::parse(&format!("http://127.0.0.1:{}{path}", self.port)).unwrap()
    }

    /// Answers the next requests to `path` with `replies`, in order.
    pub(crate) fn script(&self, path: &str, replies: impl IntoIterator<Item = Reply>) {
        self.inner.script.lock().unwrap().entry(path.to_owned()).or_default().extend(replies);
    }

    /// Answers every request without a scripted reply with `reply`.
    pub(crate) fn always(&self, reply: Reply) {
        *self.inner.default.lock().unwrap() = Some(reply);
    }

    pub(crate) fn requests(&self) -> Vec<Received> {
        self.inner.requests.lock().unwrap().clone()
    }

    pub(crate) fn requests_to(&self, path: &str) -> Vec<Received> {
        self.requests().into_iter().filter(|r| r.path == path).collect()
    }

    /// Waits until at least `n` requests arrived.
    pub(crate) async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let arrived = self.inner.arrived.notified();
            let requests = self.requests();
            if requests.len() >= n {
                return requests;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                panic!("{} of {n} requests arrived within {within:?}", self.requests().len());
            }
        }
    }
}

async fn handle(State(inner): State<Arc<Inner>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path().to_owned();
    inner.requests.lock().unwrap().push(Received { path: path.clone(), headers, body, at: Instant::now() });
    inner.arrived.notify_waiters();
    let scripted = inner.script.lock().unwrap().get_mut(&path).and_then(VecDeque::pop_front);
    let reply = scripted.or_else(|| inner.default.lock().unwrap().clone()).unwrap_or(Reply::Status(200));
    let status = |code: u16| StatusCode::from_u16(code).unwrap();
    match reply {
        Reply::Status(code) => (status(code), "answered").into_response(),
        Reply::RetryAfter(code, after) => (status(code), [(header::RETRY_AFTER, after)], "later").into_response(),
        Reply::Delayed(pause, code) => {
            tokio::time::sleep(pause).await;
            status(code).into_response()
        }
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(3_600)).await;
            StatusCode::OK.into_response()
        }
        Reply::Redirect(to) => (StatusCode::FOUND, [(header::LOCATION, to)]).into_response(),
        Reply::Body(code, body) => (status(code), body).into_response(),
    }
}

/// A configuration for tests: loopback allowed, a compressed schedule (100, 200, 300 ms), quick polls.
pub(crate) fn config() -> WebhooksConfig {
    WebhooksConfig {
        concurrency: 8,
        timeout_ms: 2_000,
        allow_private: true,
        retry_schedule_ms: vec![100, 200, 300],
        max_retry_after_secs: 10,
        poll_ms: 50,
        lease_ms: 5_000,
    }
}

/// A participant with an endpoint at `url` and a fresh secret.
pub(crate) async fn participant(ledger: &Ledger, url: &Url) -> (ParticipantId, WebhookSecret) {
    let participant = ParticipantId(Uuid::new_v4());
    let secret = generate_secret();
    ledger.upsert_webhook_endpoint(participant, url, &secret).await.unwrap();
    (participant, secret)
}

/// Enqueues a `job.updated` event numbered `n` for `key`; returns its id.
pub(crate) async fn enqueue(ledger: &Ledger, participant: ParticipantId, key: Option<&str>, n: u64) -> WebhookEventId {
    let event = NewWebhookEvent {
        participant,
        event_type: "job.updated".into(),
        ordering_key: key.map(Into::into),
        payload: serde_json::json!({ "type": "job.updated", "job_id": key, "n": n }),
    };
    ledger.enqueue_webhook(&event).await.unwrap().unwrap().id
}

/// Polls `check` until it returns `Some`, or panics naming `what`.
pub(crate) async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "{what} did not happen within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until event `id` reaches `status`.
pub(crate) async fn wait_status(ledger: &Ledger, id: WebhookEventId, status: WebhookStatus) -> WebhookEvent {
    eventually(Duration::from_secs(15), &format!("{id} becoming {status:?}"), || async {
        ledger.webhook_event(id).await.unwrap().filter(|e| e.status == status)
    })
    .await
}
