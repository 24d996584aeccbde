//! Problems reported on `error` topics. Each is a [`Problem`]: a stable [`Code`] for
//! machines and a reason for people. A refused publish can only be made counted
//! ([`Problem::refused`]: the `refused_total` metric); [`Reporter::emit`] then publishes
//! it (`{"topic", "code", "error", "payload"}`, not retained) and logs it, at most one
//! line per [`LOG_INTERVAL`] per reporter, saying how many were left out of the log.

use crate::lock::lock;
use crate::metrics::{Metrics, Refusal};
use crate::mqtt::Publisher;
use serde_json::{json, Value};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The least time between two lines of one reporter in the log.
pub const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// What went wrong, as the `code` of an error payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// A publish refused (its code is its `refused_total` reason).
    Refused(Refusal),
    /// Constellation refused the package's credential (401); its work is held.
    CredentialRefused,
    /// Constellation refused this action to a valid credential (403).
    Forbidden,
    /// Constellation rejected the request (400, or another refusal).
    Rejected,
    /// Constellation answered something that is not its protocol; the work is retried.
    BadAnswer,
    /// A saga response for a saga the package does not have (unknown or expired).
    UnknownSaga,
    /// The journal cannot be written, or was damaged.
    Journal,
    /// An export could not be published.
    Export,
    /// A message on `<prefix>/_send` was refused or not sent.
    Send,
    /// Provisioning through the Management API failed.
    Provisioning,
}

impl Code {
    /// The code of a request Constellation did not carry out.
    pub fn of(error: &crate::constellation::Error) -> Self {
        use crate::constellation::Error;
        match error {
            Error::Auth {
                status: Some(403), ..
            } => Self::Forbidden,
            Error::Auth { .. } => Self::CredentialRefused,
            Error::BadAnswer { .. } => Self::BadAnswer,
            _ => Self::Rejected,
        }
    }

    /// The stable text of the code.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Refused(r) => r.label(),
            Self::CredentialRefused => "credential_refused",
            Self::Forbidden => "forbidden",
            Self::Rejected => "rejected",
            Self::BadAnswer => "bad_answer",
            Self::UnknownSaga => "unknown_saga",
            Self::Journal => "journal",
            Self::Export => "export",
            Self::Send => "send",
            Self::Provisioning => "provisioning",
        }
    }
}

/// A problem to report: its code and reason.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub code: Code,
    pub reason: String,
}

impl Problem {
    /// A problem that is not a refused publish.
    pub fn new(code: Code, reason: impl Into<String>) -> Self {
        debug_assert!(!matches!(code, Code::Refused(_)), "use Problem::refused");
        Self {
            code,
            reason: reason.into(),
        }
    }

    /// A refused publish of `kind`, counted now in `metrics`; `reason` is given the
    /// count of such refusals so far.
    pub fn refused(metrics: &Metrics, kind: Refusal, reason: impl FnOnce(u64) -> String) -> Self {
        let count = metrics.refused(kind);
        Self {
            code: Code::Refused(kind),
            reason: reason(count),
        }
    }

    /// The error payload: the topic and payload at fault (`payload` null when none).
    pub fn payload(&self, topic: &str, payload: Value) -> String {
        json!({
            "topic": topic,
            "code": self.code.as_str(),
            "error": self.reason,
            "payload": payload,
        })
        .to_string()
    }
}

/// The problems of one package (or of the adapter's own `error` topic): their log lines
/// rate-limited together.
#[derive(Default)]
pub struct Reporter {
    state: Mutex<LimitState>,
}

#[derive(Default)]
struct LimitState {
    last: Option<Instant>,
    skipped: u64,
}

impl Reporter {
    /// Publishes `problem` on `error_topic`, about the publish of `payload` on `topic`,
    /// and logs it as the rate allows.
    pub fn emit(
        &self,
        publisher: &Publisher,
        error_topic: &str,
        (topic, payload): (&str, &str),
        problem: &Problem,
    ) {
        let (code, error) = (problem.code.as_str(), problem.reason.as_str());
        match self.admit(Instant::now()) {
            Some(0) => tracing::warn!(topic, code, error, "publish refused"),
            Some(skipped) => tracing::warn!(
                topic,
                code,
                error,
                "publish refused ({skipped} more refusals since the last line, not logged)"
            ),
            None => tracing::debug!(topic, code, error, "publish refused"),
        }
        let body = problem.payload(topic, Value::String(payload.to_owned()));
        publisher.publish(error_topic, body, false);
    }

    /// Whether a line at `now` is logged: `Some(lines left out since the last one)`, or
    /// `None` (counted, for the next line).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_with_the_count_of_those_left_out() {
        let reporter = Reporter::default();
        let t0 = Instant::now();
        assert_eq!(reporter.admit(t0), Some(0));
        for i in 1..=5 {
            assert_eq!(reporter.admit(t0 + Duration::from_secs(i)), None);
        }
        assert_eq!(reporter.admit(t0 + LOG_INTERVAL), Some(5));
        assert_eq!(reporter.admit(t0 + LOG_INTERVAL), None);
        assert_eq!(reporter.admit(t0 + LOG_INTERVAL * 3), Some(1));
    }

    #[test]
    fn the_payload_carries_a_stable_code_beside_the_text() {
        let p = Problem::new(Code::UnknownSaga, "unknown or expired saga id \"s\"");
        let body: Value = serde_json::from_str(&p.payload("t", Value::Null)).unwrap();
        assert_eq!(body["code"], "unknown_saga");
        assert_eq!(body["error"], "unknown or expired saga id \"s\"");
        assert_eq!(body["topic"], "t");
        assert_eq!(body["payload"], Value::Null);
    }
}
