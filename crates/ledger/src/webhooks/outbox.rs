//! The outbox's state changes: enqueue, claim, record, redeliver, and the reads of events and the delivery log.

use std::time::Duration;

use sqlx::{PgConnection, Postgres, Transaction, postgres::PgRow};
use url::Url;
use uuid::Uuid;

use super::{
    AttemptResponse, ClaimToken, ClaimedWebhook, DeliveryId, DeliveryPage, DisabledReason, EnqueuedWebhook,
    NewWebhookEvent, NextStep, ParticipantId, Redelivery, SNIPPET_BYTES, WebhookAttempt, WebhookDelivery, WebhookEvent,
    WebhookEventId, WebhookSecret, WebhookStatus, micros, time,
};
use crate::{Error, Ledger, Result, decode::Fields};

/// The advisory lock key of an ordering key, over columns (or parameters) named `participant` and `key`. Keys that
/// collide only serialize each other's enqueues; they never merge orderings (the queries compare the columns).
macro_rules! key_lock {
    ($participant:literal, $key:literal) => {
        concat!("hashtextextended(", $participant, "::text || '/' || ", $key, ", 0)")
    };
}

/// Enqueues `event` inside the caller's transaction, so a state change and the event announcing it commit together
/// or not at all. `None` when the participant has no endpoint (nothing is written); a disabled endpoint's event is
/// written [`WebhookStatus::Skipped`].
///
/// The transaction must be READ COMMITTED (PostgreSQL's default; an ordered event in any other level is refused
/// with [`Error::WebhookIsolation`]). It holds the ordering key's lock until it ends, so keep it short after this
/// call; a transaction that enqueues for several keys should take them in a consistent order. After committing,
/// call [`Ledger::announce_webhooks`] to wake this process's dispatchers at once.
pub async fn enqueue_webhook_in(
    tx: &mut Transaction<'_, Postgres>,
    event: &NewWebhookEvent,
) -> Result<Option<EnqueuedWebhook>> {
    validate(event)?;
    let conn: &mut PgConnection = tx;
    if let Some(key) = &event.ordering_key {
        // Its own statement: the predecessor check below must read a snapshot taken after the lock is held.
        let isolation: String = sqlx::query_scalar(concat!(
            "SELECT current_setting('transaction_isolation') FROM (SELECT pg_advisory_xact_lock(",
            key_lock!("$1", "$2"),
            ")) AS locked"
        ))
        .bind(event.participant.0)
        .bind(key)
        .fetch_one(&mut *conn)
        .await?;
        if isolation != "read committed" {
            return Err(Error::WebhookIsolation { isolation });
        }
    }
    // FOR SHARE on the endpoint: a concurrent disable either waits for this event (and skips it) or is seen.
    let row = sqlx::query(
        "WITH endpoint AS (
             SELECT disabled_at IS NULL AS enabled FROM webhook_endpoints WHERE participant_id = $1 FOR SHARE)
         INSERT INTO webhook_events
             (participant_id, event_type, ordering_key, payload, status, next_attempt_at, finished_at, last_error)
         SELECT $1, $2, $3, $4,
                CASE WHEN enabled THEN 'pending' ELSE 'skipped' END::webhook_event_status,
                CASE WHEN NOT enabled THEN NULL
                     WHEN $3::text IS NOT NULL AND EXISTS (
                         SELECT 1 FROM webhook_events p
                         WHERE p.participant_id = $1 AND p.ordering_key = $3 AND p.status = 'pending')
                     THEN NULL
                     ELSE now() END,
                CASE WHEN enabled THEN NULL ELSE now() END,
                CASE WHEN enabled THEN NULL ELSE 'endpoint disabled' END
         FROM endpoint
         RETURNING id, status::text AS status",
    )
    .bind(event.participant.0)
    .bind(&event.event_type)
    .bind(event.ordering_key.as_deref())
    .bind(&event.payload)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| {
        let f = Fields::of("webhook_events", &row);
        Ok(EnqueuedWebhook { id: WebhookEventId(f.get("id")?), status: status_of(&f)? })
    })
    .transpose()
}

