//! Whether a service's `input_schema` or `deliverable_schema` is a JSON Schema: [`check_schema`].
//!
//! A schema must be an object, valid against its draft's meta-schema (draft 2020-12 unless its `$schema` names
//! another), and compile (a `pattern` that is no regular expression, or a `$ref` that resolves nowhere, fails
//! here rather than when the first brief is checked against it). The validator is built with no remote or file
//! retrieval (`jsonschema` without default features): a `$ref` to a URL is refused, never fetched.
//!
//! A schema is also bounded in what checking one value costs ([`MAX_IN_PLACE`]): anyone may send a brief, without a
//! key, before paying, and a few kilobytes of `allOf` over `$ref`s can otherwise make one check take 2^40 steps.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

/// Most subschemas one value of a brief is checked against in place (through `allOf`, `anyOf`, `oneOf`, `not`,
/// `if`/`then`/`else`, `dependentSchemas` and `$ref`, each `$ref` counted as what it expands to). Keywords that move
/// into a member (`properties`, `items`...) start a new count there, so a check costs at most this many steps per
/// value of the brief, whose size the body limit bounds. Generous for hand-written and generated (pydantic) schemas.
pub(crate) const MAX_IN_PLACE: usize = 1_000;

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
    Cost::new(schema).check()
}

/// The in-place expansion of every subschema reachable from the root, each counted once (memoised by identity).
struct Cost<'a> {
    root: &'a Value,
    counted: HashMap<*const Value, usize>,
    expanding: HashSet<*const Value>,
    members: Vec<&'a Value>,
}

impl<'a> Cost<'a> {
    fn new(root: &'a Value) -> Self {
        Self { root, counted: HashMap::new(), expanding: HashSet::new(), members: vec![root] }
    }

    fn check(mut self) -> Result<(), String> {
        let mut started = HashSet::new();
        while let Some(schema) = self.members.pop() {
            if started.insert(std::ptr::from_ref(schema)) {
                self.in_place(schema)?;
            }
        }
        Ok(())
    }

    /// How many subschemas a value meets in place at `schema`; members' schemas are queued, not counted.
    fn in_place(&mut self, schema: &'a Value) -> Result<usize, String> {
        let Value::Object(keywords) = schema else { return Ok(1) };
        let id = std::ptr::from_ref(schema);
        if let Some(&count) = self.counted.get(&id) {
            return Ok(count);
        }
        if !self.expanding.insert(id) {
            return Err("has a $ref loop that never moves into a member of the value: checking a brief would not end"
                .to_owned());
        }
        let mut count = 1;
        for (keyword, value) in keywords {
            match keyword.as_str() {
                "allOf" | "anyOf" | "oneOf" => {
                    for sub in value.as_array().into_iter().flatten() {
                        count += self.in_place(sub)?;
                    }
                }
                "not" | "if" | "then" | "else" => count += self.in_place(value)?,
                "dependentSchemas" | "dependencies" => {
                    for sub in value.as_object().into_iter().flat_map(|m| m.values()).filter(|v| !v.is_array()) {
                        count += self.in_place(sub)?;
                    }
                }
                "$ref" | "$dynamicRef" | "$recursiveRef" => {
                    let target = value.as_str().map(|r| self.resolve(r)).unwrap_or(Ok(self.root))?;
                    count += self.in_place(target)?;
                }
                "properties" | "patternProperties" => {
                    self.members.extend(value.as_object().into_iter().flat_map(|m| m.values()));
                }
                "items" | "prefixItems" => match value {
                    Value::Array(subs) => self.members.extend(subs),
                    sub => self.members.push(sub),
                },
                "additionalProperties"
                | "additionalItems"
                | "contains"
                | "propertyNames"
                | "unevaluatedItems"
                | "unevaluatedProperties" => self.members.push(value),
                _ => {}
            }
            if count > MAX_IN_PLACE {
                return Err(format!(
                    "is too costly to check: a value meets more than {MAX_IN_PLACE} subschemas in place (allOf, anyOf, \
                     oneOf, not, if/then/else and $ref, each $ref counted as what it expands to)"
                ));
            }
        }
        self.expanding.remove(&id);
        self.counted.insert(id, count);
        Ok(count)
    }

