//! Whether a service's `input_schema` or `deliverable_schema` is a JSON Schema: [`check_schema`].
//!
//! A schema must be an object, valid against its draft's meta-schema (draft 2020-12 unless its `$schema` names
//! another), and compile (a `pattern` that is no regular expression, or a `$ref` that resolves nowhere, fails
//! here rather than when the first brief is checked against it). The validator is built with no remote or file
//! retrieval (`jsonschema` without default features): a `$ref` to a URL is refused, never fetched.

use serde_json::Value;

/// Why a value is not a usable JSON Schema, in the user's terms, with where in the schema.
pub fn check_schema(schema: &Value) -> Result<(), String> {
    if !schema.is_object() {
        return Err("must be a JSON Schema object, such as {\"type\": \"object\", \"properties\": {...}}".to_owned());
    }
    if let Err(error) = jsonschema::meta::validate(schema) {
        return Err(format!(
            "is not a valid JSON Schema: {error} (at {})",
            pointer(&error.instance_path().to_string())
        ));
    }
    if let Err(error) = jsonschema::validator_for(schema) {
        return Err(format!("is not a usable JSON Schema: {error}"));
    }
    Ok(())
}

/// Whether `value` matches `schema` (a schema [`check_schema`] accepted); the first mismatch as (JSON pointer into
/// the value, what is wrong).
pub fn check_instance(schema: &Value, value: &Value) -> Result<(), (String, String)> {
    let validator =
        jsonschema::validator_for(schema).map_err(|e| (String::new(), format!("the schema is unusable: {e}")))?;
    check_with(&validator, value)
}

/// [`check_instance`] with the schema compiled already (a listing kept for balance purchases compiles it once).
pub(crate) fn check_with(validator: &jsonschema::Validator, value: &Value) -> Result<(), (String, String)> {
    match validator.iter_errors(value).next() {
        None => Ok(()),
        Some(error) => Err((error.instance_path().to_string(), error.to_string())),
    }
}

/// A JSON pointer, or "the top level" for the empty one.
fn pointer(path: &str) -> String {
    if path.is_empty() { "the top level".to_owned() } else { format!("{path:?}") }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_plain_object_schema_passes() {
        let schema = json!({
            "type": "object",
            "properties": {"url": {"type": "string", "format": "uri", "description": "The page"}},
            "required": ["url"],
            "additionalProperties": false
        });
        check_schema(&schema).unwrap();
        check_schema(&json!({"$schema": "http://json-schema.org/draft-07/schema#", "type": "string"})).unwrap();
    }

    #[test]
    fn what_is_no_schema_is_refused_with_where() {
        let not_object = check_schema(&json!("string")).unwrap_err();
        assert!(not_object.contains("JSON Schema object"), "{not_object}");
        let bad_type = check_schema(&json!({"properties": {"url": {"type": "strng"}}})).unwrap_err();
        assert!(bad_type.contains("/properties/url/type"), "{bad_type}");
        let bad_required = check_schema(&json!({"type": "object", "required": "url"})).unwrap_err();
        assert!(bad_required.contains("/required"), "{bad_required}");
        let bad_pattern = check_schema(&json!({"type": "string", "pattern": "(unclosed"})).unwrap_err();
        assert!(bad_pattern.contains("JSON Schema"), "{bad_pattern}");
    }

    #[test]
    fn a_remote_ref_is_refused_not_fetched() {
        let remote = json!({"$ref": "https://example.com/schema.json"});
        let refused = check_schema(&remote).unwrap_err();
        assert!(refused.contains("usable"), "{refused}");
        // A local reference is fine.
        check_schema(&json!({"$defs": {"u": {"type": "string"}}, "$ref": "#/$defs/u"})).unwrap();
    }
}
