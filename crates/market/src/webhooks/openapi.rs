//! The OpenAPI fragment of the delivery log routes, merged into the market's ([`crate::openapi`]).

/// `paths` and `components` (parameters, responses and schemas) of this module's routes.
pub(crate) const OPENAPI: &str = r##"{
  "paths": {
    "/v1/webhooks/deliveries": {
      "get": {
        "summary": "Your webhook delivery log: your events, newest first, with where each stands",
        "description": "Only your own events. Each shows its id (the webhook-id header it is sent with), type, job, status (pending: waiting for an attempt or a retry, or in flight; delivered; failed: given up after the retry schedule, or answered 410; skipped: not sent because deliveries were off), attempts in the current round, the last attempt's time and HTTP status, when the next is due and the last failure in your terms.",
        "security": [{"MarketApiKey": []}],
        "parameters": [
          {"name": "status", "in": "query", "description": "Only events with this status", "schema": {"$ref": "#/components/schemas/MarketWebhookStatus"}},
          {"name": "event_type", "in": "query", "description": "Only events of this type, e.g. job_dispatch", "schema": {"type": "string", "maxLength": 100}},
          {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}},
          {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 10000, "default": 0}}
        ],
        "responses": {
          "200": {"description": "One page and the number of matching events", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketWebhookDeliveries"}}}},
          "400": {"$ref": "#/components/responses/MarketBadRequest"},
          "401": {"$ref": "#/components/responses/MarketUnauthorized"},
          "405": {"$ref": "#/components/responses/MarketMethodNotAllowed"},
          "408": {"$ref": "#/components/responses/MarketTimeout"},
          "429": {"$ref": "#/components/responses/MarketRateLimited"},
          "500": {"$ref": "#/components/responses/MarketInternal"}
        }
      }
    },
    "/v1/webhooks/deliveries/{id}": {
      "get": {
        "summary": "One of your webhook events with its body and its attempts (newest first, at most 100)",
        "security": [{"MarketApiKey": []}],
        "parameters": [{"$ref": "#/components/parameters/MarketWebhookEventId"}],
        "responses": {
          "200": {"description": "The event", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketWebhookEvent"}}}},
          "401": {"$ref": "#/components/responses/MarketUnauthorized"},
          "404": {"$ref": "#/components/responses/MarketNotFound"},
          "405": {"$ref": "#/components/responses/MarketMethodNotAllowed"},
          "408": {"$ref": "#/components/responses/MarketTimeout"},
          "429": {"$ref": "#/components/responses/MarketRateLimited"},
          "500": {"$ref": "#/components/responses/MarketInternal"}
        }
      }
    },
    "/v1/webhooks/deliveries/{id}/redeliver": {
      "post": {
        "summary": "Send one of your webhook events again now, with the same webhook-id (so your receiver can deduplicate)",
        "description": "A delivered, failed or skipped event is queued again at once, its attempts counted from 1 and retried on the usual schedule (redelivery: queued). An event that is pending already (an earlier redelivery, or its first delivery and retries) is not queued twice (redelivery: already_pending); a retry waiting out its backoff is made due now. Needs deliveries to be on: after your endpoint answered 410 Gone, or after your webhook_url was removed, this answers 409 webhook_endpoint_disabled until webhook_url is set again with PUT /v1/participants/{id} (the same URL will do). No body.",
        "security": [{"MarketApiKey": []}],
        "parameters": [{"$ref": "#/components/parameters/MarketWebhookEventId"}],
        "responses": {
          "202": {"description": "Queued, or pending already", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketWebhookRedelivery"}}}},
          "401": {"$ref": "#/components/responses/MarketUnauthorized"},
          "404": {"$ref": "#/components/responses/MarketNotFound"},
          "405": {"$ref": "#/components/responses/MarketMethodNotAllowed"},
          "408": {"$ref": "#/components/responses/MarketTimeout"},
          "409": {"$ref": "#/components/responses/MarketWebhookEndpointDisabled"},
          "429": {"$ref": "#/components/responses/MarketRateLimited"},
          "500": {"$ref": "#/components/responses/MarketInternal"}
        }
      }
    }
  },
  "components": {
    "parameters": {
      "MarketWebhookEventId": {"name": "id", "in": "path", "required": true, "description": "The event's webhook-id, msg_ and a number", "schema": {"type": "string", "pattern": "^msg_[0-9]+$"}}
    },
    "responses": {
      "MarketWebhookEndpointDisabled": {"description": "webhook_endpoint_disabled: deliveries to your endpoint are off (it answered 410 Gone, or its webhook_url was removed); the message says which and how to turn them on", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MarketError"}}}}
    },
    "schemas": {
      "MarketWebhookStatus": {"type": "string", "enum": ["pending", "delivered", "failed", "skipped"]},
      "MarketWebhookEntry": {
        "type": "object",
        "required": ["id", "event_type", "job_id", "created_at", "status", "attempts", "in_flight", "last_attempt_at", "last_http_status", "next_attempt_at", "finished_at", "last_error"],
        "properties": {
          "id": {"type": "string", "pattern": "^msg_[0-9]+$", "description": "The webhook-id header it is sent with, on every attempt"},
          "event_type": {"type": "string"},
          "job_id": {"oneOf": [{"$ref": "#/components/schemas/MarketUuid"}, {"type": "null"}]},
          "created_at": {"$ref": "#/components/schemas/MarketTimestamp"},
          "status": {"$ref": "#/components/schemas/MarketWebhookStatus"},
          "attempts": {"type": "integer", "minimum": 0, "description": "Attempts in the current round (from 1 again after a redelivery)"},
          "in_flight": {"type": "boolean", "description": "An attempt is being made right now"},
          "last_attempt_at": {"type": ["string", "null"], "format": "date-time"},
          "last_http_status": {"type": ["integer", "null"], "description": "null when the last attempt got no answer (see last_error)"},
          "next_attempt_at": {"type": ["string", "null"], "format": "date-time", "description": "null once final, and while an earlier event of the same job is unfinished"},
          "finished_at": {"type": ["string", "null"], "format": "date-time", "description": "When it was delivered, failed or skipped"},
          "last_error": {"type": ["string", "null"], "description": "Why the last attempt failed, in your terms; null once delivered"}
        }
      },
      "MarketWebhookDeliveries": {
        "type": "object",
        "required": ["total", "limit", "offset", "deliveries"],
        "properties": {
          "total": {"type": "integer", "minimum": 0},
          "limit": {"type": "integer"},
          "offset": {"type": "integer"},
          "deliveries": {"type": "array", "items": {"$ref": "#/components/schemas/MarketWebhookEntry"}}
        }
      },
      "MarketWebhookAttempt": {
        "type": "object",
        "required": ["attempt", "attempted_at", "url", "http_status", "error", "duration_ms", "response_snippet"],
        "properties": {
          "attempt": {"type": "integer", "minimum": 1},
          "attempted_at": {"$ref": "#/components/schemas/MarketTimestamp"},
          "url": {"type": "string"},
          "http_status": {"type": ["integer", "null"]},
          "error": {"type": ["string", "null"]},
          "duration_ms": {"type": "integer", "minimum": 0},
          "response_snippet": {"type": ["string", "null"], "description": "The start of your endpoint's answer, at most 1 KiB"}
        }
      },
      "MarketWebhookEvent": {
        "allOf": [{"$ref": "#/components/schemas/MarketWebhookEntry"}],
        "type": "object",
        "required": ["payload", "attempts_logged", "attempt_log"],
        "properties": {
          "payload": {"description": "The body, exactly as signed and sent"},
          "attempts_logged": {"type": "integer", "minimum": 0, "description": "Attempts logged across every round"},
          "attempt_log": {"type": "array", "items": {"$ref": "#/components/schemas/MarketWebhookAttempt"}}
        }
      },
      "MarketWebhookRedelivery": {
        "allOf": [{"$ref": "#/components/schemas/MarketWebhookEntry"}],
        "type": "object",
        "required": ["redelivery"],
        "properties": {"redelivery": {"type": "string", "enum": ["queued", "already_pending"]}}
      }
    }
  }
}"##;