    /// The subschema a local `$ref` names: `#`, a JSON pointer (`#/$defs/x`, percent-encoded as URI fragments are),
    /// or an anchor (`#name`: `$anchor`, `$dynamicAnchor`, or draft 7's `$id: "#name"`).
    fn resolve(&self, reference: &str) -> Result<&'a Value, String> {
        let unresolved = || format!("has a $ref ({reference:?}) that points nowhere inside the schema");
        let Some(fragment) = reference.strip_prefix('#') else {
            return Err(format!(
                "has a $ref ({reference:?}) outside the schema: only \"#/...\" pointers and \"#name\" anchors are taken"
            ));
        };
        let fragment = percent_decode(fragment).ok_or_else(unresolved)?;
        if fragment.is_empty() || fragment.starts_with('/') {
            return self.root.pointer(&fragment).ok_or_else(unresolved);
        }
        find_anchor(self.root, &fragment).ok_or_else(unresolved)
    }
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(decoded).ok()
}

fn find_anchor<'a>(value: &'a Value, name: &str) -> Option<&'a Value> {
    match value {
        Value::Object(map) => {
            let named = |key: &str| map.get(key).and_then(Value::as_str);
            if named("$anchor") == Some(name)
                || named("$dynamicAnchor") == Some(name)
                || named("$id").and_then(|id| id.strip_prefix('#')) == Some(name)
            {
                return Some(value);
            }
            map.values().find_map(|v| find_anchor(v, name))
        }
        Value::Array(items) => items.iter().find_map(|v| find_anchor(v, name)),
        _ => None,
    }
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

    /// `a0` a string, each `aK` both of `a(K-1)`: 2^depth subschemas in place for one value.
    fn doubling(depth: usize) -> Value {
        let mut defs = serde_json::Map::new();
        defs.insert("a0".into(), json!({"type": "string"}));
        for k in 1..=depth {
            let below = format!("#/$defs/a{}", k - 1);
            defs.insert(format!("a{k}"), json!({"allOf": [{"$ref": below}, {"$ref": below}]}));
        }
        json!({"$defs": defs, "type": "object", "properties": {"x": {"$ref": format!("#/$defs/a{depth}")}}})
    }

    #[test]
    fn a_schema_whose_check_doubles_at_every_ref_is_refused() {
        let refused = check_schema(&doubling(40)).unwrap_err();
        assert!(refused.contains("too costly"), "{refused}");
        // Each level is its allOf, two $refs and twice the level below: seven levels meet 511 in place, eight 1,023.
        check_schema(&doubling(7)).unwrap();
        assert!(check_schema(&doubling(8)).is_err());
    }

    #[test]
    fn a_ref_loop_in_place_is_refused_and_one_through_members_is_fine() {
        let in_place = json!({"$defs": {"a": {"allOf": [{"$ref": "#/$defs/a"}]}}, "$ref": "#/$defs/a"});
        let refused = check_schema(&in_place).unwrap_err();
        assert!(refused.contains("loop"), "{refused}");
        // A tree: each node's children are nodes. The loop moves into the value, one level per step.
        let tree = json!({
            "$defs": {"node": {"type": "object", "properties": {
                "name": {"type": "string"},
                "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}},
            "$ref": "#/$defs/node"
        });
        check_schema(&tree).unwrap();
        let anchored =
            json!({"$defs": {"n": {"$anchor": "num", "type": "number"}}, "properties": {"x": {"$ref": "#num"}}});
        check_schema(&anchored).unwrap();
    }

    #[test]
    fn a_pydantic_schema_passes() {
        let schema = json!({
            "$defs": {
                "Address": {"properties": {"city": {"title": "City", "type": "string"}}, "required": ["city"],
                            "title": "Address", "type": "object"},
                "Kind": {"enum": ["a", "b"], "title": "Kind", "type": "string"}
            },
            "properties": {
                "home": {"$ref": "#/$defs/Address"},
                "work": {"anyOf": [{"$ref": "#/$defs/Address"}, {"type": "null"}], "default": null},
                "kind": {"$ref": "#/$defs/Kind"}
            },
            "required": ["home", "kind"], "title": "Brief", "type": "object"
        });
        check_schema(&schema).unwrap();
    }
}