impl Ledger {
    /// Enqueues `event` in a transaction of its own and wakes this process's dispatchers; see
    /// [`enqueue_webhook_in`] to enqueue beside another state change.
    pub async fn enqueue_webhook(&self, event: &NewWebhookEvent) -> Result<Option<EnqueuedWebhook>> {
        let mut tx = self.pool.begin().await?;
        let enqueued = enqueue_webhook_in(&mut tx, event).await?;
        tx.commit().await?;
        if enqueued.is_some_and(|e| e.status == WebhookStatus::Pending) {
            self.announce_webhooks();
        }
        Ok(enqueued)
    }

    /// Claims up to `limit` due events for one attempt each, soonest due first, leased for `lease`: nobody else
    /// claims them until it runs out, so a dispatcher that dies mid-attempt hands them on. Rows another claimer
    /// holds are skipped, never waited for. Each claim counts as an attempt, and moves the event's due time to the
    /// lease's end: an event in flight is not due (the claim scan never walks past it), and is due again, for another
    /// dispatcher, exactly when its lease runs out.
    pub async fn claim_webhooks(&self, limit: u32, lease: Duration) -> Result<Vec<ClaimedWebhook>> {
        // The due index is walked in order one entry at a time (each step an index descent with LIMIT 1), and each
        // entry is checked and locked by its primary key, until `limit` are claimed: the cost is the events claimed
        // (and the few skipped), never the backlog. Written as one ORDER BY ... LIMIT, the planner's choice
        // depends on its estimate of due rows, and a burst the statistics have not seen yet (a table of delivered
        // events, then 20,000 due at once) got a bitmap scan of every due event, each probed for its predecessor,
        // then a sort: 0.5 s a claim at 5,000 due, 104 deliveries/s (docs/BENCHMARKS.md).
        // The predecessor check only matters after a redelivery made an old event pending beside its key's head;
        // the endpoint check only restates the outbox's rule that a disabled endpoint has no pending events.
        let rows = sqlx::query(
            "WITH RECURSIVE walk AS (
                 (SELECT w.next_attempt_at, w.id FROM webhook_events w
                  WHERE w.status = 'pending' AND w.next_attempt_at <= now()
                  ORDER BY w.next_attempt_at, w.id LIMIT 1)
                 UNION ALL
                 SELECT n.next_attempt_at, n.id FROM walk CROSS JOIN LATERAL (
                     SELECT w.next_attempt_at, w.id FROM webhook_events w
                     WHERE w.status = 'pending' AND w.next_attempt_at <= now()
                       AND (w.next_attempt_at, w.id) > (walk.next_attempt_at, walk.id)
                     ORDER BY w.next_attempt_at, w.id LIMIT 1) n),
             due AS (
                 SELECT c.id FROM walk CROSS JOIN LATERAL (
                     SELECT e.id FROM webhook_events e
                     WHERE e.id = walk.id AND e.status = 'pending' AND e.next_attempt_at <= now()
                       AND (e.claimed_until IS NULL OR e.claimed_until <= now())
                       AND EXISTS (
                           SELECT 1 FROM webhook_endpoints d
                           WHERE d.participant_id = e.participant_id AND d.disabled_at IS NULL)
                       AND (e.ordering_key IS NULL OR NOT EXISTS (
                           SELECT 1 FROM webhook_events p
                           WHERE p.participant_id = e.participant_id AND p.ordering_key = e.ordering_key
                             AND p.status = 'pending' AND p.id < e.id))
                     FOR UPDATE SKIP LOCKED) c
                 LIMIT $1)
             UPDATE webhook_events w
             SET claimed_until = now() + $2 * interval '1 millisecond',
                 next_attempt_at = now() + $2 * interval '1 millisecond',
                 claim_token = (random() * 9.2e18)::bigint,
                 attempts = w.attempts + 1
             FROM due, webhook_endpoints d
             WHERE w.id = due.id AND d.participant_id = w.participant_id
             RETURNING w.id, w.participant_id, w.event_type, w.payload, w.attempts, w.claim_token, d.url, d.secret",
        )
        .bind(i64::from(limit))
        .bind(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        let mut claimed: Vec<ClaimedWebhook> = rows.iter().map(claimed_from_row).collect::<Result<_>>()?;
        claimed.sort_by_key(|c| c.id);
        Ok(claimed)
    }

