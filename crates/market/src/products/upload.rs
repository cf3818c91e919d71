//! `POST /v1/products`'s multipart form, read into a [`NewProduct`]: the `file` part (at most `[market]
//! max_product_bytes`), and the listing's fields as text parts, as the402 takes them: `name`, `description`, `price`
//! (or the402's `price_usd`), `category`, `tags` (a JSON array, or comma-separated), `download_limit`.

use axum::extract::{Multipart, multipart::MultipartError};
use clearing_ledger::market::{NewProduct, ParticipantId, ProductFile, ProductId};
use clearing_x402::Usdc;

use super::{category, check_limit, check_price, description, kind, name, tags};
use crate::{ErrorCode, MarketError, Result};

/// Longest text part, bytes (a description is at most 5,000 characters, up to 4 bytes each).
const MAX_FIELD_BYTES: usize = 20_000;
/// Longest file name kept, characters; a longer one keeps its end (the extension).
const MAX_FILE_NAME: usize = 255;

/// The form as sent.
#[derive(Debug, Default)]
pub(super) struct Upload {
    name: Option<String>,
    description: Option<String>,
    price: Option<String>,
    category: Option<String>,
    tags: Option<String>,
    download_limit: Option<String>,
    file: Option<(String, Option<String>, Vec<u8>)>,
}

/// Reads the form; a file over `max_file_bytes` (or a body over the route's limit) is a 413.
pub(super) async fn read(mut multipart: Multipart, max_file_bytes: usize) -> Result<Upload> {
    let mut upload = Upload::default();
    while let Some(mut field) = multipart.next_field().await.map_err(|e| unreadable(&e, max_file_bytes))? {
        let part = field.name().unwrap_or_default().to_owned();
        if part == "file" {
            if upload.file.is_some() {
                return Err(MarketError::field(ErrorCode::InvalidField, "file", "send one file per product"));
            }
            let file_name = field.file_name().unwrap_or_default().to_owned();
            let content_type = field.content_type().map(str::to_owned);
            let mut bytes = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(|e| unreadable(&e, max_file_bytes))? {
                if bytes.len() + chunk.len() > max_file_bytes {
                    return Err(too_large(max_file_bytes));
                }
                bytes.extend_from_slice(&chunk);
            }
            upload.file = Some((file_name, content_type, bytes));
            continue;
        }
        let slot = match part.as_str() {
            "name" => &mut upload.name,
            "description" => &mut upload.description,
            "price" | "price_usd" => &mut upload.price,
            "category" => &mut upload.category,
            "tags" => &mut upload.tags,
            "download_limit" => &mut upload.download_limit,
            other => {
                return Err(MarketError::field(
                    ErrorCode::UnknownField,
                    other,
                    format!(
                        "unknown form field {other:?}: a product takes file, name, description, price, category, \
                         tags and download_limit"
                    ),
                ));
            }
        };
        if slot.is_some() {
            return Err(MarketError::field(ErrorCode::InvalidField, part.clone(), format!("{part} is given twice")));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(|e| unreadable(&e, max_file_bytes))? {
            if bytes.len() + chunk.len() > MAX_FIELD_BYTES {
                return Err(MarketError::invalid(part.clone(), format!("{part} is longer than this API accepts")));
            }
            bytes.extend_from_slice(&chunk);
        }
        let text = String::from_utf8(bytes)
            .map_err(|_| MarketError::invalid(part.clone(), format!("{part} must be UTF-8 text")))?;
        *slot = Some(text);
    }
    Ok(upload)
}

impl Upload {
    /// The listing `provider` uploaded, with the file's bytes (to store under [`ProductFile::sha256`]).
    pub(super) fn into_product(self, provider: ParticipantId) -> Result<(NewProduct, Vec<u8>)> {
        let required =
            |field: &'static str| MarketError::field(ErrorCode::MissingField, field, format!("{field} is required"));
        let (file_name, content_type, bytes) = self.file.ok_or_else(|| required("file"))?;
        let file_name = file_name_of(&file_name);
        let kind = kind::classify(&bytes, &file_name, content_type.as_deref())?;
        let price = self.price.ok_or_else(|| required("price"))?;
        let price = Usdc::parse(price.trim()).map_err(|e| MarketError::invalid("price", format!("price: {e}")))?;
        let new = NewProduct {
            id: ProductId::random(),
            provider_id: provider,
            name: name(&self.name.ok_or_else(|| required("name"))?)?,
            description: description(&self.description.ok_or_else(|| required("description"))?)?,
            category: self.category.as_deref().map(str::trim).filter(|c| !c.is_empty()).map(category).transpose()?,
            tags: tags(&tag_list(self.tags.as_deref().unwrap_or(""))?)?,
            price: check_price("price", price)?,
            download_limit: match self.download_limit.as_deref().map(str::trim).filter(|l| !l.is_empty()) {
                None => None,
                Some(limit) => Some(check_limit(limit.parse().map_err(|_| {
                    MarketError::invalid("download_limit", "download_limit is a whole number of downloads")
                })?)?),
            },
            file: ProductFile {
                sha256: clearing_storage::sha256(&bytes),
                size: bytes.len() as u64,
                name: file_name,
                content_type: kind.media_type().to_owned(),
            },
        };
        Ok((new, bytes))
    }
}

/// The name a download offers: the uploaded name's last path segment without control characters, at most 255
/// characters (keeping the end, where the extension is); `download` when nothing is left.
fn file_name_of(uploaded: &str) -> String {
    let base = uploaded.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = base.chars().filter(|c| !c.is_control() && *c != '"').collect();
    let clean = clean.trim();
    let count = clean.chars().count();
    let kept: String = clean.chars().skip(count.saturating_sub(MAX_FILE_NAME)).collect();
    if kept.is_empty() { "download".to_owned() } else { kept }
}

/// Tags as the402 sends them (a JSON array) or as a form would (comma-separated).
fn tag_list(text: &str) -> Result<Vec<String>> {
    let text = text.trim();
    if text.starts_with('[') {
        return serde_json::from_str(text)
            .map_err(|_| MarketError::invalid("tags", "tags is a JSON array of strings, or comma-separated text"));
    }
    Ok(text.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned).collect())
}

