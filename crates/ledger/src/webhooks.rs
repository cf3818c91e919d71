//! Webhooks: each participant's endpoint, the outbox of events to deliver to it, and the log of every attempt.
//!
//! State machine of an event (each arrow is one database transaction; `claim` leases it to one dispatcher):
//!
//! ```text
//!            ┌───────record: retry (due again later)────┐
//!            ▼                                          │
//! enqueue ─▶ pending ──claim_webhooks──▶ pending, claimed ──record──▶ delivered | failed
//!   │          │  ▲                          │
//!   │          │  └──lease runs out──────────┘  (the claimer died: another dispatcher takes it)
//!   │          └──endpoint disabled──▶ skipped
//!   └─(endpoint disabled)──▶ skipped
//! delivered | failed | skipped ──redeliver_webhook──▶ pending (attempts from 1 again)
//! pending ──redeliver_webhook──▶ pending, as it was (a retry waiting out its backoff is due now)
//! ```
//!
//! Events of one (participant, ordering key) are delivered in id order: only the oldest pending one is due, and
//! whoever finishes it makes the next one due, under a transaction-scoped advisory lock on the key that every
//! enqueue also takes before its id is drawn (so ids of a key follow commit order). migrations/0007 has the rules.
//!
//! Newly enqueued events are announced to this process's dispatchers only ([`WebhookListener`]), for the reason
//! settlements are: a `NOTIFY` per insert would serialize every committing transaction behind PostgreSQL's
//! notification lock. Dispatchers in other processes find them by polling the due index, which is cheap.

mod history;
pub(crate) mod outbox;

use std::{
    fmt,
    str::FromStr,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use sqlx::postgres::PgRow;
use tokio::sync::watch;
use url::Url;

pub use history::{LastAttempt, WebhookHistoryEntry, WebhookHistoryEvent, WebhookHistoryPage, WebhookHistoryQuery};
pub use outbox::enqueue_webhook_in;

use crate::{Ledger, Result, decode::Fields};

use crate::market::ParticipantId;

/// A webhook event's id. Its public form, the Standard Webhooks `webhook-id`, is `msg_<decimal id>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WebhookEventId(pub i64);

impl WebhookEventId {
    /// The prefix of the public form.
    pub const PREFIX: &'static str = "msg_";
}

impl fmt::Display for WebhookEventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", Self::PREFIX, self.0)
    }
}

impl FromStr for WebhookEventId {
    type Err = InvalidEventId;

    /// Parses the public form `msg_<decimal id>`.
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let digits = s.strip_prefix(Self::PREFIX).ok_or(InvalidEventId)?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidEventId);
        }
        digits.parse().map(Self).map_err(|_| InvalidEventId)
    }
}

/// A string that is not a webhook event's public id (`msg_` and a decimal number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a webhook event id (msg_ followed by a decimal number)")]
pub struct InvalidEventId;

/// An endpoint's signing secret, `whsec_<base64 of 24 to 64 bytes>` (Standard Webhooks' serialization). Its
/// `Debug` never shows it, and it has no `Display`: read it with [`WebhookSecret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret {
    text: String,
    key: Vec<u8>,
}

impl WebhookSecret {
    /// The prefix Standard Webhooks gives symmetric secrets.
    pub const PREFIX: &'static str = "whsec_";
    /// Fewest key bytes: the Standard Webhooks spec asks for at least 24.
    pub const MIN_BYTES: usize = 24;
    /// Most key bytes this engine accepts (the HMAC block size of SHA-256).
    pub const MAX_BYTES: usize = 64;

    /// `text` if it is `whsec_` followed by the standard base64 of 24 to 64 bytes.
    pub fn parse(text: &str) -> Option<Self> {
        let key = BASE64.decode(text.strip_prefix(Self::PREFIX)?).ok()?;
        (Self::MIN_BYTES..=Self::MAX_BYTES).contains(&key.len()).then(|| Self { text: text.to_owned(), key })
    }

    /// The secret made from `key` bytes (24 to 64 of them).
    pub fn from_key(key: &[u8]) -> Option<Self> {
        Self::parse(&format!("{}{}", Self::PREFIX, BASE64.encode(key)))
    }

    /// The whole secret, `whsec_...`, as its owner was given it.
    pub fn expose(&self) -> &str {
        &self.text
    }

    /// The HMAC key of the Standard Webhooks signature: the bytes the base64 after `whsec_` encodes.
    pub fn key(&self) -> &[u8] {
        &self.key
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(whsec_<redacted>)")
    }
}

/// Why an endpoint is disabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DisabledReason {
    /// It answered 410 Gone: the receiver asked to stop.
    Gone,
    /// Its owner turned it off.
    Owner,
}

