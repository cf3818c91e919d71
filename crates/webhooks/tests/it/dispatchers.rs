//! Several processes' dispatchers on one database: every event once in the happy path, none lost to a crash.

use std::{collections::HashMap, time::Duration};

use clearing_ledger::{Ledger, WebhookStatus};
use clearing_testkit::TestDatabase;
use clearing_webhooks::{Dispatcher, WebhooksConfig};

use crate::support::{Receiver, Reply, config, enqueue, eventually, participant};

/// A ledger with a pool of its own, as another process would have.
async fn process(db: &TestDatabase) -> Ledger {
    Ledger::connect(db.url(), 5).await.unwrap()
}

fn counts(receiver: &Receiver) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for request in receiver.requests() {
        *counts.entry(request.id().to_owned()).or_default() += 1;
    }
    counts
}

#[tokio::test]
async fn two_dispatchers_deliver_every_event_exactly_once() {
    let db = TestDatabase::create("webhooks_two_dispatchers").await;
    let (one, two) = (process(&db).await, process(&db).await);
    let receiver = Receiver::start().await;
    let (alice, _) = participant(&one, &receiver.url("/alice")).await;
    let (bob, _) = participant(&one, &receiver.url("/bob")).await;
    let first = Dispatcher::start(one.clone(), config()).unwrap();
    let second = Dispatcher::start(two.clone(), config()).unwrap();

    // Events enqueued through both processes, ordered and not.
    let mut ids = Vec::new();
    for n in 0..150 {
        let (ledger, who) = if n % 2 == 0 { (&one, alice) } else { (&two, bob) };
        let key = (n % 3 != 0).then(|| format!("job-{}", n % 7));
        ids.push(enqueue(ledger, who, key.as_deref(), n).await);
    }
    let want = ids.len();
    eventually(Duration::from_secs(30), "every event delivered", || async {
        (receiver.requests().len() >= want).then_some(())
    })
    .await;
    // A receiver has the request before its dispatcher records the answer: wait for the records too.
    eventually(Duration::from_secs(30), "every event recorded delivered", || async {
        for id in &ids {
            if one.webhook_event(*id).await.unwrap().unwrap().status != WebhookStatus::Delivered {
                return None;
            }
        }
        Some(())
    })
    .await;
    first.shutdown().await;
    second.shutdown().await;
    let counts = counts(&receiver);
    assert_eq!(counts.len(), want);
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
}

#[tokio::test]
async fn an_aborted_dispatchers_events_are_delivered_by_the_other_after_its_lease() {
    let db = TestDatabase::create("webhooks_abort").await;
    let (one, two) = (process(&db).await, process(&db).await);
    let receiver = Receiver::start().await;
    // Slow answers, so the first dispatcher is mid-attempt when it dies.
    receiver.always(Reply::Delayed(Duration::from_millis(400), 200));
    let (participant, _) = participant(&one, &receiver.url("/hooks")).await;
    let mut ids = Vec::new();
    for n in 0..20 {
        ids.push(enqueue(&one, participant, (n % 2 == 0).then_some("job-1"), n).await);
    }
    let short_lease = WebhooksConfig { timeout_ms: 1_000, lease_ms: 1_500, ..config() };
    let doomed = Dispatcher::start(one.clone(), short_lease.clone()).unwrap();
    receiver.wait_for(1, Duration::from_secs(10)).await;
    doomed.abort().await;
    let survivor = Dispatcher::start(two.clone(), short_lease).unwrap();
    eventually(Duration::from_secs(30), "every event delivered after the crash", || async {
        for id in &ids {
            if two.webhook_event(*id).await.unwrap().unwrap().status != WebhookStatus::Delivered {
                return None;
            }
        }
        Some(())
    })
    .await;
    survivor.shutdown().await;
    let counts = counts(&receiver);
    assert!(ids.iter().all(|id| counts.contains_key(&id.to_string())), "an event never arrived");
    // The attempts the crash cut off arrived but were never recorded: they were sent again.
    assert!(counts.values().any(|n| *n >= 2), "no attempt was in flight when the dispatcher died: {counts:?}");
}
