//! The journal's writer: one task taking the journal's operations in order, committing
//! them in groups (one durable transaction, at most one every `storage.commit_ms`), then
//! acknowledging the publishes whose work the commit kept, in arrival order.
//!
//! A job put and done within one group (Constellation took it before its commit) is
//! not written at all: its publish is acknowledged with nothing to keep, and a group
//! left with nothing to write commits nothing (no fsync).

use super::op::Op;
use super::store::Store;
use crate::metrics::Metrics;
use rumqttc::v5::AsyncClient;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The most operations in one commit: a backlog is committed in several.
const MAX_BATCH: usize = 65_536;

/// Runs the journal's operations; see [`Writer::run`].
pub struct Writer {
    store: Option<Arc<Store>>,
    /// The keys of the jobs whose record is on disk.
    on_disk: HashSet<u64>,
    ops: mpsc::UnboundedReceiver<Op>,
    commit: Duration,
}

impl Writer {
    /// A writer to `store` (none: in memory), which holds the jobs of keys `on_disk`.
    pub(super) fn new(
        store: Option<Store>,
        on_disk: HashSet<u64>,
        ops: mpsc::UnboundedReceiver<Op>,
        commit: Duration,
    ) -> Self {
        Self {
            store: store.map(Arc::new),
            on_disk,
            ops,
            commit,
        }
    }

    /// Commits (counted in `metrics`) and acknowledges (on `acks`, the adapter's MQTT
    /// connection) until `stop`; then commits and acknowledges what is left, and returns.
    pub async fn run(mut self, acks: AsyncClient, metrics: Arc<Metrics>, stop: CancellationToken) {
        let mut last_commit = Instant::now();
        let mut batch = Vec::new();
        loop {
            let first = tokio::select! {
                op = self.ops.recv() => op,
                _ = stop.cancelled() => None,
            };
            let Some(first) = first else { break };
            batch.push(first);
            if self.store.is_some() {
                // Group commit: what arrives meanwhile joins this commit.
                tokio::select! {
                    _ = tokio::time::sleep_until(last_commit + self.commit) => {}
                    _ = stop.cancelled() => {}
                }
            }
            self.gather(&mut batch);
            // The interval counts from a commit's start: a commit as long as it is
            // is followed by the next one at once.
            last_commit = Instant::now();
            batch = self.commit(batch, &metrics).await;
            acknowledge(&acks, &mut batch).await;
        }
        self.gather(&mut batch);
        batch = self.commit(batch, &metrics).await;
        acknowledge(&acks, &mut batch).await;
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
    /// until it succeeds: nothing is acknowledged before its work is kept.
    async fn commit(&mut self, batch: Vec<Op>, metrics: &Metrics) -> Vec<Op> {
        let Some(store) = &self.store else {
            return batch;
        };
        let done = done_within(&batch, &self.on_disk);
        let writes = |op: &Op| match op {
            Op::Put { key, .. } | Op::Delete { key } => !done.contains(key),
            Op::Retain { .. } => true,
            Op::Ack(_) => false,
        };
        if !batch.iter().any(writes) {
            return batch;
        }
        let mut batch = batch;
        let mut delay = Duration::from_millis(100);
        let done = Arc::new(done);
        loop {
            let (store, skip) = (store.clone(), done.clone());
            let (result, returned) = match tokio::task::spawn_blocking(move || {
                let result = store.commit(&batch, &skip);
                (result, batch)
            })
            .await
            {
                Ok(done) => done,
                Err(e) => {
                    // The batch went with the panicked thread: nothing of it is
                    // acknowledged, so the broker delivers it again.
                    tracing::error!(error = %e, "journal: commit panicked");
                    return Vec::new();
                }
            };
            batch = returned;
            match result {
                Ok(()) => {
                    metrics.committed();
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
                    return batch;
                }
                Err(e) => {
                    tracing::error!(error = %e, retry_in = ?delay, "journal: commit failed; publishes stay unacknowledged");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
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
async fn acknowledge(acks: &AsyncClient, batch: &mut Vec<Op>) {
    for op in batch.drain(..) {
        if let Op::Ack(publish) = op {
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