    /// Records attempts' results in one transaction: every attempt goes into the delivery log, and each event moves
    /// on as its [`NextStep`] says if its claim still holds (a result whose lease ran out and whose event another
    /// dispatcher claimed is logged only). Finishing an event makes the next event of its ordering key due;
    /// [`NextStep::Gone`] disables the endpoint. Returns how many events moved.
    pub async fn record_webhook_attempts(&self, attempts: &[WebhookAttempt]) -> Result<usize> {
        if attempts.is_empty() {
            return Ok(0);
        }
        let mut tx = self.pool.begin().await?;
        let finishing: Vec<i64> =
            attempts.iter().filter(|a| !matches!(a.next, NextStep::RetryIn(_))).map(|a| a.event.0).collect();
        if !finishing.is_empty() {
            // Under the keys' locks, so an enqueue that sees its predecessor pending is seen by the wake below.
            // Sorted, so two recorders never wait on each other in a cycle.
            sqlx::query(concat!(
                "SELECT count(*) FROM (SELECT pg_advisory_xact_lock(k.h) FROM (
                     SELECT DISTINCT ",
                key_lock!("participant_id", "ordering_key"),
                " AS h FROM webhook_events WHERE id = ANY($1) AND ordering_key IS NOT NULL) AS k
                 ORDER BY k.h) AS locked"
            ))
            .bind(&finishing)
            .fetch_one(&mut *tx)
            .await?;
        }