fn too_large(max_file_bytes: usize) -> MarketError {
    MarketError::field(
        ErrorCode::BodyTooLarge,
        "file",
        format!(
            "the file is larger than this API accepts: at most {max_file_bytes} bytes ([market] max_product_bytes)"
        ),
    )
}

/// A form that could not be read: over the route's body limit (413), or not well-formed multipart (400).
fn unreadable(error: &MultipartError, max_file_bytes: usize) -> MarketError {
    if error.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        too_large(max_file_bytes)
    } else {
        MarketError::refused(
            ErrorCode::InvalidBody,
            format!("the multipart form could not be read: {}", error.body_text()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_keep_their_last_segment_and_extension() {
        assert_eq!(file_name_of("C:\\Users\\me\\report.pdf"), "report.pdf");
        assert_eq!(file_name_of("../../etc/passwd"), "passwd");
        assert_eq!(file_name_of("a\"b\r\n.txt"), "ab.txt");
        assert_eq!(file_name_of(""), "download");
        let long = format!("{}.csv", "x".repeat(300));
        assert!(file_name_of(&long).ends_with(".csv") && file_name_of(&long).chars().count() == 255);
    }

    #[test]
    fn tags_are_a_json_array_or_commas() {
        assert_eq!(tag_list(r#"["a", "b"]"#).unwrap(), ["a", "b"]);
        assert_eq!(tag_list("a, b,,c").unwrap(), ["a", "b", "c"]);
        assert!(tag_list("[1").is_err());
        assert!(tag_list("").unwrap().is_empty());
    }
}
