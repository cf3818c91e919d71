//! The webhook delivery log and redelivery over HTTP, with the real dispatcher delivering to receivers on loopback:
//! a delivered event and a failed one (the receiver answering 500) with their attempts, filters and pages with their
//! totals, redelivery with the same `webhook-id` (idempotent while pending), another participant's 404, and an
//! endpoint turned off by 410 that `PUT /v1/participants/{id}` turns back on.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU16, Ordering},
    },
    time::Duration,
};

use axum::{Router, body::Bytes, extract::State, http::HeaderMap, http::StatusCode as AxumStatus};
use clearing_ledger::{NewWebhookEvent, market::ParticipantKind};
use clearing_webhooks::{Dispatcher, WebhooksConfig};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::harness::{Answer, Env, code};

/// A receiver on loopback: it keeps each request's `webhook-id` and body, and answers `failing` (when not 0) to
/// bodies that carry `"fail": true`, 200 to the rest.
#[derive(Clone, Default)]
struct Receiver {
    seen: Arc<Mutex<Vec<(String, Value)>>>,
    failing: Arc<AtomicU16>,
}

impl Receiver {
    async fn start(failing: u16) -> (Self, String) {
        let receiver = Self::default();
        receiver.failing.store(failing, Ordering::SeqCst);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://127.0.0.1:{}/hooks", listener.local_addr().unwrap().port());
        let app = Router::new()
            .fallback(|State(r): State<Self>, headers: HeaderMap, body: Bytes| async move {
                let id = headers["webhook-id"].to_str().unwrap().to_owned();
                let body: Value = serde_json::from_slice(&body).unwrap();
                let fail = body["fail"] == true;
                r.seen.lock().unwrap().push((id, body));
                match r.failing.load(Ordering::SeqCst) {
                    status if fail && status != 0 => AxumStatus::from_u16(status).unwrap(),
                    _ => AxumStatus::OK,
                }
            })
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (receiver, url)
    }

    /// The `webhook-id`s received, in order.
    fn ids(&self) -> Vec<String> {
        self.seen.lock().unwrap().iter().map(|(id, _)| id.clone()).collect()
    }

