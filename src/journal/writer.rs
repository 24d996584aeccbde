//! The journal's writer: one task taking the journal's operations in order, committing
//! them in groups (one durable transaction, at most one every `storage.commit_ms`), then
//! acknowledging the publishes whose work the commit kept, in arrival order.

use super::op::Op;
use super::store::Store;
use crate::metrics::Metrics;
use rumqttc::v5::AsyncClient;
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
    ops: mpsc::UnboundedReceiver<Op>,
    commit: Duration,
}

impl Writer {
    pub(super) fn new(
        store: Option<Store>,
        ops: mpsc::UnboundedReceiver<Op>,
        commit: Duration,
    ) -> Self {
        Self {
            store: store.map(Arc::new),
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
    async fn commit(&self, batch: Vec<Op>, metrics: &Metrics) -> Vec<Op> {
        let Some(store) = &self.store else {
            return batch;
        };
        if batch.iter().all(|op| matches!(op, Op::Ack(_))) {
            return batch;
        }
        let mut batch = batch;
        let mut delay = Duration::from_millis(100);
        loop {
            let store = store.clone();
            let (result, returned) = match tokio::task::spawn_blocking(move || {
                let result = store.commit(&batch);
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
