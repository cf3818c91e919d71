//! The catalog: active, undeleted services matching a query, one page of them and how many there are.
//!
//! Each query is built from fixed fragments with only the filters it uses, so every combination is its own prepared
//! statement with a plan for exactly its filters (a catch-all `($1 IS NULL OR category = $1)` would push PostgreSQL's
//! generic plan off the indexes). Every value is a bind parameter but the page's limit and offset, integers written
//! into the text: as parameters, the generic plan is priced for an unknown `LIMIT` (a tenth of the table) and loses to
//! a custom plan every time, so PostgreSQL planned each page afresh (measured on 100,000 services: 12 executions, 12
//! custom plans, 0.36–0.45 ms a page; with them written in, a generic plan from the sixth on, 0.22 ms). A page's ids
//! are read from the top of the index of its order (`migrations/0006_market.sql`), from the ordering keys alone,
//! stopping at `limit`, and only those rows are then read whole (a deferred join); relevance is `ts_rank_cd` over the
//! weighted search vector, so it costs one rank per matching row. The count is a separate statement over the same
//! filters, with no order and no join unless the provider is named by wallet: a window `count(*) OVER ()` would make
//! every page read and rank every match before its `LIMIT`. Filtered by category, tier and price ceiling alone
//! (browsing, the common case), the count is a sum over a few rows of kept counts (`market_catalog_counts`, and by
//! price bucket `market_catalog_price_counts`), which triggers keep exact.
//!
//! A search ranked by relevance and filtered by nothing else does not come here: one call answers it
//! ([`super::search_terms`]; a one-word search from the kept term index, since ranking and counting every match of a
//! common word cost hundreds of milliseconds). Everything else (another sort, a filter beside the text) is built here.

use alloy::primitives::Address;
use clearing_x402::Usdc;
use sqlx::{postgres::PgArguments, query::Query};

use super::{ParticipantId, ServiceType, services::SERVICE_COLUMNS};
use crate::{Ledger, Result, decode::Fields, market::services::service_from_row};

/// A catalog entry: a listed service. Inactive and deleted ones never appear.
pub type CatalogEntry = super::Service;

/// One page of the catalog and how many services match its query.
#[derive(Debug, Clone)]
pub struct CatalogPage {
    /// Services matching the query's filters, over every page.
    pub total: u64,
    /// This page's.
    pub entries: Vec<CatalogEntry>,
}

/// Which services a catalog request asks for, and which page.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CatalogQuery {
    /// Full-text search, in web search syntax (`websearch_to_tsquery`: words, "quoted phrases", `or`, `-word`); a word
    /// given twice counts once.
    pub text: Option<String>,
    /// Exactly this category (lower case).
    pub category: Option<String>,
    /// Only this tier.
    pub service_type: Option<ServiceType>,
    /// Listed at this price or less.
    pub max_price: Option<Usdc>,
    /// Only this provider's.
    pub provider: Option<ProviderFilter>,
    /// The order.
    pub sort: CatalogSort,
    /// Page size.
    pub limit: u32,
    /// Entries skipped before the page.
    pub offset: u32,
}

/// A provider, by id or by wallet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderFilter {
    /// By participant id.
    Id(ParticipantId),
    /// By the wallet that registered it.
    Wallet(Address),
}

/// A catalog order; ties go to the newest, then to the id, so pages never overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CatalogSort {
    /// Best match first (needs [`CatalogQuery::text`]).
    Relevance,
    /// Cheapest first.
    PriceAsc,
    /// Dearest first.
    PriceDesc,
    /// Most recently listed first.
    Newest,
}

/// One value bound to a catalog statement.
enum Bind<'a> {
    Text(&'a str),
    Int(i64),
    Uuid(uuid::Uuid),
    Bytes(&'a [u8]),
}

/// A catalog statement's `FROM ... WHERE ...` and its binds, shared by the page and the count.
struct Filters<'a> {
    /// Joins and conditions, each with `$n` placeholders numbered in `binds`' order.
    from: String,
    conditions: Vec<String>,
    binds: Vec<Bind<'a>>,
    /// The bind number of the search text, when there is one (parsed once as `q`).
    text: Option<usize>,
    /// The bind numbers of the category, the tier and the price ceiling, when filtered by them.
    category: Option<usize>,
    service_type: Option<usize>,
    max_price: Option<usize>,
}

