//! Catalog answers from this process's own index of the listings ([`clearing_search::SearchIndex`]): searches
//! ranked without ranking every match in PostgreSQL, and browsing with no round trip but one for freshness.
//!
//! The index holds every listed service: its search vector as PostgreSQL stored it, its category, tier, price and
//! listing time, and its catalog entry as this process renders it. It answers every catalog query but one filtered
//! by provider, and but a search whose text is not a plain conjunction of words (a phrase, `or`, `-word`): those go
//! to PostgreSQL as before. PostgreSQL still parses a search text (`market_search_query`, kept per text: it depends
//! on the text alone). Before a query is answered, the index reads what was written since its last read
//! ([`clearing_ledger::Ledger::catalog_changes`], by transaction id, so no write is missed whatever the commit order)
//! unless that read began less than `[market] catalog_cache_ms` before the query arrived; a write through this process
//! makes the next query read at once. With `catalog_cache_ms = 0`, every answer reflects every write committed before
//! the query arrived, as a query in PostgreSQL does. One read runs at a time and serves every query that arrived
//! before it began.
//!
//! The index is built on first use, in the background (queries meanwhile go to PostgreSQL), or by
//! [`Market::warm_catalog_index`], which `clearing serve` calls at start.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, PoisonError, RwLock,
        atomic::{AtomicBool, AtomicU8, Ordering},
    },
    time::{Duration, Instant},
};

use axum::body::Bytes;
use clearing_ledger::market::{CatalogChanges, CatalogQuery, CatalogSort, ListingHorizon, ServiceId, ServiceType};
use clearing_search::{Document, Filter, Order, SearchIndex};

use crate::{Market, MarketError, Result, services::ServiceView};

/// Listings read at once while the index is built.
const BUILD_PART: u32 = 2_000;
/// Search texts whose parse is kept; past it, the parses start over.
const MAX_PARSES: usize = 16_384;

const UNBUILT: u8 = 0;
const BUILDING: u8 = 1;
const BUILT: u8 = 2;

/// The listings' search index and where its reading of the database stands.
#[derive(Debug)]
pub(crate) struct CatalogIndex {
    fresh_for: Duration,
    state: AtomicU8,
    /// Set by a write through this process: the next search reads the changes whatever their age.
    written: AtomicBool,
    index: RwLock<SearchIndex<ServiceId, Bytes>>,
    reading: tokio::sync::Mutex<Reading>,
    parses: Mutex<HashMap<String, Option<Arc<[String]>>>>,
}

#[derive(Debug, Default)]
struct Reading {
    horizon: Option<ListingHorizon>,
    /// When the last read of the changes began.
    began: Option<Instant>,
}

impl CatalogIndex {
    /// An index not built yet, reading the changes before a search unless its last read began less than `fresh_for`
    /// before the search arrived.
    pub(crate) fn new(fresh_for: Duration) -> Self {
        Self {
            fresh_for,
            state: AtomicU8::new(UNBUILT),
            written: AtomicBool::new(false),
            index: RwLock::default(),
            reading: tokio::sync::Mutex::default(),
            parses: Mutex::default(),
        }
    }

    /// How many listings the index holds, once built.
    pub(crate) fn listings(&self) -> Option<usize> {
        (self.state.load(Ordering::Acquire) == BUILT)
            .then(|| self.index.read().unwrap_or_else(PoisonError::into_inner).len())
    }

    /// A write through this process changed the catalog.
    pub(crate) fn written(&self) {
        self.written.store(true, Ordering::Release);
    }

