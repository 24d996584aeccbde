//! Failure reports: each on the package's `error` topic (or the adapter's) and in the log.

use super::queue::Origin;
use crate::mqtt::Publisher;
use serde_json::json;

/// Publishes `{"topic", "error", "payload"}` on `error_topic` (not retained) and logs it.
pub fn report(publisher: &Publisher, error_topic: &str, origin: &Origin, error: &str) {
    tracing::warn!(topic = %origin.topic, error, "publish refused");
    publish(publisher, error_topic, origin, error);
}

/// Like [`report`] for the `count`-th failure of a kind: logged at the first ones and
/// then at each power of two (the message says the count), published every time.
pub fn report_counted(
    publisher: &Publisher,
    error_topic: &str,
    origin: &Origin,
    error: &str,
    count: u64,
) {
    if count.is_power_of_two() {
        report(publisher, error_topic, origin, error);
    } else {
        report_quietly(publisher, error_topic, origin, error);
    }
}

/// Like [`report`], logging at debug only: for repeats that were logged once already.
pub fn report_quietly(publisher: &Publisher, error_topic: &str, origin: &Origin, error: &str) {
    tracing::debug!(topic = %origin.topic, error, "publish refused");
    publish(publisher, error_topic, origin, error);
}

fn publish(publisher: &Publisher, error_topic: &str, origin: &Origin, error: &str) {
    let body = json!({ "topic": origin.topic, "error": error, "payload": origin.payload });
    publisher.publish(error_topic, body.to_string(), false);
}
