//! A participant's own view of its outbox: its events newest first with where each stands and its newest attempt
//! ([`Ledger::webhook_history`]), one event with its body and attempts ([`Ledger::webhook_history_event`]). Every
//! read is scoped to the participant: another participant's event is never found.

use std::time::SystemTime;

use sqlx::postgres::PgRow;
use uuid::Uuid;

use super::{
    ParticipantId, WebhookDelivery, WebhookEventId, WebhookStatus,
    outbox::{count, delivery_from_row, status_of},
    time,
};
use crate::{Ledger, Result, decode::Fields};

/// Which of a participant's events to list, and which page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookHistoryQuery {
    /// Only events with this status.
    pub status: Option<WebhookStatus>,
    /// Only events of this type.
    pub event_type: Option<String>,
    /// At most this many (capped at [`WebhookHistoryQuery::MAX_LIMIT`]).
    pub limit: u32,
    /// Skip this many of the newest.
    pub offset: u32,
}

impl WebhookHistoryQuery {
    /// The largest page.
    pub const MAX_LIMIT: u32 = 100;
}

/// The newest logged attempt of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastAttempt {
    /// When the request was sent.
    pub at: SystemTime,
    /// The answer's status, if one came.
    pub http_status: Option<u16>,
    /// The transport failure, if no answer came.
    pub error: Option<String>,
}

/// One event as its owner's delivery log shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookHistoryEntry {
    /// The event.
    pub id: WebhookEventId,
    /// Its type.
    pub event_type: String,
    /// The `job_id` of its body, when that is a UUID.
    pub job_id: Option<Uuid>,
    /// When it was enqueued.
    pub created_at: SystemTime,
    /// Where it stands.
    pub status: WebhookStatus,
    /// Attempts started since it was enqueued or last redelivered.
    pub attempts: u32,
    /// Whether an attempt holds its claim right now.
    pub in_flight: bool,
    /// When it is due (in flight: when its lease runs out, when it is due again unless a result is recorded);
    /// `None` while an earlier event of its ordering key is unfinished, and once final.
    pub next_attempt_at: Option<SystemTime>,
    /// The last attempt's failure as recorded (`HTTP 500`, a transport error, `endpoint disabled`).
    pub last_error: Option<String>,
    /// When it became delivered, failed or skipped.
    pub finished_at: Option<SystemTime>,
    /// Its newest logged attempt, if any was logged.
    pub last_attempt: Option<LastAttempt>,
}

/// A page of a participant's events, with how many match in all.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookHistoryPage {
    /// Events matching the query, on every page.
    pub total: u64,
    /// This page, newest first.
    pub entries: Vec<WebhookHistoryEntry>,
}

/// One event in full for its owner.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookHistoryEvent {
    /// Where it stands.
    pub entry: WebhookHistoryEntry,
    /// Its ordering key.
    pub ordering_key: Option<String>,
    /// The body, as sent.
    pub payload: serde_json::Value,
    /// Its logged attempts, newest first, at most [`WebhookHistoryEvent::MAX_ATTEMPTS`].
    pub attempts: Vec<WebhookDelivery>,
    /// How many attempts are logged in all (every round, across redeliveries).
    pub attempts_logged: u64,
}

impl WebhookHistoryEvent {
    /// Most attempts listed with an event.
    pub const MAX_ATTEMPTS: u32 = 100;
}

/// The entry's columns over `webhook_events e`, its newest attempt as `last_*` (a lateral join named `l`).
const ENTRY_COLUMNS: &str = "e.id, e.event_type, e.payload->>'job_id' AS job_id,
    (extract(epoch FROM e.created_at) * 1000000)::bigint AS created_at, e.status::text AS status, e.attempts,
    coalesce(e.claimed_until > now(), false) AS in_flight,
    (extract(epoch FROM e.next_attempt_at) * 1000000)::bigint AS next_attempt_at, e.last_error,
    (extract(epoch FROM e.finished_at) * 1000000)::bigint AS finished_at,
    (extract(epoch FROM l.attempted_at) * 1000000)::bigint AS last_attempted_at, l.http_status AS last_http_status,
    l.error AS last_transport_error";

/// A participant's events (`$1`) of a status (`$2`, text) and a type (`$3`), either unset.
const HISTORY_FILTER: &str = "participant_id = $1 AND ($2::text IS NULL OR status = $2::webhook_event_status)
    AND ($3::text IS NULL OR event_type = $3)";

/// The newest attempt of event `e`, through `webhook_deliveries_event`.
const LAST_ATTEMPT: &str = "LEFT JOIN LATERAL (
        SELECT d.attempted_at, d.http_status, d.error FROM webhook_deliveries d
        WHERE d.event_id = e.id ORDER BY d.id DESC LIMIT 1) l ON true";

