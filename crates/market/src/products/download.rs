//! `GET /v1/products/{id}/download` and `GET /v1/purchases`.
//!
//! A download is the buyer's: with the `X-API-Key` of the participant whose wallet bought the product, or, like
//! `GET /v1/jobs/{id}` without a key, with an x402 payment of `[market] job_read_price` signed by the buying wallet
//! (another wallet is refused before anything is charged). It works after the product is deleted. The file is
//! streamed from the store as it is read, never held whole in memory, with its SHA-256 in `X-Content-SHA256` (hex)
//! and `Repr-Digest` (RFC 9530) so the buyer can check what it got. Each download is counted before the first byte
//! is sent, in one conditional update: past the purchase's limit the answer is 403 `download_limit_reached`. A
//! transfer that breaks off part-way still counts (the server cannot know what arrived). A paid download is counted
//! before its payment is settled, and given back if the settlement fails: two paying for the last download at once,
//! one gets it and the other is refused without being charged.

use alloy_primitives::Address;
use axum::{
    Json,
    body::Body,
    extract::{OriginalUri, Path, State},
    http::{HeaderMap, HeaderName, HeaderValue, header},
    response::{IntoResponse, Response},
};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use clearing_ledger::market::{DownloadCount, Product, ProductPurchase};
use serde::Serialize;
use tokio_util::io::ReaderStream;
use tracing::info;

use super::{not_found, parse_id, purchase::PurchaseView};
use crate::{Authenticated, ErrorCode, Market, MarketError, Result, front_runs};

/// The header carrying the file's SHA-256 in hex.
const CONTENT_SHA256: &str = "x-content-sha256";
/// Bytes read from the store per chunk sent.
const CHUNK_BYTES: usize = 64 * 1024;

pub(super) async fn download(
    State(market): State<Market>,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    caller: Option<Authenticated>,
    headers: HeaderMap,
) -> Result<Response> {
    let id = parse_id(&id)?;
    let product = market.ledger().product(id).await?.ok_or_else(|| not_found(id))?;
    let (purchase, payment) = match caller {
        Some(Authenticated(me)) => (owned_by(&market, &product, me.wallet).await?, None),
        None => {
            let edge = market.edge();
            let price = edge.price(market.config().job_read_price, "Download a product you bought");
            let payment = edge.payment(&price, &uri, &headers)?;
            let verified = edge.verify(&payment).await?;
            (owned_by(&market, &product, verified.payer).await?, Some(payment))
        }
    };
    let content = market
        .store()
        .open(product.file.sha256)
        .await
        .map_err(|e| MarketError::Internal(format!("opening product {id}'s file: {e}")))?
        .ok_or_else(|| {
            MarketError::Internal(format!("product {id}'s file {} is not in the store", product.file.sha256))
        })?;
    // Counted before a payment is settled, so one past the limit is refused before anything is charged.
    let downloads = match market.ledger().count_product_download(purchase.new.id).await? {
        DownloadCount::Counted(downloads) => downloads,
        DownloadCount::LimitReached(limit) => return Err(limit_reached(limit)),
    };
    let settled = match payment {
        Some(payment) => match front_runs::settle_fee(&market, &payment).await {
            Ok(settled) => Some(settled),
            Err(refused) => {
                market.ledger().uncount_product_download(purchase.new.id).await?;
                return Err(refused);
            }
        },
        None => None,
    };
    info!(product = %id, purchase = %purchase.new.id, downloads, "product downloaded");
    let body = Body::from_stream(ReaderStream::with_capacity(content.reader, CHUNK_BYTES));
    let mut response = body.into_response();
    let headers = response.headers_mut();
    let sha256 = product.file.sha256;
    let value = |text: String| HeaderValue::try_from(text).map_err(|e| MarketError::Internal(e.to_string()));
    headers.insert(header::CONTENT_TYPE, value(content_type(&product.file.content_type))?);
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(content.size));
    headers.insert(header::CONTENT_DISPOSITION, value(disposition(&product.file.name))?);
    headers.insert(HeaderName::from_static(CONTENT_SHA256), value(alloy_primitives::hex::encode(sha256))?);
    // RFC 9530's Repr-Digest, and RFC 3230's Digest that older clients read: the same SHA-256 in base64.
    headers.insert(HeaderName::from_static("repr-digest"), value(format!("sha-256=:{}:", STANDARD.encode(sha256)))?);
    headers.insert(HeaderName::from_static("digest"), value(format!("SHA-256={}", STANDARD.encode(sha256)))?);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if let Some(limit) = purchase.new.download_limit {
        headers.insert(
            HeaderName::from_static("x-downloads-remaining"),
            HeaderValue::from(limit.saturating_sub(downloads)),
        );
    }
    Ok(match settled {
        Some(settled) => settled.attach(response),
        None => response,
    })
}

/// `wallet`'s owned purchase of `product`, or 403 `not_purchased`.
async fn owned_by(market: &Market, product: &Product, wallet: Address) -> Result<ProductPurchase> {
    match market.ledger().live_product_purchase(product.id, wallet).await? {
        Some(purchase) if purchase.owned() => Ok(purchase),
        Some(purchase) => Err(MarketError::refused(
            ErrorCode::NotPurchased,
            format!(
                "the purchase of product {} by wallet {wallet} is {} (not paid yet); nothing was charged",
                product.id,
                purchase.state().as_str()
            ),
        )),
        None => Err(MarketError::refused(
            ErrorCode::NotPurchased,
            format!(
                "wallet {wallet} has not bought product {}: buy it with POST /v1/products/{}/purchase; nothing was \
                 charged",
                product.id, product.id
            ),
        )),
    }
}

fn limit_reached(limit: u32) -> MarketError {
    MarketError::refused(ErrorCode::DownloadLimitReached, format!("this purchase's {limit} downloads are used up"))
}

/// The stored media type as served: text says its charset (the upload was checked to be UTF-8).
fn content_type(media_type: &str) -> String {
    if media_type.starts_with("text/") || media_type == "application/json" {
        format!("{media_type}; charset=utf-8")
    } else {
        media_type.to_owned()
    }
}

/// `attachment` with the file's name: an ASCII `filename` for every client, and RFC 6266's `filename*` in UTF-8
/// when the name is not plain ASCII.
fn disposition(name: &str) -> String {
    let ascii: String =
        name.chars().map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' }).collect();
    if ascii == name {
        return format!("attachment; filename=\"{ascii}\"");
    }
    let encoded: String = name
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// `GET /v1/purchases`' answer.
#[derive(Debug, Serialize)]
struct Purchases<'a> {
    wallet: String,
    purchases: Vec<PurchaseView<'a>>,
}

/// `GET /v1/purchases`: the caller's product purchases (by its wallet), newest first, deleted products included.
pub(super) async fn purchases(State(market): State<Market>, Authenticated(me): Authenticated) -> Result<Response> {
    let rows = market.ledger().product_purchases_of(me.wallet).await?;
    let purchases = rows.iter().map(|(purchase, product)| PurchaseView::of(&market, purchase, product)).collect();
    Ok(Json(Purchases { wallet: me.wallet.to_checksum(None), purchases }).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_offered_safely() {
        assert_eq!(disposition("report.pdf"), "attachment; filename=\"report.pdf\"");
        assert_eq!(
            disposition("caf\u{e9} menu.pdf"),
            "attachment; filename=\"caf_ menu.pdf\"; filename*=UTF-8''caf%C3%A9%20menu.pdf"
        );
        assert_eq!(content_type("text/csv"), "text/csv; charset=utf-8");
        assert_eq!(content_type("application/pdf"), "application/pdf");
    }
}
