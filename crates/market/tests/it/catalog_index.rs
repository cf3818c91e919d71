//! The catalog's search index (`crates/market/src/catalog_index.rs`): searches of one word or more answered from it
//! give the page and the total PostgreSQL gives, over a random catalog, after writes made behind the market's back
//! (as another `clearing serve` on the database makes them) and after a write that commits after a later one.

use clearing_ledger::market::{
    CatalogQuery, CatalogSort, NewService, ParticipantKind, PricingModel, ProfileUpdate, ServiceId, ServiceStatus,
    ServiceType, ServiceUpdate,
};
use clearing_x402::Usdc;

use crate::harness::Env;

/// Words the listings are made of: spellings of one stem, stop words, a hyphenated word. Few, so that matches are
/// many and ranks tie.
const WORDS: &[&str] = &[
    "audit",
    "audits",
    "auditing",
    "seo",
    "translation",
    "translate",
    "logo",
    "design",
    "the",
    "of",
    "weather",
    "data",
    "e-mail",
    "report",
    "fast",
    "api",
];

/// Searches the index answers (plain words) and one it leaves to PostgreSQL (a phrase), each checked the same way.
const SEARCHES: &[&str] = &[
    "audit",
    "seo",
    "the data",
    "audit seo",
    "seo audit",
    "design logo",
    "data api report",
    "translate translation",
    "fast report weather",
    "audits audit seo auditing",
    "e-mail data",
    "audit zeppelin",
    "the of",
    "\"logo design\" audit",
];

/// xorshift64*, so a failure replays.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        ((self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize) % n
    }

    fn words(&mut self, n: usize) -> String {
        (0..n).map(|_| WORDS[self.below(WORDS.len())]).collect::<Vec<_>>().join(" ")
    }
}

