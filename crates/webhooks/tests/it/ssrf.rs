//! Private addresses are refused at registration and at delivery; redirects are not followed.

use std::time::Duration;

use clearing_ledger::{DeliveryPage, WebhookStatus};
use clearing_testkit::TestDatabase;
use clearing_webhooks::{Dispatcher, UrlRefused, WebhooksConfig, check_url};

use crate::support::{Receiver, Reply, config, enqueue, eventually, participant, wait_status};

#[tokio::test]
async fn registration_refuses_internal_addresses_and_names_that_resolve_to_them() {
    for url in [
        "http://127.0.0.1:8080/hooks",
        "http://10.1.2.3/hooks",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hooks",
        "http://localhost:3000/hooks",
    ] {
        match check_url(url, false).await {
            Err(UrlRefused::Private { range, .. }) => assert!(!range.is_empty()),
            other => panic!("{url}: expected a private-address refusal, got {other:?}"),
        }
    }
    let refusal = check_url("http://localhost:3000/hooks", false).await.unwrap_err().to_string();
    assert!(refusal.contains("localhost") && refusal.contains("loopback"), "{refusal}");
    // Allowed in development.
    assert!(check_url("http://localhost:3000/hooks", true).await.is_ok());
}

#[tokio::test]
async fn delivery_refuses_internal_addresses_even_when_registered() {
    let db = TestDatabase::create("webhooks_ssrf").await;
    let ledger = db.ledger();
    let receiver = Receiver::start().await;
    let by_name = url::Url::parse(&format!("http://localhost:{}/by-name", receiver.port)).unwrap();
    let (named, _) = participant(&ledger, &by_name).await;
    let (literal, _) = participant(&ledger, &receiver.url("/literal")).await;
    let strict = WebhooksConfig { allow_private: false, retry_schedule_ms: vec![60_000], ..config() };
    let dispatcher = Dispatcher::start(ledger.clone(), strict).unwrap();
    let ids = [enqueue(&ledger, named, None, 1).await, enqueue(&ledger, literal, None, 2).await];
    for (participant, id) in [(named, ids[0]), (literal, ids[1])] {
        let log = eventually(Duration::from_secs(10), "the refused attempt logged", || async {
            let log = ledger.webhook_deliveries(participant, DeliveryPage { before: None, limit: 10 }).await.unwrap();
            (!log.is_empty()).then_some(log)
        })
        .await;
        let error = log[0].error.clone().unwrap();
        assert!(error.contains("refused"), "{error}");
        if participant == named {
            // What a name resolves to is ours to know: the owner's log says only that it is not public.
            assert!(
                error.contains("non-public") && !error.contains("127.0.0.1") && !error.contains("loopback"),
                "{error}"
            );
        } else {
            assert!(error.contains("loopback"), "the address the owner wrote is named: {error}");
        }
        assert_eq!(ledger.webhook_event(id).await.unwrap().unwrap().status, WebhookStatus::Pending);
    }
    dispatcher.shutdown().await;
    assert!(receiver.requests().is_empty(), "a request reached a loopback receiver");
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let db = TestDatabase::create("webhooks_redirect").await;
    let ledger = db.ledger();
    let receiver = Receiver::start().await;
    receiver.script("/hooks", [Reply::Redirect("/elsewhere")]);
    let (participant, _) = participant(&ledger, &receiver.url("/hooks")).await;
    let dispatcher = Dispatcher::start(ledger.clone(), config()).unwrap();
    let id = enqueue(&ledger, participant, None, 1).await;
    wait_status(&ledger, id, WebhookStatus::Delivered).await;
    dispatcher.shutdown().await;
    assert!(receiver.requests_to("/elsewhere").is_empty(), "the redirect was followed");
    let log = ledger.webhook_deliveries(participant, DeliveryPage { before: None, limit: 10 }).await.unwrap();
    let statuses: Vec<_> = log.iter().rev().map(|d| d.http_status).collect();
    assert_eq!(statuses, [Some(302), Some(200)], "a 3xx is a failed attempt, retried at the same URL");
}
