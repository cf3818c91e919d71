//! Request bodies in and out: [`JsonBody`] reads a JSON body into a typed request (415 unless JSON, 413 over the
//! size limit, 400 naming the field and rule otherwise), and the field rules every route shares ([`text`],
//! [`texts`]).

use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
    http::{StatusCode, header},
};
use serde::{Deserialize, Deserializer, de::DeserializeOwned};

use crate::{ErrorCode, MarketError, Result};

/// A JSON request body of type `T`. An empty body reads as `{}`, so a route whose fields are all optional takes
/// none; anything else must be `application/json`.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = MarketError;

    async fn from_request(request: Request, state: &S) -> Result<Self> {
        let json = request.headers().get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).map(|value| {
            let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
            essence == "application/json" || essence.ends_with("+json")
        });
        let bytes = Bytes::from_request(request, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                MarketError::refused(ErrorCode::BodyTooLarge, "the request body is larger than this API accepts")
            } else {
                MarketError::refused(ErrorCode::InvalidBody, "the request body could not be read")
            }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return parse(b"{}").map(Self);
        }
        if json != Some(true) {
            return Err(MarketError::refused(
                ErrorCode::UnsupportedMediaType,
                "send the body as JSON, with Content-Type: application/json",
            ));
        }
        parse(&bytes).map(Self)
    }
}

/// `bytes` as a `T`, or a 400 naming the field at fault.
pub(crate) fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    // serde would also read a struct from an array, by position.
    if bytes.trim_ascii_start().first() != Some(&b'{') {
        return Err(MarketError::refused(ErrorCode::InvalidBody, "the body must be a JSON object"));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.inner();
        let message = without_position(&inner.to_string());
        if inner.is_syntax() || inner.is_eof() {
            return MarketError::refused(ErrorCode::InvalidBody, format!("the body is not valid JSON: {message}"));
        }
        // A missing field is named only in serde's message, and the path is its parent's; an unknown one is the
        // path's last segment.
        if let Some(field) = between_backticks(&message, "missing field `") {
            let field = if path == "." { field.to_owned() } else { format!("{path}.{field}") };
            return MarketError::field(ErrorCode::MissingField, field.clone(), format!("{field} is required"));
        }
        if message.starts_with("unknown field `") {
            return MarketError::field(ErrorCode::UnknownField, path, message);
        }
        if path == "." {
            return MarketError::refused(ErrorCode::InvalidBody, format!("the body must be a JSON object: {message}"));
        }
        MarketError::field(ErrorCode::InvalidField, path.clone(), format!("{path}: {message}"))
    })?;
    deserializer.end().map_err(|e| {
        let message = without_position(&e.to_string());
        MarketError::refused(ErrorCode::InvalidBody, format!("the body is not valid JSON: {message}"))
    })?;
    Ok(parsed)
}

/// serde_json's message without its " at line 1 column 9", which says nothing to someone who sent one line.
fn without_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

fn between_backticks<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = message.strip_prefix(prefix)?;
    rest.split('`').next()
}

