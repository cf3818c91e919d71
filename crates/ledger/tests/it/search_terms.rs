//! The kept term index (`migrations/0011_market_search_terms.sql`) and the one call that answers relevance searches
//! (`0025`, `0027`): one-word searches read from the index, and searches of more words ranked and counted in one
//! statement, give the page and the total that the catalog's own statements give, over a random catalog after every
//! kind of write; and the kept rows and counts equal recomputing them from the listed services.

use clearing_ledger::{
    Ledger, MIGRATOR,
    market::{
        CatalogQuery, CatalogSort, OwnedWrite, ParticipantId, ProviderFilter, ServiceId, ServiceStatus, ServiceType,
        ServiceUpdate,
    },
};
use clearing_x402::Usdc;
use sqlx::PgPool;

use crate::market::{provider, query, service};

/// Words the listings are made of: stems shared by several spellings, stop words, and a word with a hyphen (three
/// lexemes). Few, so that scores tie often.
const WORDS: &[&str] = &[
    "audit",
    "audits",
    "auditing",
    "seo",
    "SEO",
    "translation",
    "translate",
    "logo",
    "design",
    "the",
    "a",
    "of",
    "weather",
    "data",
    "e-mail",
    "report",
    "reports",
    "fast",
];

/// What the searches ask: each word, spellings of one lexeme (a quoted word, a stop word beside it), and ones that
/// are not one lexeme (two words, `or`, a minus, stop words alone, nothing known).
const SEARCHES: &[&str] = &[
    "audit",
    "Audits",
    "\"auditing\"",
    "the audit",
    "seo",
    "translation",
    "translating",
    "logo",
    "design",
    "weather",
    "data",
    "report",
    "fast",
    "e-mail",
    "mail",
    "zeppelin",
    "the",
    "audit seo",
    "audit or logo",
    "-audit",
    "seo -data",
    "\"logo design\"",
    "fast report",
    "translate translation",
    "audits audit seo auditing",
    "report -reports",
];

/// A deterministic generator (xorshift64*), so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize
    }

    fn below(&mut self, n: usize) -> usize {
        self.next() % n
    }

    fn words(&mut self, n: usize) -> String {
        (0..n).map(|_| WORDS[self.below(WORDS.len())]).collect::<Vec<_>>().join(" ")
    }
}

fn ids(page: &[clearing_ledger::market::Service]) -> Vec<ServiceId> {
    page.iter().map(|s| s.id).collect()
}

/// Every search, at several pages, against ranking and counting every match; and with a filter or another sort
/// beside it, that those never take the term index.
async fn assert_equal_to_scanning(ledger: &Ledger, providers: &[ParticipantId], round: &str) {
    let (mut in_one_call, mut widest) = (0, 0);
    for text in SEARCHES {
        for (limit, offset) in [(100, 0), (1, 0), (7, 3), (5, 40), (20, 1_000)] {
            let q =
                CatalogQuery { text: Some((*text).to_owned()), sort: CatalogSort::Relevance, limit, offset, ..query() };
            let scanned = ledger.catalog_scanned(&q).await.unwrap();
            widest = widest.max(scanned.total);
            let fast = ledger.catalog_by_text(&q).await.unwrap();
            assert!(fast.is_some(), "{round}: {text:?} is answered in one call");
            if let Some(fast) = &fast {
                in_one_call += 1;
                assert_eq!(
                    (fast.total, ids(&fast.entries)),
                    (scanned.total, ids(&scanned.entries)),
                    "{round}: {text:?} limit {limit} offset {offset}"
                );
                // Whole rows, not only ids.
                let names = |page: &[clearing_ledger::market::Service]| {
                    page.iter().map(|s| (s.name.clone(), s.price, s.listed_at)).collect::<Vec<_>>()
                };
                assert_eq!(names(&fast.entries), names(&scanned.entries), "{round}: {text:?}");
            }
            let page = ledger.catalog(&q).await.unwrap();
            assert_eq!((page.total, ids(&page.entries)), (scanned.total, ids(&scanned.entries)), "{round}: {text:?}");
        }
        let relevance = CatalogQuery { sort: CatalogSort::Relevance, ..query() };
        let others = [
            CatalogQuery { category: Some("seo".into()), ..relevance.clone() },
            CatalogQuery { service_type: Some(ServiceType::DataApi), ..relevance.clone() },
            CatalogQuery { max_price: Some(Usdc::from_atomic(5_000)), ..relevance.clone() },
            CatalogQuery { provider: Some(ProviderFilter::Id(providers[0])), ..relevance.clone() },
            CatalogQuery { sort: CatalogSort::Newest, ..query() },
            CatalogQuery { sort: CatalogSort::PriceAsc, ..query() },
        ];
        for q in others {
            let q = CatalogQuery { text: Some((*text).to_owned()), ..q };
            assert!(ledger.catalog_by_text(&q).await.unwrap().is_none(), "{round}: {q:?} takes the scan");
            let (page, scanned) = (ledger.catalog(&q).await.unwrap(), ledger.catalog_scanned(&q).await.unwrap());
            assert_eq!((page.total, ids(&page.entries)), (scanned.total, ids(&scanned.entries)), "{round}: {q:?}");
        }
    }
    assert!(widest > 30, "{round}: the widest search matched {widest}: too few to tell orders apart");
    // Every search, 5 pages each, was answered in one call.
    assert_eq!(in_one_call, SEARCHES.len() * 5, "{round}");
}

