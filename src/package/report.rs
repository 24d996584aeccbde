//! Failure reports: each on the package's `error` topic (or the adapter's), every time,
//! and in the log at most once per [`LOG_INTERVAL`] per package, saying how many were
//! left out of the log since the last line.

use super::queue::Origin;
use crate::lock::lock;
use crate::mqtt::Publisher;
use serde_json::json;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The least time between two refusal lines in the log for one package.
pub const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// The refusal lines of one package (or of the adapter's own `error` topic) in the log.
#[derive(Default)]
pub struct LogLimit {
    state: Mutex<LimitState>,
}

#[derive(Default)]
struct LimitState {
    last: Option<Instant>,
    skipped: u64,
}

impl LogLimit {
    /// Whether a refusal at `now` is logged: `Some(refusals left out since the last
    /// line)`, or `None` (counted, for the next line).
    fn admit(&self, now: Instant) -> Option<u64> {
        let mut s = lock(&self.state);
        if s.last
            .is_some_and(|last| now.duration_since(last) < LOG_INTERVAL)
        {
            s.skipped += 1;
            return None;
        }
        s.last = Some(now);
        Some(std::mem::take(&mut s.skipped))
    }
}

/// Publishes `{"topic", "error", "payload"}` on `error_topic` (not retained), and logs
/// it as `limit` allows.
pub fn report(
    publisher: &Publisher,
    limit: &LogLimit,
    error_topic: &str,
    origin: &Origin,
    error: &str,
) {
    match limit.admit(Instant::now()) {
        Some(0) => tracing::warn!(topic = %origin.topic, error, "publish refused"),
        Some(skipped) => tracing::warn!(
            topic = %origin.topic,
            error,
            "publish refused ({skipped} more refusals since the last line, not logged)"
        ),
        None => tracing::debug!(topic = %origin.topic, error, "publish refused"),
    }
    let body = json!({ "topic": origin.topic, "error": error, "payload": origin.payload });
    publisher.publish(error_topic, body.to_string(), false);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_with_the_count_of_those_left_out() {
        let limit = LogLimit::default();
        let t0 = Instant::now();
        assert_eq!(limit.admit(t0), Some(0));
        for i in 1..=5 {
            assert_eq!(limit.admit(t0 + Duration::from_secs(i)), None);
        }
        assert_eq!(limit.admit(t0 + LOG_INTERVAL), Some(5));
        assert_eq!(limit.admit(t0 + LOG_INTERVAL), None);
        assert_eq!(limit.admit(t0 + LOG_INTERVAL * 3), Some(1));
    }
}