impl<'a> Filters<'a> {
    fn of(query: &'a CatalogQuery) -> Self {
        let mut filters = Self {
            from: "market_services s".to_owned(),
            conditions: vec!["s.status = 'active'".to_owned(), "s.deleted_at IS NULL".to_owned()],
            binds: Vec::new(),
            text: None,
            category: None,
            service_type: None,
            max_price: None,
        };
        if matches!(query.provider, Some(ProviderFilter::Wallet(_))) {
            filters.from.push_str(" JOIN market_participants p ON p.id = s.provider_id");
        }
        if let Some(text) = &query.text {
            // Parsed once, as a row of its own: written into the condition and the rank, a generic plan parses and
            // stems the text again for every matching row (measured: 57 ms against 38 for 7,000 matches). Parsed as
            // every catalog search is (`migrations/0027_market_search_words_once.sql`: each word once), so a search
            // ranks alike with a filter and without.
            let n = filters.bind(Bind::Text(text));
            filters.text = Some(n);
            filters.from.push_str(&format!(" CROSS JOIN market_search_query(${n}) AS q"));
            filters.conditions.push("s.search @@ q".to_owned());
        }
        if let Some(category) = &query.category {
            let n = filters.bind(Bind::Text(category));
            filters.category = Some(n);
            filters.conditions.push(format!("s.category = ${n}"));
        }
        if let Some(service_type) = query.service_type {
            let n = filters.bind(Bind::Text(service_type.as_str()));
            filters.service_type = Some(n);
            filters.conditions.push(format!("s.service_type = ${n}"));
        }
        if let Some(max_price) = query.max_price {
            // Above any stored price (10^15 at most), a bound is no bound.
            let n = filters.bind(Bind::Int(i64::try_from(max_price.atomic()).unwrap_or(i64::MAX)));
            filters.max_price = Some(n);
            filters.conditions.push(format!("s.price <= ${n}"));
        }
        match &query.provider {
            Some(ProviderFilter::Id(id)) => {
                let n = filters.bind(Bind::Uuid(id.0));
                filters.conditions.push(format!("s.provider_id = ${n}"));
            }
            Some(ProviderFilter::Wallet(wallet)) => {
                let n = filters.bind(Bind::Bytes(wallet.as_slice()));
                filters.conditions.push(format!("p.wallet = ${n}"));
            }
            None => {}
        }
        filters
    }

    fn bind(&mut self, value: Bind<'a>) -> usize {
        self.binds.push(value);
        self.binds.len()
    }

    fn clause(&self) -> String {
        format!("FROM {} WHERE {}", self.from, self.conditions.join(" AND "))
    }

    /// The kept count of these filters as an SQL expression, when they are ones it answers (category, tier and price
    /// ceiling, or nothing): browsing, the common case. Under a ceiling, the kept price buckets at or under the
    /// largest round price not above it (`migrations/0026_market_catalog_price_counts.sql`), plus the listings
    /// between that price and the ceiling, counted from the index by price (none for a round ceiling).
    fn kept_total(&self, query: &CatalogQuery) -> Option<String> {
        if query.text.is_some() || query.provider.is_some() {
            return None;
        }
        let mut kept = vec!["true".to_owned()];
        let mut between = vec!["s.status = 'active'".to_owned(), "s.deleted_at IS NULL".to_owned()];
        if let Some(n) = self.category {
            kept.push(format!("c.category = ${n}"));
            between.push(format!("s.category = ${n}"));
        }
        if let Some(n) = self.service_type {
            kept.push(format!("c.service_type = ${n}"));
            between.push(format!("s.service_type = ${n}"));
        }
        let Some(n) = self.max_price else {
            return Some(format!(
                "(SELECT coalesce(sum(c.listed), 0)::bigint FROM market_catalog_counts c WHERE {})",
                kept.join(" AND ")
            ));
        };
        kept.push(format!("c.price_bucket <= market_price_floor(${n})"));
        between.push(format!("s.price <= ${n} AND s.price > market_price_floor(${n})"));
        Some(format!(
            "((SELECT coalesce(sum(c.listed), 0)::bigint FROM market_catalog_price_counts c WHERE {})
              + (SELECT count(*) FROM market_services s WHERE {}))",
            kept.join(" AND "),
            between.join(" AND ")
        ))
    }

    /// The page statement: the page's ids from its ordering keys, then its rows read whole, with `total` (an SQL
    /// expression) as a column when given. Binds: the filters'; the limit and the offset are written in (see the
    /// module's notes).
    fn page(&self, query: &CatalogQuery, total: Option<&str>) -> String {
        // The page's keys (what it is ordered by), and the order over them.
        let (keys, order) = match (query.sort, self.text) {
            (CatalogSort::Relevance, Some(_)) => {
                ("s.id, s.listed_at, ts_rank_cd(s.search, q) AS rank", "rank DESC, listed_at DESC, id DESC")
            }
            // Relevance without a text has nothing to rank: newest first, as the API documents.
            (CatalogSort::Relevance | CatalogSort::Newest, _) => ("s.id, s.listed_at", "listed_at DESC, id DESC"),
            (CatalogSort::PriceAsc, _) => ("s.id, s.price", "price, id"),
            (CatalogSort::PriceDesc, _) => ("s.id, s.price", "price DESC, id DESC"),
        };
        // A deferred join: the page's ids are found from the keys alone (an index-only scan where the order has an
        // index), and only its `limit` rows are then read whole. Reading whole every row the offset skips made
        // offset 10,000 cost 32 ms on 100,000 services; this way, 7. Integers, so writing them in is safe.
        let (limit, offset) = (query.limit, query.offset);
        let page = format!("SELECT {keys} {} ORDER BY {order} LIMIT {limit} OFFSET {offset}", self.clause());
        let total = total.map(|total| format!("{total} AS total, ")).unwrap_or_default();
        format!(
            "SELECT {total}{SERVICE_COLUMNS} FROM ({page}) page
             JOIN market_services s ON s.id = page.id JOIN market_participants p ON p.id = s.provider_id
             ORDER BY {}",
            order.split(", ").map(|key| format!("page.{key}")).collect::<Vec<_>>().join(", ")
        )
    }

    fn apply<'q>(&self, mut statement: Query<'q, sqlx::Postgres, PgArguments>) -> Query<'q, sqlx::Postgres, PgArguments>
    where
        'a: 'q,
    {
        for value in &self.binds {
            statement = match *value {
                Bind::Text(text) => statement.bind(text),
                Bind::Int(int) => statement.bind(int),
                Bind::Uuid(id) => statement.bind(id),
                Bind::Bytes(bytes) => statement.bind(bytes),
            };
        }
        statement
    }
}

