//! Digital products: files providers sell as one-time purchases (the402's products).
//!
//! A provider uploads a file with its listing (`POST /v1/products`, multipart, up to `[market] max_product_bytes`,
//! 25 MiB by default: that route alone takes a body that large); its content is checked to be an allowed type
//! ([`kind`]) and stored content-addressed by SHA-256 ([`clearing_storage::ContentStore`]), so the row names its
//! bytes by their digest. The listing's metadata can change (`PATCH`/`PUT /v1/products/{id}`), the file cannot;
//! `DELETE` hides the product from the catalog and from purchase, and its buyers keep downloading. Anyone searches
//! the catalog (`GET /v1/products`, full-text) and reads a product (`GET /v1/products/{id}`), with its three prices:
//! the listed `price` is what the provider nets and the agent pays it plus the platform fee (the402: "5% fee added
//! for agents"), as a quoted service's price ([`crate::fees::breakdown`]).
//!
//! A purchase ([`purchase`]) is one x402 payment into the escrow, credited at once to the provider and the fee
//! recipient by `Escrow.payMany`, so each sale is an `escrow_credit` record in the audit trail; or a debit of the
//! prepaid balance ([`balance`]), credited the same way by the vault's `debitMany`, a `vault_debit` record. The download
//! ([`download`]) streams the file with its SHA-256 in the headers and counts against the purchase's limit.

mod balance;
mod download;
pub(crate) mod kind;
mod openapi;
pub(crate) mod purchase;
mod upload;

use axum::{
    Json, Router,
    extract::{DefaultBodyLimit, Multipart, Path, RawQuery, State, multipart::MultipartRejection},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use clearing_ledger::market::{
    OwnedWrite, ParticipantId, ParticipantKind, PricingModel, Product, ProductFile, ProductId, ProductQuery,
    ProductUpdate,
};
use clearing_x402::Usdc;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tracing::info;
use uuid::Uuid;

pub(crate) use openapi::OPENAPI;

use crate::{
    Authenticated, ErrorCode, JsonBody, MAX_LIMIT, MAX_OFFSET, Market, MarketError, Result,
    body::{nullable, text, texts},
    fees::{FeeBps, breakdown},
    services::MAX_PRICE,
};

/// Most tags on a product.
const MAX_TAGS: usize = 20;
/// Longest tag, characters.
const MAX_TAG_LEN: usize = 50;
/// The largest download limit a product may set (there is no reason for more; unlimited is no limit at all).
const MAX_DOWNLOAD_LIMIT: u32 = 1_000_000;
/// Room for the upload form's other fields and the multipart framing, beside the file itself.
const FORM_OVERHEAD_BYTES: usize = 64 * 1024;
/// The longest search text, characters (the services' catalog's limit).
const MAX_QUERY_LEN: usize = 200;
/// A catalog page unless asked.
const DEFAULT_LIMIT: u32 = 20;

/// The product routes; `max_file_bytes` is `[market] max_product_bytes`.
pub(crate) fn routes(max_file_bytes: usize) -> Router<Market> {
    Router::new()
        .route(
            "/products",
            // The upload alone takes a large body: the limit set here overrides the market's for this method only.
            post(create).layer(DefaultBodyLimit::max(max_file_bytes.saturating_add(FORM_OVERHEAD_BYTES))).get(list),
        )
        .route("/products/{id}", get(detail).patch(update).put(update).delete(delete))
        .route("/products/{id}/purchase", post(purchase::purchase))
        .route("/products/{id}/download", get(download::download))
        .route("/purchases", get(download::purchases))
}

/// A product as the API shows it.
#[derive(Debug, Serialize)]
pub(crate) struct ProductView<'a> {
    id: ProductId,
    name: &'a str,
    description: &'a str,
    category: Option<&'a str>,
    tags: &'a [String],
    price: Usdc,
    agent_price: Usdc,
    provider_net_price: Usdc,
    platform_fee_pct: serde_json::Number,
    /// Downloads per purchase; null is unlimited.
    download_limit: Option<u32>,
    file: FileView<'a>,
    provider_id: ParticipantId,
    provider_name: &'a str,
    provider_wallet: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
    /// Shown only where a deleted product is shown at all (to its provider and its buyers).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    deleted: bool,
    links: Links,
}

