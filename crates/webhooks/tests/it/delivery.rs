//! At least once, in order, on schedule: retries, Retry-After, 410, timeouts, giving up, redelivery, the log.

use std::time::Duration;

use clearing_ledger::{DeliveryPage, DisabledReason, Ledger, WebhookDelivery, WebhookStatus, market::ParticipantId};
use clearing_testkit::TestDatabase;
use clearing_webhooks::{Dispatcher, WebhooksConfig};

use crate::support::{Receiver, Reply, config, enqueue, participant, wait_status};

async fn log(ledger: &Ledger, participant: ParticipantId) -> Vec<WebhookDelivery> {
    let mut log = ledger.webhook_deliveries(participant, DeliveryPage { before: None, limit: 500 }).await.unwrap();
    log.reverse();
    log
}

#[tokio::test]
async fn a_failure_is_retried_on_the_schedule_until_delivered_and_every_attempt_is_logged() {
    let db = TestDatabase::create("webhooks_retry").await;
    let ledger = db.ledger();
    let receiver = Receiver::start().await;
    receiver.script("/hooks", [Reply::Status(500), Reply::Status(502)]);
    let (participant, _) = participant(&ledger, &receiver.url("/hooks")).await;
    let dispatcher = Dispatcher::start(ledger.clone(), config()).unwrap();
    let id = enqueue(&ledger, participant, None, 1).await;

    let delivered = wait_status(&ledger, id, WebhookStatus::Delivered).await;
    dispatcher.shutdown().await;
    assert_eq!(delivered.attempts, 3);
    let requests = receiver.requests();
    assert_eq!(requests.len(), 3);
    assert!(requests.iter().all(|r| r.id() == id.to_string()), "the id is the same on every attempt");
    // The schedule is 100 ms then 200 ms, each ±20%.
    let gaps: Vec<Duration> = requests.windows(2).map(|w| w[1].at - w[0].at).collect();
    assert!(gaps[0] >= Duration::from_millis(80) && gaps[1] >= Duration::from_millis(160), "{gaps:?}");
    assert!(gaps[1] < Duration::from_secs(2), "{gaps:?}");

    let log = log(&ledger, participant).await;
    let statuses: Vec<_> = log.iter().map(|d| (d.attempt, d.http_status)).collect();
    assert_eq!(statuses, [(1, Some(500)), (2, Some(502)), (3, Some(200))]);
    assert_eq!(log[2].response_snippet.as_deref(), Some("answered"));
}

#[tokio::test]
async fn events_of_one_key_arrive_in_order_even_when_the_first_needs_retries() {
    let db = TestDatabase::create("webhooks_order").await;
    let ledger = db.ledger();
    let receiver = Receiver::start().await;
    receiver.script("/hooks", [Reply::Status(500), Reply::Status(503)]);
    let (participant, _) = participant(&ledger, &receiver.url("/hooks")).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(enqueue(&ledger, participant, Some("job-1"), n).await);
    }
    let dispatcher = Dispatcher::start(ledger.clone(), config()).unwrap();
    wait_status(&ledger, ids[4], WebhookStatus::Delivered).await;
    dispatcher.shutdown().await;

    let arrived: Vec<String> = receiver.requests().iter().map(|r| r.id().to_owned()).collect();
    let first = ids[0].to_string();
    let mut expected = vec![first.clone(), first.clone(), first];
    expected.extend(ids[1..].iter().map(ToString::to_string));
    assert_eq!(arrived, expected);
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let db = TestDatabase::create("webhooks_retry_after").await;
    let ledger = db.ledger();
    let receiver = Receiver::start().await;
    receiver.script("/hooks", [Reply::RetryAfter(503, "1")]);
    let (participant, _) = participant(&ledger, &receiver.url("/hooks")).await;
    let dispatcher = Dispatcher::start(ledger.clone(), config()).unwrap();
    let id = enqueue(&ledger, participant, None, 1).await;
    wait_status(&ledger, id, WebhookStatus::Delivered).await;
    dispatcher.shutdown().await;
    let requests = receiver.requests();
    let gap = requests[1].at - requests[0].at;
    // The schedule alone would retry after about 100 ms.
    assert!(gap >= Duration::from_secs(1), "retried after {gap:?}, before Retry-After: 1");
}

