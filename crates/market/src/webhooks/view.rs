//! The delivery log as the API shows it: times in RFC 3339, statuses by name, and each failure said in the
//! receiver's terms (what its endpoint answered, or why no answer came) rather than as the dispatcher recorded it.

use std::time::SystemTime;

use clearing_ledger::{Redelivery, WebhookDelivery, WebhookHistoryEntry, WebhookHistoryEvent, WebhookStatus};
use serde::Serialize;
use serde_json::Value;
use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use uuid::Uuid;

/// `GET /v1/webhooks/deliveries`'s answer.
#[derive(Debug, Serialize)]
pub(super) struct Page {
    pub(super) total: u64,
    pub(super) limit: u32,
    pub(super) offset: u32,
    pub(super) deliveries: Vec<EntryView>,
}

/// One event in the log.
#[derive(Debug, Serialize)]
pub(super) struct EntryView {
    /// The `webhook-id` it is sent with.
    id: String,
    event_type: String,
    job_id: Option<Uuid>,
    created_at: String,
    status: &'static str,
    /// Attempts in the current round (since it was enqueued or last redelivered).
    attempts: u32,
    /// An attempt is being made right now.
    in_flight: bool,
    last_attempt_at: Option<String>,
    last_http_status: Option<u16>,
    /// When the next attempt is due: `null` once final, while in flight, and while an earlier event of the same job
    /// is unfinished.
    next_attempt_at: Option<String>,
    /// When it was delivered, failed or skipped.
    finished_at: Option<String>,
    /// Why the last attempt failed, in the receiver's terms; `null` once delivered.
    last_error: Option<String>,
}

impl EntryView {
    pub(super) fn of(entry: &WebhookHistoryEntry) -> Self {
        let last = entry.last_attempt.as_ref();
        Self {
            id: entry.id.to_string(),
            event_type: entry.event_type.clone(),
            job_id: entry.job_id,
            created_at: rfc3339(entry.created_at),
            status: entry.status.as_str(),
            attempts: entry.attempts,
            in_flight: entry.in_flight,
            last_attempt_at: last.map(|a| rfc3339(a.at)),
            last_http_status: last.and_then(|a| a.http_status),
            // In flight, the ledger's due time is the attempt's lease: not a next attempt anyone plans.
            next_attempt_at: entry.next_attempt_at.filter(|_| !entry.in_flight).map(rfc3339),
            finished_at: entry.finished_at.map(rfc3339),
            last_error: match entry.status {
                WebhookStatus::Delivered => None,
                _ => entry.last_error.as_deref().map(explain),
            },
        }
    }
}

/// `GET /v1/webhooks/deliveries/{id}`'s answer.
#[derive(Debug, Serialize)]
pub(super) struct EventView {
    #[serde(flatten)]
    entry: EntryView,
    /// The body, exactly as signed and sent.
    payload: Value,
    /// Attempts logged across every round, redeliveries included.
    attempts_logged: u64,
    /// The newest attempts first, at most [`WebhookHistoryEvent::MAX_ATTEMPTS`].
    attempt_log: Vec<AttemptView>,
}

impl EventView {
    pub(super) fn of(event: &WebhookHistoryEvent) -> Self {
        Self {
            entry: EntryView::of(&event.entry),
            payload: event.payload.clone(),
            attempts_logged: event.attempts_logged,
            attempt_log: event.attempts.iter().map(AttemptView::of).collect(),
        }
    }
}

/// One logged attempt.
#[derive(Debug, Serialize)]
struct AttemptView {
    /// Its number in its round (from 1 again after a redelivery).
    attempt: u32,
    attempted_at: String,
    url: String,
    http_status: Option<u16>,
    /// Why it failed, in the receiver's terms; `null` for a 2xx.
    error: Option<String>,
    duration_ms: u64,
    /// The start of the endpoint's answer (at most 1 KiB).
    response_snippet: Option<String>,
}

