//! `GET /v1/services/catalog`: ranking by where a word appears, each filter, each sort, pages that never overlap,
//! hidden and deleted services never shown, and the cache cleared by writes.

use std::collections::HashSet;

use clearing_ledger::market::{Participant, ParticipantKind};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Env, code};

/// Lists a service of `key`'s named `name` at `price`, with `tags`, `category` and `description`.
async fn list(
    env: &Env,
    key: &str,
    name: &str,
    price: &str,
    category: &str,
    tags: &[&str],
    description: &str,
) -> String {
    let body = json!({
        "name": name, "description": description, "category": category, "tags": tags, "price": price,
        "fulfillment_type": if category == "human" { "human" } else { "instant" },
    });
    let created = env.send(Method::POST, "/v1/services", Some(key), Some(&body)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    created.body["id"].as_str().unwrap().to_owned()
}

async fn catalog(env: &Env, query: &str) -> Value {
    let answer = env.get(&format!("/v1/services/catalog{query}"), None).await;
    assert_eq!(answer.status, 200, "{query}: {}", answer.body);
    answer.body
}

fn names(page: &Value) -> Vec<&str> {
    page["services"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect()
}

struct Listed {
    alpha: Participant,
    beta: Participant,
}

/// Two providers, six services: "translation" in a name, in tags, in a description, and elsewhere nowhere.
async fn seeded(env: &Env) -> Listed {
    let (alpha, a) = env.participant(ParticipantKind::Provider, "Alpha").await;
    let (beta, b) = env.participant(ParticipantKind::Provider, "Beta").await;
    list(env, &a, "Document translation", "5", "language", &["docs"], "Any language pair.").await;
    list(env, &a, "Localization", "1.5", "language", &["translation", "i18n"], "Apps and sites.").await;
    list(env, &b, "Copy editing", "0.25", "writing", &["editing"], "Careful editing, translation checks included.")
        .await;
    list(env, &b, "Logo design", "25", "human", &["design"], "A logo, by a person.").await;
    list(env, &b, "Weather lookup", "0.001", "data", &["weather"], "Current conditions.").await;
    list(env, &a, "Sentiment score", "0.01", "data", &["nlp"], "Scores text from -1 to 1.").await;
    Listed { alpha, beta }
}

#[tokio::test]
async fn search_ranks_name_over_tags_over_description() {
    let env = Env::start("catalog_rank").await;
    seeded(&env).await;

    let page = catalog(&env, "?q=translation").await;

    assert_eq!(page["total"], 3);
    assert_eq!(names(&page), ["Document translation", "Localization", "Copy editing"]);
    // Stemming: "translate" finds "translation"; a phrase, an or and a minus work as on the web.
    assert_eq!(catalog(&env, "?q=translate").await["total"], 3);
    assert_eq!(names(&catalog(&env, "?q=%22logo+design%22").await), ["Logo design"]);
    assert_eq!(catalog(&env, "?q=weather+or+sentiment").await["total"], 2);
    assert_eq!(names(&catalog(&env, "?q=translation+-editing").await), ["Document translation", "Localization"]);
    assert_eq!(catalog(&env, "?q=zeppelin").await["total"], 0);
    // Another sort over the matches.
    assert_eq!(
        names(&catalog(&env, "?q=translation&sort=price_asc").await),
        ["Copy editing", "Localization", "Document translation"]
    );
}

#[tokio::test]
async fn filters_narrow_and_combine() {
    let env = Env::start("catalog_filters").await;
    let listed = seeded(&env).await;

    assert_eq!(catalog(&env, "").await["total"], 6);
    assert_eq!(names(&catalog(&env, "?category=DATA&sort=price_asc").await), ["Weather lookup", "Sentiment score"]);
    assert_eq!(names(&catalog(&env, "?service_type=human_service").await), ["Logo design"]);
    let cheap = catalog(&env, "?max_price=0.25&sort=price_desc").await;
    assert_eq!(names(&cheap), ["Copy editing", "Sentiment score", "Weather lookup"], "max_price is inclusive");
    let by_id = catalog(&env, &format!("?provider={}", listed.beta.id)).await;
    assert_eq!(by_id["total"], 3);
    let by_wallet = catalog(&env, &format!("?provider={}", listed.alpha.wallet)).await;
    assert_eq!(by_wallet["total"], 3);
    assert!(by_wallet["services"].as_array().unwrap().iter().all(|s| s["provider_name"] == "Alpha"));
    let combined = catalog(&env, &format!("?q=translation&provider={}&max_price=2", listed.alpha.wallet)).await;
    assert_eq!(names(&combined), ["Localization"]);
    assert_eq!(catalog(&env, "?category=nothing").await["total"], 0);
}

#[tokio::test]
async fn sorts_and_pages_cover_everything_once() {
    let env = Env::start("catalog_pages").await;
    seeded(&env).await;

    let ascending: Vec<String> = names(&catalog(&env, "?sort=price_asc").await).iter().map(|s| s.to_string()).collect();
    assert_eq!(ascending.first().map(String::as_str), Some("Weather lookup"));
    assert_eq!(ascending.last().map(String::as_str), Some("Logo design"));
    let mut descending: Vec<String> =
        names(&catalog(&env, "?sort=price_desc").await).iter().map(|s| s.to_string()).collect();
    descending.reverse();
    assert_eq!(ascending, descending);
    assert_eq!(names(&catalog(&env, "?sort=newest&limit=1").await), ["Sentiment score"], "the last listed first");

    let mut seen = HashSet::new();
    for offset in [0, 4] {
        let page = catalog(&env, &format!("?sort=price_asc&limit=4&offset={offset}")).await;
        assert_eq!(
            (page["total"].as_u64(), page["limit"].as_u64(), page["offset"].as_u64()),
            (Some(6), Some(4), Some(offset))
        );
        for service in page["services"].as_array().unwrap() {
            assert!(seen.insert(service["id"].as_str().unwrap().to_owned()), "pages overlap");
        }
    }
    assert_eq!(seen.len(), 6);
    assert_eq!(catalog(&env, "?offset=100").await["services"], json!([]));

    // Each entry carries the three prices.
    let entry = &catalog(&env, "?q=weather").await["services"][0];
    assert_eq!((entry["price"].as_str(), entry["agent_price"].as_str()), (Some("0.001000"), Some("0.001000")));
    assert_eq!(entry["provider_net_price"], "0.000950");
    assert_eq!(entry["platform_fee_pct"], 5);
    assert!(entry.get("status").is_none() && entry.get("deliverable_schema").is_none(), "detail only");
}

#[tokio::test]
async fn hidden_and_deleted_services_are_never_listed() {
    let env = Env::start("catalog_hidden").await;
    let (_, key) = env.participant(ParticipantKind::Provider, "P").await;
    let shown = list(&env, &key, "Shown translation", "1", "x", &[], "d").await;
    let hidden = list(&env, &key, "Hidden translation", "1", "x", &[], "d").await;
    let deleted = list(&env, &key, "Deleted translation", "1", "x", &[], "d").await;
    env.send(Method::PUT, &format!("/v1/services/{hidden}"), Some(&key), Some(&json!({"status": "inactive"}))).await;
    env.send(Method::DELETE, &format!("/v1/services/{deleted}"), Some(&key), None).await;

    for query in ["", "?q=translation", "?sort=price_asc", "?category=x"] {
        let page = catalog(&env, query).await;
        assert_eq!(page["total"], 1, "{query}");
        assert_eq!(page["services"][0]["id"], shown.as_str(), "{query}");
    }
}

#[tokio::test]
async fn writes_clear_the_cached_answers() {
    let env = Env::start_with("catalog_cache", |c| c.catalog_cache_ms = 60_000).await;
    let (_, key) = env.participant(ParticipantKind::Provider, "P").await;
    assert_eq!(catalog(&env, "").await["total"], 0);
    let id = list(&env, &key, "Fresh", "1", "x", &[], "d").await;
    assert_eq!(catalog(&env, "").await["total"], 1, "a listing shows at once");
    env.send(Method::PUT, &format!("/v1/services/{id}"), Some(&key), Some(&json!({"name": "Renamed"}))).await;
    assert_eq!(names(&catalog(&env, "").await), ["Renamed"]);
    // Only the writes of this process clear it: one made behind its back shows when the answer ages out.
    sqlx::query("UPDATE market_services SET name = 'Behind its back'").execute(&env.database.pool()).await.unwrap();
    assert_eq!(names(&catalog(&env, "").await), ["Renamed"], "served from the cache");
}

#[tokio::test]
async fn bad_parameters_are_400_naming_them() {
    let env = Env::start("catalog_params").await;
    for (query, field) in [
        ("?limit=0", "limit"),
        ("?limit=101", "limit"),
        ("?offset=10001", "offset"),
        ("?max_price=abc", "max_price"),
        ("?sort=reputation", "sort"),
        ("?sort=relevance", "sort"),
        ("?service_type=robot", "service_type"),
        ("?provider=nobody", "provider"),
        ("?min_reputation=75", "min_reputation"),
    ] {
        let answer = env.get(&format!("/v1/services/catalog{query}"), None).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(
            (code(&answer.body), answer.body["error"]["field"].as_str()),
            ("invalid_query", Some(field)),
            "{query}"
        );
    }
}
