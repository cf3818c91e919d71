//! The OpenAPI 3.1 description served at `GET /openapi.json`. A test parses it and checks that every route the
//! router serves is described.

/// The document.
pub(super) const DOCUMENT: &str = r##"{
  "openapi": "3.1.0",
  "info": {
    "title": "Clearing facilitator",
    "version": "0.1.0",
    "description": "x402 facilitator for `exact` EVM payments (EIP-3009 USDC), x402 v1 and v2. Every business outcome is HTTP 200 with the x402 body; 400 means the body could not be parsed; 429 carries Retry-After."
  },
  "paths": {
    "/verify": {
      "post": {
        "summary": "Verify a payment without committing anything",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PaymentRequest"}}}},
        "responses": {
          "200": {"description": "The verdict", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/VerifyResponse"}}}},
          "400": {"$ref": "#/components/responses/Error"},
          "413": {"$ref": "#/components/responses/Error"},
          "429": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/supported": {
      "get": {
        "summary": "The payment kinds and signers of this facilitator",
        "responses": {"200": {"description": "Kinds: v1 under v1 network names, v2 under CAIP-2", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SupportedResponse"}}}}}
      }
    },
    "/health": {"get": {"summary": "Liveness and the networks served", "responses": {"200": {"description": "Up"}}}},
    "/metrics": {"get": {"summary": "Prometheus text metrics", "responses": {"200": {"description": "text/plain; version=0.0.4"}}}},
    "/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1"}}}},
    "/audit/records/{seq}": {
      "get": {
        "summary": "A settlement record with its Merkle proof and on-chain anchor (served by `clearing serve` and `clearing dev` beside the facilitator; docs/AUDIT.md)",
        "parameters": [{"name": "seq", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 0}}],
        "responses": {
          "200": {"description": "The record, its leaf, proof and anchor (index, root, transaction, block): the input of `clearing audit verify`", "content": {"application/json": {"schema": {"type": "object"}}}},
          "400": {"description": "The sequence number is not a number", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AuditError"}}}},
          "404": {"description": "No record has this sequence number yet", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AuditError"}}}},
          "409": {"description": "Sequenced but not anchored yet; the body carries the record", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AuditError"}}}}
        }
      }
    }
  },
  "components": {
    "responses": {
      "Error": {"description": "A request the API could not take", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
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
          "payer": {"type": "string"}
        }
      },
      "SupportedResponse": {
        "type": "object",
        "required": ["kinds", "extensions", "signers"],
        "properties": {
          "kinds": {"type": "array", "items": {"type": "object", "properties": {"x402Version": {"type": "integer"}, "scheme": {"type": "string"}, "network": {"type": "string"}, "extra": {"type": "object"}}}},
          "extensions": {"type": "array", "items": {"type": "string"}},
          "signers": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}}
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
          "error": {"type": "string", "enum": ["invalid_request", "body_too_large", "rate_limited"]},
          "message": {"type": "string"}
        }
      }
    }
  }
}"##;
