//! The journal on disk: one redb database, `journal.redb` in `storage.dir`.
//!
//! Two tables: pending jobs by key, one sequence for all packages (redb keeps keys in
//! order, so jobs read back in the order they were accepted; a commit's new jobs share
//! the last leaf of the tree and the oldest go first, so a commit rewrites a few pages,
//! not one per job), and the embedded broker's retained messages by topic. A commit is
//! one write transaction, durable (fsync'd) when it returns.

use super::op::{Op, Record};
use super::retained::RetainedMessages;
use super::salvage::{self, quietly};
use super::tables::{JOBS_BY_PACKAGE, PENDING, RETAINED};
use crate::native::PackageId;
use redb::{Database, ReadableDatabase, ReadableTable};
use std::collections::HashSet;
use std::io::Read;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};

/// What a journal found when it opened: the work pending from the last run, package by
/// package in order, and the embedded broker's retained messages.
#[derive(Default)]
pub struct Recovered {
    /// `(package, key, record)` in the order they were accepted.
    pub jobs: Vec<(PackageId, u64, Vec<u8>)>,
    pub retained: RetainedMessages,
    /// The journal was damaged: what was saved of it, and where the file went.
    pub damage: Option<Damage>,
}

/// A damaged journal, moved aside: what could be read of it was saved into a new one.
#[derive(Debug)]
pub struct Damage {
    /// Where the damaged file is now (`journal.redb.damaged-<time>`).
    pub moved_to: PathBuf,
    /// What redb said of it.
    pub reason: String,
    /// Jobs and retained messages read from it and kept.
    pub jobs: usize,
    pub retained: usize,
    /// Whether parts of it could not be read (their records are lost).
    pub unreadable_parts: bool,
}

/// The journal's database could not be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage {}: {source}", .path.display())]
    Redb {
        path: PathBuf,
        #[source]
        source: redb::Error,
    },
    /// The file is there but is no redb database: nothing of it can be read.
    #[error(
        "storage {}: not a journal ({what}). Move it away (or delete it) to start with an \
         empty journal, or point storage.dir at another directory",
        .path.display()
    )]
    NotAJournal { path: PathBuf, what: &'static str },
}

/// The first bytes of every redb database.
const MAGIC: [u8; 9] = [b'r', b'e', b'd', b'b', 0x1A, 0x0A, 0xA9, 0x0D, 0x0A];

/// The open database.
pub(super) struct Store {
    db: Database,
    path: PathBuf,
}

/// Why a journal could not be opened as it is.
enum OpenFailure {
    /// Its content is damaged: salvage what can be read.
    Damaged(String),
    /// Anything else (taken by another process, an I/O error): the caller's to report.
    Other(redb::Error),
}

