//! `GET /v1/services/catalog`: free, no key. Full-text search (`q`, ranked), filters (`category`, `service_type`,
//! `max_price`, `provider` by id or wallet), a sort (`relevance`, the default with `q`; `newest`, the default
//! without; `price_asc`, `price_desc`) and a page (`limit` 1 to 100, default 20; `offset` up to
//! [`MAX_OFFSET`]). The answer is `{total, limit, offset, services}`.
//!
//! Most answers come from this process's own index of the listings ([`crate::catalog_index`]). The rest (filtered
//! by provider, a search text that is not plain words, or any query before the index is built) come from the
//! ledger, which reads a page from the top of its order's index with its total: from the kept counts in the same
//! statement when browsing, from the kept term index and its counts for a one-word relevance search, else counted in
//! a second statement at the same time. Answers are kept for `[market] catalog_cache_ms` ([`CatalogCache`]): the
//! catalog is read far more than it changes, and every write through this process clears the cache at once.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use alloy_primitives::Address;
use axum::{
    Router,
    body::Bytes,
    extract::{RawQuery, State},
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
    routing::get,
};
use clearing_ledger::market::{CatalogQuery, CatalogSort, ParticipantId, ProviderFilter, ServiceType};
use clearing_x402::Usdc;
use serde::Serialize;

use crate::{ErrorCode, Market, MarketError, Result, services::ServiceView};

/// The largest page.
pub const MAX_LIMIT: u32 = 100;
/// The page size unless asked.
pub const DEFAULT_LIMIT: u32 = 20;
/// The furthest a page may start: deep offsets cost a walk past every skipped entry, and nobody reads 10,000
/// entries of a catalog to find one; a narrower query finds it.
pub const MAX_OFFSET: u32 = 10_000;
/// The longest search text, characters.
const MAX_QUERY_LEN: usize = 200;
/// Most answers cached at once; past it, the cache starts over.
const MAX_CACHED: usize = 4_096;

/// The catalog route.
pub(crate) fn routes() -> Router<Market> {
    Router::new().route("/services/catalog", get(catalog))
}

/// The answer.
#[derive(Debug, Serialize)]
struct CatalogAnswer<'a> {
    total: u64,
    limit: u32,
    offset: u32,
    services: Vec<ServiceView<'a>>,
}

async fn catalog(State(market): State<Market>, RawQuery(raw): RawQuery) -> Result<Response> {
    let query = parse_query(raw.as_deref().unwrap_or(""))?;
    let cache = market.catalog_cache();
    let generation = cache.generation();
    let ready = match cache.get(&query) {
        Some(body) => Some(body),
        None => {
            let answer = market.catalog_index().answer(&market, &query).await?;
            if let Some(body) = &answer {
                cache.put(query.clone(), body.clone(), generation);
            }
            answer
        }
    };
    let body = match ready {
        Some(body) => body,
        None => {
            // A search costs the database in proportion to its matches (two common words: milliseconds) unless it is
            // one word ranked by relevance and filtered by nothing else (its page, as browsing); at most a few run at
            // once, so a burst of them queues here rather than starving browsing and the facilitator's settlements of
            // the shared database.
            let filtered = query.category.is_some()
                || query.service_type.is_some()
                || query.max_price.is_some()
                || query.provider.is_some()
                || query.sort != CatalogSort::Relevance;
            let _permit = match query.text.as_deref() {
                Some(text) if filtered || !one_word(text) => Some(cache.search_permit().await?),
                _ => None,
            };
            let page = match market.ledger().catalog_by_text(&query).await? {
                Some(page) => page,
                None => market.ledger().catalog_scanned(&query).await?,
            };
            let fee = market.fee();
            let answer = CatalogAnswer {
                total: page.total,
                limit: query.limit,
                offset: query.offset,
                services: page.entries.iter().map(|service| ServiceView::entry(service, fee)).collect(),
            };
            let body = Bytes::from(serde_json::to_vec(&answer).map_err(|e| MarketError::Internal(e.to_string()))?);
            cache.put(query, body.clone(), generation);
            body
        }
    };
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response())
}