        let (mut ids, mut tokens, mut statuses, mut delays, mut errors) = (vec![], vec![], vec![], vec![], vec![]);
        for a in attempts {
            let (status, delay) = match a.next {
                NextStep::Delivered => (WebhookStatus::Delivered, None),
                NextStep::RetryIn(delay) => {
                    (WebhookStatus::Pending, Some(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX)))
                }
                NextStep::GiveUp | NextStep::Gone => (WebhookStatus::Failed, None),
            };
            ids.push(a.event.0);
            tokens.push(a.token.0);
            statuses.push(status.as_sql());
            delays.push(delay);
            errors.push(match (&a.response, a.next) {
                (_, NextStep::Delivered) => None,
                (AttemptResponse::Http { status, .. }, NextStep::Gone) => {
                    Some(format!("HTTP {status}: endpoint gone, disabled"))
                }
                (AttemptResponse::Http { status, .. }, _) => Some(format!("HTTP {status}")),
                (AttemptResponse::Transport { error }, _) => Some(error.clone()),
            });
        }
        let moved = sqlx::query(
            "UPDATE webhook_events e SET
                 status = u.status::webhook_event_status,
                 next_attempt_at = CASE WHEN u.status = 'pending' THEN now() + u.delay_ms * interval '1 millisecond' END,
                 claimed_until = NULL, claim_token = NULL, last_error = u.error,
                 finished_at = CASE WHEN u.status = 'pending' THEN NULL ELSE now() END
             FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::text[])
                 AS u(id, token, status, delay_ms, error)
             WHERE e.id = u.id AND e.claim_token = u.token AND e.status = 'pending'
             RETURNING e.id, e.participant_id, e.ordering_key, e.status::text AS status",
        )
        .bind(&ids)
        .bind(&tokens)
        .bind(&statuses)
        .bind(&delays)
        .bind(&errors)
        .fetch_all(&mut *tx)
        .await?;

        let (mut key_participants, mut keys, mut gone) = (vec![], vec![], vec![]);
        for row in &moved {
            let f = Fields::of("webhook_events", row);
            let id: i64 = f.get("id")?;
            let participant: Uuid = f.get("participant_id")?;
            if status_of(&f)? == WebhookStatus::Pending {
                continue;
            }
            if let Some(key) = f.get::<Option<String>>("ordering_key")? {
                key_participants.push(participant);
                keys.push(key);
            }
            if attempts.iter().any(|a| a.event.0 == id && a.next == NextStep::Gone) {
                gone.push(participant);
            }
        }
        wake_next(&mut tx, &key_participants, &keys).await?;
        if !gone.is_empty() {
            gone.sort_unstable();
            gone.dedup();
            disable_endpoints(&mut tx, &gone, DisabledReason::Gone).await?;
        }
        insert_deliveries(&mut tx, attempts).await?;
        tx.commit().await?;
        Ok(moved.len())
    }

    /// Sends `participant`'s event `id` again, with the same id. A delivered, failed or skipped event becomes
    /// pending with its attempts counted from 1, due now (or when the events before it of its ordering key are
    /// finished): [`Redelivery::Queued`]. A pending one is left as it is, so asking again while a redelivery (or any
    /// delivery) is pending queues nothing more: [`Redelivery::AlreadyPending`]; only a retry waiting out its backoff is
    /// made due now (an attempt in flight, or an event waiting behind its key, is not touched). Fails if the event is
    /// not the participant's ([`Error::NoSuchWebhookEvent`]) or its endpoint is missing or disabled
    /// ([`Error::WebhookEndpointDisabled`]).
    pub async fn redeliver_webhook(&self, participant: ParticipantId, id: WebhookEventId) -> Result<Redelivery> {
        let mut tx = self.pool.begin().await?;
        let key: Option<Option<String>> =
            sqlx::query_scalar("SELECT ordering_key FROM webhook_events WHERE id = $1 AND participant_id = $2")
                .bind(id.0)
                .bind(participant.0)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(key) = key else {
            return Err(Error::NoSuchWebhookEvent { participant, event: id });
        };
        if let Some(key) = &key {
            sqlx::query(concat!("SELECT pg_advisory_xact_lock(", key_lock!("$1", "$2"), ")"))
                .bind(participant.0)
                .bind(key)
                .execute(&mut *tx)
                .await?;
        }
        // The event's row is locked before it is read, so `was_pending` is the state this statement changes.
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "WITH endpoint AS (
                 SELECT 1 FROM webhook_endpoints WHERE participant_id = $2 AND disabled_at IS NULL FOR SHARE),
             target AS (
                 SELECT t.id, t.status = 'pending' AS was_pending
                 FROM webhook_events t, endpoint
                 WHERE t.id = $1 AND t.participant_id = $2
                 FOR UPDATE OF t)
             UPDATE webhook_events e SET
                 status = 'pending',
                 attempts = CASE WHEN target.was_pending THEN e.attempts ELSE 0 END,
                 claimed_until = CASE WHEN target.was_pending THEN e.claimed_until END,
                 claim_token = CASE WHEN target.was_pending THEN e.claim_token END,
                 finished_at = NULL,
                 next_attempt_at = CASE
                     WHEN target.was_pending AND (e.claimed_until > now() OR e.next_attempt_at IS NULL)
                     THEN e.next_attempt_at
                     WHEN target.was_pending THEN least(e.next_attempt_at, now())
                     WHEN e.ordering_key IS NOT NULL AND EXISTS (
                         SELECT 1 FROM webhook_events p
                         WHERE p.participant_id = e.participant_id AND p.ordering_key = e.ordering_key
                           AND p.status = 'pending' AND p.id < e.id)
                     THEN NULL ELSE now() END
             FROM target
             WHERE e.id = target.id
             RETURNING target.was_pending, {EVENT_COLUMNS}"
        )))
        .bind(id.0)
        .bind(participant.0)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Err(Error::WebhookEndpointDisabled { participant });
        };
        let was_pending: bool = Fields::of("webhook_events", &row).get("was_pending")?;
        let event = event_from_row(&row)?;
        tx.commit().await?;
        self.announce_webhooks();
        Ok(if was_pending { Redelivery::AlreadyPending(event) } else { Redelivery::Queued(event) })
    }

    /// How many events are pending (due, waiting behind their key, or in flight), across every participant.
    pub async fn webhook_backlog(&self) -> Result<u64> {
        let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_events WHERE status = 'pending'")
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(pending).unwrap_or(0))
    }

    /// The event `id`, whoever's it is.
    pub async fn webhook_event(&self, id: WebhookEventId) -> Result<Option<WebhookEvent>> {
        let row =
            sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {EVENT_COLUMNS} FROM webhook_events e WHERE id = $1")))
                .bind(id.0)
                .fetch_optional(&self.pool)
                .await?;
        row.as_ref().map(event_from_row).transpose()
    }

    /// A page of `participant`'s delivery log, newest attempt first.
    pub async fn webhook_deliveries(
        &self,
        participant: ParticipantId,
        page: DeliveryPage,
    ) -> Result<Vec<WebhookDelivery>> {
        let rows = sqlx::query(
            "SELECT d.id, d.event_id, e.event_type, d.attempt,
                    (extract(epoch FROM d.attempted_at) * 1000000)::bigint AS attempted_at, d.url, d.http_status,
                    d.error, d.duration_ms, d.response_snippet
             FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id
             WHERE d.participant_id = $1 AND ($2::bigint IS NULL OR d.id < $2)
             ORDER BY d.id DESC LIMIT $3",
        )
        .bind(participant.0)
        .bind(page.before.map(|d| d.0))
        .bind(i64::from(page.limit.min(DeliveryPage::MAX_LIMIT)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(delivery_from_row).collect()
    }
}

/// Disables the endpoints of `participants` (endpoint rows first, so enqueues in flight finish before the skip
/// reads the events), then skips their pending events. Returns how many endpoints it disabled.
pub(crate) async fn disable_endpoints(
    tx: &mut Transaction<'_, Postgres>,
    participants: &[Uuid],
    reason: DisabledReason,
) -> Result<u64> {
    let disabled = sqlx::query(
        "UPDATE webhook_endpoints SET disabled_at = now(), disabled_reason = $2, updated_at = now()
         WHERE participant_id = ANY($1) AND disabled_at IS NULL",
    )
    .bind(participants)
    .bind(reason.as_sql())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    // Every pending event of theirs goes, so no ordering key is left waiting on a skipped one.
    sqlx::query(
        "UPDATE webhook_events SET status = 'skipped', next_attempt_at = NULL, claimed_until = NULL,
             claim_token = NULL, finished_at = now(), last_error = 'endpoint disabled'
         WHERE participant_id = ANY($1) AND status = 'pending'",
    )
    .bind(participants)
    .execute(&mut **tx)
    .await?;
    Ok(disabled)
}

/// Makes the oldest pending event of each (participant, key) due if it waits on a predecessor (now finished).
async fn wake_next(tx: &mut Transaction<'_, Postgres>, participants: &[Uuid], keys: &[String]) -> Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE webhook_events w SET next_attempt_at = now()
         FROM (SELECT DISTINCT ON (e.participant_id, e.ordering_key) e.id, e.next_attempt_at
               FROM webhook_events e
               JOIN unnest($1::uuid[], $2::text[]) AS k(participant_id, ordering_key)
                 ON e.participant_id = k.participant_id AND e.ordering_key = k.ordering_key
               WHERE e.status = 'pending'
               ORDER BY e.participant_id, e.ordering_key, e.id) AS head
         WHERE w.id = head.id AND head.next_attempt_at IS NULL",
    )
    .bind(participants)
    .bind(keys)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn insert_deliveries(tx: &mut Transaction<'_, Postgres>, attempts: &[WebhookAttempt]) -> Result<()> {
    let mut columns = DeliveryColumns::default();
    for a in attempts {
        columns.event.push(a.event.0);
        columns.attempt.push(i32::try_from(a.attempt).unwrap_or(i32::MAX));
        columns.at.push(micros(a.attempted_at));
        columns.url.push(a.url.as_str().to_owned());
        let (status, error, snippet) = match &a.response {
            AttemptResponse::Http { status, snippet } => {
                (Some(i16::try_from(*status).unwrap_or(i16::MAX)), None, Some(storable(snippet, SNIPPET_BYTES)))
            }
            AttemptResponse::Transport { error } => (None, Some(storable(error, SNIPPET_BYTES)), None),
        };
        columns.status.push(status);
        columns.error.push(error);
        columns.snippet.push(snippet);
        columns.duration.push(i32::try_from(a.duration.as_millis()).unwrap_or(i32::MAX));
    }
    sqlx::query(
        "INSERT INTO webhook_deliveries
             (event_id, participant_id, attempt, attempted_at, url, http_status, error, duration_ms, response_snippet)
         SELECT u.event_id, e.participant_id, u.attempt, 'epoch'::timestamptz + u.at * interval '1 microsecond',
                u.url, u.status, u.error, u.duration, u.snippet
         FROM unnest($1::bigint[], $2::int[], $3::bigint[], $4::text[], $5::smallint[], $6::text[], $7::int[],
                     $8::text[]) AS u(event_id, attempt, at, url, status, error, duration, snippet)
         JOIN webhook_events e ON e.id = u.event_id",
    )
    .bind(&columns.event)
    .bind(&columns.attempt)
    .bind(&columns.at)
    .bind(&columns.url)
    .bind(&columns.status)
    .bind(&columns.error)
    .bind(&columns.duration)
    .bind(&columns.snippet)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The delivery log's columns, one array each, for one `unnest` insert.
#[derive(Default)]
struct DeliveryColumns {
    event: Vec<i64>,
    attempt: Vec<i32>,
    at: Vec<i64>,
    url: Vec<String>,
    status: Vec<Option<i16>>,
    error: Vec<Option<String>>,
    duration: Vec<i32>,
    snippet: Vec<Option<String>>,
}

/// `text` cut to at most `max` bytes at a character boundary.
/// `text` as PostgreSQL `text` takes it, at most `max` bytes: a receiver's answer is anyone's bytes, and a NUL in
/// one would fail the insert of every attempt recorded with it (other participants' included).
fn storable(text: &str, max: usize) -> String {
    let text = text.replace('\0', "\u{fffd}");
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

fn validate(event: &NewWebhookEvent) -> Result<()> {
    let t = &event.event_type;
    let dotted =
        t.split('.').all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    if !dotted || t.len() > 100 {
        return Err(Error::InvalidWebhookEvent {
            field: "event_type",
            value: t.clone(),
            requirement: "dot-separated [A-Za-z0-9_] identifiers, at most 100 characters",
        });
    }
    if let Some(key) = &event.ordering_key
        && !(1..=200).contains(&key.chars().count())
    {
        return Err(Error::InvalidWebhookEvent {
            field: "ordering_key",
            value: key.clone(),
            requirement: "1 to 200 characters",
        });
    }
    Ok(())
}

const EVENT_COLUMNS: &str = "e.id, e.participant_id, e.event_type, e.ordering_key, e.payload,
    (extract(epoch FROM e.created_at) * 1000000)::bigint AS created_at, e.status::text AS status, e.attempts,
    (extract(epoch FROM e.next_attempt_at) * 1000000)::bigint AS next_attempt_at, e.last_error,
    (extract(epoch FROM e.finished_at) * 1000000)::bigint AS finished_at";

pub(super) fn status_of(f: &Fields<'_>) -> Result<WebhookStatus> {
    f.parsed("status", "a webhook event status", |s: &String| WebhookStatus::from_sql(s))
}

pub(super) fn count(f: &Fields<'_>, column: &'static str) -> Result<u32> {
    f.parsed(column, "a non-negative count", |n: &i32| u32::try_from(*n).ok())
}

fn event_from_row(row: &PgRow) -> Result<WebhookEvent> {
    let f = Fields::of("webhook_events", row);
    Ok(WebhookEvent {
        id: WebhookEventId(f.get("id")?),
        participant: ParticipantId(f.get("participant_id")?),
        event_type: f.get("event_type")?,
        ordering_key: f.get("ordering_key")?,
        payload: f.get("payload")?,
        created_at: time(f.get("created_at")?),
        status: status_of(&f)?,
        attempts: count(&f, "attempts")?,
        next_attempt_at: f.get::<Option<i64>>("next_attempt_at")?.map(time),
        last_error: f.get("last_error")?,
        finished_at: f.get::<Option<i64>>("finished_at")?.map(time),
    })
}

fn claimed_from_row(row: &PgRow) -> Result<ClaimedWebhook> {
    let f = Fields::of("webhook_events", row);
    Ok(ClaimedWebhook {
        id: WebhookEventId(f.get("id")?),
        participant: ParticipantId(f.get("participant_id")?),
        event_type: f.get("event_type")?,
        payload: f.get("payload")?,
        attempt: count(&f, "attempts")?,
        url: f.parsed("url", "an http(s) URL", |s: &String| Url::parse(s).ok())?,
        secret: f.parsed("secret", "a whsec_ secret", |s: &String| WebhookSecret::parse(s))?,
        token: ClaimToken(f.get("claim_token")?),
    })
}

pub(super) fn delivery_from_row(row: &PgRow) -> Result<WebhookDelivery> {
    let f = Fields::of("webhook_deliveries", row);
    Ok(WebhookDelivery {
        id: DeliveryId(f.get("id")?),
        event: WebhookEventId(f.get("event_id")?),
        event_type: f.get("event_type")?,
        attempt: count(&f, "attempt")?,
        attempted_at: time(f.get("attempted_at")?),
        url: f.get("url")?,
        http_status: f.opt_parsed("http_status", "an HTTP status", |s: &i16| u16::try_from(*s).ok())?,
        error: f.get("error")?,
        duration: std::time::Duration::from_millis(
            f.parsed("duration_ms", "a duration", |d: &i32| u64::try_from(*d).ok())?,
        ),
        response_snippet: f.get("response_snippet")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snippet_is_cut_at_a_character_boundary() {
        assert_eq!(storable("abc", 10), "abc");
        assert_eq!(storable("abcdef", 4), "abcd");
        // 'é' is two bytes: cutting inside it keeps the character out.
        assert_eq!(storable("aé", 2), "a");
    }

    #[test]
    fn a_nul_is_stored_as_a_replacement_character() {
        assert_eq!(storable("ok\0tail", 100), "ok\u{fffd}tail");
        assert_eq!(storable("\0\0", 4), "\u{fffd}");
    }

    #[test]
    fn event_types_and_ordering_keys_are_checked_before_any_sql() {
        let event = |event_type: &str, key: Option<&str>| NewWebhookEvent {
            participant: ParticipantId(Uuid::nil()),
            event_type: event_type.into(),
            ordering_key: key.map(Into::into),
            payload: serde_json::json!({}),
        };
        assert!(validate(&event("job.completed", Some("job-1"))).is_ok());
        assert!(validate(&event("job_dispatch", None)).is_ok());
        for bad in ["", "job.", ".job", "job..done", "job done", "job-done", &"a".repeat(101)] {
            assert!(matches!(validate(&event(bad, None)), Err(Error::InvalidWebhookEvent { .. })), "{bad:?}");
        }
        for bad in ["".to_owned(), "k".repeat(201)] {
            assert!(validate(&event("job.done", Some(&bad))).is_err());
        }
    }
}
