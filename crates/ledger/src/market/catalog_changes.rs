//! The listings written since a reader last looked (`migrations/0030_market_catalog_changes.sql`), for a process's
//! own search index, and the catalog's parse of a search text.

use std::sync::LazyLock;

use sqlx::Row as _;

use super::{Service, ServiceId, services::SERVICE_COLUMNS};
use crate::{Ledger, Result, decode::Fields, market::services::service_from_row};

/// Where a reader of [`Ledger::catalog_changes`] stands: every listing written by a transaction before it has been
/// read. Opaque: a transaction id of PostgreSQL's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ListingHorizon(u64);

/// What [`Ledger::catalog_changes`] read.
#[derive(Debug, Default)]
pub struct CatalogChanges {
    /// Where the next read starts.
    pub horizon: Option<ListingHorizon>,
    /// Services in the catalog (active, undeleted).
    pub listed: Vec<Listing>,
    /// Services written since that are not in the catalog (hidden or deleted).
    pub unlisted: Vec<ServiceId>,
}

/// A service in the catalog as [`Ledger::catalog_changes`] reads it.
#[derive(Debug)]
pub struct Listing {
    /// The service.
    pub service: Service,
    /// Its search vector, as PostgreSQL prints a `tsvector`.
    pub search: String,
    /// Which writes of it (and of its provider's name and wallet) this is: equal versions are equal listings.
    pub version: ListingVersion,
}

/// The transactions that last wrote a listing and its provider's name or wallet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListingVersion(u64, u64);

/// Listings by id after `$1`, at most `$2`, with the horizon taken in the same snapshot.
static LISTED: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH h AS (SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS horizon)
         SELECT h.horizon, c.* FROM h LEFT JOIN (
             SELECT true AS listed, s.search::text AS search_text, s.listing_xid::text AS service_xid,
                    p.listing_xid::text AS provider_xid, {SERVICE_COLUMNS}
               FROM market_services s JOIN market_participants p ON p.id = s.provider_id
              WHERE s.status = 'active' AND s.deleted_at IS NULL AND s.id > $1
              ORDER BY s.id LIMIT $2) c ON true"
    )
});

/// The services written, or whose provider's name or wallet was, by transactions from `$1` on.
static SINCE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH h AS (SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS horizon)
         SELECT h.horizon, c.* FROM h LEFT JOIN (
             SELECT s.status = 'active' AND s.deleted_at IS NULL AS listed, s.search::text AS search_text,
                    s.listing_xid::text AS service_xid, p.listing_xid::text AS provider_xid, {SERVICE_COLUMNS}
               FROM market_services s JOIN market_participants p ON p.id = s.provider_id
              WHERE s.id IN (SELECT w.id FROM market_services w WHERE w.listing_xid >= $1::text::xid8
                             UNION
                             SELECT w.id FROM market_participants r JOIN market_services w ON w.provider_id = r.id
                              WHERE r.listing_xid >= $1::text::xid8)) c ON true"
    )
});

impl Ledger {
    /// The catalog's listings in id order after `after` (from the first when `None`), at most `limit`, and the
    /// horizon to read [`Ledger::catalog_changes`] from once every listing is read: the first part's horizon, since
    /// each later part sees at least what the first did.
    pub async fn catalog_listings(&self, after: Option<ServiceId>, limit: u32) -> Result<CatalogChanges> {
        // From the nil UUID, below every other (ids are random, never nil).
        let after = after.map_or(uuid::Uuid::nil(), |id| id.0);
        let statement = sqlx::query(sqlx::AssertSqlSafe(LISTED.as_str())).bind(after).bind(i64::from(limit));
        changes(statement.fetch_all(&self.pool).await?)
    }

    /// The catalog's services written since `since`, listed or not, and the horizon to read from next. A listing
    /// written by a transaction still running may be read again next time; none is ever missed.
    pub async fn catalog_changes(&self, since: ListingHorizon) -> Result<CatalogChanges> {
        let statement = sqlx::query(sqlx::AssertSqlSafe(SINCE.as_str())).bind(since.0.to_string());
        changes(statement.fetch_all(&self.pool).await?)
    }

    /// The catalog's parse of search text `text` (`market_search_query`, each word of a conjunction named once), as
    /// PostgreSQL prints a `tsquery`. It depends on the text alone, so a caller may keep it.
    pub async fn search_query_text(&self, text: &str) -> Result<String> {
        Ok(sqlx::query_scalar("SELECT market_search_query($1)::text").bind(text).fetch_one(&self.pool).await?)
    }
}

fn changes(rows: Vec<sqlx::postgres::PgRow>) -> Result<CatalogChanges> {
    let mut changes = CatalogChanges::default();
    for row in &rows {
        let f = Fields::of("market_services", row);
        if changes.horizon.is_none() {
            changes.horizon = Some(ListingHorizon(f.number("horizon")?));
        }
        let Some(listed) = row.try_get::<Option<bool>, _>("listed")? else { continue };
        if listed {
            let version = ListingVersion(f.number("service_xid")?, f.number("provider_xid")?);
            changes.listed.push(Listing { service: service_from_row(row)?, search: f.get("search_text")?, version });
        } else {
            changes.unlisted.push(ServiceId(row.try_get("id")?));
        }
    }
    Ok(changes)
}
