//! The webhook outbox: endpoints, enqueue in a caller's transaction, claims and leases, ordering, recording, 410,
//! redelivery and the delivery log.

use std::time::{Duration, SystemTime};

use clearing_ledger::{
    AttemptResponse, ClaimedWebhook, DeliveryPage, DisabledReason, Error, Ledger, MIGRATOR, NewWebhookEvent, NextStep,
    Redelivery, WebhookAttempt, WebhookHistoryQuery, WebhookSecret, WebhookStatus, enqueue_webhook_in,
    market::ParticipantId,
};
use serde_json::json;
use sqlx::PgPool;
use url::Url;
use uuid::Uuid;

const LEASE: Duration = Duration::from_secs(60);

fn secret() -> WebhookSecret {
    WebhookSecret::from_key(&[0x5e; 32]).unwrap()
}

async fn endpoint(ledger: &Ledger) -> ParticipantId {
    let participant = ParticipantId(Uuid::new_v4());
    let url = Url::parse("https://receiver.example/hooks").unwrap();
    ledger.upsert_webhook_endpoint(participant, &url, &secret()).await.unwrap();
    participant
}

fn event(participant: ParticipantId, key: Option<&str>, n: u32) -> NewWebhookEvent {
    NewWebhookEvent {
        participant,
        event_type: "job.updated".into(),
        ordering_key: key.map(Into::into),
        payload: json!({ "type": "job.updated", "n": n }),
    }
}

fn result(claimed: &ClaimedWebhook, status: u16, next: NextStep) -> WebhookAttempt {
    WebhookAttempt {
        event: claimed.id,
        token: claimed.token,
        attempt: claimed.attempt,
        attempted_at: SystemTime::now(),
        url: claimed.url.clone(),
        response: AttemptResponse::Http { status, snippet: "ok".into() },
        duration: Duration::from_millis(3),
        next,
    }
}