#[tokio::test]
async fn gone_disables_the_endpoint_and_later_events_are_skipped() {
    let db = TestDatabase::create("webhooks_gone").await;
    let ledger = db.ledger();
    let receiver = Receiver::start().await;
    receiver.script("/hooks", [Reply::Status(410)]);
    let (participant, _) = participant(&ledger, &receiver.url("/hooks")).await;
    let dispatcher = Dispatcher::start(ledger.clone(), config()).unwrap();
    let id = enqueue(&ledger, participant, Some("job-1"), 1).await;
    let failed = wait_status(&ledger, id, WebhookStatus::Failed).await;
    assert!(failed.last_error.unwrap().contains("410"));
    let endpoint = ledger.webhook_endpoint(participant).await.unwrap().unwrap();
    assert_eq!(endpoint.disabled.map(|d| d.1), Some(DisabledReason::Gone));

    let later = enqueue(&ledger, participant, Some("job-1"), 2).await;
    assert_eq!(ledger.webhook_event(later).await.unwrap().unwrap().status, WebhookStatus::Skipped);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.requests().len(), 1, "nothing more is sent to a gone endpoint");

    // Its owner turns it back on: new events flow again.
    ledger.enable_webhook_endpoint(participant).await.unwrap();
    let fresh = enqueue(&ledger, participant, Some("job-1"), 3).await;
    wait_status(&ledger, fresh, WebhookStatus::Delivered).await;
    dispatcher.shutdown().await;
}

#[tokio::test]
async fn a_receiver_that_hangs_hits_the_timeout() {
    let db = TestDatabase::create("webhooks_timeout").await;
    let ledger = db.ledger();
    let receiver = Receiver::start().await;
    receiver.script("/hooks", [Reply::Hang]);
    let (participant, _) = participant(&ledger, &receiver.url("/hooks")).await;
    let config = WebhooksConfig { timeout_ms: 500, ..config() };
    let dispatcher = Dispatcher::start(ledger.clone(), config).unwrap();
    let id = enqueue(&ledger, participant, None, 1).await;
    let delivered = wait_status(&ledger, id, WebhookStatus::Delivered).await;
    // Every attempt is bounded by the timeout, so shutting down waits for none longer.
    tokio::time::timeout(Duration::from_secs(5), dispatcher.shutdown()).await.expect("an attempt outlived its timeout");
    assert_eq!(delivered.attempts, 2);
    let log = log(&ledger, participant).await;
    assert_eq!(log[0].http_status, None);
    assert_eq!(log[0].error.as_deref(), Some("timed out"));
    assert!(log[0].duration >= Duration::from_millis(450) && log[0].duration < Duration::from_secs(3), "{log:?}");
    assert_eq!(log[1].http_status, Some(200));
}

#[tokio::test]
async fn an_event_is_given_up_when_the_schedule_runs_out_and_its_key_moves_on() {
    let db = TestDatabase::create("webhooks_give_up").await;
    let ledger = db.ledger();
    let receiver = Receiver::start().await;
    receiver.script("/hooks", [Reply::Status(500), Reply::Status(500), Reply::Status(500)]);
    let (participant, _) = participant(&ledger, &receiver.url("/hooks")).await;
    let config = WebhooksConfig { retry_schedule_ms: vec![50, 50], ..config() };
    let dispatcher = Dispatcher::start(ledger.clone(), config).unwrap();
    let doomed = enqueue(&ledger, participant, Some("job-1"), 1).await;
    let next = enqueue(&ledger, participant, Some("job-1"), 2).await;
    let failed = wait_status(&ledger, doomed, WebhookStatus::Failed).await;
    wait_status(&ledger, next, WebhookStatus::Delivered).await;
    dispatcher.shutdown().await;
    assert_eq!((failed.attempts, failed.last_error.as_deref()), (3, Some("HTTP 500")));
    assert_eq!(receiver.requests().len(), 4);
}