impl Store {
    /// Opens (or creates) `dir/journal.redb` and reads what it holds. A damaged journal
    /// (redb's integrity check fails, or reading it fails or panics) is moved aside and
    /// what can be read of it kept in a new one; an empty or foreign file is an error.
    pub(super) fn open(dir: &Path) -> Result<(Store, Recovered), StoreError> {
        let path = dir.join("journal.redb");
        let fail = |source: redb::Error| StoreError::Redb {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(|e| fail(e.into()))?;
        check_header(&path)?;
        match quietly(AssertUnwindSafe(|| Store::open_checked(&path))) {
            Some(Ok(opened)) => Ok(opened),
            Some(Err(OpenFailure::Other(e))) => Err(fail(e)),
            Some(Err(OpenFailure::Damaged(reason))) => Store::salvage(&path, reason),
            None => Store::salvage(&path, "reading it panicked".into()),
        }
    }

    /// Opens the database at `path` again, after a failed commit closed it.
    pub(super) fn reopen(path: &Path) -> Result<Store, StoreError> {
        let db = Database::create(path).map_err(|e| StoreError::Redb {
            path: path.to_owned(),
            source: e.into(),
        })?;
        Ok(Store {
            db,
            path: path.to_owned(),
        })
    }

    /// Where the database is.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the file with redb's integrity check and reads it.
    fn open_checked(path: &Path) -> Result<(Store, Recovered), OpenFailure> {
        let db = Database::builder()
            .set_check_integrity_on_open(true)
            .create(path)
            .map_err(|e| classify(e.into()))?;
        let store = Store {
            db,
            path: path.to_owned(),
        };
        let recovered = store.read().map_err(classify)?;
        Ok((store, recovered))
    }

    /// Moves the damaged journal at `path` aside, and starts a new one with every record
    /// that could be read of it.
    fn salvage(path: &Path, reason: String) -> Result<(Store, Recovered), StoreError> {
        let fail = |source: redb::Error| StoreError::Redb {
            path: path.to_owned(),
            source,
        };
        let bytes = std::fs::read(path).map_err(|e| fail(e.into()))?;
        let salvaged = salvage::read(&bytes);
        drop(bytes);
        let mut recovered = Recovered {
            jobs: salvaged.jobs,
            retained: salvaged.retained,
            damage: None,
        };
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S");
        let moved_to = path.with_file_name(format!("journal.redb.damaged-{stamp}"));
        std::fs::rename(path, &moved_to).map_err(|e| fail(e.into()))?;
        let db = Database::create(path).map_err(|e| fail(e.into()))?;
        let store = Store {
            db,
            path: path.to_owned(),
        };
        store.keep(&recovered).map_err(fail)?;
        recovered.damage = Some(Damage {
            moved_to,
            reason,
            jobs: recovered.jobs.len(),
            retained: recovered.retained.len(),
            unreadable_parts: !salvaged.complete,
        });
        Ok((store, recovered))
    }

    /// Writes `recovered` (read from a damaged journal) into this new one.
    fn keep(&self, recovered: &Recovered) -> Result<(), redb::Error> {
        let write = self.db.begin_write()?;
        {
            let mut pending = write.open_table(PENDING)?;
            for (package, key, record) in &recovered.jobs {
                let value = (
                    package.sentinel.as_str(),
                    package.package.as_str(),
                    record.as_slice(),
                );
                pending.insert(*key, value)?;
            }
            let mut retained = write.open_table(RETAINED)?;
            for (topic, m) in recovered.retained.iter() {
                let value = (m.payload.as_slice(), m.qos, m.properties.as_slice());
                retained.insert(topic, value)?;
            }
        }
        write.commit()?;
        Ok(())
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
        self.apply(ops, skip).map_err(|source| StoreError::Redb {
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
                    Op::Ack(_) | Op::RetainedChanged => {}
                }
            }
        }
        write.commit()?;
        Ok(())
    }
}

/// Refuses a file that cannot be a journal: an empty one, or one that is no redb
/// database (a journal damaged at its very start is one of these: nothing of it can be
/// read). A missing file is fine: it is created.
pub(super) fn check_header(path: &Path) -> Result<(), StoreError> {
    let not_a_journal = |what| StoreError::NotAJournal {
        path: path.to_owned(),
        what,
    };
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(StoreError::Redb {
                path: path.to_owned(),
                source: e.into(),
            })
        }
    };
    let mut head = Vec::with_capacity(MAGIC.len());
    let read = (&mut file).take(MAGIC.len() as u64).read_to_end(&mut head);
    match read {
        Ok(0) => Err(not_a_journal("the file is empty")),
        Ok(_) if head != MAGIC => Err(not_a_journal("its first bytes are not a redb database's")),
        Ok(_) => Ok(()),
        Err(e) => Err(StoreError::Redb {
            path: path.to_owned(),
            source: e.into(),
        }),
    }
}

/// Damage (salvage it) or anything else (report it).
fn classify(e: redb::Error) -> OpenFailure {
    match e {
        redb::Error::Corrupted(reason) => OpenFailure::Damaged(reason),
        redb::Error::TableTypeMismatch { .. } | redb::Error::TableIsMultimap(_) => {
            OpenFailure::Damaged(e.to_string())
        }
        other => OpenFailure::Other(other),
    }
}
