//! The journal's writer: one task taking the journal's operations in order, committing
//! them in groups (one durable transaction, at most one every `storage.commit_ms`), then
//! acknowledging the publishes whose work the commit kept, in arrival order.
//!
//! A job put and done within one group (Constellation took it before its commit) is
//! not written at all: its publish is acknowledged with nothing to keep, and a group
//! left with nothing to write commits nothing (no fsync).
//!
//! A commit that fails (a full disk, an I/O error) acknowledges nothing: it is reported
//! once (log, the adapter's `error` topic, `journal_writable` 0, `/readyz`), the
//! database closed and opened again (redb refuses every write after an I/O error) and
//! the commit retried with backoff until it succeeds, or until shutdown gives up on it.

use super::op::{Op, PendingRetained};
use super::store::Store;
use crate::metrics::Metrics;
use crate::mqtt::Publisher;
use crate::report::{Code, Problem};
use bytes::Bytes;
use rumqttc::v5::mqttbytes::v5::Publish;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The most operations in one commit: a backlog is committed in several.
const MAX_BATCH: usize = 65_536;

/// Runs the journal's operations; see [`Writer::run`].
pub struct Writer {
    /// The database, on disk; none in memory, or while it must be opened again.
    store: Option<Store>,
    /// Where the database is (none: in memory).
    path: Option<PathBuf>,
    /// The keys of the jobs whose record is on disk.
    on_disk: HashSet<u64>,
    ops: mpsc::UnboundedReceiver<Op>,
    /// The broker's retained messages changed, the latest per topic.
    retained: Arc<PendingRetained>,
    commit: Duration,
}

impl Writer {
    /// A writer to `store` (none: in memory), which holds the jobs of keys `on_disk`.
    pub(super) fn new(
        store: Option<Store>,
        on_disk: HashSet<u64>,
        ops: mpsc::UnboundedReceiver<Op>,
        retained: Arc<PendingRetained>,
        commit: Duration,
    ) -> Self {
        Self {
            path: store.as_ref().map(|s| s.path().to_owned()),
            store,
            on_disk,
            ops,
            retained,
            commit,
        }
    }

    /// Commits (counted in `metrics`) and acknowledges (on the adapter's MQTT
    /// connection) until `stop`; then commits and acknowledges what is left, and returns.
    /// A failing commit is given up, unacknowledged, once `give_up` is cancelled.
    pub async fn run(
        mut self,
        mqtt: Reports,
        metrics: Arc<Metrics>,
        stop: CancellationToken,
        give_up: CancellationToken,
    ) {
        let cx = Cx {
            mqtt,
            metrics,
            give_up,
        };
        let mut last_commit = Instant::now();
        let mut batch = Vec::new();
        loop {
            let first = tokio::select! {
                op = self.ops.recv() => op,
                _ = stop.cancelled() => None,
            };
            let Some(first) = first else { break };
            batch.push(first);
            if self.path.is_some() {
                // Group commit: what arrives meanwhile joins this commit. At least half
                // an interval after the first operation: a job Constellation takes
                // meanwhile (most, at light load) is then never written.
                let due = (last_commit + self.commit).max(Instant::now() + self.commit / 2);
                tokio::select! {
                    _ = tokio::time::sleep_until(due) => {}
                    _ = stop.cancelled() => {}
                }
            }
            self.gather(&mut batch);
            // The interval counts from a commit's start: a commit as long as it is
            // is followed by the next one at once.
            last_commit = Instant::now();
            match self.commit(batch, &cx).await {
                Some(mut kept) => {
                    acknowledge(&cx.mqtt, &mut kept).await;
                    batch = kept;
                }
                None => return,
            }
        }
        self.gather(&mut batch);
        if let Some(mut kept) = self.commit(batch, &cx).await {
            acknowledge(&cx.mqtt, &mut kept).await;
        }
    }