#[tokio::test]
async fn a_manual_redelivery_sends_the_event_again() {
    let db = TestDatabase::create("webhooks_redeliver").await;
    let ledger = db.ledger();
    let receiver = Receiver::start().await;
    let (participant, _) = participant(&ledger, &receiver.url("/hooks")).await;
    let dispatcher = Dispatcher::start(ledger.clone(), config()).unwrap();
    let id = enqueue(&ledger, participant, None, 1).await;
    wait_status(&ledger, id, WebhookStatus::Delivered).await;
    ledger.redeliver_webhook(participant, id).await.unwrap();
    let requests = receiver.wait_for(2, Duration::from_secs(10)).await;
    wait_status(&ledger, id, WebhookStatus::Delivered).await;
    dispatcher.shutdown().await;
    assert_eq!(requests[0].id(), requests[1].id());
    assert_eq!(requests[0].body, requests[1].body);
    let attempts: Vec<u32> = log(&ledger, participant).await.iter().map(|d| d.attempt).collect();
    assert_eq!(attempts, [1, 1], "a redelivery counts its attempts from 1");
}

#[tokio::test]
async fn shutdown_finishes_and_records_the_attempts_in_flight() {
    let db = TestDatabase::create("webhooks_shutdown").await;
    let ledger = db.ledger();
    let receiver = Receiver::start().await;
    receiver.always(Reply::Delayed(Duration::from_millis(300), 200));
    let (participant, _) = participant(&ledger, &receiver.url("/hooks")).await;
    let mut ids = Vec::new();
    for n in 0..4 {
        ids.push(enqueue(&ledger, participant, None, n).await);
    }
    let dispatcher = Dispatcher::start(ledger.clone(), config()).unwrap();
    receiver.wait_for(4, Duration::from_secs(10)).await;
    dispatcher.shutdown().await;
    for id in ids {
        assert_eq!(ledger.webhook_event(id).await.unwrap().unwrap().status, WebhookStatus::Delivered);
    }
}

#[tokio::test]
async fn the_dispatcher_wakes_for_new_events_successors_and_retries_without_polling() {
    let db = TestDatabase::create("webhooks_wake").await;
    let ledger = db.ledger();
    let receiver = Receiver::start().await;
    receiver.script("/hooks", [Reply::Status(500)]);
    let (participant, _) = participant(&ledger, &receiver.url("/hooks")).await;
    // A poll so slow that only the wake-ups can deliver in time.
    let config = WebhooksConfig { poll_ms: 60_000, ..config() };
    let dispatcher = Dispatcher::start(ledger.clone(), config).unwrap();
    // Let the first (empty) claim pass, so the loop is asleep when the events come.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(enqueue(&ledger, participant, Some("job-1"), n).await);
    }
    // The first is announced by the enqueue, retried on its own timer, and each delivery makes the next due.
    let within = tokio::time::timeout(Duration::from_secs(5), wait_status(&ledger, ids[2], WebhookStatus::Delivered));
    within.await.expect("the dispatcher waited for its poll");
    dispatcher.shutdown().await;
    assert_eq!(receiver.requests().len(), 4);
}

/// A receiver's answer is anyone's bytes: one with a NUL (which PostgreSQL text refuses) is logged with a replacement
/// character, and neither its attempt nor another participant's recorded with it is lost.
#[tokio::test]
async fn an_answer_with_a_nul_byte_is_logged_and_spoils_no_one_elses_delivery() {
    let db = TestDatabase::create("webhooks_nul_answer").await;
    let ledger = db.ledger();
    let hostile = Receiver::start().await;
    hostile.always(Reply::Body(200, b"ok\0tail"));
    let honest = Receiver::start().await;
    let (theirs, _) = participant(&ledger, &hostile.url("/hooks")).await;
    let (mine, _) = participant(&ledger, &honest.url("/hooks")).await;
    let dispatcher = Dispatcher::start(ledger.clone(), config()).unwrap();
    let (their_event, my_event) = (enqueue(&ledger, theirs, None, 1).await, enqueue(&ledger, mine, None, 1).await);

    wait_status(&ledger, their_event, WebhookStatus::Delivered).await;
    wait_status(&ledger, my_event, WebhookStatus::Delivered).await;
    dispatcher.shutdown().await;
    let logged = log(&ledger, theirs).await;
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert_eq!(logged[0].response_snippet.as_deref(), Some("ok\u{fffd}tail"));
    assert_eq!(log(&ledger, mine).await.len(), 1);
    assert_eq!(hostile.requests().len(), 1, "delivered once, not again after the lease");
}