#[derive(Debug, Serialize)]
struct FileView<'a> {
    name: &'a str,
    size: u64,
    content_type: &'a str,
    sha256: String,
}

#[derive(Debug, Serialize)]
struct Links {
    purchase: String,
    download: String,
}

impl<'a> ProductView<'a> {
    pub(crate) fn of(market: &Market, product: &'a Product) -> Self {
        let prices = prices(product.price, market.fee());
        let base = format!("{}/v1/products/{}", market.public_base(), product.id);
        Self {
            id: product.id,
            name: &product.name,
            description: &product.description,
            category: product.category.as_deref(),
            tags: &product.tags,
            price: prices.price,
            agent_price: prices.agent_price,
            provider_net_price: prices.provider_net_price,
            platform_fee_pct: prices.rate.percent(),
            download_limit: product.download_limit,
            file: FileView::of(&product.file),
            provider_id: product.provider_id,
            provider_name: &product.provider_name,
            provider_wallet: product.provider_wallet.to_checksum(None),
            created_at: product.created_at,
            updated_at: product.updated_at,
            deleted: product.deleted,
            links: Links { purchase: format!("{base}/purchase"), download: format!("{base}/download") },
        }
    }
}

impl<'a> FileView<'a> {
    fn of(file: &'a ProductFile) -> Self {
        Self {
            name: &file.name,
            size: file.size,
            content_type: &file.content_type,
            sha256: alloy_primitives::hex::encode(file.sha256),
        }
    }
}

/// A product's three prices: the listed price is what the provider nets, the agent pays it plus the fee (the402:
/// "Your price (5% fee added for agents)"), which is the rule of a quoted price.
pub(crate) fn prices(price: Usdc, fee: FeeBps) -> crate::fees::PriceBreakdown {
    breakdown(price, PricingModel::QuoteRequired, fee)
}

/// A product id from the path; one that is no UUID names no product.
fn parse_id(text: &str) -> Result<ProductId> {
    text.parse::<Uuid>().map(ProductId).map_err(|_| not_found(text))
}

fn not_found(id: impl std::fmt::Display) -> MarketError {
    MarketError::refused(ErrorCode::ProductNotFound, format!("no product has id {id}: see GET /v1/products"))
}

fn not_owner(id: ProductId, me: ParticipantId) -> MarketError {
    MarketError::refused(
        ErrorCode::NotOwner,
        format!("product {id} is another provider's; participant {me} cannot change it"),
    )
}

fn provider_only(me: &clearing_ledger::market::Participant) -> Result<()> {
    if me.kind != ParticipantKind::Provider {
        return Err(MarketError::refused(
            ErrorCode::ProvidersOnly,
            format!("only providers sell products; participant {} registered as an agent", me.id),
        ));
    }
    Ok(())
}

fn check_price(field: &str, price: Usdc) -> Result<Usdc> {
    if price.is_zero() || price > MAX_PRICE {
        return Err(MarketError::invalid(
            field,
            format!("{field} must be more than 0 and at most {MAX_PRICE} USDC; it is {price}"),
        ));
    }
    Ok(price)
}

fn check_limit(limit: u32) -> Result<u32> {
    if !(1..=MAX_DOWNLOAD_LIMIT).contains(&limit) {
        return Err(MarketError::invalid(
            "download_limit",
            format!("download_limit must be 1 to {MAX_DOWNLOAD_LIMIT} (leave it out for unlimited); it is {limit}"),
        ));
    }
    Ok(limit)
}

fn category(value: &str) -> Result<String> {
    Ok(text("category", value, 1, 50, false)?.to_lowercase())
}

fn name(value: &str) -> Result<String> {
    text("name", value, 1, 100, false)
}

fn description(value: &str) -> Result<String> {
    text("description", value, 1, 5_000, true)
}

