//! The served OpenAPI document against the router `clearing serve` assembles (the facilitator, the audit route and the
//! market's `/v1`): every route served is described and every described route served, with exactly its methods, and
//! the statuses `/v1` answers are the documented ones.

use std::collections::{BTreeMap, BTreeSet};

use clearing_ledger::market::ParticipantKind;
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::Env;

/// The methods probed on every path.
const METHODS: [Method; 5] = [Method::GET, Method::POST, Method::PUT, Method::DELETE, Method::PATCH];

/// A concrete request path for an OpenAPI path template.
fn concrete(path: &str) -> String {
    path.replace("{seq}", "0").replace("{id}", "5d8ea8a1-0c4b-4f43-9f0b-6a3c2f1e9d70")
}

/// The `/v1` answers that are the router's own (an unknown path), not a route's.
fn unrouted(answer: &crate::harness::Answer) -> bool {
    answer.status == 404
        && (answer.body["message"].as_str().is_some_and(|m| m.starts_with("no such route"))
            || answer.body["error"]["code"] == "not_found")
}

#[tokio::test]
async fn the_document_and_the_router_have_the_same_routes_and_methods() {
    let env = Env::start("openapi_routes").await;
    let spec = env.get("/openapi.json", None).await.body;
    let described: BTreeMap<String, BTreeSet<String>> = spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(path, item)| (path.clone(), item.as_object().unwrap().keys().cloned().collect()))
        .collect();
    let served = clearing_testkit::routed_paths(&format!("{:?}", env.router));
    assert!(served.iter().filter(|p| p.starts_with("/v1/")).count() >= 6, "the route table was not read: {served:?}");
    assert_eq!(served, described.keys().cloned().collect(), "served paths vs described paths");

    for (path, methods) in described.iter().filter(|(path, _)| path.starts_with("/v1/")) {
        for method in METHODS {
            let name = method.as_str().to_lowercase();
            let answer = env.send(method.clone(), &concrete(path), None, Some(&json!({}))).await;
            assert!(!unrouted(&answer), "{path} is described but not served");
            let served = answer.status != 405;
            assert_eq!(
                served,
                methods.contains(&name),
                "{name} {path}: answered {}, described {methods:?}",
                answer.status
            );
        }
    }
}

/// A request (method, path, the path's template, key, body) and the status it must draw.
type Probe<'a> = (Method, &'a str, &'a str, Option<&'a str>, Option<Value>, u16);

