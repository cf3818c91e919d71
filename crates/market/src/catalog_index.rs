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
        atomic::{AtomicU8, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use axum::body::Bytes;
use clearing_ledger::market::{
    CatalogChanges, CatalogQuery, CatalogSort, ListingHorizon, ListingVersion, ServiceId, ServiceType,
};
use clearing_search::{Document, Filter, Order, SearchIndex};

use crate::{Market, MarketError, Result, services::ServiceView};

/// Listings read at once while the index is built.
const BUILD_PART: u32 = 2_000;
/// Search texts whose parse is kept; past it, the parses start over.
const MAX_PARSES: usize = 16_384;
/// How long after a failed build the next query may try again.
const RETRY_BUILD: Duration = Duration::from_secs(30);

const UNBUILT: u8 = 0;
const BUILDING: u8 = 1;
const BUILT: u8 = 2;

/// A listing as the index keeps it: which writes it is, and its catalog entry.
type Entry = (ListingVersion, Bytes);

/// The listings' search index and where its reading of the database stands.
#[derive(Debug)]
pub(crate) struct CatalogIndex {
    fresh_for: Duration,
    state: AtomicU8,
    /// Writes through this process so far, and how many of them the last read of the changes began after: while
    /// they differ, a query reads the changes whatever their age.
    writes: AtomicU64,
    writes_read: AtomicU64,
    /// When the last read of the changes began, in nanoseconds after `epoch` (0: none yet), so that a query finds
    /// it fresh without waiting on a read in progress.
    began: AtomicU64,
    epoch: Instant,
    /// When the last build failed.
    failed: Mutex<Option<Instant>>,
    index: RwLock<SearchIndex<ServiceId, Entry>>,
    /// Where the next read of the changes starts; held while reading, so one read runs at a time.
    horizon: tokio::sync::Mutex<Option<ListingHorizon>>,
    parses: Mutex<HashMap<String, Option<Arc<[String]>>>>,
}

/// Puts a build that did not finish (an error, or its future dropped) back to unbuilt.
struct Building<'a>(&'a CatalogIndex);

impl Drop for Building<'_> {
    fn drop(&mut self) {
        let _ = self.0.state.compare_exchange(BUILDING, UNBUILT, Ordering::AcqRel, Ordering::Acquire);
    }
}

