//! The OpenAPI 3.1 description served at `GET /openapi.json`: every route the facilitator serves (the audit route
//! included, which `clearing serve` and `clearing dev` mount beside it) and every status each can answer. A test
//! walks the router and this document and fails when either has a route the other lacks; `script/schemathesis`
//! checks the served answers against it.
//!
//! Components serving routes beside the facilitator (the market's `/v1`) bring their own fragment, merged in by
//! [`merged`] when the router is built.
//!
//! Statuses every operation can answer come from the layers around the routes: 408 (the request timeout, no body),
//! 429 (the rate limiter), and 405 for a method the path does not have (JSON, with `Allow`); a path not listed
//! here is a JSON 404.

/// The document.
pub(super) const DOCUMENT: &str = r##"{
  "openapi": "3.1.0",
  "info": {
    "title": "Clearing facilitator",
    "version": "0.1.0",
    "description": "x402 facilitator for `exact` EVM payments (EIP-3009 USDC), x402 v1 and v2. Every business outcome is HTTP 200 with the x402 body; 400 means the body could not be parsed; 429 carries Retry-After; 408 means the request took longer than the configured limit. A method a path does not have is a 405 with Allow; an unknown path is a 404. Connections that do not send a request's headers within the header-read timeout are closed."
  },
  "paths": {
    "/verify": {
      "post": {
        "summary": "Verify a payment without committing anything",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PaymentRequest"}}}},
        "responses": {
          "200": {"description": "The verdict", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/VerifyResponse"}}}},
          "400": {"$ref": "#/components/responses/InvalidRequest"},
          "405": {"$ref": "#/components/responses/MethodNotAllowed"},
          "408": {"$ref": "#/components/responses/Timeout"},
          "413": {"$ref": "#/components/responses/BodyTooLarge"},
          "429": {"$ref": "#/components/responses/RateLimited"}
        }
      }
    },
    "/settle": {
      "post": {
        "summary": "Verify, queue durably and settle a payment through BatchSettler; answers with its one outcome",
        "description": "The first caller of a payment told of its success gets success: true; a later one gets invalid_exact_evm_nonce_already_used with the transaction. A receipt that does not arrive in time is errorReason settlement_pending with the transaction. Served only by a facilitator that settles (clearing serve, clearing dev).",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PaymentRequest"}}}},
        "responses": {
          "200": {"description": "The outcome", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SettleResponse"}}}},
          "400": {"$ref": "#/components/responses/InvalidRequest"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "405": {"$ref": "#/components/responses/MethodNotAllowed"},
          "408": {"$ref": "#/components/responses/Timeout"},
          "413": {"$ref": "#/components/responses/BodyTooLarge"},
          "429": {"$ref": "#/components/responses/RateLimited"}
        }
      }
    },
    "/supported": {
      "get": {
        "summary": "The payment kinds and signers of this facilitator",
        "responses": {
          "200": {"description": "Kinds: v1 under v1 network names, v2 under CAIP-2", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SupportedResponse"}}}},
          "405": {"$ref": "#/components/responses/MethodNotAllowed"},
          "408": {"$ref": "#/components/responses/Timeout"},
          "429": {"$ref": "#/components/responses/RateLimited"}
        }
      }
    },
    "/health": {
      "get": {
        "summary": "Whether the database answers (within 1 s) and the background tasks run: the batcher, the indexer, the audit sequencer and anchorer (each when configured)",
        "responses": {
          "200": {"description": "Every checked part is ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}},
          "405": {"$ref": "#/components/responses/MethodNotAllowed"},
          "408": {"$ref": "#/components/responses/Timeout"},
          "429": {"$ref": "#/components/responses/RateLimited"},
          "503": {"description": "A part is down; `down` names it", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}}
        }
      }
    },
    "/metrics": {
      "get": {
        "summary": "Prometheus text metrics",
        "responses": {
          "200": {"description": "Prometheus text exposition format 0.0.4", "content": {"text/plain": {"schema": {"type": "string"}}}},
          "405": {"$ref": "#/components/responses/MethodNotAllowed"},
          "408": {"$ref": "#/components/responses/Timeout"},
          "429": {"$ref": "#/components/responses/RateLimited"}
        }
      }
    },
    "/openapi.json": {
      "get": {
        "summary": "This document",
        "responses": {
          "200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}},
          "405": {"$ref": "#/components/responses/MethodNotAllowed"},
          "408": {"$ref": "#/components/responses/Timeout"},
          "429": {"$ref": "#/components/responses/RateLimited"}
        }
      }
    },
    "/audit/records/{seq}": {
      "get": {
        "summary": "A settlement record with its Merkle proof and on-chain anchor (served by `clearing serve` and `clearing dev` beside the facilitator; docs/AUDIT.md)",
        "parameters": [{"name": "seq", "in": "path", "required": true, "description": "The record's sequence number, gapless from 0 per chain", "schema": {"type": "integer", "minimum": 0, "maximum": 18446744073709551615}}],
        "responses": {
          "200": {"description": "The record, its leaf, proof and anchor (index, root, transaction, block): the input of `clearing audit verify`", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RecordProof"}}}},
          "400": {"description": "The sequence number is not a number from 0 to 18446744073709551615", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AuditError"}}}},
          "404": {"description": "No record has this sequence number yet", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AuditError"}}}},
          "405": {"$ref": "#/components/responses/MethodNotAllowed"},
          "408": {"$ref": "#/components/responses/Timeout"},
          "409": {"description": "Sequenced but not anchored yet; the body carries the record", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AuditError"}}}},
          "429": {"$ref": "#/components/responses/RateLimited"},
          "500": {"description": "The ledger failed (details are logged, not served)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AuditError"}}}}
        }
      }
    }
  },
  "components": {
    "responses": {
      "InvalidRequest": {"description": "The body is not a facilitator request; the message names the problem", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "NotFound": {"description": "No such route on this facilitator", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "MethodNotAllowed": {"description": "The path exists, but not with this method", "headers": {"Allow": {"description": "The methods the path has", "schema": {"type": "string"}}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "Timeout": {"description": "The request took longer than the configured limit (default 30 s); no body"},
      "BodyTooLarge": {"description": "The body is larger than the configured limit (default 64 KiB)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "RateLimited": {"description": "Over the client's rate", "headers": {"Retry-After": {"description": "Whole seconds to wait", "schema": {"type": "integer", "minimum": 1}}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    },
    "schemas": {
      "PaymentRequest": {
        "type": "object",
        "required": ["x402Version", "paymentPayload", "paymentRequirements"],
        "properties": {
          "x402Version": {"type": "integer", "enum": [1, 2]},
          "paymentPayload": {"type": "object", "description": "The x402 PaymentPayload (v1: scheme, network, payload; v2: accepted, payload)"},
          "paymentRequirements": {"type": "object", "description": "The PaymentRequirements the resource server chose"}
        }
      },
      "VerifyResponse": {
        "type": "object",
        "required": ["isValid"],
        "properties": {
          "isValid": {"type": "boolean"},
          "invalidReason": {"type": "string", "description": "x402 reason code, e.g. invalid_exact_evm_signature"},
          "invalidMessage": {"type": "string"},
          "payer": {"$ref": "#/components/schemas/Address"},
          "extensions": {"type": "object"}
        }
      },
      "SettleResponse": {
        "type": "object",
        "required": ["success", "transaction", "network"],
        "properties": {
          "success": {"type": "boolean"},
          "errorReason": {"type": "string", "description": "x402 reason code; settlement_pending when broadcast but not yet mined"},
          "errorMessage": {"type": "string"},
          "payer": {"$ref": "#/components/schemas/Address"},
          "transaction": {"type": "string", "pattern": "^(0x[0-9a-fA-F]{64})?$", "description": "The settlement transaction, or \"\" when nothing was broadcast"},
          "network": {"type": "string", "description": "As the request named it: a v1 name for v1, CAIP-2 for v2"},
          "amount": {"type": "string", "pattern": "^[0-9]+$", "description": "Atomic units settled"},
          "extensions": {"type": "object"}
        }
      },
      "SupportedResponse": {
        "type": "object",
        "required": ["kinds", "extensions", "signers"],
        "properties": {
          "kinds": {"type": "array", "items": {"type": "object", "required": ["x402Version", "scheme", "network"], "properties": {"x402Version": {"type": "integer", "enum": [1, 2]}, "scheme": {"type": "string"}, "network": {"type": "string"}, "extra": {"type": "object"}}}},
          "extensions": {"type": "array", "items": {"type": "string"}},
          "signers": {"type": "object", "additionalProperties": {"type": "array", "items": {"$ref": "#/components/schemas/Address"}}}
        }
      },
      "Health": {
        "type": "object",
        "required": ["status", "networks", "parts", "down"],
        "properties": {
          "status": {"type": "string", "enum": ["ok", "unavailable"]},
          "networks": {"type": "array", "items": {"type": "string"}, "description": "CAIP-2 networks verified"},
          "parts": {
            "type": "object",
            "description": "Each checked part (database, batcher, indexer, sequencer, anchorer) and its state: a task is stopped once it has returned, failed or panicked; the database timed out or failed",
            "additionalProperties": {"type": "string", "enum": ["ok", "stopped", "timeout", "failed"]}
          },
          "down": {"type": "array", "items": {"type": "string"}, "description": "The parts that are not ok"}
        }
      },
      "RecordProof": {
        "type": "object",
        "required": ["record", "leaf", "proof", "anchor"],
        "properties": {
          "record": {"type": "object", "description": "The settlement record (docs/AUDIT.md)"},
          "leaf": {"$ref": "#/components/schemas/Bytes32"},
          "proof": {"type": "array", "items": {"$ref": "#/components/schemas/Bytes32"}},
          "anchor": {"type": "object", "description": "The anchor covering the record: registry, index, root, first_seq, last_seq, tx_hash, block_number"}
        }
      },
      "AuditError": {
        "type": "object",
        "required": ["error", "message"],
        "properties": {
          "error": {"type": "string", "enum": ["invalid_request", "not_found", "not_anchored", "internal"]},
          "message": {"type": "string"},
          "record": {"type": "object", "description": "With not_anchored: the record, without proof"}
        }
      },
      "Error": {
        "type": "object",
        "required": ["error", "message"],
        "properties": {
          "error": {"type": "string", "enum": ["invalid_request", "body_too_large", "not_found", "method_not_allowed", "rate_limited"]},
          "message": {"type": "string"}
        }
      },
      "Address": {"type": "string", "pattern": "^0x[0-9a-fA-F]{40}$"},
      "Bytes32": {"type": "string", "pattern": "^0x[0-9a-fA-F]{64}$"}
    }
  }
}"##;

/// [`DOCUMENT`] with each extension's `paths` and `components` entries added.
///
/// # Panics
///
/// When an extension repeats a path or a component of the document (or of an earlier extension), or the document
/// is not JSON: both are bugs of the build, not of input.
pub(super) fn merged(extensions: &[serde_json::Value]) -> String {
    use serde_json::Value;
    let mut document: Value = serde_json::from_str(DOCUMENT).expect("the OpenAPI document is JSON");
    let add = |into: &mut Value, from: &Value, what: &str| {
        let Some(from) = from.as_object() else { return };
        let into = into.as_object_mut().unwrap_or_else(|| panic!("the OpenAPI document's {what} is an object"));
        for (key, value) in from {
            assert!(!into.contains_key(key), "OpenAPI {what} {key:?} is described twice");
            into.insert(key.clone(), value.clone());
        }
    };
    for extension in extensions {
        add(&mut document["paths"], &extension["paths"], "path");
        if let Some(components) = extension["components"].as_object() {
            for (kind, entries) in components {
                let into = &mut document["components"][kind.as_str()];
                if into.is_null() {
                    *into = Value::Object(serde_json::Map::new());
                }
                add(into, entries, &format!("components.{kind} entry"));
            }
        }
    }
    document.to_string()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn an_extension_adds_its_paths_and_components() {
        let extension = json!({
            "paths": {"/v1/x": {"get": {"responses": {}}}},
            "components": {"schemas": {"X": {"type": "object"}}, "parameters": {"Id": {"name": "id"}}}
        });
        let merged: serde_json::Value = serde_json::from_str(&merged(&[extension])).unwrap();
        assert!(merged["paths"]["/verify"].is_object(), "the facilitator's paths stay");
        assert!(merged["paths"]["/v1/x"]["get"].is_object());
        assert!(merged["components"]["schemas"]["PaymentRequest"].is_object());
        assert_eq!(merged["components"]["schemas"]["X"]["type"], "object");
        assert_eq!(merged["components"]["parameters"]["Id"]["name"], "id");
    }

    #[test]
    #[should_panic(expected = "OpenAPI path \"/verify\" is described twice")]
    fn a_path_described_twice_is_refused() {
        merged(&[json!({"paths": {"/verify": {}}})]);
    }
}
