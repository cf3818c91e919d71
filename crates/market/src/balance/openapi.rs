//! The OpenAPI fragment of the balance routes, merged into the market's ([`crate::openapi`]).

/// `paths` and `components` (parameters, responses and schemas) of this module's routes.
pub(crate) const OPENAPI: &str = r##"{
  "paths": {
    "/v1/balance/deposit": {
      "post": {
        "summary": "Deposit USDC into your prepaid balance (x402 into the balance vault; you name the amount)",
        "description": "Answers 402 with a requirement of exactly `amount` paid to the BalanceVault (payTo = the vault), which any x402 client pays; the paid request is queued and settled by BalanceVault.depositManyWithTransfer, crediting the paying wallet. No key: the payment names the account. The balance counts the deposit once the indexer confirms its Deposited event. A repeat of the same payment is answered with the same deposit, never a second one.",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketDepositRequest"}}}},
        "responses": {
          "201": {"description": "Deposited on chain; credited once confirmed", "headers": {"PAYMENT-RESPONSE": {"$ref": "#/components/headers/MarketPaymentResponse"}, "X-PAYMENT-RESPONSE": {"$ref": "#/components/headers/MarketXPaymentResponse"}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketDeposit"}}}},
          "400": {"$ref": "#/components/responses/MarketBadRequest"},
          "402": {"$ref": "#/components/responses/MarketPaymentRequired"},
          "405": {"$ref": "#/components/responses/MarketMethodNotAllowed"},
          "408": {"$ref": "#/components/responses/MarketTimeout"},
          "413": {"$ref": "#/components/responses/MarketBodyTooLarge"},
          "415": {"$ref": "#/components/responses/MarketUnsupportedMediaType"},
          "429": {"$ref": "#/components/responses/MarketRateLimited"},
          "500": {"$ref": "#/components/responses/MarketInternal"},
          "503": {"$ref": "#/components/responses/MarketBalancesUnavailable"}
        }
      }
    },
    "/v1/balance": {
      "get": {
        "summary": "Your prepaid balance: available, deposited, withdrawn, charged, spent, pending debits, a pending withdrawal",
        "description": "available = deposited - withdrawn - charged (confirmed on chain) - spent (every debit the market accepted that the vault has not refused, and the subscription charges queued) - renewals_due (subscription renewals due whose charges are not queued yet: anyone may send them, so each is held back once the balance covers it). pending_debits is the part of spent the vault has not applied yet.",
        "security": [{"MarketApiKey": []}],
        "responses": {
          "200": {"description": "The balance", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketBalance"}}}},
          "401": {"$ref": "#/components/responses/MarketUnauthorized"},
          "405": {"$ref": "#/components/responses/MarketMethodNotAllowed"},
          "408": {"$ref": "#/components/responses/MarketTimeout"},
          "429": {"$ref": "#/components/responses/MarketRateLimited"},
          "500": {"$ref": "#/components/responses/MarketInternal"},
          "503": {"$ref": "#/components/responses/MarketBalancesUnavailable"}
        }
      }
    },
    "/v1/balance/history": {
      "get": {
        "summary": "Your balance's history, newest first: confirmed deposits, charges and withdrawals, and every debit with its status",
        "security": [{"MarketApiKey": []}],
        "parameters": [
          {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}},
          {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 100000, "default": 0}}
        ],
        "responses": {
          "200": {"description": "One page", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketBalanceHistory"}}}},
          "400": {"$ref": "#/components/responses/MarketBadRequest"},
          "401": {"$ref": "#/components/responses/MarketUnauthorized"},
          "405": {"$ref": "#/components/responses/MarketMethodNotAllowed"},
          "408": {"$ref": "#/components/responses/MarketTimeout"},
          "429": {"$ref": "#/components/responses/MarketRateLimited"},
          "500": {"$ref": "#/components/responses/MarketInternal"},
          "503": {"$ref": "#/components/responses/MarketBalancesUnavailable"}
        }
      }
    },
    "/v1/balance/withdrawal": {
      "get": {
        "summary": "Your exit: the vault calls to send from your own wallet (request, then withdraw after the delay, or cancel)",
        "description": "The exit needs nothing from this server: requestWithdrawal starts the vault's fixed delay; from unlock_at on, withdraw pays your whole vault balance and no debit can touch it. While a request stands the market accepts no debits (purchases fall through to x402).",
        "security": [{"MarketApiKey": []}],
        "responses": {
          "200": {"description": "The status and the calls", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketWithdrawal"}}}},
          "401": {"$ref": "#/components/responses/MarketUnauthorized"},
          "405": {"$ref": "#/components/responses/MarketMethodNotAllowed"},
          "408": {"$ref": "#/components/responses/MarketTimeout"},
          "429": {"$ref": "#/components/responses/MarketRateLimited"},
          "500": {"$ref": "#/components/responses/MarketInternal"},
          "503": {"$ref": "#/components/responses/MarketBalancesUnavailable"}
        }
      }
    },
    "/v1/balance/credentials": {
      "post": {
        "summary": "Make a balance credential (X-BALANCE-AUTH): scoped and capped, its token shown once",
        "security": [{"MarketApiKey": []}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketCredentialCreate"}}}},
        "responses": {
          "201": {"description": "The credential, with its token (only in this answer)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketCredentialCreated"}}}},
          "400": {"$ref": "#/components/responses/MarketBadRequest"},
          "401": {"$ref": "#/components/responses/MarketUnauthorized"},
          "405": {"$ref": "#/components/responses/MarketMethodNotAllowed"},
          "408": {"$ref": "#/components/responses/MarketTimeout"},
          "413": {"$ref": "#/components/responses/MarketBodyTooLarge"},
          "415": {"$ref": "#/components/responses/MarketUnsupportedMediaType"},
          "429": {"$ref": "#/components/responses/MarketRateLimited"},
          "500": {"$ref": "#/components/responses/MarketInternal"}
        }
      },
      "get": {
        "summary": "Your balance credentials, newest first (never their tokens)",
        "security": [{"MarketApiKey": []}],
        "responses": {
          "200": {"description": "The credentials", "content": {"application/json": {"schema": {"type": "object", "required": ["credentials"], "properties": {"credentials": {"type": "array", "items": {"$ref": "#/components/schemas/MarketCredential"}}}}}}},
          "401": {"$ref": "#/components/responses/MarketUnauthorized"},
          "405": {"$ref": "#/components/responses/MarketMethodNotAllowed"},
          "408": {"$ref": "#/components/responses/MarketTimeout"},
          "429": {"$ref": "#/components/responses/MarketRateLimited"},
          "500": {"$ref": "#/components/responses/MarketInternal"}
        }
      }
    },
    "/v1/balance/credentials/{id}": {
      "delete": {
        "summary": "Revoke one of your balance credentials at once",
        "security": [{"MarketApiKey": []}],
        "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}],
        "responses": {
          "204": {"description": "Revoked"},
          "401": {"$ref": "#/components/responses/MarketUnauthorized"},
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
    "responses": {
      "MarketBalancesUnavailable": {"description": "balances_unavailable: no balance vault is deployed, or this server's relayer is not its operator", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketError"}}}}
    },
    "schemas": {
      "MarketDepositRequest": {"type": "object", "required": ["amount"], "additionalProperties": false, "properties": {"amount": {"$ref": "#/components/schemas/MarketUsdc"}}},
      "MarketDeposit": {
        "type": "object", "required": ["deposit", "balance"],
        "properties": {
          "deposit": {"type": "object", "properties": {"payer": {"$ref": "#/components/schemas/MarketWallet"}, "amount": {"$ref": "#/components/schemas/MarketUsdc"}, "tx_hash": {"type": ["string", "null"]}, "credited": {"type": "string"}}},
          "balance": {"$ref": "#/components/schemas/MarketBalance"}
        }
      },
      "MarketBalance": {
        "type": "object",
        "required": ["wallet", "chain_id", "token", "vault", "available", "deposited", "withdrawn", "charged", "spent", "pending_debits", "renewals_due", "withdrawal_pending"],
        "properties": {
          "wallet": {"$ref": "#/components/schemas/MarketWallet"},
          "chain_id": {"type": "integer"},
          "token": {"$ref": "#/components/schemas/MarketWallet"},
          "vault": {"$ref": "#/components/schemas/MarketWallet"},
          "available": {"$ref": "#/components/schemas/MarketUsdc"},
          "deposited": {"$ref": "#/components/schemas/MarketUsdc"},
          "withdrawn": {"$ref": "#/components/schemas/MarketUsdc"},
          "charged": {"$ref": "#/components/schemas/MarketUsdc"},
          "spent": {"$ref": "#/components/schemas/MarketUsdc"},
          "pending_debits": {"$ref": "#/components/schemas/MarketUsdc"},
          "renewals_due": {"$ref": "#/components/schemas/MarketUsdc"},
          "withdrawal_pending": {"type": ["object", "null"], "properties": {"requested_balance": {"$ref": "#/components/schemas/MarketUsdc"}, "unlock_at": {"type": "integer"}}},
          "links": {"type": "object"}
        }
      },
      "MarketBalanceHistory": {
        "type": "object", "required": ["limit", "offset", "entries"],
        "properties": {
          "limit": {"type": "integer"}, "offset": {"type": "integer"},
          "entries": {"type": "array", "items": {"type": "object", "required": ["kind", "amount"], "properties": {
            "kind": {"type": "string", "enum": ["deposited", "charged", "withdrawal_requested", "withdrawal_cancelled", "withdrawn", "debit"]},
            "amount": {"$ref": "#/components/schemas/MarketUsdc"},
            "status": {"type": "string", "enum": ["accepted", "applied", "refused", "refunded"], "description": "A debit's: accepted (not yet on chain, or a balance-paid job's price held for its provider), applied by the vault, refused by it (its amount given back), or refunded (a balance-paid job's hold ended unpaid, its amount given back)"},
            "service_id": {"type": ["string", "null"], "description": "A debit's: the service it bought"},
            "product_id": {"type": ["string", "null"], "description": "A debit's: the product it bought"},
            "tx_hash": {"type": ["string", "null"]}
          }}}
        }
      },
      "MarketWithdrawal": {
        "type": "object", "required": ["wallet", "vault", "status", "request", "withdraw", "cancel"],
        "properties": {
          "wallet": {"$ref": "#/components/schemas/MarketWallet"},
          "vault": {"$ref": "#/components/schemas/MarketWallet"},
          "status": {"type": "string", "enum": ["none", "requested"]},
          "unlock_at": {"type": ["integer", "null"]},
          "request": {"$ref": "#/components/schemas/MarketCall"},
          "withdraw": {"$ref": "#/components/schemas/MarketCall"},
          "cancel": {"$ref": "#/components/schemas/MarketCall"}
        }
      },
      "MarketCall": {"type": "object", "required": ["to", "data"], "properties": {"to": {"$ref": "#/components/schemas/MarketWallet"}, "data": {"type": "string", "pattern": "^0x[0-9a-f]*$"}}},
      "MarketCredentialCreate": {
        "type": "object", "required": ["name"], "additionalProperties": false,
        "properties": {
          "name": {"type": "string", "minLength": 1, "maxLength": 100},
          "max_per_request": {"$ref": "#/components/schemas/MarketUsdc"},
          "max_per_day": {"$ref": "#/components/schemas/MarketUsdc"},
          "services": {"type": "array", "minItems": 1, "maxItems": 100, "items": {"type": "string", "format": "uuid"}},
          "expires_at": {"type": "integer", "description": "Unix seconds; in the future"}
        }
      },
      "MarketCredential": {
        "type": "object", "required": ["id", "name", "created_at"],
        "properties": {
          "id": {"type": "string", "format": "uuid"},
          "name": {"type": "string"},
          "max_per_request": {"oneOf": [{"$ref": "#/components/schemas/MarketUsdc"}, {"type": "null"}]},
          "max_per_day": {"oneOf": [{"$ref": "#/components/schemas/MarketUsdc"}, {"type": "null"}]},
          "services": {"type": ["array", "null"], "items": {"type": "string", "format": "uuid"}},
          "expires_at": {"type": ["integer", "null"]},
          "revoked_at": {"type": ["integer", "null"]},
          "created_at": {"type": "integer"}
        }
      },
      "MarketCredentialCreated": {"allOf": [{"$ref": "#/components/schemas/MarketCredential"}, {"type": "object", "required": ["token"], "properties": {"token": {"type": "string", "description": "clb_ and 43 characters; send it as X-BALANCE-AUTH. Shown only in this answer."}}}]}
    }
  }
}"##;