fn tags(values: &[String]) -> Result<Vec<String>> {
    texts("tags", values, MAX_TAGS, MAX_TAG_LEN)
}

/// `POST /v1/products`: the upload.
async fn create(
    State(market): State<Market>,
    Authenticated(me): Authenticated,
    multipart: std::result::Result<Multipart, MultipartRejection>,
) -> Result<Response> {
    provider_only(&me)?;
    let multipart = multipart.map_err(|rejection| {
        MarketError::refused(
            ErrorCode::UnsupportedMediaType,
            format!("send the product as multipart/form-data (a file part and the listing's fields): {rejection}"),
        )
    })?;
    // Held until the file is stored, which is when its memory is given back.
    let _turn = market.upload_turn(me.id).await?;
    let upload = upload::read(multipart, market.config().max_product_bytes).await?;
    let (new, bytes) = upload.into_product(me.id)?;
    let size = bytes.len();
    let sha256 = market.store().put(bytes).await.map_err(|e| MarketError::Internal(format!("storing a file: {e}")))?;
    if sha256 != new.file.sha256 {
        return Err(MarketError::Internal(format!(
            "the store named the file {sha256}, its digest is {}",
            new.file.sha256
        )));
    }
    let product = market.ledger().create_product(&new).await?;
    info!(product = %product.id, provider = %me.id, %sha256, size, content_type = %product.file.content_type,
        "market: product listed");
    Ok((StatusCode::CREATED, Json(ProductView::of(&market, &product))).into_response())
}

/// `GET /v1/products/{id}`: an undeleted product for anyone; a deleted one for its provider and its buyers' keys.
async fn detail(
    State(market): State<Market>,
    Path(id): Path<String>,
    viewer: Option<Authenticated>,
) -> Result<Response> {
    let id = parse_id(&id)?;
    let product = market.ledger().product(id).await?.ok_or_else(|| not_found(id))?;
    if product.deleted {
        let Some(Authenticated(viewer)) = viewer else { return Err(not_found(id)) };
        let owner = viewer.id == product.provider_id;
        if !owner && !market.ledger().live_product_purchase(id, viewer.wallet).await?.is_some_and(|p| p.owned()) {
            return Err(not_found(id));
        }
    }
    Ok(Json(ProductView::of(&market, &product)).into_response())
}

/// `PATCH /v1/products/{id}`'s body: the metadata, each field optional; null clears `category` and makes
/// `download_limit` unlimited. The file never changes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateRequest {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    category: Option<Option<String>>,
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default, alias = "price_usd")]
    price: Option<Usdc>,
    #[serde(default, deserialize_with = "nullable")]
    download_limit: Option<Option<u32>>,
}

async fn update(
    State(market): State<Market>,
    Path(id): Path<String>,
    Authenticated(me): Authenticated,
    JsonBody(request): JsonBody<UpdateRequest>,
) -> Result<Response> {
    let id = parse_id(&id)?;
    provider_only(&me)?;
    let update = ProductUpdate {
        name: request.name.as_deref().map(name).transpose()?,
        description: request.description.as_deref().map(description).transpose()?,
        category: request.category.map(|c| c.as_deref().map(category).transpose()).transpose()?,
        tags: request.tags.as_deref().map(tags).transpose()?,
        price: request.price.map(|p| check_price("price", p)).transpose()?,
        download_limit: request.download_limit.map(|l| l.map(check_limit).transpose()).transpose()?,
    };
    let product = match market.ledger().update_product(id, me.id, &update).await? {
        OwnedWrite::Done(product) => product,
        OwnedWrite::NotOwner => return Err(not_owner(id, me.id)),
        OwnedWrite::NotFound => return Err(not_found(id)),
    };
    Ok(Json(ProductView::of(&market, &product)).into_response())
}