impl DisabledReason {
    const fn as_sql(self) -> &'static str {
        match self {
            Self::Gone => "gone",
            Self::Owner => "owner",
        }
    }

    fn from_sql(s: &str) -> Option<Self> {
        match s {
            "gone" => Some(Self::Gone),
            "owner" => Some(Self::Owner),
            _ => None,
        }
    }
}

/// A participant's webhook endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    /// Its owner.
    pub participant: ParticipantId,
    /// Where events are POSTed.
    pub url: Url,
    /// The signing secret.
    pub secret: WebhookSecret,
    /// When and why deliveries stopped, if they did.
    pub disabled: Option<(SystemTime, DisabledReason)>,
    /// When it was first registered.
    pub created_at: SystemTime,
    /// When its URL, secret or state last changed.
    pub updated_at: SystemTime,
}

/// An event to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewWebhookEvent {
    /// Whose endpoint it goes to.
    pub participant: ParticipantId,
    /// A dotted identifier, e.g. `job.completed` (at most 100 characters of `[A-Za-z0-9_.]`).
    pub event_type: String,
    /// Events of one participant with the same key are delivered in the order they were enqueued (a job id, say);
    /// `None`: no order with any other event. 1 to 200 characters.
    pub ordering_key: Option<String>,
    /// The request body, sent as compact JSON.
    pub payload: serde_json::Value,
}

/// Where an event stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WebhookStatus {
    /// Waiting for an attempt (the first, or a retry), or in flight.
    Pending,
    /// An attempt was answered 2xx.
    Delivered,
    /// Given up: the retry schedule ran out, or the endpoint answered 410 Gone.
    Failed,
    /// Never sent: the endpoint was disabled.
    Skipped,
}

impl WebhookStatus {
    const fn as_sql(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }

    fn from_sql(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "delivered" => Self::Delivered,
            "failed" => Self::Failed,
            "skipped" => Self::Skipped,
            _ => return None,
        })
    }

    /// Every status, in the order an event's life can pass them.
    pub const ALL: [Self; 4] = [Self::Pending, Self::Delivered, Self::Failed, Self::Skipped];

    /// Its name, as stored and as the API shows it: `pending`, `delivered`, `failed` or `skipped`.
    pub const fn as_str(self) -> &'static str {
        self.as_sql()
    }

    /// The status named `name`, if one is.
    pub fn parse(name: &str) -> Option<Self> {
        Self::from_sql(name)
    }
}

/// What an enqueue wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnqueuedWebhook {
    /// The new event.
    pub id: WebhookEventId,
    /// [`WebhookStatus::Pending`], or [`WebhookStatus::Skipped`] when the endpoint is disabled.
    pub status: WebhookStatus,
}

/// An event and where it stands.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookEvent {
    /// Its id.
    pub id: WebhookEventId,
    /// Whose endpoint it goes to.
    pub participant: ParticipantId,
    /// Its type.
    pub event_type: String,
    /// Its ordering key.
    pub ordering_key: Option<String>,
    /// The body.
    pub payload: serde_json::Value,
    /// When it was enqueued.
    pub created_at: SystemTime,
    /// Where it stands.
    pub status: WebhookStatus,
    /// Attempts started since it was enqueued or last redelivered.
    pub attempts: u32,
    /// When it is due (in flight: when its lease runs out, when it is due again unless a result is recorded);
    /// `None` while an earlier event of its ordering key is unfinished, and once final.
    pub next_attempt_at: Option<SystemTime>,
    /// The last attempt's failure.
    pub last_error: Option<String>,
    /// When it became delivered, failed or skipped.
    pub finished_at: Option<SystemTime>,
}

/// What [`Ledger::redeliver_webhook`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Redelivery {
    /// The event was delivered, failed or skipped: it is pending again, its attempts counted from 1.
    Queued(WebhookEvent),
    /// The event was pending already (a redelivery asked for before, or its first delivery or retries): nothing more
    /// was queued.
    AlreadyPending(WebhookEvent),
}

impl Redelivery {
    /// The event as it stands now.
    pub fn event(&self) -> &WebhookEvent {
        match self {
            Self::Queued(event) | Self::AlreadyPending(event) => event,
        }
    }
}

/// Proof that a dispatcher holds an event's claim: a result is recorded only under the claim it was made under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClaimToken(pub i64);

/// An event claimed for one delivery attempt, with what the attempt needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedWebhook {
    /// The event.
    pub id: WebhookEventId,
    /// Its participant.
    pub participant: ParticipantId,
    /// Its type.
    pub event_type: String,
    /// The body to send.
    pub payload: serde_json::Value,
    /// This attempt's number, from 1.
    pub attempt: u32,
    /// The endpoint's URL as it is now.
    pub url: Url,
    /// The endpoint's secret as it is now.
    pub secret: WebhookSecret,
    /// The claim.
    pub token: ClaimToken,
}

