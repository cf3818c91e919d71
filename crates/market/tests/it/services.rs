//! Services by their providers: create (every validation error named), read, partial update, hide, soft delete.

use clearing_ledger::market::ParticipantKind;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Env, code};

fn service() -> Value {
    json!({
        "name": "SEO audit",
        "description": "A full technical SEO audit of one page.",
        "category": "SEO",
        "tags": ["seo", "audit"],
        "price": "0.50",
        "fulfillment_type": "automated",
        "input_schema": {"type": "object", "properties": {"url": {"type": "string"}}, "required": ["url"]},
        "deliverable_schema": {"type": "object", "properties": {"score": {"type": "integer"}}},
        "estimated_delivery": "2-5 minutes"
    })
}

/// `service()` with `field` set to `value` (or removed for `Value::Null` when `remove`).
fn with(field: &str, value: Value) -> Value {
    let mut body = service();
    body[field] = value;
    body
}

fn without(field: &str) -> Value {
    let mut body = service();
    body.as_object_mut().unwrap().remove(field);
    body
}

#[tokio::test]
async fn a_provider_lists_a_service_shown_with_its_three_prices() {
    let env = Env::start("services_create").await;
    let (provider, key) = env.participant(ParticipantKind::Provider, "Acme").await;

    let created = env.send(Method::POST, "/v1/services", Some(&key), Some(&service())).await;

    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let body = &created.body;
    assert_eq!(body["price"], "0.500000");
    assert_eq!(body["agent_price"], "0.500000");
    assert_eq!(body["provider_net_price"], "0.475000");
    assert_eq!(body["platform_fee_pct"], 5);
    assert_eq!(
        (body["service_type"].as_str(), body["fulfillment_type"].as_str()),
        (Some("automated_service"), Some("automated"))
    );
    assert_eq!((body["pricing_model"].as_str(), body["status"].as_str()), (Some("fixed"), Some("active")));
    assert_eq!(body["category"], "seo", "categories are stored in lower case");
    assert_eq!(body["provider_id"], provider.id.to_string());
    assert_eq!(body["provider_name"], "Acme");
    assert_eq!(body["input_schema"]["required"], json!(["url"]));
    assert_eq!(body["deliverable_schema"]["properties"]["score"]["type"], "integer");
    let id = body["id"].as_str().unwrap();
    let detail = env.get(&format!("/v1/services/{id}"), None).await;
    assert_eq!(detail.status, 200);
    assert_eq!(detail.body, created.body);

    // A quoted price is what the provider nets; the agent pays it plus the fee.
    let quoted = with("pricing_model", json!("quote_required"));
    let quoted = env.send(Method::POST, "/v1/services", Some(&key), Some(&with_price(quoted, "45"))).await;
    assert_eq!(quoted.status, StatusCode::CREATED, "{}", quoted.body);
    assert_eq!(
        (quoted.body["agent_price"].as_str(), quoted.body["provider_net_price"].as_str()),
        (Some("47.250000"), Some("45.000000"))
    );

    // The tier follows from either half.
    let typed = env
        .send(
            Method::POST,
            "/v1/services",
            Some(&key),
            Some(&{
                let mut body = without("fulfillment_type");
                body["service_type"] = json!("human_service");
                body
            }),
        )
        .await;
    assert_eq!(typed.body["fulfillment_type"], "human", "{}", typed.body);
}

fn with_price(mut body: Value, price: &str) -> Value {
    body["price"] = json!(price);
    body
}