impl CatalogIndex {
    /// An index not built yet, reading the changes before a query unless its last read began less than `fresh_for`
    /// before the query arrived.
    pub(crate) fn new(fresh_for: Duration) -> Self {
        Self {
            fresh_for,
            state: AtomicU8::new(UNBUILT),
            writes: AtomicU64::new(0),
            writes_read: AtomicU64::new(0),
            began: AtomicU64::new(0),
            epoch: Instant::now(),
            failed: Mutex::default(),
            index: RwLock::default(),
            horizon: tokio::sync::Mutex::default(),
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
        self.writes.fetch_add(1, Ordering::AcqRel);
    }

    /// The answer to `query` from the index, or `None` when the index cannot answer it: filtered by provider, a
    /// text that is not a plain conjunction of words, the index not built yet, or its read of the changes failed.
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
        if !self.built(market) {
            return Ok(None);
        }
        if let Err(error) = self.catch_up(market, arrived).await {
            tracing::warn!(%error, "the catalog's search index could not read the changes; this query uses PostgreSQL");
            return Ok(None);
        }
        let (tier, max_price) = (
            query.service_type.map(tier),
            query.max_price.map(|price| u64::try_from(price.atomic()).unwrap_or(u64::MAX)),
        );
        let filter = Filter { category: query.category.as_deref(), tier, max_price };
        let order = match query.sort {
            CatalogSort::Relevance => Order::Relevance,
            CatalogSort::Newest => Order::Newest,
            CatalogSort::PriceAsc => Order::PriceAsc,
            CatalogSort::PriceDesc => Order::PriceDesc,
        };
        let cheap = match lexemes.as_deref() {
            // Browsing walks kept orders; one word by relevance alone reads its kept ranking.
            None => true,
            Some(lexemes) => lexemes.len() <= 1 && order == Order::Relevance && filter.keeps_all(),
        };
        if cheap {
            return Ok(self.page(lexemes.as_deref(), &filter, order, query));
        }
        // Anything else ranks or sorts each match: at most a few at once, off the runtime's threads, as searches in
        // PostgreSQL queue for the same permits (held by the search itself, so a caller gone does not free it).
        let permit = market.catalog_cache().owned_search_permit().await?;
        let (searching, query) = (market.clone(), query.clone());
        let page = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let filter = Filter { category: query.category.as_deref(), tier, max_price };
            searching.catalog_index().page(lexemes.as_deref(), &filter, order, &query)
        });
        Ok(page.await.unwrap_or_else(|error| {
            tracing::error!(%error, "a search of the catalog's index failed; this query uses PostgreSQL");
            None
        }))
    }

    /// The page for `query`, rendered; `None` when the index is not built (its changes failed to apply since the
    /// query checked).
    fn page(
        &self,
        lexemes: Option<&[String]>,
        filter: &Filter<'_>,
        order: Order,
        query: &CatalogQuery,
    ) -> Option<Bytes> {
        let index = self.index.read().unwrap_or_else(PoisonError::into_inner);
        if self.state.load(Ordering::Acquire) != BUILT {
            return None;
        }
        let page = index.query(lexemes, filter, order, query.limit as usize, query.offset as usize);
        let mut body =
            format!(r#"{{"total":{},"limit":{},"offset":{},"services":["#, page.total, query.limit, query.offset)
                .into_bytes();
        for (at, (_, entry)) in page.entries.iter().enumerate() {
            if at > 0 {
                body.push(b',');
            }
            body.extend_from_slice(entry);
        }
        body.extend_from_slice(b"]}");
        Some(Bytes::from(body))
    }

    /// Whether the index is built; if it is not and no build is running or failed lately, starts one.
    fn built(&self, market: &Market) -> bool {
        match self.state.load(Ordering::Acquire) {
            BUILT => return true,
            BUILDING => return false,
            _ => {}
        }
        let failed = *self.failed.lock().unwrap_or_else(PoisonError::into_inner);
        if failed.is_some_and(|at| at.elapsed() < RETRY_BUILD)
            || self.state.compare_exchange(UNBUILT, BUILDING, Ordering::AcqRel, Ordering::Acquire).is_err()
        {
            return false;
        }
        let market = market.clone();
        tokio::spawn(async move {
            if let Err(error) = market.catalog_index().run_build(&market).await {
                tracing::warn!(%error, "the catalog's search index was not built; queries use PostgreSQL");
            }
        });
        false
    }

    /// Builds the index from every listing unless it is built; when a build is running already, waits for it.
    /// Queries meanwhile go to PostgreSQL.
    pub(crate) async fn build(&self, market: &Market) -> Result<()> {
        if self.state.compare_exchange(UNBUILT, BUILDING, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            return self.run_build(market).await;
        }
        // A build holds the horizon's lock throughout; one just started may not have taken it yet.
        while self.state.load(Ordering::Acquire) == BUILDING {
            drop(self.horizon.lock().await);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        match self.state.load(Ordering::Acquire) {
            BUILT => Ok(()),
            _ => Err(MarketError::Internal("the catalog's search index was not built".into())),
        }
    }

    /// The build itself, once the state is [`BUILDING`]; back to unbuilt unless it succeeds.
    async fn run_build(&self, market: &Market) -> Result<()> {
        let building = Building(self);
        let mut horizon = self.horizon.lock().await;
        let began = Instant::now();
        let writes = self.writes.load(Ordering::Acquire);
        let built = async {
            // In parts, so that the rows read are never all in memory at once beside the index. The first part's
            // horizon: every later part sees at least what it saw.
            let mut index = SearchIndex::default();
            let (mut first, mut after) = (None, None);
            loop {
                let part = market.ledger().catalog_listings(after, BUILD_PART).await?;
                after = part.listed.last().map(|listing| listing.service.id);
                let read = part.listed.len();
                let part_horizon = apply(&mut index, part, market)?;
                let first = *first.get_or_insert(part_horizon);
                if read < BUILD_PART as usize {
                    return Ok::<_, MarketError>((index, first));
                }
            }
        }
        .await;
        match built {
            Ok((index, first)) => {
                let listings = index.len();
                let mut held = self.index.write().unwrap_or_else(PoisonError::into_inner);
                *held = index;
                *horizon = Some(first);
                self.mark_read(began, writes);
                self.state.store(BUILT, Ordering::Release);
                drop(held);
                std::mem::forget(building);
                tracing::info!(listings, ms = began.elapsed().as_millis() as u64, "built the catalog's search index");
                Ok(())
            }
            Err(error) => {
                *self.failed.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
                Err(error)
            }
        }
    }

    /// Reads the changes since the last read into the index, unless a read that began at most `fresh_for` before
    /// `arrived`, and after every write through this process so far, is done. Changes that cannot be applied leave the
    /// index unbuilt, to be built again.
    async fn catch_up(&self, market: &Market, arrived: Instant) -> Result<()> {
        if self.current(arrived) {
            return Ok(());
        }
        let mut horizon = self.horizon.lock().await;
        if self.state.load(Ordering::Acquire) != BUILT {
            return Err(MarketError::Internal("the catalog's search index is not built".into()));
        }
        if self.current(arrived) {
            return Ok(());
        }
        let began = Instant::now();
        let writes = self.writes.load(Ordering::Acquire);
        let since = (*horizon).ok_or_else(|| MarketError::Internal("the search index has no horizon".into()))?;
        let changes = market.ledger().catalog_changes(since).await?;
        // Applied on the blocking pool: the write lock waits for searches running there.
        let applying = market.clone();
        let applied = tokio::task::spawn_blocking(move || {
            let catalog = applying.catalog_index();
            let mut index = catalog.index.write().unwrap_or_else(PoisonError::into_inner);
            let applied = apply(&mut index, changes, &applying);
            if applied.is_err() {
                // Partly applied: unbuilt, and emptied, before any query reads it.
                catalog.state.store(UNBUILT, Ordering::Release);
                catalog.began.store(0, Ordering::Release);
                *index = SearchIndex::default();
            }
            applied
        })
        .await
        .map_err(|e| MarketError::Internal(e.to_string()))?;
        match applied {
            Ok(next) => {
                *horizon = Some(next);
                self.mark_read(began, writes);
                Ok(())
            }
            Err(error) => {
                *horizon = None;
                Err(error)
            }
        }
    }

    /// Whether the last read of the changes began after every write through this process and at most `fresh_for`
    /// before `arrived`.
    fn current(&self, arrived: Instant) -> bool {
        self.writes_read.load(Ordering::Acquire) == self.writes.load(Ordering::Acquire) && self.fresh(arrived)
    }

    /// Whether the last read began at most `fresh_for` before `arrived`.
    fn fresh(&self, arrived: Instant) -> bool {
        match self.began.load(Ordering::Acquire) {
            0 => false,
            began => self.epoch + Duration::from_nanos(began) + self.fresh_for >= arrived,
        }
    }

    /// A read of the changes that began at `began`, after `writes` writes through this process, is applied.
    fn mark_read(&self, began: Instant, writes: u64) {
        let nanos = u64::try_from(began.duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX).max(1);
        self.began.store(nanos, Ordering::Release);
        self.writes_read.store(writes, Ordering::Release);
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

/// Applies `changes` to `index`, each listing rendered as the catalog shows it unless the index holds that version
/// of it already (a listing written by a transaction still running at a read is read again); the horizon to read
/// from next.
fn apply(
    index: &mut SearchIndex<ServiceId, Entry>,
    changes: CatalogChanges,
    market: &Market,
) -> Result<ListingHorizon> {
    let horizon = changes.horizon.ok_or_else(|| MarketError::Internal("catalog changes without a horizon".into()))?;
    for id in &changes.unlisted {
        index.remove(id);
    }
    let fee = market.fee();
    for listing in &changes.listed {
        let service = &listing.service;
        if index.get(&service.id).is_some_and(|(version, _)| *version == listing.version) {
            continue;
        }
        let lexemes =
            clearing_search::parse_tsvector(&listing.search).map_err(|e| MarketError::Internal(e.to_string()))?;
        let entry =
            serde_json::to_vec(&ServiceView::entry(service, fee)).map_err(|e| MarketError::Internal(e.to_string()))?;
        let document = Document {
            lexemes,
            order: i64::try_from(service.listed_at.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX),
            price: u64::try_from(service.price.atomic()).unwrap_or(u64::MAX),
            category: service.category.clone(),
            tier: tier(service.service_type),
        };
        index.upsert(service.id, document, (listing.version, Bytes::from(entry)));
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