/// What came back from one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResponse {
    /// The endpoint answered.
    Http {
        /// The status code.
        status: u16,
        /// The start of the body (at most 1,024 bytes are kept).
        snippet: String,
    },
    /// No answer: the address was refused, the connection failed, or the timeout passed.
    Transport {
        /// What went wrong.
        error: String,
    },
}

/// What happens to the event after an attempt, as the dispatcher decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    /// Answered 2xx: delivered.
    Delivered,
    /// Try again after this long (measured by the database's clock from when the result is recorded).
    RetryIn(Duration),
    /// The retry schedule ran out: failed.
    GiveUp,
    /// Answered 410 Gone: failed, the endpoint is disabled and its other pending events are skipped.
    Gone,
}

/// One attempt's result, to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookAttempt {
    /// The event.
    pub event: WebhookEventId,
    /// The claim it was made under.
    pub token: ClaimToken,
    /// The attempt's number.
    pub attempt: u32,
    /// When the request was sent.
    pub attempted_at: SystemTime,
    /// Where it was sent.
    pub url: Url,
    /// What came back.
    pub response: AttemptResponse,
    /// How long it took.
    pub duration: Duration,
    /// What happens next.
    pub next: NextStep,
}

/// A delivery log row's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeliveryId(pub i64);

/// One logged attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDelivery {
    /// Its id (newer attempts have larger ids).
    pub id: DeliveryId,
    /// The event.
    pub event: WebhookEventId,
    /// The event's type.
    pub event_type: String,
    /// The attempt's number (from 1 again after a redelivery).
    pub attempt: u32,
    /// When the request was sent.
    pub attempted_at: SystemTime,
    /// Where it was sent.
    pub url: String,
    /// The answer's status, if one came.
    pub http_status: Option<u16>,
    /// The transport failure, if no answer came.
    pub error: Option<String>,
    /// How long it took.
    pub duration: Duration,
    /// The start of the answer's body.
    pub response_snippet: Option<String>,
}

/// A page of a participant's delivery log, newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryPage {
    /// Only attempts older than this one (the last id of the previous page); `None` for the first page.
    pub before: Option<DeliveryId>,
    /// At most this many (capped at [`DeliveryPage::MAX_LIMIT`]).
    pub limit: u32,
}

impl DeliveryPage {
    /// The largest page.
    pub const MAX_LIMIT: u32 = 500;
}

/// Wakes up when this process commits a webhook event ([`Ledger::enqueue_webhook`] or
/// [`Ledger::announce_webhooks`], through any clone of one [`Ledger`]). A hint only: other processes' events are
/// found by polling.
#[derive(Debug)]
pub struct WebhookListener {
    receiver: watch::Receiver<u64>,
}

impl WebhookListener {
    /// Returns once an event was announced since the last call (at once if one already was); false once every
    /// clone of the ledger is gone.
    pub async fn changed(&mut self) -> bool {
        self.receiver.changed().await.is_ok()
    }
}

/// The longest response snippet kept, bytes.
pub(crate) const SNIPPET_BYTES: usize = 1_024;

impl Ledger {
    /// Listens for webhook events committed from now on through this ledger or its clones.
    pub fn listen_webhooks(&self) -> WebhookListener {
        WebhookListener { receiver: self.webhooks.subscribe() }
    }

    /// Wakes this process's dispatchers: call it after committing a transaction that ran [`enqueue_webhook_in`]
    /// (without it the events are still found, at the dispatchers' next poll).
    pub fn announce_webhooks(&self) {
        self.webhooks.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Registers `participant`'s endpoint, or replaces its URL and secret (its disabled state is kept: see
    /// [`Ledger::enable_webhook_endpoint`]). Pending events go to the new URL from their next attempt.
    pub async fn upsert_webhook_endpoint(
        &self,
        participant: ParticipantId,
        url: &Url,
        secret: &WebhookSecret,
    ) -> Result<WebhookEndpoint> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO webhook_endpoints AS w (participant_id, url, secret) VALUES ($1, $2, $3)
             ON CONFLICT (participant_id) DO UPDATE SET url = $2, secret = $3, updated_at = now()
             RETURNING {ENDPOINT_COLUMNS}"
        )))
        .bind(participant.0)
        .bind(url.as_str())
        .bind(secret.expose())
        .fetch_one(&self.pool)
        .await?;
        endpoint_from_row(&row)
    }

    /// `participant`'s endpoint, if registered.
    pub async fn webhook_endpoint(&self, participant: ParticipantId) -> Result<Option<WebhookEndpoint>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints w WHERE participant_id = $1"
        )))
        .bind(participant.0)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(endpoint_from_row).transpose()
    }

    /// Stops deliveries to `participant`'s endpoint: its pending events (in flight ones included) become skipped,
    /// and so does every event enqueued until it is enabled again. False if it has no endpoint or it was already
    /// disabled (the first reason stays).
    pub async fn disable_webhook_endpoint(&self, participant: ParticipantId, reason: DisabledReason) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let disabled = outbox::disable_endpoints(&mut tx, &[participant.0], reason).await?;
        tx.commit().await?;
        Ok(disabled > 0)
    }

    /// Resumes deliveries to `participant`'s endpoint for events enqueued from now on (skipped ones stay skipped:
    /// redeliver them one by one). False if it has no endpoint or it was not disabled.
    pub async fn enable_webhook_endpoint(&self, participant: ParticipantId) -> Result<bool> {
        let enabled = sqlx::query(
            "UPDATE webhook_endpoints SET disabled_at = NULL, disabled_reason = NULL, updated_at = now()
             WHERE participant_id = $1 AND disabled_at IS NOT NULL",
        )
        .bind(participant.0)
        .execute(&self.pool)
        .await?;
        Ok(enabled.rows_affected() > 0)
    }
}

