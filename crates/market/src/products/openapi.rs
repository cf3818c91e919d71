//! The OpenAPI fragment of the product routes, merged into the market's ([`crate::openapi`]).

/// `paths` and `components` (parameters, responses and schemas) of this module's routes.
pub(crate) const OPENAPI: &str = r##"{
  "paths": {
    "/v1/products": {
      "get": {
        "summary": "Search the product catalog (free, no key): full-text q, category, provider, a page",
        "description": "Undeleted products only. With q (websearch syntax, English stemming) ranked by relevance, the name weighing most; newest first otherwise. Each product shows its three prices: price (what the provider nets), agent_price (price plus the platform fee, what a purchase costs) and provider_net_price.",
        "parameters": [
          {"name": "q", "in": "query", "description": "Full-text search, at most 200 characters", "schema": {"type": "string", "maxLength": 200}},
          {"name": "category", "in": "query", "schema": {"type": "string"}},
          {"name": "provider", "in": "query", "description": "A provider's participant id", "schema": {"type": "string", "format": "uuid"}},
          {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}},
          {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 10000, "default": 0}}
        ],
        "responses": {
          "200": {"description": "One page and the number of matches", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketProductCatalog"}}}},
          "400": {"$ref": "#/components/responses/MarketBadRequest"},
          "405": {"$ref": "#/components/responses/MarketMethodNotAllowed"},
          "408": {"$ref": "#/components/responses/MarketTimeout"},
          "429": {"$ref": "#/components/responses/MarketRateLimited"},
          "500": {"$ref": "#/components/responses/MarketInternal"}
        }
      },
      "post": {
        "summary": "Sell a file (providers only): multipart/form-data with the file and the listing, up to [market] max_product_bytes (default 25 MiB)",
        "description": "The file's content must be PDF, PNG, JPEG, GIF, WEBP, ZIP, DOCX, XLSX, CSV, JSON or TXT, checked from its bytes (magic numbers; DOCX and XLSX are ZIPs holding word/ or xl/ entries; CSV and TXT must be UTF-8 text, JSON must parse), and of the type its name says: otherwise 400 unsupported_file_type naming what it was found to be. It is stored content-addressed by its SHA-256, shown in file.sha256. This route alone takes a body of that size.",
        "security": [{"MarketApiKey": []}],
        "requestBody": {"required": true, "content": {"multipart/form-data": {"schema": {"$ref": "#/components/schemas/MarketProductUpload"}}}},
        "responses": {
          "201": {"description": "Listed", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketProduct"}}}},
          "400": {"$ref": "#/components/responses/MarketProductBadRequest"},
          "401": {"$ref": "#/components/responses/MarketUnauthorized"},
          "403": {"$ref": "#/components/responses/MarketProductForbidden"},
          "405": {"$ref": "#/components/responses/MarketMethodNotAllowed"},
          "408": {"$ref": "#/components/responses/MarketTimeout"},
          "413": {"$ref": "#/components/responses/MarketProductTooLarge"},
          "415": {"$ref": "#/components/responses/MarketUnsupportedMediaType"},
          "429": {"$ref": "#/components/responses/MarketRateLimited"},
          "500": {"$ref": "#/components/responses/MarketInternal"}
        }
      }
    },
    "/v1/products/{id}": {
      "get": {
        "summary": "A product (a deleted one only for its provider and its buyers, by their keys)",
        "parameters": [{"$ref": "#/components/parameters/MarketProductId"}, {"$ref": "#/components/parameters/MarketOptionalApiKey"}],
        "responses": {
          "200": {"description": "The product", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketProduct"}}}},
          "401": {"$ref": "#/components/responses/MarketUnauthorized"},
          "404": {"$ref": "#/components/responses/MarketProductNotFound"},
          "405": {"$ref": "#/components/responses/MarketMethodNotAllowed"},
          "408": {"$ref": "#/components/responses/MarketTimeout"},
          "429": {"$ref": "#/components/responses/MarketRateLimited"},
          "500": {"$ref": "#/components/responses/MarketInternal"}
        }
      },
      "patch": {
        "summary": "Change a product's listing (its provider only); the file cannot change",
        "description": "A new price or download_limit applies to later purchases; a purchase keeps the limit it was made with.",
        "security": [{"MarketApiKey": []}],
        "parameters": [{"$ref": "#/components/parameters/MarketProductId"}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketProductUpdate"}}}},
        "responses": {
          "200": {"description": "The product as changed", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketProduct"}}}},
          "400": {"$ref": "#/components/responses/MarketBadRequest"},
          "401": {"$ref": "#/components/responses/MarketUnauthorized"},
          "403": {"$ref": "#/components/responses/MarketProductForbidden"},
          "404": {"$ref": "#/components/responses/MarketProductNotFound"},
          "405": {"$ref": "#/components/responses/MarketMethodNotAllowed"},
          "408": {"$ref": "#/components/responses/MarketTimeout"},
          "413": {"$ref": "#/components/responses/MarketBodyTooLarge"},
          "415": {"$ref": "#/components/responses/MarketUnsupportedMediaType"},
          "429": {"$ref": "#/components/responses/MarketRateLimited"},
          "500": {"$ref": "#/components/responses/MarketInternal"}
        }
      },
      "put": {
        "summary": "The same as PATCH (the402 names this route PUT)",
        "security": [{"MarketApiKey": []}],
        "parameters": [{"$ref": "#/components/parameters/MarketProductId"}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketProductUpdate"}}}},
        "responses": {
          "200": {"description": "The product as changed", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketProduct"}}}},
          "400": {"$ref": "#/components/responses/MarketBadRequest"},
          "401": {"$ref": "#/components/responses/MarketUnauthorized"},
          "403": {"$ref": "#/components/responses/MarketProductForbidden"},
          "404": {"$ref": "#/components/responses/MarketProductNotFound"},
          "405": {"$ref": "#/components/responses/MarketMethodNotAllowed"},
          "408": {"$ref": "#/components/responses/MarketTimeout"},
          "413": {"$ref": "#/components/responses/MarketBodyTooLarge"},
          "415": {"$ref": "#/components/responses/MarketUnsupportedMediaType"},
          "429": {"$ref": "#/components/responses/MarketRateLimited"},
          "500": {"$ref": "#/components/responses/MarketInternal"}
        }
      },
      "delete": {
        "summary": "Remove a product from the catalog (its provider only); its buyers keep downloading it",
        "security": [{"MarketApiKey": []}],
        "parameters": [{"$ref": "#/components/parameters/MarketProductId"}],
        "responses": {
          "204": {"description": "Removed from the catalog and from purchase"},
          "401": {"$ref": "#/components/responses/MarketUnauthorized"},
          "403": {"$ref": "#/components/responses/MarketProductForbidden"},
          "404": {"$ref": "#/components/responses/MarketProductNotFound"},
          "405": {"$ref": "#/components/responses/MarketMethodNotAllowed"},
          "408": {"$ref": "#/components/responses/MarketTimeout"},
          "429": {"$ref": "#/components/responses/MarketRateLimited"},
          "500": {"$ref": "#/components/responses/MarketInternal"}
        }
      }
    },
    "/v1/products/{id}/purchase": {
      "post": {
        "summary": "Buy a product with one x402 payment into the escrow (payTo = the escrow, amount = agent_price), or from your prepaid balance",
        "description": "Credited at once by Escrow.payMany: the provider price, the fee recipient the fee (an escrow_credit audit record). With an X-API-Key whose wallet owns the product, 409 already_owned before payment is asked for; without one, a paying wallet that owns it is refused 409 and nothing is settled (a unique index keeps one live purchase per product and wallet). 201 is the purchase, with the settlement in PAYMENT-RESPONSE; a repeat of the same payment answers 200 with the purchase it made. With X-BALANCE-AUTH (a balance credential made without a service list) the agent_price is debited from the prepaid balance instead, in the same transaction as the purchase, and the purchase is owned at once (201, paid_by: balance, debit_id); the vault's next debitMany batch credits the provider and the fee recipient (a vault_debit audit record). A wallet that owns the product gets 409 already_owned and nothing is debited; a repeat of the Idempotency-Key answers 200 with the same purchase; a short balance, or a standing withdrawal request, falls through to the 402 with X-Balance-Refused saying why; a credential over a cap, revoked, expired or with a service list is refused with the reason (403).",
        "parameters": [
          {"$ref": "#/components/parameters/MarketProductId"},
          {"$ref": "#/components/parameters/MarketOptionalApiKey"},
          {"name": "X-BALANCE-AUTH", "in": "header", "required": false, "description": "A balance credential (clb_...) from POST /v1/balance/credentials, made without a service list; never the API key", "schema": {"type": "string"}},
          {"name": "Idempotency-Key", "in": "header", "required": false, "description": "With X-BALANCE-AUTH: 1 to 200 visible ASCII characters; a repeat under the same credential is answered with the purchase it made, never paid twice. Absent, a key is derived from the credential and the product, and a retry within 10 minutes of the first attempt matches it.", "schema": {"type": "string", "maxLength": 200}}
        ],
        "responses": {
          "201": {"description": "The purchase", "headers": {"PAYMENT-RESPONSE": {"$ref": "#/components/headers/MarketPaymentResponse"}, "X-PAYMENT-RESPONSE": {"$ref": "#/components/headers/MarketXPaymentResponse"}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketProductPurchase"}}}},
          "200": {"description": "The purchase this payment (or this Idempotency-Key) made before", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketProductPurchase"}}}},
          "400": {"$ref": "#/components/responses/MarketBadRequest"},
          "401": {"$ref": "#/components/responses/MarketUnauthorized"},
          "402": {"$ref": "#/components/responses/MarketPaymentRequired"},
          "403": {"$ref": "#/components/responses/MarketForbidden"},
          "404": {"$ref": "#/components/responses/MarketProductNotFound"},
          "405": {"$ref": "#/components/responses/MarketMethodNotAllowed"},
          "408": {"$ref": "#/components/responses/MarketTimeout"},
          "409": {"$ref": "#/components/responses/MarketProductConflict"},
          "429": {"$ref": "#/components/responses/MarketRateLimited"},
          "500": {"$ref": "#/components/responses/MarketInternal"},
          "503": {"$ref": "#/components/responses/MarketUnavailable"}
        }
      }
    },
    "/v1/products/{id}/download": {
      "get": {
        "summary": "Download a product you bought, streamed, with its SHA-256 in the headers",
        "description": "With the X-API-Key of the participant whose wallet bought it (free), or without a key by an x402 payment of [market] job_read_price (default $0.001) signed by the buying wallet; another wallet is refused 403 not_purchased before anything is charged. Works after the product is deleted. Each download counts against the purchase's download_limit; past it, 403 download_limit_reached.",
        "security": [{"MarketApiKey": []}, {}],
        "parameters": [{"$ref": "#/components/parameters/MarketProductId"}],
        "responses": {
          "200": {
            "description": "The file, as its own media type (file.content_type, detected at upload; text with charset=utf-8)",
            "headers": {
              "X-Content-SHA256": {"description": "SHA-256 of the file, hex", "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"}},
              "Repr-Digest": {"description": "RFC 9530: sha-256=:<base64>:", "schema": {"type": "string"}},
              "Digest": {"description": "RFC 3230: SHA-256=<base64>", "schema": {"type": "string"}},
              "Content-Disposition": {"description": "attachment, with the file's name", "schema": {"type": "string"}},
              "X-Downloads-Remaining": {"description": "Downloads left on this purchase, when it has a limit", "schema": {"type": "integer"}},
              "PAYMENT-RESPONSE": {"$ref": "#/components/headers/MarketPaymentResponse"},
              "X-PAYMENT-RESPONSE": {"$ref": "#/components/headers/MarketXPaymentResponse"}
            },
            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}
          },
          "400": {"$ref": "#/components/responses/MarketBadRequest"},
          "401": {"$ref": "#/components/responses/MarketUnauthorized"},
          "402": {"$ref": "#/components/responses/MarketPaymentRequired"},
          "403": {"$ref": "#/components/responses/MarketProductForbidden"},
          "404": {"$ref": "#/components/responses/MarketProductNotFound"},
          "405": {"$ref": "#/components/responses/MarketMethodNotAllowed"},
          "408": {"$ref": "#/components/responses/MarketTimeout"},
          "429": {"$ref": "#/components/responses/MarketRateLimited"},
          "500": {"$ref": "#/components/responses/MarketInternal"}
        }
      }
    },
    "/v1/purchases": {
      "get": {
        "summary": "Your product purchases (by your wallet), newest first, deleted products included",
        "security": [{"MarketApiKey": []}],
        "responses": {
          "200": {"description": "The purchases", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketPurchases"}}}},
          "401": {"$ref": "#/components/responses/MarketUnauthorized"},
          "405": {"$ref": "#/components/responses/MarketMethodNotAllowed"},
          "408": {"$ref": "#/components/responses/MarketTimeout"},
          "429": {"$ref": "#/components/responses/MarketRateLimited"},
          "500": {"$ref": "#/components/responses/MarketInternal"}
        }
      }
    }
  },
  "components": {
    "parameters": {
      "MarketProductId": {"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}
    },
    "responses": {
      "MarketProductBadRequest": {"description": "unsupported_file_type (the content is of no allowed type, or not the type its name says; the message names what it was found to be), missing_field, unknown_field, invalid_field or invalid_body", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketError"}}}},
      "MarketProductForbidden": {"description": "providers_only, not_owner (another provider's product), not_purchased (the wallet has not bought it) or download_limit_reached", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketError"}}}},
      "MarketProductNotFound": {"description": "product_not_found", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketError"}}}},
      "MarketProductConflict": {"description": "already_owned (the wallet owns the product, or its purchase of it is being paid) or payment_reused", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketError"}}}},
      "MarketProductTooLarge": {"description": "body_too_large: the file is larger than [market] max_product_bytes (default 25 MiB)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketError"}}}}
    },
    "schemas": {
      "MarketProductUpload": {
        "type": "object", "required": ["file", "name", "description", "price"],
        "properties": {
          "file": {"type": "string", "format": "binary", "description": "The file, with its name (its extension must agree with its content)"},
          "name": {"type": "string", "minLength": 1, "maxLength": 100},
          "description": {"type": "string", "minLength": 1, "maxLength": 5000},
          "price": {"$ref": "#/components/schemas/MarketUsdc", "description": "What you net per sale; agents pay it plus the platform fee. the402's price_usd is taken too"},
          "category": {"type": "string", "maxLength": 50},
          "tags": {"type": "string", "description": "A JSON array of up to 20 tags, or comma-separated"},
          "download_limit": {"type": "integer", "minimum": 1, "maximum": 1000000, "description": "Downloads per purchase; unlimited when absent"}
        }
      },
      "MarketProductUpdate": {
        "type": "object", "additionalProperties": false,
        "properties": {
          "name": {"type": "string", "minLength": 1, "maxLength": 100},
          "description": {"type": "string", "minLength": 1, "maxLength": 5000},
          "category": {"type": ["string", "null"], "maxLength": 50},
          "tags": {"type": "array", "maxItems": 20, "items": {"type": "string", "maxLength": 50}},
          "price": {"$ref": "#/components/schemas/MarketUsdc"},
          "download_limit": {"type": ["integer", "null"], "minimum": 1, "maximum": 1000000}
        }
      },
      "MarketProductFile": {
        "type": "object", "required": ["name", "size", "content_type", "sha256"],
        "properties": {"name": {"type": "string"}, "size": {"type": "integer"}, "content_type": {"type": "string"}, "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"}}
      },
      "MarketProduct": {
        "type": "object",
        "required": ["id", "name", "description", "tags", "price", "agent_price", "provider_net_price", "platform_fee_pct", "download_limit", "file", "provider_id", "provider_name", "provider_wallet", "created_at", "updated_at", "links"],
        "properties": {
          "id": {"$ref": "#/components/schemas/MarketUuid"},
          "name": {"type": "string"},
          "description": {"type": "string"},
          "category": {"type": ["string", "null"]},
          "tags": {"type": "array", "items": {"type": "string"}},
          "price": {"$ref": "#/components/schemas/MarketUsdc"},
          "agent_price": {"$ref": "#/components/schemas/MarketUsdc"},
          "provider_net_price": {"$ref": "#/components/schemas/MarketUsdc"},
          "platform_fee_pct": {"type": "number"},
          "download_limit": {"type": ["integer", "null"]},
          "file": {"$ref": "#/components/schemas/MarketProductFile"},
          "provider_id": {"$ref": "#/components/schemas/MarketUuid"},
          "provider_name": {"type": "string"},
          "provider_wallet": {"$ref": "#/components/schemas/MarketWallet"},
          "created_at": {"type": "string", "format": "date-time"},
          "updated_at": {"type": "string", "format": "date-time"},
          "deleted": {"type": "boolean", "description": "Present (true) only on a deleted product"},
          "links": {"type": "object", "properties": {"purchase": {"type": "string"}, "download": {"type": "string"}}}
        }
      },
      "MarketProductCatalog": {
        "type": "object", "required": ["total", "limit", "offset", "products"],
        "properties": {"total": {"type": "integer"}, "limit": {"type": "integer"}, "offset": {"type": "integer"}, "products": {"type": "array", "items": {"$ref": "#/components/schemas/MarketProduct"}}}
      },
      "MarketProductPurchase": {
        "type": "object",
        "required": ["purchase_id", "product_id", "product_name", "buyer", "status", "paid_by", "price", "provider_net", "platform_fee", "download_limit", "downloads", "downloads_remaining", "tx_hash", "purchased_at", "file", "links"],
        "properties": {
          "purchase_id": {"$ref": "#/components/schemas/MarketUuid"},
          "product_id": {"$ref": "#/components/schemas/MarketUuid"},
          "product_name": {"type": "string"},
          "buyer": {"$ref": "#/components/schemas/MarketWallet"},
          "status": {"type": "string", "enum": ["paying", "paid", "failed"]},
          "paid_by": {"type": "string", "enum": ["x402", "balance"]},
          "debit_id": {"$ref": "#/components/schemas/MarketUuid", "description": "A balance purchase's debit, as in GET /v1/balance/history"},
          "price": {"$ref": "#/components/schemas/MarketUsdc"},
          "provider_net": {"$ref": "#/components/schemas/MarketUsdc"},
          "platform_fee": {"$ref": "#/components/schemas/MarketUsdc"},
          "download_limit": {"type": ["integer", "null"]},
          "downloads": {"type": "integer"},
          "downloads_remaining": {"type": ["integer", "null"]},
          "tx_hash": {"type": ["string", "null"]},
          "purchased_at": {"type": "string", "format": "date-time"},
          "file": {"$ref": "#/components/schemas/MarketProductFile"},
          "links": {"type": "object", "properties": {"product": {"type": "string"}, "download": {"type": "string"}}}
        }
      },
      "MarketPurchases": {
        "type": "object", "required": ["wallet", "purchases"],
        "properties": {"wallet": {"$ref": "#/components/schemas/MarketWallet"}, "purchases": {"type": "array", "items": {"$ref": "#/components/schemas/MarketProductPurchase"}}}
      }
    }
  }
}"##;