fn ns(claimed: &[ClaimedWebhook]) -> Vec<u64> {
    claimed.iter().map(|c| c.payload["n"].as_u64().unwrap()).collect()
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn an_endpoint_is_upserted_disabled_and_enabled(pool: PgPool) {
    let ledger = Ledger::from_pool(pool);
    let participant = endpoint(&ledger).await;
    let stored = ledger.webhook_endpoint(participant).await.unwrap().unwrap();
    assert_eq!(stored.url.as_str(), "https://receiver.example/hooks");
    assert_eq!(stored.secret, secret());
    assert_eq!(stored.disabled, None);
    assert!(!format!("{stored:?}").contains(secret().expose()), "the secret printed: {stored:?}");

    let moved = Url::parse("https://elsewhere.example/h").unwrap();
    let rotated = WebhookSecret::from_key(&[0x11; 24]).unwrap();
    let updated = ledger.upsert_webhook_endpoint(participant, &moved, &rotated).await.unwrap();
    assert_eq!((updated.url, updated.secret, updated.created_at), (moved, rotated, stored.created_at));

    assert!(ledger.disable_webhook_endpoint(participant, DisabledReason::Owner).await.unwrap());
    assert!(!ledger.disable_webhook_endpoint(participant, DisabledReason::Gone).await.unwrap());
    let disabled = ledger.webhook_endpoint(participant).await.unwrap().unwrap().disabled.unwrap();
    assert_eq!(disabled.1, DisabledReason::Owner, "the first reason stays");
    assert!(ledger.enable_webhook_endpoint(participant).await.unwrap());
    assert!(!ledger.enable_webhook_endpoint(participant).await.unwrap());
    assert_eq!(ledger.webhook_endpoint(ParticipantId(Uuid::new_v4())).await.unwrap(), None);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn an_event_commits_or_rolls_back_with_the_callers_transaction(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    let participant = endpoint(&ledger).await;
    let mut announced = ledger.listen_webhooks();

    let mut tx = pool.begin().await.unwrap();
    let rolled_back = enqueue_webhook_in(&mut tx, &event(participant, Some("job-1"), 1)).await.unwrap().unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(ledger.webhook_event(rolled_back.id).await.unwrap(), None);

    let mut tx = pool.begin().await.unwrap();
    let kept = enqueue_webhook_in(&mut tx, &event(participant, Some("job-1"), 2)).await.unwrap().unwrap();
    tx.commit().await.unwrap();
    assert_eq!(kept.status, WebhookStatus::Pending);
    let stored = ledger.webhook_event(kept.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.payload, stored.attempts, stored.status),
        (json!({"type": "job.updated", "n": 2}), 0, WebhookStatus::Pending)
    );
    assert!(stored.next_attempt_at.is_some(), "nothing before it: due at once");

    // Nothing announced until the caller says so after its commit.
    assert!(tokio::time::timeout(Duration::from_millis(100), announced.changed()).await.is_err());
    ledger.announce_webhooks();
    assert!(tokio::time::timeout(Duration::from_secs(5), announced.changed()).await.unwrap());
    ledger.enqueue_webhook(&event(participant, None, 3)).await.unwrap().unwrap();
    assert!(tokio::time::timeout(Duration::from_secs(5), announced.changed()).await.unwrap());

    // No endpoint: nothing written. A bad type: refused before any SQL.
    assert_eq!(ledger.enqueue_webhook(&event(ParticipantId(Uuid::new_v4()), None, 4)).await.unwrap(), None);
    let mut bad = event(participant, None, 5);
    bad.event_type = "job updated".into();
    assert!(matches!(ledger.enqueue_webhook(&bad).await, Err(Error::InvalidWebhookEvent { field: "event_type", .. })));
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn an_ordered_event_is_refused_above_read_committed(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    let participant = endpoint(&ledger).await;
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ").execute(&mut *tx).await.unwrap();
    let err = enqueue_webhook_in(&mut tx, &event(participant, Some("job-1"), 1)).await.unwrap_err();
    assert!(matches!(&err, Error::WebhookIsolation { isolation } if isolation == "repeatable read"), "{err}");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn events_of_one_key_are_claimed_one_at_a_time_in_order(pool: PgPool) {
    let ledger = Ledger::from_pool(pool);
    let participant = endpoint(&ledger).await;
    let mut job1 = Vec::new();
    for n in 1..=3 {
        job1.push(ledger.enqueue_webhook(&event(participant, Some("job-1"), n)).await.unwrap().unwrap().id);
    }
    // Only the head is due: the others wait outside the claim scan until it is finished.
    let waiting = ledger.webhook_event(job1[1]).await.unwrap().unwrap();
    assert_eq!((waiting.status, waiting.next_attempt_at), (WebhookStatus::Pending, None));
    ledger.enqueue_webhook(&event(participant, Some("job-2"), 10)).await.unwrap();
    ledger.enqueue_webhook(&event(participant, None, 20)).await.unwrap();

    let first = ledger.claim_webhooks(10, LEASE).await.unwrap();
    assert_eq!(ns(&first), [1, 10, 20], "only the head of each key, and unordered events");
    assert!(first.iter().all(|c| c.attempt == 1 && c.secret == secret()));
    assert!(ledger.claim_webhooks(10, LEASE).await.unwrap().is_empty(), "leased: nobody else takes them");

    // The head fails and is retried later: the next of its key still waits.
    let head = &first[0];
    assert_eq!(
        ledger.record_webhook_attempts(&[result(head, 500, NextStep::RetryIn(Duration::ZERO))]).await.unwrap(),
        1
    );
    let again = ledger.claim_webhooks(10, LEASE).await.unwrap();
    assert_eq!(ns(&again), [1]);
    assert_eq!(again[0].attempt, 2);

    // Delivered: the second becomes due; given up: the third.
    ledger.record_webhook_attempts(&[result(&again[0], 200, NextStep::Delivered)]).await.unwrap();
    let second = ledger.claim_webhooks(10, LEASE).await.unwrap();
    assert_eq!(ns(&second), [2]);
    ledger.record_webhook_attempts(&[result(&second[0], 500, NextStep::GiveUp)]).await.unwrap();
    assert_eq!(ns(&ledger.claim_webhooks(10, LEASE).await.unwrap()), [3]);

    let delivered = ledger.webhook_event(head.id).await.unwrap().unwrap();
    assert_eq!((delivered.status, delivered.attempts, delivered.last_error), (WebhookStatus::Delivered, 2, None));
    assert!(delivered.finished_at.is_some() && delivered.next_attempt_at.is_none());
    let failed = ledger.webhook_event(second[0].id).await.unwrap().unwrap();
    assert_eq!((failed.status, failed.last_error.as_deref()), (WebhookStatus::Failed, Some("HTTP 500")));
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_lapsed_lease_hands_the_event_on_and_the_old_claim_only_logs(pool: PgPool) {
    let ledger = Ledger::from_pool(pool);
    let participant = endpoint(&ledger).await;
    ledger.enqueue_webhook(&event(participant, Some("job-1"), 1)).await.unwrap();
    ledger.enqueue_webhook(&event(participant, Some("job-1"), 2)).await.unwrap();

    let lost = ledger.claim_webhooks(10, Duration::from_millis(200)).await.unwrap();
    assert_eq!(ns(&lost), [1]);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let taken = ledger.claim_webhooks(10, LEASE).await.unwrap();
    assert_eq!(ns(&taken), [1], "the lapsed claim's event, and still not the one after it");
    assert_eq!(taken[0].attempt, 2);
    assert_ne!(taken[0].token, lost[0].token);

    // The first claimer reports late: logged, but the event stays with its new owner.
    assert_eq!(ledger.record_webhook_attempts(&[result(&lost[0], 200, NextStep::Delivered)]).await.unwrap(), 0);
    assert_eq!(ledger.webhook_event(lost[0].id).await.unwrap().unwrap().status, WebhookStatus::Pending);
    assert!(ledger.claim_webhooks(10, LEASE).await.unwrap().is_empty());
    assert_eq!(ledger.record_webhook_attempts(&[result(&taken[0], 204, NextStep::Delivered)]).await.unwrap(), 1);
    let log = ledger.webhook_deliveries(participant, DeliveryPage { before: None, limit: 10 }).await.unwrap();
    assert_eq!(log.iter().map(|d| (d.attempt, d.http_status)).collect::<Vec<_>>(), [(2, Some(204)), (1, Some(200))]);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn concurrent_claimers_never_share_an_event(pool: PgPool) {
    let ledger = Ledger::from_pool(pool);
    let participant = endpoint(&ledger).await;
    for n in 0..60 {
        ledger.enqueue_webhook(&event(participant, None, n)).await.unwrap();
    }
    let (a, b, c) = tokio::join!(
        ledger.claim_webhooks(25, LEASE),
        ledger.claim_webhooks(25, LEASE),
        ledger.claim_webhooks(25, LEASE)
    );
    let mut all: Vec<u64> = [a.unwrap(), b.unwrap(), c.unwrap()].iter().flat_map(|c| ns(c)).collect();
    assert_eq!(all.len(), 60);
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), 60, "an event was claimed twice");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_claim_walks_the_due_events_in_order_past_the_blocked_and_takes_none_in_flight(pool: PgPool) {
    let ledger = Ledger::from_pool(pool);
    let participant = endpoint(&ledger).await;
    let old = ledger.enqueue_webhook(&event(participant, Some("job-1"), 0)).await.unwrap().unwrap();
    let first = ledger.claim_webhooks(1, LEASE).await.unwrap();
    ledger.record_webhook_attempts(&[result(&first[0], 200, NextStep::Delivered)]).await.unwrap();
    for n in 1..=6 {
        ledger.enqueue_webhook(&event(participant, if n == 1 { Some("job-1") } else { None }, n)).await.unwrap();
    }
    // Redelivering the old event leaves event 1 due but blocked behind it, at the front of the due order.
    ledger.redeliver_webhook(participant, old.id).await.unwrap();

    let claimed = ledger.claim_webhooks(3, LEASE).await.unwrap();
    assert_eq!(ns(&claimed), [2, 3, 4], "in due order, past the blocked event 1 and the later-due redelivered 0");
    let in_flight = ledger.webhook_event(claimed[0].id).await.unwrap().unwrap();
    let lease_end = in_flight.next_attempt_at.unwrap();
    assert!(lease_end > SystemTime::now() + LEASE / 2, "in flight, due again when its lease runs out");
    let rest = ledger.claim_webhooks(10, LEASE).await.unwrap();
    assert_eq!(ns(&rest), [0, 5, 6], "nothing in flight is claimed twice; event 1 still waits for event 0");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn ids_of_one_key_follow_commit_order(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    let participant = endpoint(&ledger).await;
    let mut first = pool.begin().await.unwrap();
    let a = enqueue_webhook_in(&mut first, &event(participant, Some("job-1"), 1)).await.unwrap().unwrap();

    // A second enqueue of the same key waits for the first transaction to end before drawing its id.
    let second = tokio::spawn({
        let ledger = ledger.clone();
        async move { ledger.enqueue_webhook(&event(participant, Some("job-1"), 2)).await.unwrap().unwrap() }
    });
    // Another key does not wait.
    let other =
        tokio::time::timeout(Duration::from_secs(5), ledger.enqueue_webhook(&event(participant, Some("job-2"), 3)))
            .await
            .expect("another key waited on job-1's lock");
    other.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!second.is_finished(), "the second enqueue did not wait for the first transaction");
    first.commit().await.unwrap();
    let b = second.await.unwrap();
    assert!(b.id > a.id);
    let claimed = ledger.claim_webhooks(10, LEASE).await.unwrap();
    assert_eq!(ns(&claimed), [1, 3]);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn finishing_a_head_wakes_an_event_enqueued_behind_it_meanwhile(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    let participant = endpoint(&ledger).await;
    ledger.enqueue_webhook(&event(participant, Some("job-1"), 1)).await.unwrap();
    let head = ledger.claim_webhooks(10, LEASE).await.unwrap().remove(0);

    // An enqueue sees the head pending and waits behind it, holding the key's lock until it commits.
    let mut tx = pool.begin().await.unwrap();
    let behind = enqueue_webhook_in(&mut tx, &event(participant, Some("job-1"), 2)).await.unwrap().unwrap();
    // Recording the head's delivery now must wait for that commit, or its wake would miss the new event.
    let record = tokio::spawn({
        let ledger = ledger.clone();
        let done = result(&head, 200, NextStep::Delivered);
        async move { ledger.record_webhook_attempts(&[done]).await.unwrap() }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!record.is_finished(), "the record did not wait for the key's lock");
    tx.commit().await.unwrap();
    assert_eq!(record.await.unwrap(), 1);
    let next = ledger.claim_webhooks(10, LEASE).await.unwrap();
    assert_eq!(
        next.iter().map(|c| c.id).collect::<Vec<_>>(),
        [behind.id],
        "the event behind the head was left waiting"
    );
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn gone_disables_the_endpoint_and_skips_what_is_pending_and_what_comes(pool: PgPool) {
    let ledger = Ledger::from_pool(pool);
    let participant = endpoint(&ledger).await;
    let bystander = endpoint(&ledger).await;
    ledger.enqueue_webhook(&event(participant, Some("job-1"), 1)).await.unwrap();
    let waiting = ledger.enqueue_webhook(&event(participant, Some("job-1"), 2)).await.unwrap().unwrap();
    let other_key = ledger.enqueue_webhook(&event(participant, None, 3)).await.unwrap().unwrap();
    ledger.enqueue_webhook(&event(bystander, None, 4)).await.unwrap();

    let claimed = ledger.claim_webhooks(1, LEASE).await.unwrap();
    assert_eq!(ns(&claimed), [1]);
    ledger.record_webhook_attempts(&[result(&claimed[0], 410, NextStep::Gone)]).await.unwrap();

    let endpoint = ledger.webhook_endpoint(participant).await.unwrap().unwrap();
    assert_eq!(endpoint.disabled.map(|d| d.1), Some(DisabledReason::Gone));
    let gone = ledger.webhook_event(claimed[0].id).await.unwrap().unwrap();
    assert_eq!(gone.status, WebhookStatus::Failed);
    for id in [waiting.id, other_key.id] {
        assert_eq!(ledger.webhook_event(id).await.unwrap().unwrap().status, WebhookStatus::Skipped);
    }
    let later = ledger.enqueue_webhook(&event(participant, Some("job-1"), 5)).await.unwrap().unwrap();
    assert_eq!(later.status, WebhookStatus::Skipped);
    assert_eq!(ns(&ledger.claim_webhooks(10, LEASE).await.unwrap()), [4], "the other participant is unaffected");

    // Re-enabled: new events flow, the skipped ones stay skipped.
    ledger.enable_webhook_endpoint(participant).await.unwrap();
    let fresh = ledger.enqueue_webhook(&event(participant, Some("job-1"), 6)).await.unwrap().unwrap();
    assert_eq!(fresh.status, WebhookStatus::Pending);
    assert_eq!(ns(&ledger.claim_webhooks(10, LEASE).await.unwrap()), [6]);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn redelivery_makes_an_event_pending_again_for_its_owner_only(pool: PgPool) {
    let ledger = Ledger::from_pool(pool);
    let participant = endpoint(&ledger).await;
    let stranger = endpoint(&ledger).await;
    let sent = ledger.enqueue_webhook(&event(participant, Some("job-1"), 1)).await.unwrap().unwrap();
    let claimed = ledger.claim_webhooks(10, LEASE).await.unwrap();
    ledger.record_webhook_attempts(&[result(&claimed[0], 200, NextStep::Delivered)]).await.unwrap();

    let err = ledger.redeliver_webhook(stranger, sent.id).await.unwrap_err();
    assert!(matches!(err, Error::NoSuchWebhookEvent { .. }), "{err}");
    let Redelivery::Queued(again) = ledger.redeliver_webhook(participant, sent.id).await.unwrap() else {
        panic!("a delivered event is queued again")
    };
    assert_eq!((again.status, again.attempts, again.finished_at), (WebhookStatus::Pending, 0, None));
    // Asked again while it waits: nothing more is queued, and the attempt in flight is left alone.
    let pending = ledger.redeliver_webhook(participant, sent.id).await.unwrap();
    assert!(matches!(pending, Redelivery::AlreadyPending(_)), "{pending:?}");
    let reclaimed = ledger.claim_webhooks(10, LEASE).await.unwrap();
    assert_eq!((reclaimed[0].id, reclaimed[0].attempt), (sent.id, 1));
    let in_flight = ledger.redeliver_webhook(participant, sent.id).await.unwrap();
    assert!(matches!(&in_flight, Redelivery::AlreadyPending(e) if e.attempts == 1), "{in_flight:?}");
    assert!(ledger.claim_webhooks(10, LEASE).await.unwrap().is_empty(), "the claim still holds");

    ledger.disable_webhook_endpoint(participant, DisabledReason::Owner).await.unwrap();
    let err = ledger.redeliver_webhook(participant, sent.id).await.unwrap_err();
    assert!(matches!(err, Error::WebhookEndpointDisabled { .. }), "{err}");
    // Disabling skipped the event that was in flight; its late result only logs.
    assert_eq!(ledger.record_webhook_attempts(&[result(&reclaimed[0], 200, NextStep::Delivered)]).await.unwrap(), 0);
    assert_eq!(ledger.webhook_event(sent.id).await.unwrap().unwrap().status, WebhookStatus::Skipped);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_delivery_log_pages_newest_first_and_keeps_transport_errors(pool: PgPool) {
    let ledger = Ledger::from_pool(pool);
    let participant = endpoint(&ledger).await;
    ledger.enqueue_webhook(&event(participant, None, 1)).await.unwrap();
    for attempt in 1..=5u32 {
        let claimed = ledger.claim_webhooks(1, LEASE).await.unwrap().remove(0);
        let mut attempt_result = result(&claimed, 503, NextStep::RetryIn(Duration::ZERO));
        if attempt == 3 {
            attempt_result.response = AttemptResponse::Transport { error: "timed out".into() };
        }
        if attempt == 4 {
            attempt_result.response = AttemptResponse::Http { status: 503, snippet: "é".repeat(600) };
        }
        ledger.record_webhook_attempts(&[attempt_result]).await.unwrap();
    }
    let page = |before| DeliveryPage { before, limit: 2 };
    let first = ledger.webhook_deliveries(participant, page(None)).await.unwrap();
    assert_eq!(first.iter().map(|d| d.attempt).collect::<Vec<_>>(), [5, 4]);
    assert_eq!(first[1].response_snippet.as_ref().map(String::len), Some(1_024), "cut at 1 KiB, on a character");
    let second = ledger.webhook_deliveries(participant, page(Some(first[1].id))).await.unwrap();
    assert_eq!(second.iter().map(|d| d.attempt).collect::<Vec<_>>(), [3, 2]);
    assert_eq!((second[0].http_status, second[0].error.as_deref()), (None, Some("timed out")));
    let last = ledger.webhook_deliveries(participant, page(Some(second[1].id))).await.unwrap();
    assert_eq!(last.len(), 1);
    assert_eq!((last[0].event_type.as_str(), last[0].url.as_str()), ("job.updated", "https://receiver.example/hooks"));
    let event = ledger.webhook_event(last[0].event).await.unwrap().unwrap();
    assert_eq!((event.attempts, event.last_error.as_deref()), (5, Some("HTTP 503")));
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_redelivered_event_goes_before_the_pending_events_of_its_key(pool: PgPool) {
    let ledger = Ledger::from_pool(pool);
    let participant = endpoint(&ledger).await;
    let old = ledger.enqueue_webhook(&event(participant, Some("job-1"), 1)).await.unwrap().unwrap();
    let first = ledger.claim_webhooks(10, LEASE).await.unwrap();
    ledger.record_webhook_attempts(&[result(&first[0], 200, NextStep::Delivered)]).await.unwrap();
    ledger.enqueue_webhook(&event(participant, Some("job-1"), 2)).await.unwrap();

    // The newer event is due; redelivering the older one puts it first again.
    ledger.redeliver_webhook(participant, old.id).await.unwrap();
    let claimed = ledger.claim_webhooks(10, LEASE).await.unwrap();
    assert_eq!(ns(&claimed), [1], "the newer event went out beside the redelivered older one");
    ledger.record_webhook_attempts(&[result(&claimed[0], 200, NextStep::Delivered)]).await.unwrap();
    assert_eq!(ns(&ledger.claim_webhooks(10, LEASE).await.unwrap()), [2]);
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_retry_waiting_out_its_backoff_is_made_due_by_a_redelivery_and_a_waiting_event_is_not(pool: PgPool) {
    let ledger = Ledger::from_pool(pool);
    let participant = endpoint(&ledger).await;
    let head = ledger.enqueue_webhook(&event(participant, Some("job-1"), 1)).await.unwrap().unwrap();
    let behind = ledger.enqueue_webhook(&event(participant, Some("job-1"), 2)).await.unwrap().unwrap();
    let claimed = ledger.claim_webhooks(10, LEASE).await.unwrap();
    ledger
        .record_webhook_attempts(&[result(&claimed[0], 500, NextStep::RetryIn(Duration::from_secs(3_600)))])
        .await
        .unwrap();
    assert!(ledger.claim_webhooks(10, LEASE).await.unwrap().is_empty(), "an hour of backoff");

    let waiting = ledger.redeliver_webhook(participant, behind.id).await.unwrap();
    assert!(matches!(&waiting, Redelivery::AlreadyPending(e) if e.next_attempt_at.is_none()), "{waiting:?}");
    let retried = ledger.redeliver_webhook(participant, head.id).await.unwrap();
    assert!(matches!(&retried, Redelivery::AlreadyPending(e) if e.attempts == 1), "its schedule goes on: {retried:?}");
    let now = ledger.claim_webhooks(10, LEASE).await.unwrap();
    assert_eq!((ns(&now), now[0].attempt), (vec![1], 2), "due now, still first of its key");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn the_history_lists_a_participants_own_events_newest_first_with_filters_and_totals(pool: PgPool) {
    let ledger = Ledger::from_pool(pool);
    let participant = endpoint(&ledger).await;
    let stranger = endpoint(&ledger).await;
    let job = Uuid::new_v4();
    let mut ids = Vec::new();
    for n in 0..5 {
        let mut new = event(participant, None, n);
        new.payload["job_id"] = json!(job);
        if n == 4 {
            new.event_type = "earnings_claimed".into();
            new.payload = json!({"n": n, "job_id": "not a uuid"});
        }
        ids.push(ledger.enqueue_webhook(&new).await.unwrap().unwrap().id);
    }
    ledger.enqueue_webhook(&event(stranger, None, 9)).await.unwrap();
    let claimed = ledger.claim_webhooks(2, LEASE).await.unwrap();
    ledger
        .record_webhook_attempts(&[
            result(&claimed[0], 200, NextStep::Delivered),
            result(&claimed[1], 500, NextStep::GiveUp),
        ])
        .await
        .unwrap();

    let query = |status, event_type: Option<&str>, limit, offset| WebhookHistoryQuery {
        status,
        event_type: event_type.map(Into::into),
        limit,
        offset,
    };
    let all = ledger.webhook_history(participant, &query(None, None, 2, 0)).await.unwrap();
    assert_eq!(all.total, 5, "the stranger's event is not counted");
    assert_eq!(all.entries.iter().map(|e| e.id).collect::<Vec<_>>(), [ids[4], ids[3]]);
    assert_eq!(all.entries[0].job_id, None, "a job_id that is no UUID names no job");
    assert_eq!(all.entries[1].job_id, Some(job));
    let past = ledger.webhook_history(participant, &query(None, None, 2, 10)).await.unwrap();
    assert_eq!((past.total, past.entries.len()), (5, 0), "past the end: the total, no entries");

    let failed = ledger.webhook_history(participant, &query(Some(WebhookStatus::Failed), None, 10, 0)).await.unwrap();
    assert_eq!(failed.total, 1);
    let entry = &failed.entries[0];
    assert_eq!((entry.id, entry.attempts, entry.last_error.as_deref()), (ids[1], 1, Some("HTTP 500")));
    let last = entry.last_attempt.as_ref().unwrap();
    assert_eq!((last.http_status, last.error.as_deref()), (Some(500), None));
    let typed = ledger.webhook_history(participant, &query(None, Some("earnings_claimed"), 10, 0)).await.unwrap();
    assert_eq!((typed.total, typed.entries[0].id), (1, ids[4]));

    let detail = ledger.webhook_history_event(participant, ids[0]).await.unwrap().unwrap();
    assert_eq!((detail.entry.status, detail.attempts_logged, detail.attempts.len()), (WebhookStatus::Delivered, 1, 1));
    assert_eq!(detail.payload["n"], 0);
    assert_eq!(ledger.webhook_history_event(stranger, ids[0]).await.unwrap(), None, "not the stranger's");
}
