//! The journal on disk: one redb database, `journal.redb` in `storage.dir`.
//!
//! Two tables: pending jobs by key, one sequence for all packages (redb keeps keys in
//! order, so jobs read back in the order they were accepted; a commit's new jobs share
//! the last leaf of the tree and the oldest go first, so a commit rewrites a few pages,
//! not one per job), and the embedded broker's retained messages by topic. A commit is
//! one write transaction, durable (fsync'd) when it returns.

use super::op::{Op, Record};
use super::retained::RetainedMessages;
use crate::native::PackageId;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Pending jobs: key → `(sentinel, package, the job's record)`.
const PENDING: TableDefinition<u64, (&str, &str, &[u8])> = TableDefinition::new("pending");
/// Pending jobs as journals before 2026-12-03 kept them, `(sentinel, package, key)` →
/// record: moved into [`PENDING`] when such a journal opens.
const JOBS_BY_PACKAGE: TableDefinition<(&str, &str, u64), &[u8]> = TableDefinition::new("jobs");
/// Retained messages: topic → `(payload, QoS, properties as JSON or empty)`.
const RETAINED: TableDefinition<&str, (&[u8], u8, &[u8])> = TableDefinition::new("retained");

/// What a journal found when it opened: the work pending from the last run, package by
/// package in order, and the embedded broker's retained messages.
#[derive(Default)]
pub struct Recovered {
    /// `(package, key, record)` in the order they were accepted.
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

    /// Everything pending, and the retained messages (the tables are created if new, the
    /// jobs of an older journal moved into the current table).
    fn read(&self) -> Result<Recovered, redb::Error> {
        let write = self.db.begin_write()?;
        {
            let mut pending = write.open_table(PENDING)?;
            let old = write.open_table(JOBS_BY_PACKAGE)?;
            let next = pending.last()?.map_or(1, |(key, _)| key.value() + 1);
            // Package by package, each in order: the order the new keys keep.
            for (new_key, entry) in (next..).zip(old.iter()?) {
                let (key, record) = entry?;
                let (sentinel, package, _) = key.value();
                pending.insert(new_key, (sentinel, package, record.value()))?;
            }
            write.open_table(RETAINED)?;
        }
        write.delete_table(JOBS_BY_PACKAGE)?;
        write.commit()?;
        let read = self.db.begin_read()?;
        let mut recovered = Recovered::default();
        for entry in read.open_table(PENDING)?.iter()? {
            let (key, value) = entry?;
            let (sentinel, package, record) = value.value();
            recovered.jobs.push((
                PackageId::new(sentinel, package),
                key.value(),
                record.to_vec(),
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

    /// Applies `ops`, but the puts and deletes of the jobs in `skip`, in one durable
    /// transaction.
    pub(super) fn commit(&self, ops: &[Op], skip: &HashSet<u64>) -> Result<(), StoreError> {
        self.apply(ops, skip).map_err(|source| StoreError {
            path: self.path.clone(),
            source,
        })
    }

    fn apply(&self, ops: &[Op], skip: &HashSet<u64>) -> Result<(), redb::Error> {
        let write = self.db.begin_write()?;
        {
            let mut jobs = write.open_table(PENDING)?;
            let mut retained = write.open_table(RETAINED)?;
            for op in ops {
                match op {
                    Op::Put { key, .. } | Op::Delete { key } if skip.contains(key) => {}
                    Op::Put {
                        package,
                        key,
                        record,
                    } => {
                        let value = (
                            package.sentinel.as_str(),
                            package.package.as_str(),
                            record.as_slice(),
                        );
                        jobs.insert(*key, value)?;
                    }
                    Op::Delete { key } => {
                        jobs.remove(*key)?;
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