/// Every search at several pages, through the route, against the ledger's own statement.
async fn assert_as_postgresql(env: &Env, round: &str) {
    let ledger = env.market.ledger();
    for text in SEARCHES {
        for (limit, offset) in [(100, 0), (1, 0), (7, 3), (5, 40)] {
            let query =
                CatalogQuery { text: Some((*text).to_owned()), sort: CatalogSort::Relevance, limit, offset, ..query() };
            let expected = ledger.catalog_by_text(&query).await.unwrap().unwrap();
            let url = format!("/v1/services/catalog?q={}&limit={limit}&offset={offset}", url_escape(text));
            let answer = env.get(&url, None).await;
            assert_eq!(answer.status, 200, "{round} {text:?}: {}", answer.body);
            assert_eq!(answer.body["total"], expected.total, "{round} {text:?} {limit}/{offset}: the total");
            let ids: Vec<&str> =
                answer.body["services"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
            let wanted: Vec<String> = expected.entries.iter().map(|s| s.id.0.to_string()).collect();
            assert_eq!(ids, wanted, "{round} {text:?} {limit}/{offset}: the page");
            for (entry, service) in answer.body["services"].as_array().unwrap().iter().zip(&expected.entries) {
                assert_eq!(entry["name"], service.name.as_str(), "{round}: the entry as stored");
                assert_eq!(entry["provider_name"], service.provider_name.as_str(), "{round}: the provider's name");
            }
        }
    }
}

/// Browsing and searching with filters and each sort, through the route, against the ledger's own statements: a
/// sample of every combination, drawn by `rng`.
async fn assert_filtered_as_postgresql(env: &Env, rng: &mut Rng, round: &str) {
    let ledger = env.market.ledger();
    let texts = [None, Some("audit"), Some("seo audit"), Some("data api report"), Some("the")];
    let categories = [None, Some("seo"), Some("design"), Some("nope")];
    let tiers = [None, Some(ServiceType::DataApi), Some(ServiceType::HumanService)];
    let ceilings = [None, Some(5_000_u128)];
    let sorts = [CatalogSort::Relevance, CatalogSort::Newest, CatalogSort::PriceAsc, CatalogSort::PriceDesc];
    let pages = [(20, 0), (3, 2), (5, 40), (100, 0)];
    let mut compared = 0;
    while compared < 150 {
        let text = texts[rng.below(texts.len())];
        let sort = sorts[rng.below(sorts.len())];
        if text.is_none() && sort == CatalogSort::Relevance {
            continue;
        }
        let (limit, offset) = pages[rng.below(pages.len())];
        let query = CatalogQuery {
            text: text.map(str::to_owned),
            category: categories[rng.below(categories.len())].map(str::to_owned),
            service_type: tiers[rng.below(tiers.len())],
            max_price: ceilings[rng.below(ceilings.len())].map(Usdc::from_atomic),
            provider: None,
            sort,
            limit,
            offset,
        };
        let mut url = format!("/v1/services/catalog?limit={limit}&offset={offset}");
        let sort_name = match sort {
            CatalogSort::Relevance => "relevance",
            CatalogSort::Newest => "newest",
            CatalogSort::PriceAsc => "price_asc",
            CatalogSort::PriceDesc => "price_desc",
        };
        url.push_str(&format!("&sort={sort_name}"));
        if let Some(text) = text {
            url.push_str(&format!("&q={}", url_escape(text)));
        }
        if let Some(category) = &query.category {
            url.push_str(&format!("&category={category}"));
        }
        if let Some(tier) = query.service_type {
            url.push_str(&format!("&service_type={}", tier.as_str()));
        }
        if let Some(price) = query.max_price {
            url.push_str(&format!("&max_price={price}"));
        }
        let expected = ledger.catalog(&query).await.unwrap();
        let answer = env.get(&url, None).await;
        assert_eq!(answer.status, 200, "{round} {url}: {}", answer.body);
        assert_eq!(answer.body["total"], expected.total, "{round} {url}: the total");
        let ids: Vec<&str> =
            answer.body["services"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
        let wanted: Vec<String> = expected.entries.iter().map(|s| s.id.0.to_string()).collect();
        assert_eq!(ids, wanted, "{round} {url}: the page");
        compared += 1;
    }
}

fn url_escape(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn query() -> CatalogQuery {
    CatalogQuery {
        text: None,
        category: None,
        service_type: None,
        max_price: None,
        provider: None,
        sort: CatalogSort::Newest,
        limit: 20,
        offset: 0,
    }
}

fn new_service(provider: clearing_ledger::market::ParticipantId, rng: &mut Rng, seed: usize) -> NewService {
    let service_type = [ServiceType::DataApi, ServiceType::AutomatedService, ServiceType::HumanService][seed % 3];
    // Some listings share one text, so ranks tie and then the newest, then the id, decides.
    let mut text = Rng(if seed.is_multiple_of(5) { 7 } else { seed as u64 + 1 });
    let (name, tags, description) = (1 + text.below(3), text.below(3), text.below(30));
    NewService {
        id: ServiceId::random(),
        provider_id: provider,
        name: text.words(name),
        description: text.words(description),
        category: ["seo", "design", "data"][rng.below(3)].to_owned(),
        tags: text.words(tags).split(' ').filter(|t| !t.is_empty()).map(String::from).collect(),
        price: Usdc::from_atomic(1_000 * (1 + rng.below(10) as u128)),
        pricing_model: PricingModel::Fixed,
        service_type,
        fulfillment_type: service_type.fulfillment(),
        input_schema: None,
        deliverable_schema: None,
        estimated_delivery: None,
        status: if seed.is_multiple_of(11) { ServiceStatus::Inactive } else { ServiceStatus::Active },
    }
}

#[tokio::test]
async fn searches_from_the_index_equal_postgresql_after_every_kind_of_write() {
    let env = Env::start("catalog_index").await;
    let ledger = env.market.ledger().clone();
    let (alpha, _) = env.participant(ParticipantKind::Provider, "Alpha").await;
    let (beta, _) = env.participant(ParticipantKind::Provider, "Beta").await;
    let mut rng = Rng(0x5eed_c0de_1234_5678);
    let mut listed = Vec::new();
    for seed in 0..150_usize {
        let owner = if seed.is_multiple_of(2) { alpha.id } else { beta.id };
        listed.push((ledger.create_service(&new_service(owner, &mut rng, seed)).await.unwrap().id, owner));
    }
    // Whole groups listed at one instant: only the id orders them.
    sqlx::query("UPDATE market_services SET listed_at = '2026-01-01T00:00:00Z' WHERE name LIKE 'a%'")
        .execute(&env.database.pool())
        .await
        .unwrap();
    env.market.warm_catalog_index().await.unwrap();
    assert_eq!(env.market.catalog_index_listings(), Some(136), "150 listed, 14 of them hidden");
    assert_as_postgresql(&env, "built").await;
    assert_filtered_as_postgresql(&env, &mut rng, "built").await;

    // Writes the market does not see made: new text, hidden, shown again, a price, deleted, new listings, and a
    // provider renamed.
    for (n, &(id, owner)) in listed.iter().enumerate() {
        let update = match n % 6 {
            0 => ServiceUpdate { name: Some(rng.words(2)), ..ServiceUpdate::default() },
            1 => ServiceUpdate { description: Some(rng.words(9)), tags: Some(vec![]), ..ServiceUpdate::default() },
            2 => ServiceUpdate { status: Some(ServiceStatus::Inactive), ..ServiceUpdate::default() },
            3 => ServiceUpdate { status: Some(ServiceStatus::Active), ..ServiceUpdate::default() },
            4 => ServiceUpdate { price: Some(Usdc::from_atomic(3)), ..ServiceUpdate::default() },
            _ => {
                ledger.delete_service(id, owner).await.unwrap();
                continue;
            }
        };
        ledger.update_service(id, owner, &update).await.unwrap();
    }
    for seed in 150..170 {
        ledger.create_service(&new_service(beta.id, &mut rng, seed)).await.unwrap();
    }
    let renamed = ProfileUpdate { name: Some("Alpha, renamed".into()), ..ProfileUpdate::default() };
    ledger.update_participant(alpha.id, &renamed).await.unwrap();
    assert_as_postgresql(&env, "written").await;
    assert_filtered_as_postgresql(&env, &mut rng, "written").await;
    let page = env.get("/v1/services/catalog?q=audit&limit=100", None).await;
    assert!(page.body["services"].as_array().unwrap().iter().any(|s| s["provider_name"] == "Alpha, renamed"));
}

#[tokio::test]
async fn a_write_committed_after_a_later_one_is_not_missed() {
    let env = Env::start("catalog_index_commit_order").await;
    let ledger = env.market.ledger().clone();
    let (alpha, _) = env.participant(ParticipantKind::Provider, "Alpha").await;
    // Two listings sharing no word, category or tier, so that writing one never waits on the other's kept counts.
    let mut rng = Rng(42);
    let mut listing = |name: &str, category: &str, seed| NewService {
        name: name.to_owned(),
        description: String::new(),
        category: category.to_owned(),
        tags: Vec::new(),
        ..new_service(alpha.id, &mut rng, seed)
    };
    let first = ledger.create_service(&listing("alpha one", "seo", 1)).await.unwrap().id;
    let second = ledger.create_service(&listing("beta two", "design", 2)).await.unwrap().id;
    env.market.warm_catalog_index().await.unwrap();
    let total = |text: &'static str| {
        let env = &env;
        async move { env.get(&format!("/v1/services/catalog?q={text}"), None).await.body["total"].clone() }
    };

    // The earlier transaction takes its id first and commits last; the search between reads the later one's write.
    let pool = env.database.pool();
    let mut earlier = pool.begin().await.unwrap();
    sqlx::query("UPDATE market_services SET name = 'zeppelin early' WHERE id = $1")
        .bind(first.0)
        .execute(&mut *earlier)
        .await
        .unwrap();
    sqlx::query("UPDATE market_services SET name = 'blimp late' WHERE id = $1")
        .bind(second.0)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!((total("blimp").await, total("zeppelin").await), (1.into(), 0.into()));
    earlier.commit().await.unwrap();

    assert_eq!((total("zeppelin").await, total("alpha").await), (1.into(), 0.into()));
    let found = env.get("/v1/services/catalog?q=zeppelin+early", None).await.body;
    assert_eq!(found["services"][0]["name"], "zeppelin early");
}

#[tokio::test]
async fn a_write_through_the_market_is_searched_at_once_whatever_the_cache() {
    let env = Env::start_with("catalog_index_own_write", |config| config.catalog_cache_ms = 600_000).await;
    let (_, key) = env.participant(ParticipantKind::Provider, "Alpha").await;
    env.market.warm_catalog_index().await.unwrap();
    assert_eq!(env.get("/v1/services/catalog?q=zeppelin+tour", None).await.body["total"], 0);

    let body = serde_json::json!({
        "name": "Zeppelin tour", "description": "Over the city.", "category": "travel", "tags": [], "price": "1",
        "fulfillment_type": "automated",
    });
    let created = env.send(reqwest::Method::POST, "/v1/services", Some(&key), Some(&body)).await;
    assert_eq!(created.status, 201, "{}", created.body);

    let found = env.get("/v1/services/catalog?q=zeppelin+tour", None).await.body;
    assert_eq!(found["total"], 1);
    assert_eq!(found["services"][0]["id"], created.body["id"]);
}