const ENDPOINT_COLUMNS: &str = "w.participant_id, w.url, w.secret, w.disabled_reason,
    (extract(epoch FROM w.disabled_at) * 1000000)::bigint AS disabled_at,
    (extract(epoch FROM w.created_at) * 1000000)::bigint AS created_at,
    (extract(epoch FROM w.updated_at) * 1000000)::bigint AS updated_at";

fn endpoint_from_row(row: &PgRow) -> Result<WebhookEndpoint> {
    let f = Fields::of("webhook_endpoints", row);
    let disabled =
        match f.opt_parsed("disabled_reason", "a disable reason", |s: &String| DisabledReason::from_sql(s))? {
            Some(reason) => Some((time(f.get("disabled_at")?), reason)),
            None => None,
        };
    Ok(WebhookEndpoint {
        participant: ParticipantId(f.get("participant_id")?),
        url: f.parsed("url", "an http(s) URL", |s: &String| Url::parse(s).ok())?,
        secret: f.parsed("secret", "a whsec_ secret", |s: &String| WebhookSecret::parse(s))?,
        disabled,
        created_at: time(f.get("created_at")?),
        updated_at: time(f.get("updated_at")?),
    })
}

/// A timestamp selected as `(extract(epoch FROM t) * 1000000)::bigint`.
pub(crate) fn time(micros: i64) -> SystemTime {
    let magnitude = Duration::from_micros(micros.unsigned_abs());
    if micros >= 0 { UNIX_EPOCH + magnitude } else { UNIX_EPOCH - magnitude }
}

/// Microseconds since the Unix epoch, to bind as `'epoch'::timestamptz + $n * interval '1 microsecond'`.
pub(crate) fn micros(at: SystemTime) -> i64 {
    match at.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_micros()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_micros()).unwrap_or(i64::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_id_reads_back_from_its_public_form() {
        let id = WebhookEventId(42);
        assert_eq!(id.to_string(), "msg_42");
        assert_eq!("msg_42".parse::<WebhookEventId>(), Ok(id));
        for bad in ["42", "msg_", "msg_-1", "msg_+1", "msg_4a", "MSG_42", "msg_99999999999999999999"] {
            assert_eq!(bad.parse::<WebhookEventId>(), Err(InvalidEventId), "{bad}");
        }
    }

    #[test]
    fn a_secret_is_whsec_and_24_to_64_bytes_and_never_debug_printed() {
        // The Standard Webhooks libraries' test secret: 24 bytes.
        let secret = WebhookSecret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        assert_eq!(secret.key().len(), 24);
        assert!(!format!("{secret:?}").contains("C2FV"));
        assert_eq!(WebhookSecret::from_key(secret.key()), Some(secret));
        for bad in ["C2FVsBQIhrscChlQIMV+b5sSYspob7oD", "whsec_C2FVsBQIhrscChlQIMV+b5sS", "whsec_not base64!"] {
            assert!(WebhookSecret::parse(bad).is_none(), "{bad}");
        }
        assert!(WebhookSecret::from_key(&[7; 23]).is_none());
        assert!(WebhookSecret::from_key(&[7; 65]).is_none());
        assert!(WebhookSecret::from_key(&[7; 64]).is_some());
    }

    #[test]
    fn times_round_trip_through_microseconds() {
        for at in [UNIX_EPOCH, UNIX_EPOCH + Duration::from_micros(1_765_000_000_123_456)] {
            assert_eq!(time(micros(at)), at);
        }
        assert_eq!(time(-1), UNIX_EPOCH - Duration::from_micros(1));
    }
}