async fn delete(
    State(market): State<Market>,
    Path(id): Path<String>,
    Authenticated(me): Authenticated,
) -> Result<Response> {
    let id = parse_id(&id)?;
    match market.ledger().delete_product(id, me.id).await? {
        OwnedWrite::Done(()) => {}
        OwnedWrite::NotOwner => return Err(not_owner(id, me.id)),
        OwnedWrite::NotFound => return Err(not_found(id)),
    }
    info!(product = %id, provider = %me.id, "market: product deleted (its buyers keep access)");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The catalog's answer.
#[derive(Debug, Serialize)]
struct CatalogAnswer<'a> {
    total: u64,
    limit: u32,
    offset: u32,
    products: Vec<ProductView<'a>>,
}

/// `GET /v1/products`: free, no key. `q` (full-text, ranked), `category`, `provider` (a participant id), `limit`
/// (1 to 100, default 20), `offset`.
async fn list(State(market): State<Market>, RawQuery(raw): RawQuery) -> Result<Response> {
    let query = parse_query(raw.as_deref().unwrap_or(""))?;
    let page = market.ledger().products(&query).await?;
    let answer = CatalogAnswer {
        total: page.total,
        limit: query.limit,
        offset: query.offset,
        products: page.entries.iter().map(|product| ProductView::of(&market, product)).collect(),
    };
    Ok(Json(answer).into_response())
}

fn parse_query(raw: &str) -> Result<ProductQuery> {
    let mut query = ProductQuery { text: None, category: None, provider: None, limit: DEFAULT_LIMIT, offset: 0 };
    let mut seen = Vec::new();
    for (name, value) in url::form_urlencoded::parse(raw.as_bytes()) {
        let invalid = |message: String| MarketError::field(ErrorCode::InvalidQuery, name.to_string(), message);
        if seen.contains(&name) {
            return Err(invalid(format!("{name} is given twice")));
        }
        seen.push(name.clone());
        // PostgreSQL text cannot hold NUL: refused here rather than failing in the database.
        if value.contains('\0') {
            return Err(invalid(format!("{name} must not contain NUL")));
        }
        let value = value.trim();
        match name.as_ref() {
            "q" => {
                if value.chars().count() > MAX_QUERY_LEN {
                    return Err(invalid(format!("q is at most {MAX_QUERY_LEN} characters of text")));
                }
                query.text = Some(value.to_owned()).filter(|q| !q.is_empty());
            }
            "category" => query.category = Some(value.to_lowercase()).filter(|c| !c.is_empty()),
            "provider" => {
                let id = value.parse::<Uuid>().map_err(|_| invalid("provider is a participant id".into()))?;
                query.provider = Some(ParticipantId(id));
            }
            "limit" => {
                query.limit = value
                    .parse()
                    .ok()
                    .filter(|limit| (1..=MAX_LIMIT).contains(limit))
                    .ok_or_else(|| invalid(format!("limit is 1 to {MAX_LIMIT}")))?;
            }
            "offset" => {
                query.offset = value
                    .parse()
                    .ok()
                    .filter(|offset| *offset <= MAX_OFFSET)
                    .ok_or_else(|| invalid(format!("offset is 0 to {MAX_OFFSET}")))?;
            }
            other => {
                return Err(invalid(format!(
                    "unknown parameter {other}: the product catalog takes q, category, provider, limit and offset"
                )));
            }
        }
    }
    Ok(query)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agent_pays_the_price_plus_the_fee() {
        let prices = prices(Usdc::parse("10").unwrap(), FeeBps::DEFAULT);
        assert_eq!(prices.agent_price, Usdc::parse("10.50").unwrap());
        assert_eq!(prices.provider_net_price, Usdc::parse("10").unwrap());
    }

    #[test]
    fn the_query_is_checked() {
        let query = parse_query("q=csv+data&category=Dataset&limit=5&offset=10").unwrap();
        assert_eq!(query.text.as_deref(), Some("csv data"));
        assert_eq!(query.category.as_deref(), Some("dataset"));
        assert_eq!((query.limit, query.offset), (5, 10));
        for bad in ["limit=0", "limit=101", "offset=10001", "provider=x", "sort=new", "q=a&q=b", "category=a%00"] {
            let error = parse_query(bad).unwrap_err();
            assert_eq!(error.code(), Some(ErrorCode::InvalidQuery), "{bad}");
        }
    }
}