/// Whether a search text is surely one word, as far as queuing is concerned: letters and digits only (PostgreSQL's
/// parser splits on anything else, `seo,audit` and `e-mail` included). The parser decides what the text means; this
/// only decides whether the search waits for a permit, and a one-lexeme text it calls more only waits needlessly.
fn one_word(text: &str) -> bool {
    let text = text.trim();
    !text.is_empty() && text.chars().all(char::is_alphanumeric)
}

/// The query string as a [`CatalogQuery`], or a 400 naming the parameter.
pub(crate) fn parse_query(raw: &str) -> Result<CatalogQuery> {
    let mut query = CatalogQuery {
        text: None,
        category: None,
        service_type: None,
        max_price: None,
        provider: None,
        sort: CatalogSort::Newest,
        limit: DEFAULT_LIMIT,
        offset: 0,
    };
    let mut sort = None;
    let mut seen = Vec::new();
    for (name, value) in url::form_urlencoded::parse(raw.as_bytes()) {
        let invalid = |message: String| MarketError::field(ErrorCode::InvalidQuery, name.to_string(), message);
        if seen.contains(&name) {
            return Err(invalid(format!("{name} is given twice")));
        }
        seen.push(name.clone());
        let value = value.trim();
        match name.as_ref() {
            "q" => {
                if value.chars().count() > MAX_QUERY_LEN || value.contains('\0') {
                    return Err(invalid(format!("q is at most {MAX_QUERY_LEN} characters of text")));
                }
                query.text = Some(value.to_owned()).filter(|q| !q.is_empty());
            }
            "category" => {
                if value.chars().count() > MAX_QUERY_LEN || value.contains('\0') {
                    return Err(invalid(format!("category is at most {MAX_QUERY_LEN} characters of text")));
                }
                query.category = Some(value.to_lowercase()).filter(|c| !c.is_empty());
            }
            "service_type" => {
                query.service_type = Some(ServiceType::parse(value).ok_or_else(|| {
                    invalid(format!("service_type is data_api, automated_service or human_service, not {value:?}"))
                })?);
            }
            "max_price" => {
                let price = Usdc::parse(value).map_err(|e| invalid(format!("max_price: {e}")))?;
                query.max_price = Some(price);
            }
            "provider" => query.provider = Some(provider(value).ok_or_else(|| {
                invalid(format!(
                    "provider is a participant id (a UUID) or a wallet address (0x and 40 hex digits), not {value:?}"
                ))
            })?),
            "sort" => {
                sort = Some(match value {
                    "relevance" => CatalogSort::Relevance,
                    "newest" => CatalogSort::Newest,
                    "price_asc" => CatalogSort::PriceAsc,
                    "price_desc" => CatalogSort::PriceDesc,
                    _ => {
                        return Err(invalid(format!(
                            "sort is relevance, newest, price_asc or price_desc, not {value:?}"
                        )));
                    }
                });
            }
            "limit" => {
                query.limit =
                    value.parse().ok().filter(|limit| (1..=MAX_LIMIT).contains(limit)).ok_or_else(|| {
                        invalid(format!("limit is a whole number from 1 to {MAX_LIMIT}, not {value:?}"))
                    })?;
            }
            "offset" => {
                query.offset = value.parse().ok().filter(|offset| *offset <= MAX_OFFSET).ok_or_else(|| {
                    invalid(format!("offset is a whole number from 0 to {MAX_OFFSET}, not {value:?}"))
                })?;
            }
            _ => {
                return Err(invalid(format!(
                    "{name} is not a catalog parameter; they are q, category, service_type, max_price, provider, sort, \
                     limit and offset"
                )));
            }
        }
    }
    query.sort = match sort {
        Some(CatalogSort::Relevance) if query.text.is_none() => {
            return Err(MarketError::field(
                ErrorCode::InvalidQuery,
                "sort",
                "sort=relevance ranks a search: give q too",
            ));
        }
        Some(sort) => sort,
        None if query.text.is_some() => CatalogSort::Relevance,
        None => CatalogSort::Newest,
    };
    Ok(query)
}