    async fn wait_for(&self, id: &str, times: usize) {
        for _ in 0..400 {
            if self.ids().iter().filter(|seen| *seen == id).count() >= times {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("{id} did not arrive {times} times; got {:?}", self.ids());
    }
}

/// The dispatcher as `clearing serve` runs it, with a quick schedule: an event is given up after three attempts.
fn dispatcher(env: &Env) -> Dispatcher {
    let config = WebhooksConfig {
        allow_private: true,
        poll_ms: 20,
        retry_schedule_ms: vec![20, 20],
        ..WebhooksConfig::default()
    };
    Dispatcher::start(env.database.ledger(), config).unwrap()
}

/// A participant with `url` set as its webhook URL through the API, and its key.
async fn participant(env: &Env, kind: ParticipantKind, url: &str) -> (clearing_ledger::market::Participant, String) {
    let (participant, key) = env.participant(kind, "Hooked").await;
    set_url(env, &participant.id.to_string(), &key, url).await;
    (participant, key)
}

async fn set_url(env: &Env, id: &str, key: &str, url: &str) {
    let path = format!("/v1/participants/{id}");
    let answer = env.send(Method::PUT, &path, Some(key), Some(&json!({"webhook_url": url}))).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
}

/// Enqueues a `kind` event about `job` for `participant`, failing at the receiver when `fail`; its `webhook-id`.
async fn enqueue(
    env: &Env,
    participant: &clearing_ledger::market::Participant,
    kind: &str,
    job: Uuid,
    fail: bool,
) -> String {
    let event = NewWebhookEvent {
        participant: participant.id,
        event_type: kind.to_owned(),
        ordering_key: Some(job.to_string()),
        payload: json!({"type": kind, "job_id": job, "fail": fail}),
    };
    env.market.ledger().enqueue_webhook(&event).await.unwrap().unwrap().id.to_string()
}

async fn event(env: &Env, key: &str, id: &str) -> Answer {
    env.get(&format!("/v1/webhooks/deliveries/{id}"), Some(key)).await
}

/// Reads the event until it has `status`.
async fn wait_status(env: &Env, key: &str, id: &str, status: &str) -> Value {
    for _ in 0..400 {
        let answer = event(env, key, id).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        if answer.body["status"] == status && answer.body["in_flight"] == false {
            return answer.body;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{id} never became {status}: {}", event(env, key, id).await.body);
}

async fn redeliver(env: &Env, key: &str, id: &str) -> Answer {
    env.send(Method::POST, &format!("/v1/webhooks/deliveries/{id}/redeliver"), Some(key), None).await
}

#[tokio::test]
async fn the_log_shows_delivered_and_failed_events_and_redelivery_sends_the_same_webhook_id() {
    let env = Env::start_with("webhook_log", |c| c.allow_private_webhooks = true).await;
    let (hooks, url) = Receiver::start(500).await;
    let (provider, key) = participant(&env, ParticipantKind::Provider, &url).await;
    let (jobs, dispatcher) = ([Uuid::new_v4(), Uuid::new_v4()], dispatcher(&env));
    let delivered = enqueue(&env, &provider, "job_dispatch", jobs[0], false).await;
    let failed = enqueue(&env, &provider, "job_completed", jobs[1], true).await;

    let ok = wait_status(&env, &key, &delivered, "delivered").await;
    assert_eq!((ok["attempts"].as_u64(), ok["last_http_status"].as_u64()), (Some(1), Some(200)));
    assert_eq!((ok["job_id"].as_str(), &ok["last_error"]), (Some(jobs[0].to_string().as_str()), &Value::Null));
    assert!(ok["last_attempt_at"].is_string() && ok["finished_at"].is_string(), "{ok}");
    let given_up = wait_status(&env, &key, &failed, "failed").await;
    assert_eq!((given_up["attempts"].as_u64(), given_up["last_http_status"].as_u64()), (Some(3), Some(500)));
    assert_eq!(given_up["next_attempt_at"], Value::Null);
    let reason = given_up["last_error"].as_str().unwrap();
    assert!(reason.contains("answered HTTP 500") && reason.contains("2xx"), "{reason}");
    assert_eq!(given_up["payload"]["job_id"], jobs[1].to_string());
    let log: Vec<_> = given_up["attempt_log"].as_array().unwrap().iter().map(|a| a["attempt"].as_u64()).collect();
    assert_eq!(log, [Some(3), Some(2), Some(1)], "every attempt, newest first");
    assert!(given_up["attempt_log"].as_array().unwrap().iter().all(|a| a["http_status"] == 500 && a["url"] == url));

    // The log: newest first, with filters and the total.
    let all = env.get("/v1/webhooks/deliveries", Some(&key)).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    assert_eq!((all.body["total"].as_u64(), all.body["limit"].as_u64()), (Some(2), Some(20)));
    let ids: Vec<_> = all.body["deliveries"].as_array().unwrap().iter().map(|d| d["id"].clone()).collect();
    assert_eq!(ids, [json!(failed), json!(delivered)]);
    assert!(all.body["deliveries"][0].get("payload").is_none(), "the list leaves bodies out");
    let only_failed = env.get("/v1/webhooks/deliveries?status=failed", Some(&key)).await.body;
    assert_eq!((only_failed["total"].as_u64(), &only_failed["deliveries"][0]["id"]), (Some(1), &json!(failed)));
    let dispatches = env.get("/v1/webhooks/deliveries?event_type=job_dispatch", Some(&key)).await.body;
    assert_eq!((dispatches["total"].as_u64(), &dispatches["deliveries"][0]["id"]), (Some(1), &json!(delivered)));

    // Redelivery, with the dispatcher stopped so the pending state holds still: queued once, then already pending.
    dispatcher.shutdown().await;
    for id in [&delivered, &failed] {
        let first = redeliver(&env, &key, id).await;
        assert_eq!((first.status, first.body["redelivery"].as_str()), (StatusCode::ACCEPTED, Some("queued")));
        assert_eq!((first.body["status"].as_str(), first.body["attempts"].as_u64()), (Some("pending"), Some(0)));
        let again = redeliver(&env, &key, id).await;
        assert_eq!((again.status, again.body["redelivery"].as_str()), (StatusCode::ACCEPTED, Some("already_pending")));
    }
    hooks.failing.store(0, Ordering::SeqCst);
    let _dispatcher = self::dispatcher(&env);
    hooks.wait_for(&delivered, 2).await;
    hooks.wait_for(&failed, 4).await;
    let redelivered = wait_status(&env, &key, &failed, "delivered").await;
    assert_eq!((redelivered["attempts"].as_u64(), redelivered["attempts_logged"].as_u64()), (Some(1), Some(4)));
    assert_eq!(wait_status(&env, &key, &delivered, "delivered").await["attempts_logged"], 2);
    assert_eq!(hooks.ids().iter().filter(|id| **id == delivered).count(), 2, "sent once per redelivery, same id");
}

#[tokio::test]
async fn another_participants_events_are_never_found_and_pages_count_only_ones_own() {
    let env = Env::start_with("webhook_log_pages", |c| c.allow_private_webhooks = true).await;
    // No dispatcher: every event stays pending.
    let (_, url) = Receiver::start(0).await;
    let (owner, owner_key) = participant(&env, ParticipantKind::Provider, &url).await;
    let (stranger, stranger_key) = participant(&env, ParticipantKind::Agent, &url).await;
    let mut ids = Vec::new();
    for _ in 0..25 {
        ids.push(enqueue(&env, &owner, "job_dispatch", Uuid::new_v4(), false).await);
    }
    let theirs = enqueue(&env, &stranger, "payment_released", Uuid::new_v4(), false).await;

    for (query, total, count, first) in [
        ("limit=10", 25, 10, Some(&ids[24])),
        ("limit=10&offset=20", 25, 5, Some(&ids[4])),
        ("limit=10&offset=30", 25, 0, None),
        ("status=pending&limit=100", 25, 25, Some(&ids[24])),
        ("status=delivered", 0, 0, None),
        ("event_type=payment_released", 0, 0, None),
    ] {
        let page = env.get(&format!("/v1/webhooks/deliveries?{query}"), Some(&owner_key)).await;
        assert_eq!(page.status, StatusCode::OK, "{query}: {}", page.body);
        let deliveries = page.body["deliveries"].as_array().unwrap();
        assert_eq!((page.body["total"].as_u64(), deliveries.len()), (Some(total), count), "{query}");
        assert_eq!(deliveries.first().map(|d| d["id"].as_str().unwrap()), first.map(String::as_str), "{query}");
    }
    let stranger_log = env.get("/v1/webhooks/deliveries", Some(&stranger_key)).await.body;
    assert_eq!((stranger_log["total"].as_u64(), &stranger_log["deliveries"][0]["id"]), (Some(1), &json!(theirs)));

    // The owner's event, asked for by the stranger: exactly an unknown id's answer.
    for answer in [event(&env, &stranger_key, &ids[0]).await, redeliver(&env, &stranger_key, &ids[0]).await] {
        assert_eq!((answer.status, code(&answer.body)), (StatusCode::NOT_FOUND, "webhook_event_not_found"));
        assert!(!answer.body.to_string().contains(&owner.id.to_string()), "{}", answer.body);
    }
    let unknown = event(&env, &stranger_key, "msg_999999").await;
    assert_eq!((unknown.status, code(&unknown.body)), (StatusCode::NOT_FOUND, "webhook_event_not_found"));
    let keyless = env.get("/v1/webhooks/deliveries", None).await;
    assert_eq!((keyless.status, code(&keyless.body)), (StatusCode::UNAUTHORIZED, "missing_api_key"));
    let bad = env.get("/v1/webhooks/deliveries?limit=101", Some(&owner_key)).await;
    assert_eq!(
        (bad.status, code(&bad.body), bad.body["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, "invalid_query", Some("limit"))
    );
}

#[tokio::test]
async fn after_a_410_redelivery_says_how_to_turn_deliveries_on_and_setting_the_url_does() {
    let env = Env::start_with("webhook_log_gone", |c| c.allow_private_webhooks = true).await;
    let (hooks, url) = Receiver::start(410).await;
    let (provider, key) = participant(&env, ParticipantKind::Provider, &url).await;
    let _dispatcher = dispatcher(&env);
    let gone = enqueue(&env, &provider, "job_dispatch", Uuid::new_v4(), true).await;
    let failed = wait_status(&env, &key, &gone, "failed").await;
    assert_eq!((failed["attempts"].as_u64(), failed["last_http_status"].as_u64()), (Some(1), Some(410)));
    assert!(failed["last_error"].as_str().unwrap().contains("410 Gone"), "{failed}");
    let skipped = enqueue(&env, &provider, "job_completed", Uuid::new_v4(), false).await;
    assert_eq!(event(&env, &key, &skipped).await.body["status"], "skipped");

    let refused = redeliver(&env, &key, &gone).await;
    assert_eq!((refused.status, code(&refused.body)), (StatusCode::CONFLICT, "webhook_endpoint_disabled"));
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("410 Gone") && message.contains(&format!("PUT /v1/participants/{}", provider.id)),
        "{message}"
    );

    // Setting the same URL again turns deliveries back on; a skipped event is sent only when redelivered.
    hooks.failing.store(0, Ordering::SeqCst);
    set_url(&env, &provider.id.to_string(), &key, &url).await;
    for id in [&gone, &skipped] {
        let queued = redeliver(&env, &key, id).await;
        assert_eq!((queued.status, queued.body["redelivery"].as_str()), (StatusCode::ACCEPTED, Some("queued")));
        hooks.wait_for(id, if *id == gone { 2 } else { 1 }).await;
        wait_status(&env, &key, id, "delivered").await;
    }
}