impl Ledger {
    /// A page of `participant`'s events, newest first, and how many match `query` in all (one snapshot).
    pub async fn webhook_history(
        &self,
        participant: ParticipantId,
        query: &WebhookHistoryQuery,
    ) -> Result<WebhookHistoryPage> {
        // One statement, one snapshot: the count and the page agree. An offset past the end still yields the
        // count's row (with a NULL page).
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "WITH page AS (
                 SELECT {ENTRY_COLUMNS}
                 FROM (SELECT * FROM webhook_events WHERE {HISTORY_FILTER} ORDER BY id DESC LIMIT $4 OFFSET $5) e
                 {LAST_ATTEMPT})
             SELECT (SELECT count(*) FROM webhook_events WHERE {HISTORY_FILTER}) AS total, page.*
             FROM (VALUES (1)) AS one (x) LEFT JOIN page ON true
             ORDER BY page.id DESC"
        )))
        .bind(participant.0)
        .bind(query.status.map(WebhookStatus::as_sql))
        .bind(query.event_type.as_deref())
        .bind(i64::from(query.limit.min(WebhookHistoryQuery::MAX_LIMIT)))
        .bind(i64::from(query.offset))
        .fetch_all(&self.pool)
        .await?;
        let mut total = 0;
        let mut entries = Vec::with_capacity(rows.len());
        for row in &rows {
            let f = Fields::of("webhook_events", row);
            total = f.u64("total")?;
            if f.get::<Option<i64>>("id")?.is_some() {
                entries.push(entry_from_row(row)?);
            }
        }
        Ok(WebhookHistoryPage { total, entries })
    }

    /// `participant`'s event `id` with its body and newest attempts; `None` if it is not that participant's.
    pub async fn webhook_history_event(
        &self,
        participant: ParticipantId,
        id: WebhookEventId,
    ) -> Result<Option<WebhookHistoryEvent>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ENTRY_COLUMNS}, e.ordering_key, e.payload,
                    (SELECT count(*) FROM webhook_deliveries c WHERE c.event_id = e.id) AS attempts_logged
             FROM webhook_events e {LAST_ATTEMPT}
             WHERE e.id = $1 AND e.participant_id = $2"
        )))
        .bind(id.0)
        .bind(participant.0)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let entry = entry_from_row(&row)?;
        let f = Fields::of("webhook_events", &row);
        let (ordering_key, payload, attempts_logged) =
            (f.get("ordering_key")?, f.get("payload")?, f.u64("attempts_logged")?);
        let attempts = sqlx::query(
            "SELECT d.id, d.event_id, e.event_type, d.attempt,
                    (extract(epoch FROM d.attempted_at) * 1000000)::bigint AS attempted_at, d.url, d.http_status,
                    d.error, d.duration_ms, d.response_snippet
             FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id
             WHERE d.event_id = $1 AND d.participant_id = $2
             ORDER BY d.id DESC LIMIT $3",
        )
        .bind(id.0)
        .bind(participant.0)
        .bind(i64::from(WebhookHistoryEvent::MAX_ATTEMPTS))
        .fetch_all(&self.pool)
        .await?;
        let attempts = attempts.iter().map(delivery_from_row).collect::<Result<_>>()?;
        Ok(Some(WebhookHistoryEvent { entry, ordering_key, payload, attempts, attempts_logged }))
    }
}

fn entry_from_row(row: &PgRow) -> Result<WebhookHistoryEntry> {
    let f = Fields::of("webhook_events", row);
    let last_attempt = match f.get::<Option<i64>>("last_attempted_at")? {
        Some(at) => Some(LastAttempt {
            at: time(at),
            http_status: f.opt_parsed("last_http_status", "an HTTP status", |s: &i16| u16::try_from(*s).ok())?,
            error: f.get("last_transport_error")?,
        }),
        None => None,
    };
    Ok(WebhookHistoryEntry {
        id: WebhookEventId(f.get("id")?),
        event_type: f.get("event_type")?,
        // A body's job_id is the event's business, not the outbox's: one that is no UUID is simply not a job's.
        job_id: f.get::<Option<String>>("job_id")?.and_then(|id| id.parse().ok()),
        created_at: time(f.get("created_at")?),
        status: status_of(&f)?,
        attempts: count(&f, "attempts")?,
        in_flight: f.get("in_flight")?,
        next_attempt_at: f.get::<Option<i64>>("next_attempt_at")?.map(time),
        last_error: f.get("last_error")?,
        finished_at: f.get::<Option<i64>>("finished_at")?.map(time),
        last_attempt,
    })
}