fn provider(value: &str) -> Option<ProviderFilter> {
    if let Ok(id) = value.parse() {
        return Some(ProviderFilter::Id(ParticipantId(id)));
    }
    let hex = value.strip_prefix("0x")?;
    (hex.len() == 40).then(|| value.parse::<Address>().ok().map(ProviderFilter::Wallet)).flatten()
}

/// Catalog answers by query, each served until it is `ttl` old or a write through this process clears them all.
#[derive(Debug)]
pub struct CatalogCache {
    ttl: Duration,
    /// Searches that may read the database at once.
    searches: Arc<tokio::sync::Semaphore>,
    /// Bumped by every write; an answer read before a bump is not stored after it.
    generation: AtomicU64,
    answers: Mutex<HashMap<CatalogQuery, Cached>>,
}

#[derive(Debug)]
struct Cached {
    at: Instant,
    generation: u64,
    body: Bytes,
}

impl CatalogCache {
    /// A cache keeping answers for `ttl` (zero keeps none), letting [`CatalogCache::concurrent_searches`] searches
    /// read the database at once.
    pub fn new(ttl: Duration) -> Self {
        let searches = Arc::new(tokio::sync::Semaphore::new(Self::concurrent_searches()));
        Self { ttl, searches, generation: AtomicU64::new(0), answers: Mutex::default() }
    }

    /// How many searches may read the database at once: two per core, at least four. A search holds its permit
    /// over its round trips too, so one per core left the cores idle between them: on 2 cores and 100,000
    /// listings, two-word searches ran at 938/s (p99 34 ms) with 2 permits, 1,464/s (p99 25 ms) with 4 and
    /// 1,613/s (p99 32 ms, the cores saturated) with 8 (docs/BENCHMARKS.md).
    pub fn concurrent_searches() -> usize {
        std::thread::available_parallelism().map_or(4, |cores| cores.get().max(2) * 2)
    }