impl Ledger {
    /// One page of the catalog for `query` and how many services match it: a relevance search filtered by nothing
    /// else in one call ([`Ledger::catalog_by_text`]), anything else by [`Ledger::catalog_scanned`].
    pub async fn catalog(&self, query: &CatalogQuery) -> Result<CatalogPage> {
        match self.catalog_by_text(query).await? {
            Some(page) => Ok(page),
            None => self.catalog_scanned(query).await,
        }
    }

    /// One page of the catalog for `query` and how many services match it, from the services' own indexes: a search
    /// ranks and counts every match. Browsing (filtered by category, tier and price at most) is one statement, the kept
    /// count a column of the page; otherwise the page and the count run at once on two connections.
    pub async fn catalog_scanned(&self, query: &CatalogQuery) -> Result<CatalogPage> {
        let filters = Filters::of(query);
        let Some(total) = filters.kept_total(query) else {
            let (entries, total) = tokio::try_join!(self.catalog_page(query), self.catalog_count(query))?;
            return Ok(CatalogPage { total, entries });
        };
        let sql = filters.page(query, Some(&total));
        let rows = filters.apply(sqlx::query(sqlx::AssertSqlSafe(sql))).fetch_all(&self.pool).await?;
        let total = match rows.first() {
            Some(row) => Fields::of("market_catalog_counts", row).u64("total")?,
            // An empty page (past the end) carries no count: read it alone.
            None => self.catalog_count(query).await?,
        };
        let entries = rows.iter().map(service_from_row).collect::<Result<_>>()?;
        Ok(CatalogPage { total, entries })
    }

    /// One page of the catalog for `query`.
    pub async fn catalog_page(&self, query: &CatalogQuery) -> Result<Vec<CatalogEntry>> {
        let filters = Filters::of(query);
        let sql = filters.page(query, None);
        let rows = filters.apply(sqlx::query(sqlx::AssertSqlSafe(sql))).fetch_all(&self.pool).await?;
        rows.iter().map(service_from_row).collect()
    }

    /// How many services match `query`'s filters (its sort and page aside). Filtered by nothing but category, tier
    /// and price ceiling, it is read from kept counts (exact: a trigger keeps them), not counted.
    pub async fn catalog_count(&self, query: &CatalogQuery) -> Result<u64> {
        let filters = Filters::of(query);
        let sql = match filters.kept_total(query) {
            Some(total) => format!("SELECT {total} AS total"),
            None => format!("SELECT count(*) AS total {}", filters.clause()),
        };
        let row = filters.apply(sqlx::query(sqlx::AssertSqlSafe(sql))).fetch_one(&self.pool).await?;
        Fields::of("market_services", &row).u64("total")
    }
}

impl Ledger {
    /// `VACUUM ANALYZE` of the marketplace's tables: after a bulk load (the catalog benchmark's), so the planner's
    /// statistics and the visibility map (which index-only counts rely on) describe the rows before anything is
    /// measured, rather than whenever autovacuum comes by.
    pub async fn vacuum_market(&self) -> Result<()> {
        for table in [
            "market_participants",
            "market_services",
            "market_catalog_counts",
            "market_search_terms",
            "market_search_term_counts",
        ] {
            sqlx::query(sqlx::AssertSqlSafe(format!("VACUUM ANALYZE {table}"))).execute(&self.pool).await?;
        }
        Ok(())
    }
}
