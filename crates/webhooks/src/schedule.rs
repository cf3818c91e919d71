//! When an event is tried again, and when it is given up.

use std::time::{Duration, SystemTime};

use clearing_ledger::{AttemptResponse, NextStep};
use rand::Rng;

/// Standard Webhooks' example retry schedule (spec, "Deliverability and reliability"), as the delays before each
/// retry: the first attempt is immediate, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h and 24 h after the
/// failure before; ten attempts over about 75 hours.
pub const STANDARD_RETRY_SCHEDULE_MS: [u64; 9] = [
    5_000,
    5 * 60_000,
    30 * 60_000,
    2 * 3_600_000,
    5 * 3_600_000,
    10 * 3_600_000,
    14 * 3_600_000,
    20 * 3_600_000,
    24 * 3_600_000,
];

/// Each retry waits its delay times a uniform factor in 1 ± this: receivers that failed together are not all tried
/// again in the same instant (the spec asks for "some level of random jitter").
const JITTER: f64 = 0.2;

/// The retry policy.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    retries: Vec<Duration>,
    max_retry_after: Duration,
}

impl Schedule {
    pub(crate) fn new(retry_schedule_ms: &[u64], max_retry_after: Duration) -> Self {
        Self { retries: retry_schedule_ms.iter().map(|&ms| Duration::from_millis(ms)).collect(), max_retry_after }
    }

    /// What follows attempt number `attempt` (from 1) that got `response`, with the answer's `Retry-After` if any.
    pub(crate) fn next_step(
        &self,
        attempt: u32,
        response: &AttemptResponse,
        retry_after: Option<Duration>,
    ) -> NextStep {
        match response {
            AttemptResponse::Http { status: 200..=299, .. } => return NextStep::Delivered,
            // The receiver asks to stop (spec, "Delivery success and failure").
            AttemptResponse::Http { status: 410, .. } => return NextStep::Gone,
            _ => {}
        }
        let Some(&delay) = usize::try_from(attempt).ok().and_then(|n| self.retries.get(n.saturating_sub(1))) else {
            return NextStep::GiveUp;
        };
        let jittered = delay.mul_f64(rand::rng().random_range(1.0 - JITTER..=1.0 + JITTER));
        // Not before the receiver asked, within reason.
        let asked = retry_after.map_or(Duration::ZERO, |asked| asked.min(self.max_retry_after));
        NextStep::RetryIn(jittered.max(asked))
    }
}

/// A `Retry-After` value (RFC 9110 §10.2.3: delay-seconds or an HTTP-date) as a wait from `now`; a date in the
/// past is no wait. `None` if it is neither form.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // An absurdly long number is a very long wait, capped by the caller.
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(status: u16) -> AttemptResponse {
        AttemptResponse::Http { status, snippet: String::new() }
    }

    fn delay(step: NextStep) -> Duration {
        match step {
            NextStep::RetryIn(delay) => delay,
            other => panic!("expected a retry, got {other:?}"),
        }
    }

    #[test]
    fn the_standard_schedule_retries_nine_times_with_jitter_then_gives_up() {
        let schedule = Schedule::new(&STANDARD_RETRY_SCHEDULE_MS, Duration::from_secs(3_600));
        for (attempt, ms) in (1..).zip(STANDARD_RETRY_SCHEDULE_MS) {
            let wait = delay(schedule.next_step(attempt, &http(500), None));
            let nominal = Duration::from_millis(ms);
            assert!(wait >= nominal.mul_f64(0.8) && wait <= nominal.mul_f64(1.2), "attempt {attempt}: {wait:?}");
        }
        assert_eq!(schedule.next_step(10, &http(500), None), NextStep::GiveUp);
        let transport = AttemptResponse::Transport { error: "timed out".into() };
        assert_eq!(schedule.next_step(10, &transport, None), NextStep::GiveUp);
        assert!(matches!(schedule.next_step(1, &transport, None), NextStep::RetryIn(_)));
    }

    #[test]
    fn two_xx_delivers_410_disables_and_3xx_is_a_failure() {
        let schedule = Schedule::new(&[1_000], Duration::from_secs(60));
        for status in [200, 201, 204, 299] {
            assert_eq!(schedule.next_step(1, &http(status), None), NextStep::Delivered);
        }
        assert_eq!(schedule.next_step(1, &http(410), None), NextStep::Gone);
        for status in [199, 300, 302, 400, 404, 429, 500, 503] {
            assert!(matches!(schedule.next_step(1, &http(status), None), NextStep::RetryIn(_)), "{status}");
        }
    }

    #[test]
    fn retry_after_delays_the_retry_up_to_the_cap() {
        let schedule = Schedule::new(&[1_000], Duration::from_secs(60));
        let wait = delay(schedule.next_step(1, &http(503), Some(Duration::from_secs(30))));
        assert_eq!(wait, Duration::from_secs(30));
        let wait = delay(schedule.next_step(1, &http(429), Some(Duration::from_secs(86_400))));
        assert_eq!(wait, Duration::from_secs(60));
        // Sooner than the schedule: the schedule wins.
        let wait = delay(schedule.next_step(1, &http(503), Some(Duration::ZERO)));
        assert!(wait >= Duration::from_millis(800));
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        // RFC 9110's example date is 784111777 seconds after the epoch.
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now), Some(Duration::ZERO));
        let earlier = now - Duration::from_secs(90);
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", earlier), Some(Duration::from_secs(90)));
        for bad in ["", "-1", "1.5", "soon", "Sun, 06 Nov 1994"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }
}
