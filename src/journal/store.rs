//! The journal on disk: one redb database, `journal.redb` in `storage.dir`.
//!
//! Two tables: pending jobs by `(sentinel, package, key)` (redb keeps keys in order, so a
//! package's jobs read back in the order they were accepted), and the embedded broker's
//! retained messages by topic. A commit is one write transaction, durable (fsync'd)
//! when it returns.

use super::op::{Op, Record};
use super::retained::RetainedMessages;
use crate::native::PackageId;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::path::{Path, PathBuf};

/// Pending jobs: `(sentinel, package, key)` → the job's record.
const JOBS: TableDefinition<(&str, &str, u64), &[u8]> = TableDefinition::new("jobs");
/// Retained messages: topic → `(payload, QoS, properties as JSON or empty)`.
const RETAINED: TableDefinition<&str, (&[u8], u8, &[u8])> = TableDefinition::new("retained");

/// What a journal found when it opened: the work pending from the last run, package by
/// package in order, and the embedded broker's retained messages.
#[derive(Default)]
pub struct Recovered {
    /// `(package, key, record)` in per-package order.
    pub jobs: Vec<(PackageId, u64, Vec<u8>)>,
    pub retained: RetainedMessages,
}

/// The journal's database could not be opened or written.
#[derive(Debug, thiserror::Error)]
#[error("storage {}: {source}", .path.display())]
pub struct StoreError {
    pub path: PathBuf,
    #[source]
    pub source: redb::Error,
}

/// The open database.
pub(super) struct Store {
    db: Database,
    path: PathBuf,
}

impl Store {
    /// Opens (or creates) `dir/journal.redb` and reads what it holds.
    pub(super) fn open(dir: &Path) -> Result<(Store, Recovered), StoreError> {
        let path = dir.join("journal.redb");
        let fail = |source: redb::Error| StoreError {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(|e| fail(e.into()))?;
        let db = Database::create(&path).map_err(|e| fail(e.into()))?;
        let store = Store {
            db,
            path: path.clone(),
        };
        let recovered = store.read().map_err(fail)?;
        Ok((store, recovered))
    }

    /// Everything pending, and the retained messages (the tables are created if new).
    fn read(&self) -> Result<Recovered, redb::Error> {
        let write = self.db.begin_write()?;
        write.open_table(JOBS)?;
        write.open_table(RETAINED)?;
        write.commit()?;
        let read = self.db.begin_read()?;
        let mut recovered = Recovered::default();
        for entry in read.open_table(JOBS)?.iter()? {
            let (key, record) = entry?;
            let (sentinel, package, key) = key.value();
            recovered.jobs.push((
                PackageId::new(sentinel, package),
                key,
                record.value().to_vec(),
            ));
        }
        for entry in read.open_table(RETAINED)?.iter()? {
            let (topic, value) = entry?;
            let (payload, qos, properties) = value.value();
            recovered.retained.push(
                topic.value(),
                Record {
                    payload: payload.to_vec(),
                    qos,
                    properties: properties.to_vec(),
                },
            );
        }
        Ok(recovered)
    }

    /// Applies `ops` in one durable transaction.
    pub(super) fn commit(&self, ops: &[Op]) -> Result<(), StoreError> {
        self.apply(ops).map_err(|source| StoreError {
            path: self.path.clone(),
            source,
        })
    }

    fn apply(&self, ops: &[Op]) -> Result<(), redb::Error> {
        let write = self.db.begin_write()?;
        {
            let mut jobs = write.open_table(JOBS)?;
            let mut retained = write.open_table(RETAINED)?;
            for op in ops {
                match op {
                    Op::Put {
                        package,
                        key,
                        record,
                    } => {
                        jobs.insert(
                            (package.sentinel.as_str(), package.package.as_str(), *key),
                            record.as_slice(),
                        )?;
                    }
                    Op::Delete { package, key } => {
                        jobs.remove((package.sentinel.as_str(), package.package.as_str(), *key))?;
                    }
                    Op::Retain {
                        topic,
                        message: Some(m),
                    } => {
                        let value = (m.payload.as_slice(), m.qos, m.properties.as_slice());
                        retained.insert(topic.as_str(), value)?;
                    }
                    Op::Retain {
                        topic,
                        message: None,
                    } => {
                        retained.remove(topic.as_str())?;
                    }
                    Op::Ack(_) => {}
                }
            }
        }
        write.commit()?;
        Ok(())
    }
}