    /// A turn to run a search whose cost grows with its matches.
    pub(crate) async fn search_permit(&self) -> Result<tokio::sync::SemaphorePermit<'_>> {
        self.searches.acquire().await.map_err(|e| MarketError::Internal(e.to_string()))
    }

    /// The same, held by whatever it is moved into.
    pub(crate) async fn owned_search_permit(&self) -> Result<tokio::sync::OwnedSemaphorePermit> {
        self.searches.clone().acquire_owned().await.map_err(|e| MarketError::Internal(e.to_string()))
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn get(&self, query: &CatalogQuery) -> Option<Bytes> {
        if self.ttl.is_zero() {
            return None;
        }
        let answers = self.answers.lock().unwrap_or_else(PoisonError::into_inner);
        let cached = answers.get(query)?;
        let fresh = cached.at.elapsed() < self.ttl && cached.generation == self.generation();
        fresh.then(|| cached.body.clone())
    }

    /// Stores `body`, read while the generation was `generation`, unless a write came since.
    fn put(&self, query: CatalogQuery, body: Bytes, generation: u64) {
        if self.ttl.is_zero() {
            return;
        }
        let mut answers = self.answers.lock().unwrap_or_else(PoisonError::into_inner);
        if generation != self.generation() {
            return;
        }
        if answers.len() >= MAX_CACHED {
            let ttl = self.ttl;
            answers.retain(|_, cached| cached.at.elapsed() < ttl && cached.generation == generation);
            if answers.len() >= MAX_CACHED {
                answers.clear();
            }
        }
        answers.insert(query, Cached { at: Instant::now(), generation, body });
    }

    /// Forgets every answer: the catalog changed.
    pub fn clear(&self) {
        let mut answers = self.answers.lock().unwrap_or_else(PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::AcqRel);
        answers.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(raw: &str) -> (ErrorCode, Option<String>) {
        match parse_query(raw) {
            Err(MarketError::Refused { code, field, .. }) => (code, field),
            other => panic!("{raw}: expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn defaults_and_sorts() {
        let query = parse_query("").unwrap();
        assert_eq!((query.sort, query.limit, query.offset), (CatalogSort::Newest, 20, 0));
        assert_eq!(parse_query("q=seo+audit").unwrap().sort, CatalogSort::Relevance);
        assert_eq!(parse_query("q=seo&sort=price_asc").unwrap().sort, CatalogSort::PriceAsc);
        assert_eq!(parse_query("q=%20%20").unwrap().text, None);
        let query = parse_query("category=SEO&service_type=data_api&max_price=0.5&limit=100&offset=10000").unwrap();
        assert_eq!(query.category.as_deref(), Some("seo"));
        assert_eq!(query.service_type, Some(ServiceType::DataApi));
        assert_eq!(query.max_price, Some(Usdc::from_atomic(500_000)));
        assert_eq!((query.limit, query.offset), (100, 10_000));
    }

    #[test]
    fn providers_by_id_or_wallet() {
        let id = "1b4e28ba-2fa1-11d2-883f-0016d3cca427";
        assert!(matches!(parse_query(&format!("provider={id}")).unwrap().provider, Some(ProviderFilter::Id(_))));
        let wallet = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
        assert_eq!(
            parse_query(&format!("provider={wallet}")).unwrap().provider,
            Some(ProviderFilter::Wallet(wallet.parse().unwrap()))
        );
        assert_eq!(refused("provider=bob").1.as_deref(), Some("provider"));
    }

    #[test]
    fn every_bad_parameter_is_named() {
        for (raw, field) in [
            ("limit=0", "limit"),
            ("limit=101", "limit"),
            ("limit=ten", "limit"),
            ("offset=10001", "offset"),
            ("offset=-1", "offset"),
            ("max_price=1e3", "max_price"),
            ("max_price=-1", "max_price"),
            ("service_type=robot", "service_type"),
            ("sort=reputation", "sort"),
            ("sort=relevance", "sort"),
            ("categroy=seo", "categroy"),
            ("limit=5&limit=6", "limit"),
        ] {
            assert_eq!(refused(raw), (ErrorCode::InvalidQuery, Some(field.to_owned())), "{raw}");
        }
        let long = format!("q={}", "a".repeat(201));
        assert_eq!(refused(&long).1.as_deref(), Some("q"));
    }

    #[test]
    fn the_cache_serves_until_a_write_or_its_age() {
        let cache = CatalogCache::new(Duration::from_secs(60));
        let query = parse_query("").unwrap();
        let generation = cache.generation();
        cache.put(query.clone(), Bytes::from_static(b"one"), generation);
        assert_eq!(cache.get(&query).as_deref(), Some(&b"one"[..]));
        cache.clear();
        assert_eq!(cache.get(&query), None);
        // An answer read before a write is not kept after it.
        cache.put(query.clone(), Bytes::from_static(b"stale"), generation);
        assert_eq!(cache.get(&query), None);
        let off = CatalogCache::new(Duration::ZERO);
        off.put(query.clone(), Bytes::from_static(b"x"), 0);
        assert_eq!(off.get(&query), None);
    }

    #[test]
    fn only_letters_and_digits_skip_the_search_permit() {
        for text in ["seo", "SEO", " audit ", "web3", "übersetzung"] {
            assert!(one_word(text), "{text:?}");
        }
        for text in ["seo audit", "seo,audit,api", "e-mail", "-seo", "\"seo\"", "seo|audit", "seo&audit", "", "  "] {
            assert!(!one_word(text), "{text:?}");
        }
    }
}