#[tokio::test]
async fn every_invalid_field_is_named() {
    let env = Env::start("services_invalid").await;
    let (_, key) = env.participant(ParticipantKind::Provider, "Acme").await;
    let mut tags_21 = Vec::new();
    for i in 0..21 {
        tags_21.push(format!("t{i}"));
    }
    let cases: Vec<(Value, &str, &str)> = vec![
        (without("name"), "missing_field", "name"),
        (with("name", json!("")), "invalid_field", "name"),
        (with("name", json!("n".repeat(101))), "invalid_field", "name"),
        (with("name", json!(7)), "invalid_field", "name"),
        (without("description"), "missing_field", "description"),
        (with("description", json!("d".repeat(5_001))), "invalid_field", "description"),
        (without("category"), "missing_field", "category"),
        (with("category", json!("c".repeat(51))), "invalid_field", "category"),
        (with("tags", json!(tags_21)), "invalid_field", "tags"),
        (with("tags", json!(["ok", "t".repeat(51)])), "invalid_field", "tags[1]"),
        (with("tags", json!(["ok", 3])), "invalid_field", "tags[1]"),
        (without("price"), "missing_field", "price"),
        (with("price", json!("0")), "invalid_field", "price"),
        (with("price", json!("0.0000001")), "invalid_field", "price"),
        (with("price", json!("-1")), "invalid_field", "price"),
        (with("price", json!("1e3")), "invalid_field", "price"),
        (with("price", json!(0.5)), "invalid_field", "price"),
        (with("price", json!("1000000000.000001")), "invalid_field", "price"),
        (with("pricing_model", json!("auction")), "invalid_field", "pricing_model"),
        (with("fulfillment_type", json!("teleport")), "invalid_field", "fulfillment_type"),
        (without("fulfillment_type"), "missing_field", "fulfillment_type"),
        (with("service_type", json!("data_api")), "inconsistent_tier", "fulfillment_type"),
        (with("input_schema", json!({"type": "strng"})), "invalid_schema", "input_schema"),
        (with("input_schema", json!(["not", "a", "schema"])), "invalid_schema", "input_schema"),
        (with("deliverable_schema", json!({"pattern": "(", "type": "string"})), "invalid_schema", "deliverable_schema"),
        (with("input_schema", json!({"$ref": "https://example.com/s.json"})), "invalid_schema", "input_schema"),
        (with("input_schema", json!({"description": "a\u{0}b"})), "invalid_schema", "input_schema"),
        (with("estimated_delivery", json!("e".repeat(101))), "invalid_field", "estimated_delivery"),
        (with("status", json!("deleted")), "invalid_field", "status"),
        (with("colour", json!("blue")), "unknown_field", "colour"),
        (with("provider_id", json!("someone")), "unknown_field", "provider_id"),
    ];
    for (body, want_code, field) in cases {
        let answer = env.send(Method::POST, "/v1/services", Some(&key), Some(&body)).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{field}: {}", answer.body);
        assert_eq!(code(&answer.body), want_code, "{field}: {}", answer.body);
        assert_eq!(answer.body["error"]["field"], field, "{}", answer.body);
        let message = answer.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(field.split('[').next().unwrap()), "the message names {field}: {message}");
    }
    let count: i64 =
        sqlx::query_scalar("SELECT count(*) FROM market_services").fetch_one(&env.database.pool()).await.unwrap();
    assert_eq!(count, 0, "nothing was listed");
}

#[tokio::test]
async fn only_providers_list_and_only_their_owner_changes_a_service() {
    let env = Env::start("services_owner").await;
    let (_, owner) = env.participant(ParticipantKind::Provider, "Owner").await;
    let (_, rival) = env.participant(ParticipantKind::Provider, "Rival").await;
    let (agent, agent_key) = env.participant(ParticipantKind::Agent, "Agent").await;

    let by_agent = env.send(Method::POST, "/v1/services", Some(&agent_key), Some(&service())).await;
    assert_eq!((by_agent.status, code(&by_agent.body)), (StatusCode::FORBIDDEN, "providers_only"));
    assert!(by_agent.body["error"]["message"].as_str().unwrap().contains(&agent.id.to_string()));
    let anonymous = env.send(Method::POST, "/v1/services", None, Some(&service())).await;
    assert_eq!((anonymous.status, code(&anonymous.body)), (StatusCode::UNAUTHORIZED, "missing_api_key"));

    let created = env.send(Method::POST, "/v1/services", Some(&owner), Some(&service())).await;
    let path = format!("/v1/services/{}", created.body["id"].as_str().unwrap());
    let theirs = env.send(Method::PUT, &path, Some(&rival), Some(&json!({"price": "0.01"}))).await;
    assert_eq!((theirs.status, code(&theirs.body)), (StatusCode::FORBIDDEN, "not_owner"));
    let deleted_by_rival = env.send(Method::DELETE, &path, Some(&rival), None).await;
    assert_eq!((deleted_by_rival.status, code(&deleted_by_rival.body)), (StatusCode::FORBIDDEN, "not_owner"));
    assert_eq!(env.get(&path, None).await.body["price"], "0.500000", "unchanged");
}

