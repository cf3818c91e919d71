//! One-word catalog searches from the kept term index (`migrations/0011_market_search_terms.sql`): a search whose
//! query is one lexeme, ranked by relevance and filtered by nothing else, reads its page from the top of that term's
//! rows in `market_search_terms` (ordered by the stored `ts_rank_cd`, then newest, then id, as the catalog's relevance
//! order is) and its total from `market_search_term_counts`, so it costs its page, never its matches.
//!
//! Whether the query is one lexeme is PostgreSQL's to say (`numnode(websearch_to_tsquery('english', q)) = 1`: "SEO",
//! `"seo"` and "the seo" are; "seo audit", `-seo` and stop words alone are not), in the same statement that reads the
//! page: the statement answers `single = false` for anything else, and the caller ranks and counts the matches as
//! before ([`Ledger::catalog_scanned`]). The answer is the one that path gives, row for row: the stored score is
//! `ts_rank_cd` of the same vector and the same one-lexeme query, and the rows are the listed services' (the ledger
//! test `one_word_searches_from_the_term_index_equal_ranking_every_match` compares the two).

use std::{borrow::Cow, sync::LazyLock};

use sqlx::Row as _;

use super::{CatalogPage, CatalogQuery, CatalogSort, services::SERVICE_COLUMNS};
use crate::{Ledger, Result, decode::Fields, market::services::service_from_row};

/// The page and the total of a one-word relevance search, from `market_search_page` (which says why it is a
/// function). Binds: the text, the limit, the offset. Always at least one row (with `single` and `total`); when the
/// page is empty, that row's service columns are NULL.
static BY_TERM: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT h.single, h.total, h.score AS rank, {SERVICE_COLUMNS}
           FROM market_search_page($1, $2, $3) h
           LEFT JOIN market_services s ON s.id = h.service_id
           LEFT JOIN market_participants p ON p.id = s.provider_id
          ORDER BY h.score DESC, s.listed_at DESC, s.id DESC"
    )
});

impl Ledger {
    /// One page of a one-word relevance search and its total, from the kept term index and counts; `None` when
    /// `query` is not one (no text, another sort, another filter, or a text of more than one lexeme or of none), and
    /// [`Ledger::catalog_scanned`] answers it instead.
    pub async fn catalog_by_term(&self, query: &CatalogQuery) -> Result<Option<CatalogPage>> {
        let Some(text) = query.text.as_deref() else { return Ok(None) };
        let filtered = query.category.is_some()
            || query.service_type.is_some()
            || query.max_price.is_some()
            || query.provider.is_some();
        if query.sort != CatalogSort::Relevance || filtered {
            return Ok(None);
        }
        let rows = sqlx::query(sqlx::AssertSqlSafe(Cow::Borrowed(BY_TERM.as_str())))
            .bind(text)
            .bind(i64::from(query.limit))
            .bind(i64::from(query.offset))
            .fetch_all(&self.pool)
            .await?;
        let head = rows.first().ok_or(sqlx::Error::RowNotFound)?;
        let fields = Fields::of("market_search_term_counts", head);
        if !fields.get::<bool>("single")? {
            return Ok(None);
        }
        let total = fields.u64("total")?;
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
