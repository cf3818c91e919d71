//! The OpenAPI 3.1 fragment of `/v1` ([`openapi`]), merged into the facilitator's `GET /openapi.json` by
//! `clearing serve` and `clearing dev` (`Facilitator::documenting`). Its components are prefixed `Market` so they
//! never collide with the facilitator's. A test walks the assembled router against the merged document: a `/v1`
//! route missing here, or described here and not served, fails it.
//!
//! Statuses every `/v1` operation can answer come from the layers around the routes: 405 for a method the path does
//! not have (with `Allow`), 408 (the request timeout, no body) and 429 (the per-IP rate limit, with `Retry-After`).

/// The fragment: `paths` and `components`, with each module's own fragment merged in (the purchase and job routes',
/// [`crate::jobs`]; the webhook delivery log's, [`crate::webhooks`]; digital products', [`crate::products`]; the prepaid
/// balance's, [`crate::balance`]). A name described twice is a bug.
pub fn openapi() -> serde_json::Value {
    let mut document: serde_json::Value =
        serde_json::from_str(DOCUMENT).expect("the market's OpenAPI fragment is JSON");
    let fragments = [
        ("jobs", crate::jobs::OPENAPI),
        ("webhooks", crate::webhooks::OPENAPI),
        ("products", crate::products::OPENAPI),
        ("balance", crate::balance::OPENAPI),
        ("subscriptions", crate::subscriptions::OPENAPI),
    ];
    for (module, fragment) in fragments {
        let fragment: serde_json::Value = serde_json::from_str(fragment)
            .unwrap_or_else(|e| panic!("the {module} module's OpenAPI fragment is not JSON: {e}"));
        let mut sections = vec![("paths", &fragment["paths"])];
        for section in ["parameters", "responses", "schemas"] {
            sections.push((section, &fragment["components"][section]));
        }
        for (section, entries) in sections {
            let Some(entries) = entries.as_object() else { continue };
            let target = if section == "paths" { &mut document["paths"] } else { &mut document["components"][section] };
            for (name, entry) in entries {
                let previous = target.as_object_mut().expect("an object").insert(name.clone(), entry.clone());
                assert!(previous.is_none(), "{section}.{name} is described twice ({module})");
            }
        }
    }
    document
}