#[tokio::test]
async fn an_update_changes_what_it_names_and_inactive_hides_from_all_but_the_owner() {
    let env = Env::start("services_update").await;
    let (_, owner) = env.participant(ParticipantKind::Provider, "Owner").await;
    let (_, other) = env.participant(ParticipantKind::Agent, "Agent").await;
    let created = env.send(Method::POST, "/v1/services", Some(&owner), Some(&service())).await;
    let path = format!("/v1/services/{}", created.body["id"].as_str().unwrap());

    let repriced = env
        .send(
            Method::PUT,
            &path,
            Some(&owner),
            Some(&json!({"price": "2", "fulfillment_type": "instant", "estimated_delivery": null})),
        )
        .await;
    assert_eq!(repriced.status, 200, "{}", repriced.body);
    assert_eq!(
        (repriced.body["price"].as_str(), repriced.body["provider_net_price"].as_str()),
        (Some("2.000000"), Some("1.900000"))
    );
    assert_eq!(repriced.body["service_type"], "data_api", "inferred from fulfillment_type");
    assert_eq!(repriced.body["estimated_delivery"], Value::Null, "null clears");
    assert_eq!(repriced.body["name"], "SEO audit", "what is not named stays");
    assert_eq!(repriced.body["input_schema"], created.body["input_schema"]);
    let inconsistent = env
        .send(
            Method::PUT,
            &path,
            Some(&owner),
            Some(&json!({"service_type": "human_service", "fulfillment_type": "instant"})),
        )
        .await;
    assert_eq!((inconsistent.status, code(&inconsistent.body)), (StatusCode::BAD_REQUEST, "inconsistent_tier"));
    let bad = env.send(Method::PUT, &path, Some(&owner), Some(&json!({"tags": vec!["x"; 21]}))).await;
    assert_eq!((bad.status, bad.body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("tags")));

    let hidden = env.send(Method::PUT, &path, Some(&owner), Some(&json!({"status": "inactive"}))).await;
    assert_eq!(hidden.body["status"], "inactive");
    assert_eq!(env.get(&path, None).await.status, StatusCode::NOT_FOUND, "hidden from the public");
    assert_eq!(env.get(&path, Some(&other)).await.status, StatusCode::NOT_FOUND, "and from other participants");
    assert_eq!(env.get(&path, Some(&owner)).await.status, StatusCode::OK, "but not from its owner");
    assert_eq!(env.get("/v1/services/catalog", None).await.body["total"], 0);
    env.send(Method::PUT, &path, Some(&owner), Some(&json!({"status": "active"}))).await;
    assert_eq!(env.get("/v1/services/catalog", None).await.body["total"], 1, "listed again");
}

#[tokio::test]
async fn a_deleted_service_is_gone_from_every_answer_but_its_row_stays() {
    let env = Env::start("services_delete").await;
    let (_, owner) = env.participant(ParticipantKind::Provider, "Owner").await;
    let created = env.send(Method::POST, "/v1/services", Some(&owner), Some(&service())).await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/services/{id}");

    let deleted = env.send(Method::DELETE, &path, Some(&owner), None).await;

    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    for (method, key) in
        [(Method::GET, None), (Method::GET, Some(owner.as_str())), (Method::DELETE, Some(owner.as_str()))]
    {
        let answer = env.send(method.clone(), &path, key, None).await;
        assert_eq!((answer.status, code(&answer.body)), (StatusCode::NOT_FOUND, "service_not_found"), "{method}");
    }
    let put = env.send(Method::PUT, &path, Some(&owner), Some(&json!({"price": "1"}))).await;
    assert_eq!(put.status, StatusCode::NOT_FOUND);
    assert_eq!(env.get("/v1/services/catalog", None).await.body["total"], 0);
    let kept: bool = sqlx::query_scalar("SELECT deleted_at IS NOT NULL FROM market_services WHERE id = $1::uuid")
        .bind(&id)
        .fetch_one(&env.database.pool())
        .await
        .unwrap();
    assert!(kept, "soft delete: the row stays for the jobs that name it");

    let unknown = env.get("/v1/services/9e2b1f7a-1111-4222-8333-444455556666", None).await;
    assert_eq!((unknown.status, code(&unknown.body)), (StatusCode::NOT_FOUND, "service_not_found"));
    assert_eq!(env.get("/v1/services/not-a-uuid", None).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn oversized_bodies_are_413_and_unknown_routes_404_in_the_market_shape() {
    let env = Env::start_with("services_limits", |c| c.max_body_bytes = 2_048).await;
    let (_, owner) = env.participant(ParticipantKind::Provider, "Owner").await;
    let big = with("description", json!("d".repeat(4_000)));
    let answer = env.send(Method::POST, "/v1/services", Some(&owner), Some(&big)).await;
    assert_eq!((answer.status, code(&answer.body)), (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"));
    let nowhere = env.get("/v1/nowhere", None).await;
    assert_eq!((nowhere.status, code(&nowhere.body)), (StatusCode::NOT_FOUND, "not_found"));
    let wrong = env.send(Method::PATCH, "/v1/services/catalog", None, None).await;
    assert_eq!((wrong.status, code(&wrong.body)), (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"));
    assert_eq!(wrong.headers["allow"], "GET,HEAD");
}