impl AttemptView {
    fn of(attempt: &WebhookDelivery) -> Self {
        let error = match (attempt.http_status, &attempt.error) {
            (Some(status), _) if (200..300).contains(&status) => None,
            (Some(status), _) => Some(explain(&format!("HTTP {status}"))),
            (None, Some(error)) => Some(explain(error)),
            (None, None) => None,
        };
        Self {
            attempt: attempt.attempt,
            attempted_at: rfc3339(attempt.attempted_at),
            url: attempt.url.clone(),
            http_status: attempt.http_status,
            error,
            duration_ms: u64::try_from(attempt.duration.as_millis()).unwrap_or(u64::MAX),
            response_snippet: attempt.response_snippet.clone(),
        }
    }
}

/// `POST /v1/webhooks/deliveries/{id}/redeliver`'s answer: the event as it stands, and what the request did.
#[derive(Debug, Serialize)]
pub(super) struct RedeliveryView {
    /// `queued` (it will be sent again now, attempts from 1) or `already_pending` (it was waiting to be sent:
    /// nothing more was queued).
    redelivery: &'static str,
    #[serde(flatten)]
    entry: EntryView,
}

impl RedeliveryView {
    pub(super) fn of(redelivery: &Redelivery, entry: &WebhookHistoryEntry) -> Self {
        let redelivery = match redelivery {
            Redelivery::Queued(_) => "queued",
            Redelivery::AlreadyPending(_) => "already_pending",
        };
        Self { redelivery, entry: EntryView::of(entry) }
    }
}

/// `at` in RFC 3339, UTC.
pub(super) fn rfc3339(at: SystemTime) -> String {
    OffsetDateTime::from(at).format(&Rfc3339).unwrap_or_else(|_| format!("{at:?}"))
}

/// A failure as the dispatcher records it (`HTTP 503`, `HTTP 410: endpoint gone, disabled`, `timed out`,
/// `connection failed: ...`, `endpoint disabled`, a refused address), said for the receiver's owner.
fn explain(recorded: &str) -> String {
    if let Some(rest) = recorded.strip_prefix("HTTP ") {
        let status = rest.split(|c: char| !c.is_ascii_digit()).next().unwrap_or(rest);
        return match status {
            "410" => "your endpoint answered 410 Gone, which turned deliveries to it off; set webhook_url again \
                      (PUT /v1/participants/{id}) to turn them back on"
                .to_owned(),
            "429" | "503" => format!(
                "your endpoint answered HTTP {status}; it is tried again later (a Retry-After header is honoured, up \
                 to an hour)"
            ),
            _ if status.starts_with('3') => {
                format!("your endpoint answered HTTP {status}: redirects are not followed; register the final URL")
            }
            _ => format!("your endpoint answered HTTP {status}; only a 2xx answer counts as delivered"),
        };
    }
    match recorded {
        "endpoint disabled" => "not sent: deliveries to your endpoint were off (it had answered 410 Gone, or its \
                                webhook_url was removed)"
            .to_owned(),
        "timed out" => "your endpoint did not answer in time (10 seconds unless the operator set otherwise)".to_owned(),
        _ => {
            if let Some(cause) = recorded.strip_prefix("connection failed: ") {
                format!("could not connect to your endpoint: {cause}")
            } else if let Some(cause) =
                recorded.strip_prefix("request failed: ").or_else(|| recorded.strip_prefix("transport error: "))
            {
                format!("the request to your endpoint failed: {cause}")
            } else {
                // The guard's refusals (a private address, a name that does not resolve) already speak of the URL.
                recorded.to_owned()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_said_in_the_receivers_terms() {
        assert!(explain("HTTP 500").contains("answered HTTP 500; only a 2xx"));
        assert!(explain("HTTP 410: endpoint gone, disabled").contains("set webhook_url again"));
        assert!(explain("HTTP 301").contains("redirects are not followed"));
        assert!(explain("HTTP 503").contains("Retry-After"));
        assert!(explain("timed out").contains("did not answer in time"));
        assert_eq!(
            explain("connection failed: Connection refused (os error 111)"),
            "could not connect to your endpoint: Connection refused (os error 111)"
        );
        assert!(explain("endpoint disabled").starts_with("not sent"));
        let refused = "webhook URL host h is 10.0.0.1, a private address: private and internal networks are refused";
        assert_eq!(explain(refused), refused);
    }

    #[test]
    fn times_are_rfc3339_utc() {
        let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_765_012_345);
        assert_eq!(rfc3339(at), "2025-12-06T09:12:25Z");
    }
}