    /// Adds what is waiting to `batch`, up to [`MAX_BATCH`].
    fn gather(&mut self, batch: &mut Vec<Op>) {
        while batch.len() < MAX_BATCH {
            match self.ops.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
    }

    /// Commits `batch` durably (on a blocking thread: it waits for the disk), retrying
    /// until it succeeds: nothing is acknowledged before its work is kept. None: given
    /// up at shutdown, nothing of it acknowledged.
    async fn commit(&mut self, mut batch: Vec<Op>, cx: &Cx) -> Option<Vec<Op>> {
        // The retained changes pending now join this commit (in memory: dropped).
        let retained = self.retained.take();
        let Some(path) = self.path.clone() else {
            return Some(batch);
        };
        batch.extend(retained);
        let done = done_within(&batch, &self.on_disk);
        let writes = |op: &Op| match op {
            Op::Put { key, .. } | Op::Delete { key } => !done.contains(key),
            Op::Retain { .. } => true,
            Op::Ack(_) | Op::RetainedChanged => false,
        };
        if !batch.iter().any(writes) {
            return Some(batch);
        }
        let mut delay = Duration::from_millis(100);
        let done = Arc::new(done);
        loop {
            let (store, skip, path) = (self.store.take(), done.clone(), path.clone());
            let attempt = tokio::task::spawn_blocking(move || {
                // After a failure the database is opened again: redb refuses every
                // write of a database that has seen an I/O error.
                let mut store = match store {
                    Some(store) => store,
                    None => match Store::reopen(&path) {
                        Ok(store) => store,
                        Err(e) => return (Err(e), None, batch),
                    },
                };
                let result = store.commit(&batch, &skip);
                // A store that failed is closed (dropped) here.
                let store = result.is_ok().then_some(store);
                (result, store, batch)
            })
            .await;
            let (result, store, returned) = match attempt {
                Ok(attempt) => attempt,
                Err(e) => {
                    // The batch went with the panicked thread: nothing of it is
                    // acknowledged, so the broker delivers it again.
                    tracing::error!(error = %e, "journal: commit panicked");
                    return Some(Vec::new());
                }
            };
            self.store = store;
            batch = returned;
            match result {
                Ok(()) => {
                    cx.metrics.committed();
                    if cx.metrics.journal_writable() {
                        tracing::info!(
                            "journal: writable again; waiting publishes are acknowledged"
                        );
                    }
                    for op in &batch {
                        match op {
                            Op::Put { key, .. } if !done.contains(key) => {
                                self.on_disk.insert(*key);
                            }
                            Op::Delete { key } => {
                                self.on_disk.remove(key);
                            }
                            _ => {}
                        }
                    }
                    return Some(batch);
                }
                Err(e) => {
                    let reason = e.to_string();
                    if cx.metrics.journal_failed(&reason) {
                        tracing::error!(error = %reason, "journal: commit failed; nothing is acknowledged until it can be written (retried with backoff)");
                        cx.mqtt.report(&reason);
                    } else {
                        tracing::debug!(error = %reason, retry_in = ?delay, "journal: commit failed again");
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = cx.give_up.cancelled() => {
                            let waiting = batch.iter().filter(|op| matches!(op, Op::Ack(_))).count();
                            tracing::error!(error = %reason, publishes = waiting, "journal: shutting down while it cannot be written; these publishes stay unacknowledged");
                            return None;
                        }
                    }
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}

/// What the writer needs besides its operations.
struct Cx {
    mqtt: Reports,
    metrics: Arc<Metrics>,
    give_up: CancellationToken,
}

/// Where the writer acknowledges publishes and reports failures: the adapter's MQTT
/// connection and its `error` topic.
pub struct Reports {
    pub publisher: Publisher,
    pub error_topic: String,
}

impl Reports {
    /// Publishes a journal failure on the adapter's `error` topic.
    fn report(&self, reason: &str) {
        let reason = format!(
            "the journal cannot be written: {reason}; publishes wait or are refused until it can"
        );
        let body = Problem::new(Code::Journal, reason).payload("journal", serde_json::Value::Null);
        self.publisher.publish(&self.error_topic, body, false);
    }
}

/// The jobs `batch` both puts and deletes whose record is not on disk (none of
/// `on_disk`): done before their commit, they need no write. A job's key is never used
/// again once it is deleted, so its delete is its last operation.
fn done_within(batch: &[Op], on_disk: &HashSet<u64>) -> HashSet<u64> {
    let mut put = HashSet::new();
    let mut done = HashSet::new();
    for op in batch {
        match op {
            Op::Put { key, .. } => {
                put.insert(*key);
            }
            Op::Delete { key } if put.contains(key) && !on_disk.contains(key) => {
                done.insert(*key);
            }
            _ => {}
        }
    }
    done
}

/// Sends the acknowledgements of `batch`, in order, and empties it.
async fn acknowledge(mqtt: &Reports, batch: &mut Vec<Op>) {
    let acks = mqtt.publisher.client();
    for op in batch.drain(..) {
        if let Op::Ack(ack) = op {
            // rumqttc acknowledges by packet id and QoS: nothing else of the publish.
            let mut publish = Publish::new("", ack.qos, Bytes::new(), None);
            publish.pkid = ack.pkid;
            // Fails only when the connection task is gone (shutdown): the broker
            // delivers the publish again to the next run.
            let _ = acks.ack(&publish).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::native::PackageId;

    fn put(key: u64) -> Op {
        Op::Put {
            package: Arc::new(PackageId::new("S", "P")),
            key,
            record: b"{}".to_vec(),
        }
    }

    #[test]
    fn a_job_put_and_done_in_one_batch_needs_no_write_unless_it_is_on_disk() {
        let on_disk = HashSet::from([1]);
        let batch = [
            put(1), // replaces a record on disk: the delete must reach it
            put(2), // put, replaced by a newer value, done: never written
            put(2),
            put(3), // put and still pending: written
            Op::Delete { key: 2 },
            Op::Delete { key: 1 },
            Op::Delete { key: 4 }, // put by an earlier commit: deleted on disk
        ];
        assert_eq!(done_within(&batch, &on_disk), HashSet::from([2]));
    }
}