    /// The answer to `query` from the index, or `None` when the index cannot answer it: filtered by provider, a
    /// text that is not a plain conjunction of words, or the index not built yet.
    pub(crate) async fn answer(&self, market: &Market, query: &CatalogQuery) -> Result<Option<Bytes>> {
        let arrived = Instant::now();
        if query.provider.is_some() {
            return Ok(None);
        }
        let lexemes = match query.text.as_deref() {
            Some(text) => match self.lexemes(market, text).await? {
                Some(lexemes) => Some(lexemes),
                None => return Ok(None),
            },
            None => None,
        };
        match self.state.load(Ordering::Acquire) {
            BUILT => {}
            UNBUILT => {
                if self.state.compare_exchange(UNBUILT, BUILDING, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                    let market = market.clone();
                    tokio::spawn(async move {
                        if let Err(error) = market.catalog_index().build(&market).await {
                            tracing::warn!(%error, "the catalog's search index was not built; searches use PostgreSQL");
                        }
                    });
                }
                return Ok(None);
            }
            _ => return Ok(None),
        }
        self.catch_up(market, arrived).await?;
        let index = self.index.read().unwrap_or_else(PoisonError::into_inner);
        let filter = Filter {
            category: query.category.as_deref(),
            tier: query.service_type.map(tier),
            max_price: query.max_price.map(|price| u64::try_from(price.atomic()).unwrap_or(u64::MAX)),
        };
        let order = match query.sort {
            CatalogSort::Relevance => Order::Relevance,
            CatalogSort::Newest => Order::Newest,
            CatalogSort::PriceAsc => Order::PriceAsc,
            CatalogSort::PriceDesc => Order::PriceDesc,
        };
        let page = index.query(lexemes.as_deref(), &filter, order, query.limit as usize, query.offset as usize);
        let mut body =
            format!(r#"{{"total":{},"limit":{},"offset":{},"services":["#, page.total, query.limit, query.offset)
                .into_bytes();
        for (at, entry) in page.entries.iter().enumerate() {
            if at > 0 {
                body.push(b',');
            }
            body.extend_from_slice(entry);
        }
        body.extend_from_slice(b"]}");
        Ok(Some(Bytes::from(body)))
    }

    /// Builds the index from every listing, unless it is built. Searches meanwhile go to PostgreSQL.
    pub(crate) async fn build(&self, market: &Market) -> Result<()> {
        let mut reading = self.reading.lock().await;
        if self.state.load(Ordering::Acquire) == BUILT {
            return Ok(());
        }
        self.state.store(BUILDING, Ordering::Release);
        let began = Instant::now();
        let built = async {
            // In parts, so that the rows read are never all in memory at once beside the index.
            let mut index = SearchIndex::default();
            let (mut horizon, mut after) = (None, None);
            loop {
                let part = market.ledger().catalog_listings(after, BUILD_PART).await?;
                after = part.listed.last().map(|(service, _)| service.id);
                let read = part.listed.len();
                let part_horizon = apply(&mut index, part, market)?;
                horizon = horizon.or(Some(part_horizon));
                if read < BUILD_PART as usize {
                    break;
                }
            }
            *self.index.write().unwrap_or_else(PoisonError::into_inner) = index;
            Ok::<_, MarketError>(horizon.expect("a read always has a horizon"))
        }
        .await;
        match built {
            Ok(horizon) => {
                *reading = Reading { horizon: Some(horizon), began: Some(began) };
                self.state.store(BUILT, Ordering::Release);
                tracing::info!(
                    listings = self.index.read().unwrap_or_else(PoisonError::into_inner).len(),
                    ms = began.elapsed().as_millis() as u64,
                    "built the catalog's search index"
                );
                Ok(())
            }
            Err(error) => {
                self.state.store(UNBUILT, Ordering::Release);
                Err(error)
            }
        }
    }

    /// Reads the changes since the last read into the index, unless a read that began at most `fresh_for` before
    /// `arrived` (and after the last write through this process) is done.
    async fn catch_up(&self, market: &Market, arrived: Instant) -> Result<()> {
        let mut reading = self.reading.lock().await;
        let written = self.written.swap(false, Ordering::AcqRel);
        if !written && reading.began.is_some_and(|began| began + self.fresh_for >= arrived) {
            return Ok(());
        }
        let began = Instant::now();
        let Some(since) = reading.horizon else {
            return Err(MarketError::Internal("the catalog's search index has no horizon".into()));
        };
        let read = market.ledger().catalog_changes(since).await;
        let changes = read.inspect_err(|_| self.written.store(written, Ordering::Release))?;
        let mut index = self.index.write().unwrap_or_else(PoisonError::into_inner);
        let horizon = apply(&mut index, changes, market)?;
        *reading = Reading { horizon: Some(horizon), began: Some(began) };
        Ok(())
    }

    /// The lexemes of `text` as the catalog parses it, when it is a plain conjunction of words.
    async fn lexemes(&self, market: &Market, text: &str) -> Result<Option<Arc<[String]>>> {
        if let Some(parsed) = self.parses.lock().unwrap_or_else(PoisonError::into_inner).get(text) {
            return Ok(parsed.clone());
        }
        let printed = market.ledger().search_query_text(text).await?;
        let parsed: Option<Arc<[String]>> = clearing_search::conjunction(&printed).map(Arc::from);
        let mut parses = self.parses.lock().unwrap_or_else(PoisonError::into_inner);
        if parses.len() >= MAX_PARSES {
            parses.clear();
        }
        parses.insert(text.to_owned(), parsed.clone());
        Ok(parsed)
    }
}

/// Applies `changes` to `index`, each listing rendered as the catalog shows it; the horizon to read from next.
fn apply(
    index: &mut SearchIndex<ServiceId, Bytes>,
    changes: CatalogChanges,
    market: &Market,
) -> Result<ListingHorizon> {
    let horizon = changes.horizon.ok_or_else(|| MarketError::Internal("catalog changes without a horizon".into()))?;
    for id in &changes.unlisted {
        index.remove(id);
    }
    let fee = market.fee();
    for (service, search) in &changes.listed {
        let lexemes = clearing_search::parse_tsvector(search).map_err(|e| MarketError::Internal(e.to_string()))?;
        let entry =
            serde_json::to_vec(&ServiceView::entry(service, fee)).map_err(|e| MarketError::Internal(e.to_string()))?;
        let document = Document {
            lexemes,
            order: i64::try_from(service.listed_at.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX),
            price: u64::try_from(service.price.atomic()).unwrap_or(u64::MAX),
            category: service.category.clone(),
            tier: tier(service.service_type),
        };
        index.upsert(service.id, document, Bytes::from(entry));
    }
    Ok(horizon)
}

/// A tier as the index keeps it.
fn tier(service_type: ServiceType) -> u8 {
    match service_type {
        ServiceType::DataApi => 0,
        ServiceType::AutomatedService => 1,
        ServiceType::HumanService => 2,
    }
}