#[tokio::test]
async fn every_v1_answer_is_documented_for_its_operation() {
    let env = Env::start_with("openapi_answers", |c| c.max_body_bytes = 1_024).await;
    let spec = env.get("/openapi.json", None).await.body;
    let (provider, key) = env.participant(ParticipantKind::Provider, "P").await;
    let (_, agent) = env.participant(ParticipantKind::Agent, "A").await;
    let service =
        json!({"name": "S", "description": "D", "category": "c", "price": "1", "fulfillment_type": "instant"});
    let created = env.send(Method::POST, "/v1/services", Some(&key), Some(&service)).await;
    let service_path = format!("/v1/services/{}", created.body["id"].as_str().unwrap());
    let me = format!("/v1/participants/{}", provider.id);
    let unknown = concrete("/v1/services/{id}");
    let big = json!({"name": "x".repeat(2_000)});
    let redeliver = "/v1/webhooks/deliveries/msg_1/redeliver".to_owned();
    let unknown_product = concrete("/v1/products/{id}");
    let (product_purchase, product_download) =
        (format!("{unknown_product}/purchase"), format!("{unknown_product}/download"));

    let probes: Vec<Probe<'_>> = vec![
        (Method::POST, "/v1/register", "/v1/register", None, Some(json!({"type": "agent", "name": "a"})), 402),
        (Method::POST, "/v1/register", "/v1/register", None, Some(json!({"name": "a"})), 400),
        (Method::POST, "/v1/register", "/v1/register", None, Some(big.clone()), 413),
        (Method::GET, "/v1/register", "/v1/register", None, None, 405),
        (Method::POST, "/v1/participants/rotate-key", "/v1/participants/rotate-key", None, None, 402),
        (Method::POST, "/v1/participants/rotate-key", "/v1/participants/rotate-key", Some("clr_x"), None, 401),
        (Method::POST, "/v1/participants/rotate-key", "/v1/participants/rotate-key", None, Some(json!({"x": 1})), 400),
        (Method::GET, &me, "/v1/participants/{id}", None, None, 200),
        (Method::GET, &me, "/v1/participants/{id}", Some("clr_x"), None, 401),
        (Method::GET, "/v1/participants/nobody", "/v1/participants/{id}", None, None, 404),
        (Method::PUT, &me, "/v1/participants/{id}", Some(&key), Some(json!({"name": "Q"})), 200),
        (Method::PUT, &me, "/v1/participants/{id}", Some(&key), Some(json!({"name": ""})), 400),
        (Method::PUT, &me, "/v1/participants/{id}", None, Some(json!({})), 401),
        (Method::PUT, &me, "/v1/participants/{id}", Some(&agent), Some(json!({})), 403),
        (Method::PUT, &me, "/v1/participants/{id}", Some(&key), Some(big.clone()), 413),
        (Method::POST, "/v1/services", "/v1/services", Some(&key), Some(service.clone()), 201),
        (Method::POST, "/v1/services", "/v1/services", Some(&key), Some(json!({})), 400),
        (Method::POST, "/v1/services", "/v1/services", None, Some(service.clone()), 401),
        (Method::POST, "/v1/services", "/v1/services", Some(&agent), Some(service.clone()), 403),
        (Method::POST, "/v1/services", "/v1/services", Some(&key), Some(big.clone()), 413),
        (Method::GET, "/v1/services", "/v1/services", None, None, 405),
        (Method::GET, "/v1/services/catalog", "/v1/services/catalog", None, None, 200),
        (Method::GET, "/v1/services/catalog?limit=0", "/v1/services/catalog", None, None, 400),
        (Method::GET, &service_path, "/v1/services/{id}", None, None, 200),
        (Method::GET, &service_path, "/v1/services/{id}", Some("clr_x"), None, 401),
        (Method::GET, &unknown, "/v1/services/{id}", None, None, 404),
        (Method::PUT, &service_path, "/v1/services/{id}", Some(&key), Some(json!({"price": "2"})), 200),
        (Method::PUT, &service_path, "/v1/services/{id}", Some(&key), Some(json!({"price": "0"})), 400),
        (Method::PUT, &service_path, "/v1/services/{id}", None, Some(json!({})), 401),
        (Method::PUT, &service_path, "/v1/services/{id}", Some(&agent), Some(json!({})), 403),
        (Method::PUT, &unknown, "/v1/services/{id}", Some(&key), Some(json!({})), 404),
        (Method::PUT, &service_path, "/v1/services/{id}", Some(&key), Some(big), 413),
        (Method::DELETE, &unknown, "/v1/services/{id}", Some(&key), None, 404),
        (Method::DELETE, &service_path, "/v1/services/{id}", Some(&agent), None, 403),
        (Method::DELETE, &service_path, "/v1/services/{id}", None, None, 401),
        (Method::DELETE, &service_path, "/v1/services/{id}", Some(&key), None, 204),
        (Method::GET, "/v1/webhooks/deliveries", "/v1/webhooks/deliveries", Some(&key), None, 200),
        (Method::GET, "/v1/webhooks/deliveries?status=lost", "/v1/webhooks/deliveries", Some(&key), None, 400),
        (Method::GET, "/v1/webhooks/deliveries", "/v1/webhooks/deliveries", None, None, 401),
        (Method::POST, "/v1/webhooks/deliveries", "/v1/webhooks/deliveries", Some(&key), None, 405),
        (Method::GET, "/v1/webhooks/deliveries/msg_1", "/v1/webhooks/deliveries/{id}", Some(&key), None, 404),
        (Method::GET, "/v1/webhooks/deliveries/msg_1", "/v1/webhooks/deliveries/{id}", None, None, 401),
        (Method::POST, &redeliver, "/v1/webhooks/deliveries/{id}/redeliver", Some(&key), None, 404),
        (Method::POST, &redeliver, "/v1/webhooks/deliveries/{id}/redeliver", None, None, 401),
        (Method::GET, &redeliver, "/v1/webhooks/deliveries/{id}/redeliver", Some(&key), None, 405),
        (Method::GET, "/v1/products?q=data", "/v1/products", None, None, 200),
        (Method::GET, "/v1/products?limit=0", "/v1/products", None, None, 400),
        (Method::POST, "/v1/products", "/v1/products", None, Some(json!({})), 401),
        (Method::POST, "/v1/products", "/v1/products", Some(&agent), Some(json!({})), 403),
        (Method::POST, "/v1/products", "/v1/products", Some(&key), Some(json!({})), 415),
        (Method::GET, &unknown_product, "/v1/products/{id}", None, None, 404),
        (Method::PATCH, &unknown_product, "/v1/products/{id}", Some(&key), Some(json!({})), 404),
        (Method::PATCH, &unknown_product, "/v1/products/{id}", Some(&key), Some(json!({"x": 1})), 400),
        (Method::PUT, &unknown_product, "/v1/products/{id}", None, Some(json!({})), 401),
        (Method::DELETE, &unknown_product, "/v1/products/{id}", Some(&key), None, 404),
        (Method::POST, &product_purchase, "/v1/products/{id}/purchase", None, None, 404),
        (Method::GET, &product_download, "/v1/products/{id}/download", Some(&key), None, 404),
        (Method::GET, "/v1/purchases", "/v1/purchases", Some(&agent), None, 200),
        (Method::GET, "/v1/purchases", "/v1/purchases", None, None, 401),
    ];
    for (method, path, template, key, body, expected) in probes {
        let answer = env.send(method.clone(), path, key, body.as_ref()).await;
        let status = answer.status.as_u16();
        assert_eq!(status, expected, "{method} {path}: {}", answer.body);
        let operations = spec["paths"][template].as_object().unwrap_or_else(|| panic!("{template} is not described"));
        let documented: Vec<&Value> = match status {
            405 => operations.values().collect(),
            _ => vec![&operations[&method.as_str().to_lowercase()]],
        };
        for operation in documented {
            assert!(operation["responses"][status.to_string()].is_object(), "{method} {path}: {status} not documented");
        }
        if status >= 400 && status != 402 {
            assert!(
                answer.body["error"]["code"].is_string(),
                "{method} {path}: not the /v1 error shape: {}",
                answer.body
            );
        }
    }
    // Unsupported media type, which reqwest's JSON helper cannot send.
    let text = reqwest::Client::new().post(format!("{}/v1/register", env.base)).body("x").send().await.unwrap();
    assert_eq!(text.status(), 415);
    assert!(spec["paths"]["/v1/register"]["post"]["responses"]["415"].is_object());
}
