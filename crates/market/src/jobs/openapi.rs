//! The OpenAPI fragment of the purchase, job and earnings routes, merged into the market's ([`crate::openapi`]).

/// `paths` and `components` (responses and schemas) of this module's routes.
pub(crate) const OPENAPI: &str = r##"{
  "paths": {
    "/v1/services/{id}/purchase": {
      "post": {
        "summary": "Buy a fixed-price service into the escrow with one x402 payment (payTo = the escrow)",
        "description": "Any x402 client pays it: the requirement is a plain `exact` payment of the listed price to the Escrow contract. The service, its pricing model and the brief (against its input_schema) are checked before payment is asked for. The payment books an escrow job (automated_service, human_service) or is credited at once (data_api), the fee split on chain. 201 is the new job with the funding transaction in PAYMENT-RESPONSE; the job is dispatched when the indexer confirms the funding. A repeat of the same payment answers 200 with the job it bought. With X-BALANCE-AUTH (a balance credential) a data_api service or an automated_service is paid from the prepaid balance instead, answered at once from the database (201, paid_by: balance; a repeat of the Idempotency-Key answers 200 with the same purchase, never a second one); a short balance, or a standing withdrawal request, falls through to the 402 with X-Balance-Refused saying why. An automated_service bought this way is a job (status dispatched, paid_by: balance), dispatched to the provider at once: its price is held from the balance (not spendable again) until the provider reports it completed, which pays the provider through the vault (the job is verified when the vault's Debited event is confirmed), or failed, or fails to deliver within [market] balance_job_hold_secs (default and most 12 h), which gives it back to the balance (refunded). It has no review window: verify and dispute answer 409. A human_service refuses balances (400 balance_not_accepted): its money must be in the escrow for its review window. With X-API-Key or X-BALANCE-AUTH, a data_api service covered by one of the caller's subscriptions is served first without payment (201, paid_by: subscription) while the plan's max_requests for the period last. A request that carries an x402 payment (PAYMENT-SIGNATURE or X-PAYMENT) is paid with it alone: neither a balance credential nor a subscription beside it pays (a retry of a paid request whose answer was lost is answered with its job, never paid a second time); a repeat's answer shows the job's state without its brief, deliverables or dispute reason.",
        "parameters": [
          {"$ref": "#/components/parameters/MarketServiceId"},
          {"name": "X-BALANCE-AUTH", "in": "header", "required": false, "description": "A balance credential (clb_...) from POST /v1/balance/credentials; never the API key", "schema": {"type": "string"}},
          {"name": "X-API-Key", "in": "header", "required": false, "description": "Your API key: a data_api service one of your subscriptions covers is then served without payment (201, paid_by: subscription), up to its plan's max_requests per period", "schema": {"type": "string"}},
          {"name": "Idempotency-Key", "in": "header", "required": false, "description": "With X-BALANCE-AUTH: 1 to 200 visible ASCII characters; a repeat under the same credential is answered with the purchase it made, never paid twice. Absent, a key is derived from the credential, the service and the brief, and a retry within 10 minutes of the first attempt matches it.", "schema": {"type": "string", "maxLength": 200}}
        ],
        "requestBody": {"required": false, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketPurchaseRequest"}}}},
        "responses": {
          "201": {"description": "The job; or a purchase paid from the balance or covered by a subscription (paid_by)", "headers": {"PAYMENT-RESPONSE": {"$ref": "#/components/headers/MarketPaymentResponse"}, "X-PAYMENT-RESPONSE": {"$ref": "#/components/headers/MarketXPaymentResponse"}}, "content": {"application/json": {"schema": {"anyOf": [{"$ref": "#/components/schemas/MarketJob"}, {"$ref": "#/components/schemas/MarketPaidOtherwise"}]}}}},
          "200": {"description": "The job this payment bought before, or the balance purchase this idempotency key made before", "content": {"application/json": {"schema": {"anyOf": [{"$ref": "#/components/schemas/MarketJob"}, {"$ref": "#/components/schemas/MarketPaidOtherwise"}]}}}},
          "400": {"$ref": "#/components/responses/MarketBadRequest"},
          "401": {"$ref": "#/components/responses/MarketUnauthorized"},
          "402": {"$ref": "#/components/responses/MarketPaymentRequired"},
          "403": {"$ref": "#/components/responses/MarketForbidden"},
          "404": {"$ref": "#/components/responses/MarketNotFound"},
          "405": {"$ref": "#/components/responses/MarketMethodNotAllowed"},
          "408": {"$ref": "#/components/responses/MarketTimeout"},
          "409": {"$ref": "#/components/responses/MarketConflict"},
          "413": {"$ref": "#/components/responses/MarketBodyTooLarge"},
          "415": {"$ref": "#/components/responses/MarketUnsupportedMediaType"},
          "429": {"$ref": "#/components/responses/MarketRateLimited"},
          "500": {"$ref": "#/components/responses/MarketInternal"},
          "503": {"$ref": "#/components/responses/MarketUnavailable"}
        }
      }
    },
    "/v1/jobs/{id}": {
      "get": {
        "summary": "A job: its status (money statuses from confirmed chain events), amounts, brief, deliverables and where its money is",
        "description": "Free with the provider's or the payer's API key. A payer with no key pays [market] job_read_price (default $0.001) through x402 from the wallet that bought the job; another wallet is refused 403 wallet_mismatch before anything is charged.",
        "security": [{"MarketApiKey": []}, {}],
        "parameters": [{"$ref": "#/components/parameters/MarketJobId"}],
        "responses": {
          "200": {"description": "The job", "headers": {"PAYMENT-RESPONSE": {"$ref": "#/components/headers/MarketPaymentResponse"}, "X-PAYMENT-RESPONSE": {"$ref": "#/components/headers/MarketXPaymentResponse"}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketJob"}}}},
          "400": {"$ref": "#/components/responses/MarketBadRequest"},
          "401": {"$ref": "#/components/responses/MarketUnauthorized"},
          "402": {"$ref": "#/components/responses/MarketPaymentRequired"},
          "403": {"$ref": "#/components/responses/MarketForbidden"},
          "404": {"$ref": "#/components/responses/MarketNotFound"},
          "405": {"$ref": "#/components/responses/MarketMethodNotAllowed"},
          "408": {"$ref": "#/components/responses/MarketTimeout"},
          "429": {"$ref": "#/components/responses/MarketRateLimited"},
          "500": {"$ref": "#/components/responses/MarketInternal"}
        }
      }
    },
    "/v1/jobs/{id}/update": {
      "post": {
        "summary": "The provider's word: in_progress, completed (with deliverables) or failed",
        "description": "Completed queues the escrow's completion (and, with no review window, the release right behind it); failed queues the refund to the payer. Allowed once the funding is confirmed, until the job is completed or failed. A job paid from a prepaid balance (paid_by: balance) is reported on from its purchase: completed releases its held price to the vault (verified once the vault's Debited is confirmed), failed gives it back to the payer's balance (refunded); once either, or the hold's deadline, has decided, the other answers 409.",
        "security": [{"MarketApiKey": []}],
        "parameters": [{"$ref": "#/components/parameters/MarketJobId"}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketJobUpdate"}}}},
        "responses": {
          "200": {"description": "The job", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketJob"}}}},
          "400": {"$ref": "#/components/responses/MarketBadRequest"},
          "401": {"$ref": "#/components/responses/MarketUnauthorized"},
          "403": {"$ref": "#/components/responses/MarketForbidden"},
          "404": {"$ref": "#/components/responses/MarketNotFound"},
          "405": {"$ref": "#/components/responses/MarketMethodNotAllowed"},
          "408": {"$ref": "#/components/responses/MarketTimeout"},
          "409": {"$ref": "#/components/responses/MarketConflict"},
          "413": {"$ref": "#/components/responses/MarketBodyTooLarge"},
          "415": {"$ref": "#/components/responses/MarketUnsupportedMediaType"},
          "429": {"$ref": "#/components/responses/MarketRateLimited"},
          "500": {"$ref": "#/components/responses/MarketInternal"}
        }
      }
    },
    "/v1/jobs/{id}/verify": {
      "get": {
        "summary": "The EIP-712 typed data the payer signs to release the job (Release(bytes32 jobId,uint256 deadline))",
        "parameters": [{"$ref": "#/components/parameters/MarketJobId"}, {"$ref": "#/components/parameters/MarketDeadline"}],
        "responses": {
          "200": {"description": "The typed data and its digest", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketTypedData"}}}},
          "400": {"$ref": "#/components/responses/MarketBadRequest"},
          "404": {"$ref": "#/components/responses/MarketNotFound"},
          "405": {"$ref": "#/components/responses/MarketMethodNotAllowed"},
          "408": {"$ref": "#/components/responses/MarketTimeout"},
          "409": {"$ref": "#/components/responses/MarketConflict"},
          "429": {"$ref": "#/components/responses/MarketRateLimited"},
          "500": {"$ref": "#/components/responses/MarketInternal"}
        }
      },
      "post": {
        "summary": "Release the job early with the payer's signature (relayed: the payer needs no gas)",
        "parameters": [{"$ref": "#/components/parameters/MarketJobId"}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketSignedStep"}}}},
        "responses": {
          "202": {"description": "The release is queued; the job shows verified once the chain confirms it", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketJob"}}}},
          "400": {"$ref": "#/components/responses/MarketBadRequest"},
          "404": {"$ref": "#/components/responses/MarketNotFound"},
          "405": {"$ref": "#/components/responses/MarketMethodNotAllowed"},
          "408": {"$ref": "#/components/responses/MarketTimeout"},
          "409": {"$ref": "#/components/responses/MarketConflict"},
          "413": {"$ref": "#/components/responses/MarketBodyTooLarge"},
          "415": {"$ref": "#/components/responses/MarketUnsupportedMediaType"},
          "429": {"$ref": "#/components/responses/MarketRateLimited"},
          "500": {"$ref": "#/components/responses/MarketInternal"}
        }
      }
    },
    "/v1/jobs/{id}/dispute": {
      "get": {
        "summary": "The EIP-712 typed data the payer signs to dispute the job (Dispute(bytes32 jobId,uint256 deadline))",
        "parameters": [{"$ref": "#/components/parameters/MarketJobId"}, {"$ref": "#/components/parameters/MarketDeadline"}],
        "responses": {
          "200": {"description": "The typed data and its digest", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketTypedData"}}}},
          "400": {"$ref": "#/components/responses/MarketBadRequest"},
          "404": {"$ref": "#/components/responses/MarketNotFound"},
          "405": {"$ref": "#/components/responses/MarketMethodNotAllowed"},
          "408": {"$ref": "#/components/responses/MarketTimeout"},
          "409": {"$ref": "#/components/responses/MarketConflict"},
          "429": {"$ref": "#/components/responses/MarketRateLimited"},
          "500": {"$ref": "#/components/responses/MarketInternal"}
        }
      },
      "post": {
        "summary": "Dispute the job with a reason (10 to 2,000 characters) and the payer's signature; the arbiter decides",
        "parameters": [{"$ref": "#/components/parameters/MarketJobId"}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketDisputeRequest"}}}},
        "responses": {
          "202": {"description": "The dispute is queued; the job shows disputed once the chain confirms it", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketJob"}}}},
          "400": {"$ref": "#/components/responses/MarketBadRequest"},
          "404": {"$ref": "#/components/responses/MarketNotFound"},
          "405": {"$ref": "#/components/responses/MarketMethodNotAllowed"},
          "408": {"$ref": "#/components/responses/MarketTimeout"},
          "409": {"$ref": "#/components/responses/MarketConflict"},
          "413": {"$ref": "#/components/responses/MarketBodyTooLarge"},
          "415": {"$ref": "#/components/responses/MarketUnsupportedMediaType"},
          "429": {"$ref": "#/components/responses/MarketRateLimited"},
          "500": {"$ref": "#/components/responses/MarketInternal"}
        }
      }
    },
    "/v1/admin/jobs/{id}/resolve": {
      "get": {
        "summary": "The arbiter's EIP-712 typed data to split a disputed job (Resolve(bytes32 jobId,uint16 providerBps,uint256 deadline))",
        "description": "For an arbiter whose key is not on the server: sign the digest and POST it back with the same provider_bps and deadline.",
        "security": [{"MarketArbiterToken": []}],
        "parameters": [
          {"$ref": "#/components/parameters/MarketJobId"},
          {"name": "provider_bps", "in": "query", "required": true, "description": "The provider side's share of the amount, bps (0 to 10,000)", "schema": {"type": "integer", "minimum": 0, "maximum": 10000}},
          {"$ref": "#/components/parameters/MarketDeadline"}
        ],
        "responses": {
          "200": {"description": "The typed data, its digest and the arbiter the job names", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketResolveTypedData"}}}},
          "400": {"$ref": "#/components/responses/MarketBadRequest"},
          "401": {"$ref": "#/components/responses/MarketUnauthorized"},
          "403": {"$ref": "#/components/responses/MarketForbidden"},
          "404": {"$ref": "#/components/responses/MarketNotFound"},
          "405": {"$ref": "#/components/responses/MarketMethodNotAllowed"},
          "408": {"$ref": "#/components/responses/MarketTimeout"},
          "409": {"$ref": "#/components/responses/MarketConflict"},
          "429": {"$ref": "#/components/responses/MarketRateLimited"},
          "500": {"$ref": "#/components/responses/MarketInternal"}
        }
      },
      "post": {
        "summary": "The arbiter splits a disputed job: provider_bps of the amount to the provider side (the fee pro rata), the rest to the payer",
        "description": "Relays the arbiter's signed resolution to the escrow (Escrow.resolveWithSig in a stepMany batch). Without signature, the server signs with [market] arbiter_key, which must be the key of the arbiter the job names. 202: queued; the job shows resolved once the chain confirms JobResolved. Queued once per job: a second, different split is 409.",
        "security": [{"MarketArbiterToken": []}],
        "parameters": [{"$ref": "#/components/parameters/MarketJobId"}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketResolveRequest"}}}},
        "responses": {
          "202": {"description": "The resolution is queued", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketJob"}}}},
          "400": {"$ref": "#/components/responses/MarketBadRequest"},
          "401": {"$ref": "#/components/responses/MarketUnauthorized"},
          "403": {"$ref": "#/components/responses/MarketForbidden"},
          "404": {"$ref": "#/components/responses/MarketNotFound"},
          "405": {"$ref": "#/components/responses/MarketMethodNotAllowed"},
          "408": {"$ref": "#/components/responses/MarketTimeout"},
          "409": {"$ref": "#/components/responses/MarketConflict"},
          "413": {"$ref": "#/components/responses/MarketBodyTooLarge"},
          "415": {"$ref": "#/components/responses/MarketUnsupportedMediaType"},
          "429": {"$ref": "#/components/responses/MarketRateLimited"},
          "500": {"$ref": "#/components/responses/MarketInternal"}
        }
      }
    },
    "/v1/provider/earnings": {
      "get": {
        "summary": "The provider's earnings from confirmed chain events: held (in escrow), pending (claimable), settled (claimed), recent settlements",
        "security": [{"MarketApiKey": []}],
        "responses": {
          "200": {"description": "The earnings", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketEarnings"}}}},
          "401": {"$ref": "#/components/responses/MarketUnauthorized"},
          "405": {"$ref": "#/components/responses/MarketMethodNotAllowed"},
          "408": {"$ref": "#/components/responses/MarketTimeout"},
          "429": {"$ref": "#/components/responses/MarketRateLimited"},
          "500": {"$ref": "#/components/responses/MarketInternal"},
          "503": {"$ref": "#/components/responses/MarketUnavailable"}
        }
      }
    },
    "/v1/provider/claim": {
      "post": {
        "summary": "Pay the provider's whole claimable balance to its own wallet through the relayer (no gas needed)",
        "security": [{"MarketApiKey": []}],
        "responses": {
          "200": {"description": "Claimed (or failed on chain, with the reason)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketClaim"}}}},
          "202": {"description": "Queued; the transaction is not mined yet", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketClaim"}}}},
          "401": {"$ref": "#/components/responses/MarketUnauthorized"},
          "405": {"$ref": "#/components/responses/MarketMethodNotAllowed"},
          "408": {"$ref": "#/components/responses/MarketTimeout"},
          "409": {"$ref": "#/components/responses/MarketConflict"},
          "429": {"$ref": "#/components/responses/MarketRateLimited"},
          "500": {"$ref": "#/components/responses/MarketInternal"},
          "503": {"$ref": "#/components/responses/MarketUnavailable"}
        }
      }
    }
  },
  "components": {
    "responses": {
      "MarketConflict": {"description": "transition_not_allowed (the job's status does not allow it) or payment_reused", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketError"}}}},
      "MarketUnavailable": {"description": "purchases_unavailable: this server's relayer is not the escrow's operator", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketError"}}}}
    },
    "schemas": {
      "MarketPurchaseRequest": {"type": "object", "additionalProperties": false, "properties": {"brief": {"description": "Checked against the service's input_schema; {} when absent"}}},
      "MarketJobUpdate": {
        "type": "object", "additionalProperties": false, "required": ["status"],
        "properties": {"status": {"type": "string", "enum": ["in_progress", "completed", "failed"]}, "deliverables": {"description": "Required with completed; checked against the deliverable_schema"}, "note": {"type": "string", "maxLength": 2000}}
      },
      "MarketSignedStep": {"type": "object", "additionalProperties": false, "required": ["signature", "deadline"], "properties": {"signature": {"type": "string", "pattern": "^0x([0-9a-fA-F]{2})*$", "maxLength": 1538, "description": "The payer's signature, at most 768 bytes: 65-byte ECDSA, or what its wallet's ERC-1271 isValidSignature accepts"}, "deadline": {"type": "integer", "minimum": 0}}},
      "MarketDisputeRequest": {"type": "object", "additionalProperties": false, "required": ["reason", "signature", "deadline"], "properties": {"reason": {"type": "string", "minLength": 10, "maxLength": 2000}, "signature": {"type": "string", "pattern": "^0x([0-9a-fA-F]{2})*$", "maxLength": 1538, "description": "The payer's signature, at most 768 bytes: 65-byte ECDSA, or what its wallet's ERC-1271 isValidSignature accepts"}, "deadline": {"type": "integer", "minimum": 0}}},
      "MarketResolveRequest": {"type": "object", "additionalProperties": false, "required": ["provider_bps"], "properties": {"provider_bps": {"type": "integer", "minimum": 0, "maximum": 10000}, "signature": {"type": "string", "pattern": "^0x([0-9a-fA-F]{2})*$", "maxLength": 1538}, "deadline": {"type": "integer", "minimum": 0}}},
      "MarketResolveTypedData": {"type": "object", "required": ["job_id", "arbiter", "typed_data"], "properties": {"job_id": {"$ref": "#/components/schemas/MarketUuid"}, "arbiter": {"$ref": "#/components/schemas/MarketWallet"}, "typed_data": {"type": "object"}}},
      "MarketTypedData": {"type": "object", "required": ["job_id", "payer", "typed_data"], "properties": {"job_id": {"$ref": "#/components/schemas/MarketUuid"}, "payer": {"$ref": "#/components/schemas/MarketWallet"}, "typed_data": {"type": "object"}}},
      "MarketPaidOtherwise": {
        "description": "A data_api purchase paid from the prepaid balance (paid_by: balance, with its debit) or served under a subscription (paid_by: subscription, with the requests used this period)",
        "type": "object",
        "required": ["service_id", "service_type", "paid_by"],
        "properties": {
          "service_id": {"type": "string", "format": "uuid"},
          "service_type": {"type": "string"},
          "paid_by": {"type": "string", "enum": ["balance", "subscription"]}
        }
      },
      "MarketJob": {
        "type": "object",
        "required": ["job_id", "service_id", "provider_id", "service_type", "status", "payer", "price", "provider_net", "platform_fee", "brief", "escrow", "links", "created_at"],
        "properties": {
          "job_id": {"$ref": "#/components/schemas/MarketUuid"},
          "service_id": {"$ref": "#/components/schemas/MarketUuid"},
          "provider_id": {"$ref": "#/components/schemas/MarketUuid"},
          "service_type": {"$ref": "#/components/schemas/MarketServiceType"},
          "status": {"type": "string", "enum": ["funding", "payment_failed", "dispatched", "in_progress", "completed", "verified", "disputed", "resolved", "failed", "refunded", "unpaid"]},
          "paid_by": {"type": "string", "enum": ["x402", "balance"]},
          "payer": {"$ref": "#/components/schemas/MarketWallet"},
          "price": {"$ref": "#/components/schemas/MarketUsdc"},
          "provider_net": {"$ref": "#/components/schemas/MarketUsdc"},
          "platform_fee": {"$ref": "#/components/schemas/MarketUsdc"},
          "brief": {},
          "deliverables": {},
          "provider_note": {"type": "string"},
          "dispute_reason": {"type": "string"},
          "escrow": {"type": "object"},
          "balance": {"description": "A balance-paid job's money: hold is held, released, applied, refunded or refused (the vault refused the released debit after the agent withdrew: the provider is unpaid, status unpaid)", "type": "object", "properties": {"debit_id": {"$ref": "#/components/schemas/MarketUuid"}, "hold": {"type": "string", "enum": ["held", "released", "applied", "refunded", "refused"]}, "held_until": {"type": ["integer", "null"]}, "refunded_because": {"type": ["string", "null"], "enum": ["provider_failed", "deadline_passed", null]}, "debited_tx": {"type": ["string", "null"]}}},
          "links": {"type": "object"},
          "created_at": {"type": "integer"}
        }
      },
      "MarketEarnings": {"type": "object", "required": ["wallet", "held", "pending", "settled", "recent_settlements"], "properties": {"wallet": {"$ref": "#/components/schemas/MarketWallet"}, "held": {"$ref": "#/components/schemas/MarketUsdc"}, "pending": {"$ref": "#/components/schemas/MarketUsdc"}, "settled": {"$ref": "#/components/schemas/MarketUsdc"}, "recent_settlements": {"type": "array", "items": {"type": "object"}}, "balance_vault": {"description": "Income credited in the balance vault (balance purchases, subscriptions), claimable there; null when balances are off", "type": ["object", "null"], "properties": {"vault": {"$ref": "#/components/schemas/MarketWallet"}, "claimable": {"$ref": "#/components/schemas/MarketUsdc"}, "from_balance_purchases": {"$ref": "#/components/schemas/MarketUsdc"}, "from_subscriptions": {"$ref": "#/components/schemas/MarketUsdc"}, "claimed": {"$ref": "#/components/schemas/MarketUsdc"}, "accepted_not_applied": {"$ref": "#/components/schemas/MarketUsdc"}, "held_for_balance_jobs": {"$ref": "#/components/schemas/MarketUsdc"}, "claim": {"type": "string"}}}}},
      "MarketClaim": {"type": "object", "required": ["claim_id", "status", "to"], "properties": {"claim_id": {"type": "integer"}, "status": {"type": "string", "enum": ["claimed", "failed", "pending"]}, "to": {"$ref": "#/components/schemas/MarketWallet"}, "tx_hash": {"type": ["string", "null"]}, "reason": {"type": ["string", "null"]}, "claims": {"description": "Every claim made: the escrow's and the balance vault's", "type": "array", "items": {"type": "object", "required": ["contract", "claim_id", "status"], "properties": {"contract": {"type": "string", "enum": ["escrow", "balance_vault"]}, "claim_id": {"type": "integer"}, "status": {"type": "string", "enum": ["claimed", "failed", "pending"]}, "tx_hash": {"type": ["string", "null"]}, "reason": {"type": ["string", "null"]}}}}}}
    }
  }
}"##;
