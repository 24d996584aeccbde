//! The journal: the work a publish produced, kept until Constellation has taken it, and
//! the acknowledgements of publishes, sent in arrival order once their work is kept.
//!
//! With `durability = "disk"` the work is committed to disk before the publish is
//! acknowledged, many jobs per commit (`writer`): jobs to an append-only log
//! (`joblog`), the embedded broker's retained messages to an embedded database (redb,
//! `retained`), both in `store`. With
//! `"memory"` nothing is written, and acknowledgements still follow arrival order.
//! Either way the bytes of pending work are bounded (`storage.max_bytes`).

mod inspect;
mod joblog;
mod op;
mod retained;
mod salvage;
mod store;
mod tables;
mod writer;

pub use inspect::{inspect, InspectError, Summary};
pub use retained::RetainedMessages;
pub use store::{Damage, Recovered, StoreError};
pub use writer::{Reports, Writer};

use op::Op;

use crate::config::{Durability, StorageConfig};
use crate::native::PackageId;
use rumqttc::v5::mqttbytes::v5::Publish;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// The journal's handle: cheap to clone, never blocks.
#[derive(Clone)]
pub struct Journal {
    ops: mpsc::UnboundedSender<Op>,
    /// On disk: jobs are written; in memory only their bytes are counted.
    durable: bool,
    bytes: Arc<AtomicU64>,
    max_bytes: u64,
    /// The next job's key: one sequence for every package, beyond every key on disk.
    next_key: Arc<AtomicU64>,
    /// The broker's retained messages changed and not yet with the writer.
    retained: Arc<op::PendingRetained>,
}

/// The journal had no room for a job.
#[derive(Debug, PartialEq)]
pub struct NoRoom {
    /// Bytes pending now, and the bound (`storage.max_bytes`).
    pub pending: u64,
    pub max: u64,
}

impl Journal {
    /// Opens the journal of `config` (creating its directory): the handle, the writer
    /// to run once the MQTT connection exists, and what the last run left.
    pub fn open(config: &StorageConfig) -> Result<(Journal, Writer, Recovered), StoreError> {
        let (store, recovered) = match config.durability {
            Durability::Disk => {
                let dir = directory(config);
                let (store, recovered) = store::Store::open(&dir)?;
                (Some(store), recovered)
            }
            Durability::Memory => (None, Recovered::default()),
        };
        // Unbounded, yet bounded by what goes in: puts by `storage.max_bytes` (with a
        // delete each), acknowledgements by the in-flight window of the adapter's MQTT
        // connection, retained changes by one wake-up while any are pending.
        let (tx, rx) = mpsc::unbounded_channel();
        let retained = Arc::new(op::PendingRetained::default());
        let after_recovered = recovered.jobs.iter().map(|(_, key, _)| key + 1).max();
        let journal = Journal {
            ops: tx,
            durable: store.is_some(),
            bytes: Arc::default(),
            max_bytes: config.max_bytes,
            next_key: Arc::new(AtomicU64::new(after_recovered.unwrap_or(1))),
            retained: retained.clone(),
        };
        let commit = std::time::Duration::from_millis(config.commit_ms);
        let on_disk = recovered.jobs.iter().map(|(_, key, _)| *key).collect();
        Ok((
            journal,
            Writer::new(store, on_disk, rx, retained, commit),
            recovered,
        ))
    }

    /// Whether `bytes` more fit under `storage.max_bytes`.
    pub fn room(&self, bytes: usize) -> Result<(), NoRoom> {
        let pending = self.bytes.load(Ordering::Relaxed);
        if pending + bytes as u64 > self.max_bytes {
            return Err(NoRoom {
                pending,
                max: self.max_bytes,
            });
        }
        Ok(())
    }

    /// A key for a new job: never one a pending job (of any package, from this run or
    /// the last) holds.
    pub fn next_key(&self) -> u64 {
        self.next_key.fetch_add(1, Ordering::Relaxed)
    }

    /// Keeps job `key` of `package`: `record` (replacing `replaced` bytes, when it takes
    /// the place of a pending job with the same key).
    pub fn put(&self, package: &Arc<PackageId>, key: u64, record: Vec<u8>, replaced: usize) {
        self.bytes.fetch_add(record.len() as u64, Ordering::Relaxed);
        self.release(replaced);
        if !self.durable {
            return;
        }
        self.send(Op::Put {
            package: package.clone(),
            key,
            record,
        });
    }

    /// Forgets job `key` (of `bytes` bytes): done, or refused for good.
    pub fn delete(&self, key: u64, bytes: usize) {
        self.release(bytes);
        if !self.durable {
            return;
        }
        self.send(Op::Delete { key });
    }

    /// Acknowledges `publish` once the work of every publish before it is kept.
    pub fn ack(&self, publish: &Publish) {
        self.send(Op::Ack(op::Ack {
            pkid: publish.pkid,
            qos: publish.qos,
        }));
    }

    /// Bytes of work pending.
    pub fn pending_bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    fn release(&self, bytes: usize) {
        let _ = self
            .bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                Some(b.saturating_sub(bytes as u64))
            });
    }

    fn send(&self, op: Op) {
        // The writer ends only after every handle is gone.
        let _ = self.ops.send(op);
    }

    /// What the embedded broker keeps its retained messages through: `recovered` to
    /// start with, changes into this journal.
    pub fn retained_store(&self, recovered: RetainedMessages) -> Arc<dyn rumqttd::RetainedStore> {
        Arc::new(retained::Sink::new(
            self.ops.clone(),
            self.retained.clone(),
            recovered,
        ))
    }
}

/// The directory of the journal of `config`.
pub fn directory(config: &StorageConfig) -> std::path::PathBuf {
    config.dir.clone().unwrap_or_else(|| "data".into())
}