/// A field that may be absent (`None`), null (`Some(None)`) or set (`Some(Some(value))`): with
/// `#[serde(default, deserialize_with = "nullable")]`, for partial updates where null clears a field.
pub(crate) fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A text field: trimmed, then `min..=max` characters, with no control characters (PostgreSQL cannot store NUL,
/// and the others only hide what a text says). Line breaks and tabs are allowed when `multiline`.
pub(crate) fn text(field: &str, value: &str, min: usize, max: usize, multiline: bool) -> Result<String> {
    let value = value.trim();
    let length = value.chars().count();
    if length < min || length > max {
        let rule = match (min, max) {
            (0, max) => format!("at most {max} characters"),
            (min, max) => format!("{min} to {max} characters"),
        };
        return Err(MarketError::invalid(field, format!("{field} must be {rule}; it has {length}")));
    }
    let allowed = |c: char| !c.is_control() || (multiline && matches!(c, '\n' | '\r' | '\t'));
    if !value.chars().all(allowed) {
        return Err(MarketError::invalid(field, format!("{field} must not contain control characters")));
    }
    Ok(value.to_owned())
}

/// A list of short texts (tags, capabilities): at most `max_items`, each 1 to `max_len` characters after trimming,
/// duplicates (ignoring case) dropped, order kept.
pub(crate) fn texts(field: &str, values: &[String], max_items: usize, max_len: usize) -> Result<Vec<String>> {
    if values.len() > max_items {
        return Err(MarketError::invalid(
            field,
            format!("{field} holds at most {max_items} entries; it has {}", values.len()),
        ));
    }
    let mut kept: Vec<String> = Vec::with_capacity(values.len());
    for (index, value) in values.iter().enumerate() {
        let value = text(&format!("{field}[{index}]"), value, 1, max_len, false)?;
        if !kept.iter().any(|k| k.eq_ignore_ascii_case(&value)) {
            kept.push(value);
        }
    }
    Ok(kept)
}

/// Whether `value` holds a string with a NUL anywhere (PostgreSQL's JSONB cannot store `\u0000`).
pub(crate) fn has_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(has_nul),
        serde_json::Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Probe {
        name: String,
        #[serde(default)]
        inner: Option<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        count: u8,
    }

    fn refusal(bytes: &str) -> (ErrorCode, Option<String>, String) {
        match parse::<Probe>(bytes.as_bytes()) {
            Err(MarketError::Refused { code, field, message }) => (code, field, message),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn each_problem_names_its_field() {
        assert_eq!(refusal("{}").0, ErrorCode::MissingField);
        assert_eq!(refusal("{}").1.as_deref(), Some("name"));
        let (code, field, message) = refusal(r#"{"name": 5}"#);
        assert_eq!((code, field.as_deref()), (ErrorCode::InvalidField, Some("name")));
        assert!(message.starts_with("name: invalid type: integer `5`, expected a string"), "{message}");
        assert!(!message.contains("line"), "{message}");
        let (code, field, _) = refusal(r#"{"name": "x", "colour": 1}"#);
        assert_eq!((code, field.as_deref()), (ErrorCode::UnknownField, Some("colour")));
        let (code, field, _) = refusal(r#"{"name": "x", "inner": {"count": 300}}"#);
        assert_eq!((code, field.as_deref()), (ErrorCode::InvalidField, Some("inner.count")));
        let (code, field, _) = refusal(r#"{"name": "x", "inner": {}}"#);
        assert_eq!((code, field.as_deref()), (ErrorCode::MissingField, Some("inner.count")));
        assert_eq!(refusal(r#"{"name": "#).0, ErrorCode::InvalidBody);
        assert_eq!(refusal(r#"[1]"#).0, ErrorCode::InvalidBody);
        assert_eq!(refusal(r#"{"name": "x"} trailing"#).0, ErrorCode::InvalidBody);
    }

    #[test]
    fn text_rules() {
        assert_eq!(text("name", "  Seo audit ", 1, 100, false).unwrap(), "Seo audit");
        assert!(text("name", "   ", 1, 100, false).is_err());
        assert!(text("name", &"é".repeat(101), 1, 100, false).is_err());
        text("name", &"é".repeat(100), 1, 100, false).unwrap();
        assert!(text("name", "a\0b", 1, 100, false).is_err());
        assert!(text("name", "a\nb", 1, 100, false).is_err());
        text("description", "a\nb", 0, 100, true).unwrap();
        let tags = texts("tags", &["seo".into(), "SEO".into(), " audit ".into()], 20, 50).unwrap();
        assert_eq!(tags, ["seo", "audit"]);
        match texts("tags", &["ok".into(), "".into()], 20, 50) {
            Err(MarketError::Refused { field, .. }) => assert_eq!(field.as_deref(), Some("tags[1]")),
            other => panic!("{other:?}"),
        }
        assert!(texts("tags", &vec!["t".to_owned(); 21], 20, 50).is_err());
    }
}
