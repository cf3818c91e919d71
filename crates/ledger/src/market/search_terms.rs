//! Relevance searches filtered by nothing else, in one call of `market_search_page` (planned once per session).
//!
//! A search of one lexeme (`numnode(market_search_query(q)) = 1`: "SEO", `"seo"`, "the seo" and "translate
//! translation" are, the last a conjunction naming each lexeme once (`migrations/0027_market_search_words_once.sql`);
//! "seo audit", `-seo` and stop words alone are not) reads its page from the top of that term's rows in the kept term
//! index `market_search_terms` (`migrations/0011_market_search_terms.sql`; ordered by the stored `ts_rank_cd`, then
//! newest, then id, as the catalog's relevance order is) and its total from `market_search_term_counts`, so it costs
//! its page, never its matches. Any other text (two words, a phrase, `or`, `-word`) is ranked and counted in one
//! statement over the GIN index, the count a window over the ranked rows
//! (`migrations/0025_market_search_any_text.sql`).
//! Either way the answer is the one [`Ledger::catalog_scanned`] gives, row for row (the ledger test
//! `relevance_searches_in_one_call_equal_ranking_every_match` compares the two).

use std::{borrow::Cow, sync::LazyLock};

use sqlx::Row as _;

use super::{CatalogPage, CatalogQuery, CatalogSort, services::SERVICE_COLUMNS};
use crate::{Ledger, Result, decode::Fields, market::services::service_from_row};

/// The page and the total of a relevance search, from `market_search_page` (which says why it is a function). Binds:
/// the text, the limit, the offset. Always at least one row (with `total`); when the page is empty, that row's service
/// columns are NULL.
static BY_TEXT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT h.total, h.score AS rank, {SERVICE_COLUMNS}
           FROM market_search_page($1, $2, $3) h
           LEFT JOIN market_services s ON s.id = h.service_id
           LEFT JOIN market_participants p ON p.id = s.provider_id
          ORDER BY h.score DESC, s.listed_at DESC, s.id DESC"
    )
});

impl Ledger {
    /// One page of a relevance search filtered by nothing else and its total, in one call; `None` when `query` is not
    /// one (no text, another sort, another filter), and [`Ledger::catalog_scanned`] answers it instead.
    pub async fn catalog_by_text(&self, query: &CatalogQuery) -> Result<Option<CatalogPage>> {
        let Some(text) = query.text.as_deref() else { return Ok(None) };
        let filtered = query.category.is_some()
            || query.service_type.is_some()
            || query.max_price.is_some()
            || query.provider.is_some();
        if query.sort != CatalogSort::Relevance || filtered {
            return Ok(None);
        }
        let rows = sqlx::query(sqlx::AssertSqlSafe(Cow::Borrowed(BY_TEXT.as_str())))
            .bind(text)
            .bind(i64::from(query.limit))
            .bind(i64::from(query.offset))
            .fetch_all(&self.pool)
            .await?;
        let head = rows.first().ok_or(sqlx::Error::RowNotFound)?;
        let total = Fields::of("market_search_term_counts", head).u64("total")?;
        let mut entries = Vec::with_capacity(rows.len());
        for row in &rows {
            // The head of an empty page carries no service.
            if row.try_get::<Option<uuid::Uuid>, _>("id")?.is_some() {
                entries.push(service_from_row(row)?);
            }
        }
        Ok(Some(CatalogPage { total, entries }))
    }
}