/// The kept rows and counts, against recomputing them from the listed services now.
async fn assert_kept_equal_recomputed(pool: &PgPool, round: &str) {
    let differ: i64 = sqlx::query_scalar(
        "WITH kept AS (SELECT term, score, listed_at, service_id FROM market_search_terms),
              fresh AS (SELECT o.term, o.score, s.listed_at, s.id AS service_id
                          FROM market_services s CROSS JOIN LATERAL market_search_lexemes(s.search) o
                         WHERE s.status = 'active' AND s.deleted_at IS NULL)
         SELECT (SELECT count(*) FROM (TABLE kept EXCEPT ALL TABLE fresh) a)
              + (SELECT count(*) FROM (TABLE fresh EXCEPT ALL TABLE kept) b)",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(differ, 0, "{round}: kept term rows differ from the listed services'");
    let differ: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM market_search_term_counts c
           FULL JOIN (SELECT term, count(*) AS n FROM market_search_terms GROUP BY term) t ON t.term = c.term
          WHERE coalesce(c.listed, 0) <> coalesce(t.n, 0)",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(differ, 0, "{round}: kept counts differ from the kept rows");
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn relevance_searches_in_one_call_equal_ranking_every_match(pool: PgPool) {
    let ledger = Ledger::from_pool(pool.clone());
    let providers = vec![provider(&ledger, 1).await, provider(&ledger, 2).await, provider(&ledger, 3).await];
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let mut listed = Vec::new();
    for i in 0..120 {
        let kind = [ServiceType::DataApi, ServiceType::AutomatedService, ServiceType::HumanService][i % 3];
        let owner = providers[i % providers.len()];
        let mut new =
            service(owner, ["seo", "design", "data"][rng.below(3)], kind, 1_000 * (1 + rng.below(10) as u128));
        // Some listings share one text, so their scores tie and newest, then id, decides.
        let seed = if i % 4 == 0 { 7 } else { i };
        let mut text = Rng(seed as u64 + 1);
        let (name, description, tags) = (1 + text.below(3), text.below(12), text.below(3));
        new.name = text.words(name);
        new.description = text.words(description);
        new.tags = text.words(tags).split(' ').filter(|t| !t.is_empty()).map(String::from).collect();
        if i % 9 == 0 {
            new.status = ServiceStatus::Inactive;
        }
        listed.push((ledger.create_service(&new).await.unwrap().id, owner));
    }
    // Whole groups listed at one instant: ties on score and on listed_at, so only the id orders them.
    sqlx::query("UPDATE market_services SET listed_at = '2026-01-01T00:00:00Z' WHERE name LIKE 'a%' OR name LIKE 's%'")
        .execute(&pool)
        .await
        .unwrap();
    assert_kept_equal_recomputed(&pool, "listed").await;
    assert_equal_to_scanning(&ledger, &providers, "listed").await;

    // Every kind of write: new text, hidden, shown again, a price alone, deleted.
    for (n, &(id, owner)) in listed.iter().enumerate() {
        let update = match n % 6 {
            0 => ServiceUpdate { name: Some(rng.words(2)), ..ServiceUpdate::default() },
            1 => ServiceUpdate { description: Some(rng.words(5)), tags: Some(vec![]), ..ServiceUpdate::default() },
            2 => ServiceUpdate { status: Some(ServiceStatus::Inactive), ..ServiceUpdate::default() },
            3 => ServiceUpdate { status: Some(ServiceStatus::Active), ..ServiceUpdate::default() },
            4 => ServiceUpdate { price: Some(Usdc::from_atomic(3)), ..ServiceUpdate::default() },
            _ => {
                assert!(matches!(ledger.delete_service(id, owner).await.unwrap(), OwnedWrite::Done(())));
                continue;
            }
        };
        assert!(matches!(ledger.update_service(id, owner, &update).await.unwrap(), OwnedWrite::Done(_)));
    }
    assert_kept_equal_recomputed(&pool, "written").await;
    assert_equal_to_scanning(&ledger, &providers, "written").await;
}

#[sqlx::test(migrator = "MIGRATOR")]
async fn a_word_given_twice_is_searched_once(pool: PgPool) {
    // (text, the query searched, whether it is a one-word search read from the term index)
    for (text, parsed, single) in [
        ("translate translation", "'translat'", true),
        ("SEO seo the seo", "'seo'", true),
        ("seo audit seo audits", "'seo' & 'audit'", false),
        ("audit seo", "'audit' & 'seo'", false),
        // Not a conjunction of words alone: as written.
        ("\"seo audit\" seo", "'seo' <-> 'audit' & 'seo'", false),
        ("seo or seo", "'seo' | 'seo'", false),
        ("seo -seo", "'seo' & !'seo'", false),
        ("O'Brien o'brien", "'o' <-> 'brien' & 'o' <-> 'brien'", false),
    ] {
        let (query, one): (String, bool) = sqlx::query_as(
            "SELECT market_search_query($1)::text, (SELECT bool_or(single) FROM market_search_page($1, 1, 0))",
        )
        .bind(text)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!((query.as_str(), one), (parsed, single), "{text:?}");
    }
}
