//! The served OpenAPI document against the router `clearing serve` assembles (settlement and the audit route
//! included): every route it serves is described, every described route is served, and the statuses it answers
//! are the documented ones.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::SocketAddr,
};

use axum::{
    Router,
    body::Body,
    extract::ConnectInfo,
    http::{Method, Request, Response},
};
use clearing_facilitator::{Facilitator, FacilitatorConfig, SettleSetup};
use clearing_testkit::TestDatabase;
use serde_json::Value;
use tower::ServiceExt;

use crate::{harness::json_of, support::Env};

/// The methods probed on every path.
const METHODS: [Method; 5] = [Method::GET, Method::POST, Method::PUT, Method::DELETE, Method::PATCH];

/// The facilitator with settlement and the audit route, as `clearing serve` serves it.
async fn served(env: &Env) -> Router {
    let config = FacilitatorConfig::default();
    let setup = SettleSetup {
        ledger: env.ledger.clone(),
        relayer: env.relayer_key.clone(),
        batch_settler: env.chain.deployment.batch_settler,
        escrow: None,
        vault: None,
        subscriptions: None,
        assets: vec![env.chain.token],
    };
    let reader = clearing_chain::connect(&env.chain.endpoint()).unwrap();
    let facilitator = Facilitator::new(reader.clone(), vec![env.relayer_key.address()], &config)
        .await
        .unwrap()
        .with_settlement(reader, setup, &config)
        .await
        .unwrap();
    let audit = clearing_audit::http::router(clearing_audit::http::AuditState::new(env.ledger.clone(), 31337));
    let router = facilitator.router_with(&config, audit);
    // The batcher's tasks outlive the handle; the test's runtime ends them.
    std::mem::forget(facilitator);
    router
}

async fn send(router: &Router, method: Method, path: &str, body: impl Into<Body>) -> Response<Body> {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(body.into())
        .unwrap();
    request.extensions_mut().insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    router.clone().oneshot(request).await.unwrap()
}

fn router_paths(router: &Router) -> BTreeSet<String> {
    clearing_testkit::routed_paths(&format!("{router:?}"))
}

/// A concrete request path for an OpenAPI path template.
fn concrete(path: &str) -> String {
    path.replace("{seq}", "0")
}

#[tokio::test]
async fn the_openapi_document_and_the_router_have_the_same_routes() {
    let database = TestDatabase::create("the_openapi_document_and_the_router_have").await;
    let pool = database.pool();
    let env = Env::new(pool).await;
    let router = served(&env).await;
    let response = send(&router, Method::GET, "/openapi.json", Body::empty()).await;
    let spec = json_of(response).await;
    let described: BTreeMap<String, BTreeSet<String>> = spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(path, item)| (path.clone(), item.as_object().unwrap().keys().cloned().collect()))
        .collect();

    let paths = router_paths(&router);
    assert!(paths.len() >= 7, "the route table was not read: {paths:?}");
    assert_eq!(paths, described.keys().cloned().collect(), "served paths vs described paths");
    for (path, methods) in &described {
        for method in METHODS {
            let name = method.as_str().to_lowercase();
            let response = send(&router, method, &concrete(path), "{}").await;
            let status = response.status().as_u16();
            // A route may answer 404 itself (no record 0 yet); the router's own 404 says there is no such route.
            let unrouted =
                status == 404 && json_of(response).await["message"].as_str().unwrap().starts_with("no such route");
            assert!(!unrouted, "{path} is described but not served");
            let served = status != 405;
            assert_eq!(served, methods.contains(&name), "{name} {path}: answered {status}, described {methods:?}");
        }
    }
}

/// Requests that draw each answer an operation can give without a chain failure, and the status expected.
#[tokio::test]
async fn every_answer_is_documented_for_its_operation() {
    let database = TestDatabase::create("every_answer_is_documented_for_its_opera").await;
    let pool = database.pool();
    let env = Env::new(pool).await;
    let router = served(&env).await;
    let spec = json_of(send(&router, Method::GET, "/openapi.json", Body::empty()).await).await;
    let oversized = vec![b' '; 65 * 1024];
    let probes: Vec<(Method, &str, Body, u16)> = vec![
        (Method::POST, "/verify", Body::from("null"), 400),
        (Method::POST, "/verify", Body::from(oversized.clone()), 413),
        (Method::GET, "/verify", Body::empty(), 405),
        (Method::POST, "/settle", Body::from("[]"), 400),
        (Method::POST, "/settle", Body::from(oversized), 413),
        (Method::DELETE, "/settle", Body::empty(), 405),
        (Method::GET, "/supported", Body::empty(), 200),
        (Method::POST, "/supported", Body::empty(), 405),
        (Method::GET, "/health", Body::empty(), 200),
        (Method::GET, "/metrics", Body::empty(), 200),
        (Method::GET, "/openapi.json", Body::empty(), 200),
        (Method::GET, "/audit/records/0", Body::empty(), 404),
        (Method::GET, "/audit/records/18446744073709551616", Body::empty(), 400),
        (Method::GET, "/audit/records/-1", Body::empty(), 400),
    ];
    for (method, path, body, expected) in probes {
        let response = send(&router, method.clone(), path, body).await;
        let status = response.status().as_u16();
        assert_eq!(status, expected, "{method} {path}");
        let allow = response.headers().get("allow").map(|v| v.to_str().unwrap().to_owned());
        let template = if path.starts_with("/audit/records/") { "/audit/records/{seq}" } else { path };
        // A 405 is answered for a method the path has no operation for: each of its operations documents it.
        let operations = spec["paths"][template].as_object().unwrap();
        let documented: Vec<&Value> = match status {
            405 => operations.values().collect(),
            _ => vec![&operations[&method.as_str().to_lowercase()]],
        };
        for operation in documented {
            assert!(operation["responses"][status.to_string()].is_object(), "{method} {path}: {status} not documented");
        }
        if status == 405 {
            assert!(allow.is_some(), "{method} {path}: 405 without Allow");
            assert_eq!(json_of(response).await["error"], "method_not_allowed");
        }
    }
    let seq = &spec["paths"]["/audit/records/{seq}"]["get"]["parameters"][0]["schema"];
    assert_eq!((seq["minimum"].as_u64(), seq["maximum"].as_u64()), (Some(0), Some(u64::MAX)), "{seq}");
}

#[tokio::test]
async fn an_unknown_path_is_a_json_404() {
    let database = TestDatabase::create("an_unknown_path_is_a_json_404").await;
    let pool = database.pool();
    let env = Env::new(pool).await;
    let router = served(&env).await;
    let response = send(&router, Method::GET, "/nowhere", Body::empty()).await;
    assert_eq!(response.status(), 404);
    assert_eq!(json_of(response).await["error"], "not_found");
}