const DOCUMENT: &str = r##"{
  "paths": {
    "/v1/register": {
      "post": {
        "summary": "Register the paying wallet as an agent or a provider (x402, default $0.01)",
        "description": "Paid through x402 (v1 X-PAYMENT or v2 PAYMENT-SIGNATURE); the payer (the authorization's `from`) becomes the participant's wallet. The first registration answers 201 with the API key and webhook secret, shown only this once, and the settlement in PAYMENT-RESPONSE / X-PAYMENT-RESPONSE. A wallet that has a participant is answered 200 with it, without credentials, and nothing is settled; a lost key is replaced with POST /v1/participants/rotate-key. The body is checked before payment is asked for.",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketRegisterRequest"}}}},
        "responses": {
          "201": {"description": "Registered; the credentials are in this answer only", "headers": {"PAYMENT-RESPONSE": {"$ref": "#/components/headers/MarketPaymentResponse"}, "X-PAYMENT-RESPONSE": {"$ref": "#/components/headers/MarketXPaymentResponse"}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketRegistered"}}}},
          "200": {"description": "The wallet was registered already: its participant, no credentials, nothing charged", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketAlreadyRegistered"}}}},
          "400": {"$ref": "#/components/responses/MarketBadRequest"},
          "402": {"$ref": "#/components/responses/MarketPaymentRequired"},
          "405": {"$ref": "#/components/responses/MarketMethodNotAllowed"},
          "408": {"$ref": "#/components/responses/MarketTimeout"},
          "413": {"$ref": "#/components/responses/MarketBodyTooLarge"},
          "415": {"$ref": "#/components/responses/MarketUnsupportedMediaType"},
          "429": {"$ref": "#/components/responses/MarketRateLimited"},
          "500": {"$ref": "#/components/responses/MarketInternal"}
        }
      }
    },
    "/v1/participants/rotate-key": {
      "post": {
        "summary": "Replace a participant's API key (x402, default $0.002); the old key stops working at once",
        "description": "Only the wallet that registered the participant may pay for this: another wallet is answered 403 and nothing is settled. The participant is the one named in the body, else the X-API-Key's, else the paying wallet's own.",
        "parameters": [{"$ref": "#/components/parameters/MarketOptionalApiKey"}],
        "requestBody": {"required": false, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketRotateRequest"}}}},
        "responses": {
          "200": {"description": "The new key, shown only this once", "headers": {"PAYMENT-RESPONSE": {"$ref": "#/components/headers/MarketPaymentResponse"}, "X-PAYMENT-RESPONSE": {"$ref": "#/components/headers/MarketXPaymentResponse"}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketRotated"}}}},
          "400": {"$ref": "#/components/responses/MarketBadRequest"},
          "401": {"$ref": "#/components/responses/MarketUnauthorized"},
          "402": {"$ref": "#/components/responses/MarketPaymentRequired"},
          "403": {"$ref": "#/components/responses/MarketForbidden"},
          "404": {"$ref": "#/components/responses/MarketNotFound"},
          "405": {"$ref": "#/components/responses/MarketMethodNotAllowed"},
          "408": {"$ref": "#/components/responses/MarketTimeout"},
          "413": {"$ref": "#/components/responses/MarketBodyTooLarge"},
          "415": {"$ref": "#/components/responses/MarketUnsupportedMediaType"},
          "429": {"$ref": "#/components/responses/MarketRateLimited"},
          "500": {"$ref": "#/components/responses/MarketInternal"}
        }
      }
    },
    "/v1/participants/rotate-webhook-secret": {
      "post": {
        "summary": "Replace your webhook signing secret; the old one signs nothing from now on",
        "description": "For a secret that leaked: a new whsec_ secret, shown only in this answer, signs every delivery claimed from now on (retries of earlier events included; one already in flight may still carry the old signature). Free, with your API key.",
        "security": [{"MarketApiKey": []}],
        "responses": {
          "200": {"description": "The new secret, shown only this once", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketWebhookSecretRotated"}}}},
          "401": {"$ref": "#/components/responses/MarketUnauthorized"},
          "404": {"$ref": "#/components/responses/MarketNotFound"},
          "405": {"$ref": "#/components/responses/MarketMethodNotAllowed"},
          "408": {"$ref": "#/components/responses/MarketTimeout"},
          "429": {"$ref": "#/components/responses/MarketRateLimited"},
          "500": {"$ref": "#/components/responses/MarketInternal"}
        }
      }
    },
    "/v1/participants/{id}": {
      "get": {
        "summary": "A participant's public profile (its owner, with its key, also sees webhook_url and the key's prefix)",
        "parameters": [{"$ref": "#/components/parameters/MarketParticipantId"}, {"$ref": "#/components/parameters/MarketOptionalApiKey"}],
        "responses": {
          "200": {"description": "The profile", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketParticipant"}}}},
          "401": {"$ref": "#/components/responses/MarketUnauthorized"},
          "404": {"$ref": "#/components/responses/MarketNotFound"},
          "405": {"$ref": "#/components/responses/MarketMethodNotAllowed"},
          "408": {"$ref": "#/components/responses/MarketTimeout"},
          "429": {"$ref": "#/components/responses/MarketRateLimited"},
          "500": {"$ref": "#/components/responses/MarketInternal"}
        }
      },
      "put": {
        "summary": "Change your profile: name, description, webhook_url (null removes it), capabilities",
        "security": [{"MarketApiKey": []}],
        "parameters": [{"$ref": "#/components/parameters/MarketParticipantId"}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketProfileUpdate"}}}},
        "responses": {
          "200": {"description": "The profile as changed", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketParticipant"}}}},
          "400": {"$ref": "#/components/responses/MarketBadRequest"},
          "401": {"$ref": "#/components/responses/MarketUnauthorized"},
          "403": {"$ref": "#/components/responses/MarketForbidden"},
          "404": {"$ref": "#/components/responses/MarketNotFound"},
          "405": {"$ref": "#/components/responses/MarketMethodNotAllowed"},
          "408": {"$ref": "#/components/responses/MarketTimeout"},
          "413": {"$ref": "#/components/responses/MarketBodyTooLarge"},
          "415": {"$ref": "#/components/responses/MarketUnsupportedMediaType"},
          "429": {"$ref": "#/components/responses/MarketRateLimited"},
          "500": {"$ref": "#/components/responses/MarketInternal"}
        }
      }
    },
    "/v1/services": {
      "post": {
        "summary": "List a service (providers only)",
        "security": [{"MarketApiKey": []}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketServiceCreate"}}}},
        "responses": {
          "201": {"description": "Listed", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketServiceDetail"}}}},
          "400": {"$ref": "#/components/responses/MarketBadRequest"},
          "401": {"$ref": "#/components/responses/MarketUnauthorized"},
          "403": {"$ref": "#/components/responses/MarketForbidden"},
          "405": {"$ref": "#/components/responses/MarketMethodNotAllowed"},
          "408": {"$ref": "#/components/responses/MarketTimeout"},
          "413": {"$ref": "#/components/responses/MarketBodyTooLarge"},
          "415": {"$ref": "#/components/responses/MarketUnsupportedMediaType"},
          "429": {"$ref": "#/components/responses/MarketRateLimited"},
          "500": {"$ref": "#/components/responses/MarketInternal"}
        }
      }
    },
    "/v1/services/catalog": {
      "get": {
        "summary": "Search the catalog of active services (free, no key)",
        "description": "Full-text search over name (weighted most), tags and category, then description, in web search syntax (words, \"quoted phrases\", or, -word), ranked with ts_rank_cd. Answers may be up to [market] catalog_cache_ms old (default 1 s).",
        "parameters": [
          {"name": "q", "in": "query", "description": "Search text, at most 200 characters", "schema": {"type": "string", "maxLength": 200}},
          {"name": "category", "in": "query", "description": "Exactly this category (case-insensitive)", "schema": {"type": "string"}},
          {"name": "service_type", "in": "query", "schema": {"$ref": "#/components/schemas/MarketServiceType"}},
          {"name": "max_price", "in": "query", "description": "Listed price at most this, USDC", "schema": {"$ref": "#/components/schemas/MarketUsdc"}},
          {"name": "provider", "in": "query", "description": "A participant id or a wallet address", "schema": {"type": "string"}},
          {"name": "sort", "in": "query", "description": "relevance (the default with q, which it needs), newest (the default without q), price_asc, price_desc", "schema": {"type": "string", "enum": ["relevance", "newest", "price_asc", "price_desc"]}},
          {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}},
          {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 10000, "default": 0}}
        ],
        "responses": {
          "200": {"description": "One page and the number of matches", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketCatalog"}}}},
          "400": {"$ref": "#/components/responses/MarketBadRequest"},
          "405": {"$ref": "#/components/responses/MarketMethodNotAllowed"},
          "408": {"$ref": "#/components/responses/MarketTimeout"},
          "429": {"$ref": "#/components/responses/MarketRateLimited"},
          "500": {"$ref": "#/components/responses/MarketInternal"}
        }
      }
    },
    "/v1/services/{id}": {
      "get": {
        "summary": "A service in full (an inactive one only for its provider)",
        "parameters": [{"$ref": "#/components/parameters/MarketServiceId"}, {"$ref": "#/components/parameters/MarketOptionalApiKey"}],
        "responses": {
          "200": {"description": "The service", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketServiceDetail"}}}},
          "401": {"$ref": "#/components/responses/MarketUnauthorized"},
          "404": {"$ref": "#/components/responses/MarketNotFound"},
          "405": {"$ref": "#/components/responses/MarketMethodNotAllowed"},
          "408": {"$ref": "#/components/responses/MarketTimeout"},
          "429": {"$ref": "#/components/responses/MarketRateLimited"},
          "500": {"$ref": "#/components/responses/MarketInternal"}
        }
      },
      "put": {
        "summary": "Change your service: any fields (null removes the optional ones; status inactive hides it)",
        "security": [{"MarketApiKey": []}],
        "parameters": [{"$ref": "#/components/parameters/MarketServiceId"}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketServiceUpdate"}}}},
        "responses": {
          "200": {"description": "The service as changed", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketServiceDetail"}}}},
          "400": {"$ref": "#/components/responses/MarketBadRequest"},
          "401": {"$ref": "#/components/responses/MarketUnauthorized"},
          "403": {"$ref": "#/components/responses/MarketForbidden"},
          "404": {"$ref": "#/components/responses/MarketNotFound"},
          "405": {"$ref": "#/components/responses/MarketMethodNotAllowed"},
          "408": {"$ref": "#/components/responses/MarketTimeout"},
          "413": {"$ref": "#/components/responses/MarketBodyTooLarge"},
          "415": {"$ref": "#/components/responses/MarketUnsupportedMediaType"},
          "429": {"$ref": "#/components/responses/MarketRateLimited"},
          "500": {"$ref": "#/components/responses/MarketInternal"}
        }
      },
      "delete": {
        "summary": "Delete your service: it leaves the catalog and every answer; jobs that name it keep it",
        "security": [{"MarketApiKey": []}],
        "parameters": [{"$ref": "#/components/parameters/MarketServiceId"}],
        "responses": {
          "204": {"description": "Deleted"},
          "401": {"$ref": "#/components/responses/MarketUnauthorized"},
          "403": {"$ref": "#/components/responses/MarketForbidden"},
          "404": {"$ref": "#/components/responses/MarketNotFound"},
          "405": {"$ref": "#/components/responses/MarketMethodNotAllowed"},
          "408": {"$ref": "#/components/responses/MarketTimeout"},
          "429": {"$ref": "#/components/responses/MarketRateLimited"},
          "500": {"$ref": "#/components/responses/MarketInternal"}
        }
      }
    }
  },
  "components": {
    "securitySchemes": {
      "MarketApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "clr_ and 43 characters, from POST /v1/register or /v1/participants/rotate-key"},
      "MarketArbiterToken": {"type": "http", "scheme": "bearer", "description": "The arbiter's token, [market] arbiter_token (CLEARING_ARBITER_TOKEN); the /v1/admin routes answer 403 arbiter_disabled when none is configured"}
    },
    "parameters": {
      "MarketParticipantId": {"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}},
      "MarketServiceId": {"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}},
      "MarketJobId": {"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}},
      "MarketDeadline": {"name": "deadline", "in": "query", "required": false, "description": "Unix seconds the signature stays valid until (default an hour from now)", "schema": {"type": "integer", "minimum": 0}},
      "MarketOptionalApiKey": {"name": "X-API-Key", "in": "header", "required": false, "description": "Optional here; one that is sent must be a current key (401 otherwise)", "schema": {"type": "string"}}
    },
    "headers": {
      "MarketPaymentResponse": {"description": "x402 v2: base64 JSON SettleResponse of the payment", "schema": {"type": "string"}},
      "MarketXPaymentResponse": {"description": "x402 v1: base64 JSON SettleResponse of the payment", "schema": {"type": "string"}}
    },
    "responses": {
      "MarketBadRequest": {"description": "A field or parameter breaks a rule; field names it (invalid_body, missing_field, unknown_field, invalid_field, invalid_query, inconsistent_tier, invalid_schema, private_webhook_url)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketError"}}}},
      "MarketUnauthorized": {"description": "missing_api_key or invalid_api_key (the admin routes: missing_arbiter_token or invalid_arbiter_token; X-BALANCE-AUTH: invalid_balance_credential, balance_credential_revoked, balance_credential_expired)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketError"}}}},
      "MarketForbidden": {"description": "providers_only, not_owner, not_your_profile, wallet_mismatch, not_registered, not_your_job, balance_credential_scope, balance_credential_cap, or arbiter_disabled on the admin routes", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketError"}}}},
      "MarketNotFound": {"description": "service_not_found, participant_not_found, job_not_found, webhook_event_not_found or not_found", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketError"}}}},
      "MarketMethodNotAllowed": {"description": "The path exists, but not with this method", "headers": {"Allow": {"description": "The methods the path has", "schema": {"type": "string"}}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketError"}}}},
      "MarketTimeout": {"description": "The request took longer than [market] request_timeout_ms (default 30 s); no body"},
      "MarketBodyTooLarge": {"description": "The body is larger than [market] max_body_bytes (default 64 KiB)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketError"}}}},
      "MarketUnsupportedMediaType": {"description": "A body that is not application/json", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketError"}}}},
      "MarketRateLimited": {"description": "Over the per-IP or per-key rate", "headers": {"Retry-After": {"description": "Whole seconds to wait", "schema": {"type": "integer", "minimum": 1}}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketError"}}}},
      "MarketInternal": {"description": "Something failed on our side; the body says nothing more (the cause is logged)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketError"}}}},
      "MarketPaymentRequired": {
        "description": "x402: pay and retry. The body is the x402 v1 PaymentRequired, the PAYMENT-REQUIRED header the v2 one (both name the same price); error says why (no payment, an x402 reason code, or a failed settlement, whose SettleResponse rides in PAYMENT-RESPONSE / X-PAYMENT-RESPONSE)",
        "headers": {"PAYMENT-REQUIRED": {"description": "base64 JSON of the x402 v2 PaymentRequired", "schema": {"type": "string"}}},
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketPaymentRequiredV1"}}}
      }
    },
    "schemas": {
      "MarketError": {
        "type": "object",
        "required": ["error"],
        "properties": {
          "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
              "code": {"type": "string", "enum": ["invalid_body", "missing_field", "unknown_field", "invalid_field", "invalid_query", "inconsistent_tier", "invalid_schema", "private_webhook_url", "missing_api_key", "invalid_api_key", "providers_only", "not_owner", "not_your_profile", "wallet_mismatch", "not_registered", "service_not_found", "participant_not_found", "not_found", "method_not_allowed", "body_too_large", "unsupported_media_type", "rate_limited", "quote_required", "invalid_brief", "invalid_signature", "not_your_job", "job_not_found", "transition_not_allowed", "payment_reused", "purchases_unavailable", "unsupported_file_type", "product_not_found", "already_owned", "not_purchased", "download_limit_reached", "missing_arbiter_token", "invalid_arbiter_token", "arbiter_disabled", "webhook_event_not_found", "webhook_endpoint_disabled", "balances_unavailable", "invalid_balance_credential", "balance_credential_revoked", "balance_credential_expired", "balance_credential_scope", "balance_credential_cap", "balance_not_accepted", "idempotency_key_reused", "credential_not_found", "subscriptions_unavailable", "plan_not_found", "subscription_not_found", "already_subscribed", "insufficient_balance", "withdrawal_pending", "subscription_status_conflict", "plan_changed", "internal"]},
              "message": {"type": "string", "description": "What was wrong, naming the field or rule"},
              "field": {"type": "string", "description": "The JSON path (or query parameter) at fault, e.g. tags[3]"}
            }
          }
        }
      },
      "MarketPaymentRequiredV1": {
        "type": "object",
        "required": ["x402Version", "error", "accepts"],
        "properties": {"x402Version": {"const": 1}, "error": {"type": "string"}, "accepts": {"type": "array", "items": {"type": "object"}}}
      },
      "MarketUsdc": {"type": "string", "pattern": "^[0-9]+(\\.[0-9]{1,6})?$", "description": "USDC as a decimal string; answers always carry six decimals (\"0.500000\")", "examples": ["0.50", "0.500000"]},
      "MarketUuid": {"type": "string", "format": "uuid"},
      "MarketWallet": {"type": "string", "pattern": "^0x[0-9a-fA-F]{40}$"},
      "MarketTimestamp": {"type": "string", "format": "date-time"},
      "MarketParticipantType": {"type": "string", "enum": ["agent", "provider"]},
      "MarketServiceType": {"type": "string", "enum": ["data_api", "automated_service", "human_service"]},
      "MarketFulfillmentType": {"type": "string", "enum": ["instant", "automated", "human"]},
      "MarketPricingModel": {"type": "string", "enum": ["fixed", "quote_required"]},
      "MarketServiceStatus": {"type": "string", "enum": ["active", "inactive"]},
      "MarketRegisterRequest": {
        "type": "object",
        "required": ["type", "name"],
        "additionalProperties": false,
        "properties": {
          "type": {"$ref": "#/components/schemas/MarketParticipantType"},
          "name": {"type": "string", "minLength": 1, "maxLength": 100},
          "description": {"type": "string", "maxLength": 5000},
          "webhook_url": {"type": "string", "format": "uri", "description": "http(s); loopback, private and link-local addresses are refused unless [market] allow_private_webhooks"},
          "capabilities": {"type": "array", "maxItems": 50, "items": {"type": "string", "minLength": 1, "maxLength": 100}}
        }
      },
      "MarketRotateRequest": {
        "type": "object",
        "additionalProperties": false,
        "properties": {"participant_id": {"$ref": "#/components/schemas/MarketUuid"}}
      },
      "MarketProfileUpdate": {
        "type": "object",
        "additionalProperties": false,
        "properties": {
          "name": {"type": "string", "minLength": 1, "maxLength": 100},
          "description": {"type": "string", "maxLength": 5000},
          "webhook_url": {"type": ["string", "null"], "format": "uri"},
          "capabilities": {"type": "array", "maxItems": 50, "items": {"type": "string", "minLength": 1, "maxLength": 100}}
        }
      },
      "MarketParticipant": {
        "type": "object",
        "required": ["participant_id", "type", "wallet", "name", "description", "capabilities", "created_at"],
        "properties": {
          "participant_id": {"$ref": "#/components/schemas/MarketUuid"},
          "type": {"$ref": "#/components/schemas/MarketParticipantType"},
          "wallet": {"$ref": "#/components/schemas/MarketWallet"},
          "name": {"type": "string"},
          "description": {"type": "string"},
          "capabilities": {"type": "array", "items": {"type": "string"}},
          "created_at": {"$ref": "#/components/schemas/MarketTimestamp"},
          "webhook_url": {"type": ["string", "null"], "description": "Owner only"},
          "api_key_prefix": {"type": "string", "description": "Owner only: the key's first 12 characters"},
          "updated_at": {"$ref": "#/components/schemas/MarketTimestamp"},
          "key_rotated_at": {"type": ["string", "null"], "format": "date-time"}
        }
      },
      "MarketRegistered": {
        "allOf": [{"$ref": "#/components/schemas/MarketParticipant"}],
        "type": "object",
        "required": ["api_key", "webhook_secret", "created"],
        "properties": {
          "api_key": {"type": "string", "pattern": "^clr_[A-Za-z0-9_-]{43}$", "description": "Shown once; stored only as its SHA-256"},
          "webhook_secret": {"type": "string", "pattern": "^whsec_", "description": "Standard Webhooks secret: whsec_ and the base64 of 32 bytes"},
          "created": {"const": true}
        }
      },
      "MarketAlreadyRegistered": {
        "allOf": [{"$ref": "#/components/schemas/MarketParticipant"}],
        "type": "object",
        "required": ["created", "message"],
        "properties": {"created": {"const": false}, "message": {"type": "string"}}
      },
      "MarketRotated": {
        "type": "object",
        "required": ["participant_id", "api_key", "api_key_prefix", "key_rotated_at"],
        "properties": {
          "participant_id": {"$ref": "#/components/schemas/MarketUuid"},
          "api_key": {"type": "string", "pattern": "^clr_[A-Za-z0-9_-]{43}$"},
          "api_key_prefix": {"type": "string"},
          "key_rotated_at": {"$ref": "#/components/schemas/MarketTimestamp"}
        }
      },
      "MarketWebhookSecretRotated": {
        "type": "object",
        "required": ["participant_id", "webhook_secret"],
        "properties": {
          "participant_id": {"$ref": "#/components/schemas/MarketUuid"},
          "webhook_secret": {"type": "string", "pattern": "^whsec_[A-Za-z0-9+/]+={0,2}$"}
        }
      },
      "MarketServiceCreate": {
        "type": "object",
        "required": ["name", "description", "category", "price"],
        "additionalProperties": false,
        "description": "Give fulfillment_type or service_type (or both, consistent): instant is data_api, automated is automated_service, human is human_service",
        "properties": {
          "name": {"type": "string", "minLength": 1, "maxLength": 100},
          "description": {"type": "string", "minLength": 1, "maxLength": 5000},
          "category": {"type": "string", "minLength": 1, "maxLength": 50, "description": "Stored in lower case"},
          "tags": {"type": "array", "maxItems": 20, "items": {"type": "string", "minLength": 1, "maxLength": 50}},
          "price": {"$ref": "#/components/schemas/MarketUsdc"},
          "pricing_model": {"$ref": "#/components/schemas/MarketPricingModel"},
          "service_type": {"$ref": "#/components/schemas/MarketServiceType"},
          "fulfillment_type": {"$ref": "#/components/schemas/MarketFulfillmentType"},
          "input_schema": {"type": "object", "description": "A JSON Schema of the brief"},
          "deliverable_schema": {"type": "object", "description": "A JSON Schema of the deliverable"},
          "estimated_delivery": {"type": "string", "maxLength": 100},
          "status": {"$ref": "#/components/schemas/MarketServiceStatus"}
        }
      },
      "MarketServiceUpdate": {
        "type": "object",
        "additionalProperties": false,
        "properties": {
          "name": {"type": "string", "minLength": 1, "maxLength": 100},
          "description": {"type": "string", "minLength": 1, "maxLength": 5000},
          "category": {"type": "string", "minLength": 1, "maxLength": 50},
          "tags": {"type": "array", "maxItems": 20, "items": {"type": "string", "minLength": 1, "maxLength": 50}},
          "price": {"$ref": "#/components/schemas/MarketUsdc"},
          "pricing_model": {"$ref": "#/components/schemas/MarketPricingModel"},
          "service_type": {"$ref": "#/components/schemas/MarketServiceType"},
          "fulfillment_type": {"$ref": "#/components/schemas/MarketFulfillmentType"},
          "input_schema": {"type": ["object", "null"]},
          "deliverable_schema": {"type": ["object", "null"]},
          "estimated_delivery": {"type": ["string", "null"], "maxLength": 100},
          "status": {"$ref": "#/components/schemas/MarketServiceStatus"}
        }
      },
      "MarketServiceEntry": {
        "type": "object",
        "required": ["id", "name", "description", "category", "tags", "price", "agent_price", "provider_net_price", "platform_fee_pct", "pricing_model", "service_type", "fulfillment_type", "estimated_delivery", "input_schema", "provider_id", "provider_name", "provider_wallet", "listed_at", "updated_at"],
        "properties": {
          "id": {"$ref": "#/components/schemas/MarketUuid"},
          "name": {"type": "string"},
          "description": {"type": "string"},
          "category": {"type": "string"},
          "tags": {"type": "array", "items": {"type": "string"}},
          "price": {"$ref": "#/components/schemas/MarketUsdc"},
          "agent_price": {"$ref": "#/components/schemas/MarketUsdc"},
          "provider_net_price": {"$ref": "#/components/schemas/MarketUsdc"},
          "platform_fee_pct": {"type": "number", "description": "The fee rate in percent (5 for 500 bps). Fixed: the agent pays price, the provider nets price less floor(price x rate). Quoted: the provider nets price, the agent pays price plus the fee"},
          "pricing_model": {"$ref": "#/components/schemas/MarketPricingModel"},
          "service_type": {"$ref": "#/components/schemas/MarketServiceType"},
          "fulfillment_type": {"$ref": "#/components/schemas/MarketFulfillmentType"},
          "estimated_delivery": {"type": ["string", "null"]},
          "input_schema": {"type": ["object", "null"]},
          "provider_id": {"$ref": "#/components/schemas/MarketUuid"},
          "provider_name": {"type": "string"},
          "provider_wallet": {"$ref": "#/components/schemas/MarketWallet"},
          "listed_at": {"$ref": "#/components/schemas/MarketTimestamp"},
          "updated_at": {"$ref": "#/components/schemas/MarketTimestamp"}
        }
      },
      "MarketServiceDetail": {
        "allOf": [{"$ref": "#/components/schemas/MarketServiceEntry"}],
        "type": "object",
        "required": ["deliverable_schema", "status"],
        "properties": {"deliverable_schema": {"type": ["object", "null"]}, "status": {"$ref": "#/components/schemas/MarketServiceStatus"}}
      },
      "MarketCatalog": {
        "type": "object",
        "required": ["total", "limit", "offset", "services"],
        "properties": {
          "total": {"type": "integer", "minimum": 0},
          "limit": {"type": "integer"},
          "offset": {"type": "integer"},
          "services": {"type": "array", "items": {"$ref": "#/components/schemas/MarketServiceEntry"}}
        }
      }
    }
  }
}"##;

#[cfg(test)]
mod tests {
    use crate::ErrorCode;

    #[test]
    fn the_error_codes_are_the_documented_ones() {
        let document = super::openapi();
        let documented: Vec<&str> =
            document["components"]["schemas"]["MarketError"]["properties"]["error"]["properties"]["code"]["enum"]
                .as_array()
                .unwrap()
                .iter()
                .map(|code| code.as_str().unwrap())
                .collect();
        let codes: Vec<&str> = ErrorCode::ALL.iter().map(|code| code.as_str()).collect();
        assert_eq!(documented, codes);
    }

    #[test]
    fn every_path_is_under_v1_and_every_component_is_prefixed() {
        let document = super::openapi();
        for path in document["paths"].as_object().unwrap().keys() {
            assert!(path.starts_with("/v1/"), "{path}");
        }
        for (kind, entries) in document["components"].as_object().unwrap() {
            for name in entries.as_object().unwrap().keys() {
                assert!(name.starts_with("Market"), "components.{kind}.{name}");
            }
        }
    }
}
