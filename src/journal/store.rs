//! The journal on disk, in `storage.dir`: pending jobs in an append-only log
//! (`journal.jobs`, see [`super::joblog`]) and the embedded broker's retained messages in
//! a redb database (`journal.redb`), which also holds the directory's lock (a second
//! adapter on the same directory is refused). A commit appends the jobs' changes and
//! syncs them, then, when retained messages changed, writes them in one durable redb
//! transaction.
//!
//! Journals written before 2026-12-06 kept their jobs in redb (table `pending`, and
//! before 2026-12-03 `jobs`): they are moved into the log when the journal opens.

use super::joblog::{aside, JobLog, Jobs};
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
    /// Where the damaged file is now (`journal.redb.damaged-<time>`, or
    /// `journal.jobs.damaged-<time>`).
    pub moved_to: PathBuf,
    /// What was wrong with it.
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
    #[error("storage {}: {source}", .path.display())]
    Log {
        path: PathBuf,
        #[source]
        source: std::io::Error,
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

/// The open journal: its database and its job log.
pub(super) struct Store {
    db: Database,
    path: PathBuf,
    log: JobLog,
}

/// Why a journal could not be opened as it is.
enum OpenFailure {
    /// Its content is damaged: salvage what can be read.
    Damaged(String),
    /// Anything else (taken by another process, an I/O error): the caller's to report.
    Other(redb::Error),
}

impl Store {
    /// Opens (or creates) the journal in `dir` (`journal.redb` and `journal.jobs`) and
    /// reads what it holds, an older journal's jobs moved into the log. A damaged file
    /// (redb's integrity check fails, reading it fails or panics, or the log has a
    /// damaged stretch) is moved aside and what can be read of it kept in a new one; an
    /// empty or foreign `journal.redb` is an error.
    pub(super) fn open(dir: &Path) -> Result<(Store, Recovered), StoreError> {
        let path = dir.join("journal.redb");
        let fail = |source: redb::Error| StoreError::Redb {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(|e| fail(e.into()))?;
        check_header(&path)?;
        let (db, mut recovered) = match quietly(AssertUnwindSafe(|| open_checked(&path))) {
            Some(Ok(opened)) => opened,
            Some(Err(OpenFailure::Other(e))) => return Err(fail(e)),
            Some(Err(OpenFailure::Damaged(reason))) => salvage(&path, reason)?,
            None => salvage(&path, "reading it panicked".into())?,
        };
        let log_path = JobLog::path_in(dir);
        let log_failed = log_error(&log_path);
        let opened = JobLog::open(dir).map_err(&log_failed)?;
        let mut log = opened.log;
        let mut jobs = opened.jobs;
        if !recovered.jobs.is_empty() {
            // An older journal's jobs (or a damaged one's): into the log, then out of
            // the database. Stopped between the two, the next start does it again.
            let older: Jobs = std::mem::take(&mut recovered.jobs)
                .into_iter()
                .map(|(package, key, record)| (key, (package, record)))
                .collect();
            log.keep(&older).map_err(&log_failed)?;
            forget_jobs(&db).map_err(fail)?;
            jobs.extend(older);
        }
        if let Some(moved_to) = opened.damaged {
            let log_damage = Damage {
                moved_to,
                reason: "its job log could not be read in places".into(),
                jobs: jobs.len(),
                retained: 0,
                unreadable_parts: true,
            };
            recovered.damage = Some(match recovered.damage.take() {
                None => log_damage,
                Some(db_damage) => Damage {
                    reason: format!("{}; {}", db_damage.reason, log_damage.reason),
                    jobs: log_damage.jobs,
                    ..db_damage
                },
            });
        } else if let Some(damage) = &mut recovered.damage {
            damage.jobs = jobs.len();
        }
        recovered.jobs = jobs
            .into_iter()
            .map(|(key, (package, record))| (package, key, record))
            .collect();
        let store = Store { db, path, log };
        Ok((store, recovered))
    }

    /// Opens the journal in `path`'s directory again, after a failed commit closed it.
    pub(super) fn reopen(path: &Path) -> Result<Store, StoreError> {
        let db = Database::create(path).map_err(|e| StoreError::Redb {
            path: path.to_owned(),
            source: e.into(),
        })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let opened = JobLog::open(dir).map_err(log_error(&JobLog::path_in(dir)))?;
        if let Some(moved_to) = opened.damaged {
            tracing::error!(moved_to = %moved_to.display(), "journal: the job log was damaged while the adapter ran; what could be read of it is kept");
        }
        Ok(Store {
            db,
            path: path.to_owned(),
            log: opened.log,
        })
    }

    /// Where the database is.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Applies `ops`, but the puts and deletes of the jobs in `skip`: the jobs' changes
    /// appended to the log and synced, then the retained messages' changes, if any, in
    /// one durable transaction.
    pub(super) fn commit(&mut self, ops: &[Op], skip: &HashSet<u64>) -> Result<(), StoreError> {
        self.log
            .commit(ops, skip)
            .map_err(log_error(self.log.path()))?;
        if !ops.iter().any(|op| matches!(op, Op::Retain { .. })) {
            return Ok(());
        }
        self.retain(ops).map_err(|source| StoreError::Redb {
            path: self.path.clone(),
            source,
        })
    }

    fn retain(&self, ops: &[Op]) -> Result<(), redb::Error> {
        let write = self.db.begin_write()?;
        {
            let mut retained = write.open_table(RETAINED)?;
            for op in ops {
                match op {
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
                    _ => {}
                }
            }
        }
        write.commit()?;
        Ok(())
    }
}

/// What a failure of the job log at `path` is.
fn log_error(path: &Path) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Log {
        path: path.to_owned(),
        source,
    }
}

/// Opens the database at `path` with redb's integrity check and reads it.
fn open_checked(path: &Path) -> Result<(Database, Recovered), OpenFailure> {
    let db = Database::builder()
        .set_check_integrity_on_open(true)
        .create(path)
        .map_err(|e| classify(e.into()))?;
    let recovered = read(&db).map_err(classify)?;
    Ok((db, recovered))
}

/// Moves the damaged database at `path` aside, and starts a new one with every record
/// that could be read of it (its jobs, if it held any, are the caller's to keep).
fn salvage(path: &Path, reason: String) -> Result<(Database, Recovered), StoreError> {
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
    let moved_to = aside(path);
    std::fs::rename(path, &moved_to).map_err(|e| fail(e.into()))?;
    let db = Database::create(path).map_err(|e| fail(e.into()))?;
    keep_retained(&db, &recovered.retained).map_err(fail)?;
    recovered.damage = Some(Damage {
        moved_to,
        reason,
        jobs: recovered.jobs.len(),
        retained: recovered.retained.len(),
        unreadable_parts: !salvaged.complete,
    });
    Ok((db, recovered))
}

/// Writes `retained` (read from a damaged journal) into this new one.
fn keep_retained(db: &Database, retained: &RetainedMessages) -> Result<(), redb::Error> {
    let write = db.begin_write()?;
    {
        let mut table = write.open_table(RETAINED)?;
        for (topic, m) in retained.iter() {
            let value = (m.payload.as_slice(), m.qos, m.properties.as_slice());
            table.insert(topic, value)?;
        }
    }
    write.commit()?;
    Ok(())
}

/// Drops the jobs the database held (once they are in the log).
fn forget_jobs(db: &Database) -> Result<(), redb::Error> {
    let write = db.begin_write()?;
    write.delete_table(PENDING)?;
    write.commit()?;
    Ok(())
}

/// The jobs an older journal kept in the database, and the retained messages (the
/// tables are created if new, the jobs of the oldest layout moved into `pending`).
fn read(db: &Database) -> Result<Recovered, redb::Error> {
    let write = db.begin_write()?;
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
    let read = db.begin_read()?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_older_journals_jobs_move_from_the_database_into_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.redb");
        {
            let db = Database::create(&path).unwrap();
            let write = db.begin_write().unwrap();
            {
                let mut pending = write.open_table(PENDING).unwrap();
                pending.insert(7, ("S", "A", &b"seven"[..])).unwrap();
                pending.insert(9, ("S", "B", &b"nine"[..])).unwrap();
            }
            write.commit().unwrap();
        }
        let jobs = |recovered: &Recovered| -> Vec<(String, u64, Vec<u8>)> {
            recovered
                .jobs
                .iter()
                .map(|(p, k, r)| (p.to_string(), *k, r.clone()))
                .collect()
        };
        let expected = vec![
            ("S/A".to_owned(), 7, b"seven".to_vec()),
            ("S/B".to_owned(), 9, b"nine".to_vec()),
        ];
        let (mut store, recovered) = Store::open(dir.path()).unwrap();
        assert_eq!(jobs(&recovered), expected);
        assert!(recovered.damage.is_none());
        let read = store.db.begin_read().unwrap();
        let left = read
            .open_table(PENDING)
            .map_or(0, |t| t.iter().unwrap().count());
        assert_eq!(left, 0, "the database no longer holds them");
        drop(read);
        store
            .commit(&[Op::Delete { key: 7 }], &HashSet::new())
            .unwrap();
        drop(store);
        let (_, recovered) = Store::open(dir.path()).unwrap();
        assert_eq!(jobs(&recovered), expected[1..], "kept once, in the log");
    }
}
