//! Reading what can be read of a damaged journal.
//!
//! redb trusts its pages: a damaged one can make a read fail or panic. The file is read
//! from a copy in memory (the damaged file is never changed), each read guarded, and
//! pending jobs are read in key order: where a read fails, the next attempt starts
//! further on (1, 2, 4, … keys past the last one read), so that the records after a
//! damaged page are still found. Retained messages are read until the first failure.

use super::op::Record;
use super::retained::RetainedMessages;
use super::tables::{PENDING, RETAINED};
use crate::native::PackageId;
use redb::backends::InMemoryBackend;
use redb::{Database, ReadOnlyDatabase, ReadableDatabase, ReadableTable, StorageBackend};
use std::panic::{AssertUnwindSafe, UnwindSafe};

/// The most read attempts over a damaged journal's jobs.
const MAX_ATTEMPTS: usize = 256;

/// What could be read of a damaged journal.
#[derive(Default)]
pub(super) struct Salvaged {
    /// `(package, key, record)` in key order.
    pub jobs: Vec<(PackageId, u64, Vec<u8>)>,
    pub retained: RetainedMessages,
    /// Whether every part could be read.
    pub complete: bool,
}

/// What can be read of the journal `bytes`.
pub(super) fn read(bytes: &[u8]) -> Salvaged {
    let mut out = Salvaged::default();
    let complete = match open(bytes) {
        Some(Opened::ReadOnly(db)) => read_all(&db, &mut out),
        Some(Opened::Repaired(db)) => read_all(&db, &mut out),
        None => false,
    };
    out.complete = complete;
    out
}

/// A damaged journal's copy, opened.
enum Opened {
    ReadOnly(ReadOnlyDatabase),
    Repaired(Database),
}

/// Opens a copy of `bytes` in memory: read-only if it can be, else repaired (a journal
/// not closed cleanly needs it).
fn open(bytes: &[u8]) -> Option<Opened> {
    let backend = || {
        let backend = InMemoryBackend::new();
        backend.set_len(bytes.len() as u64).ok()?;
        backend.write(0, bytes).ok()?;
        Some(backend)
    };
    let read_only = quietly(|| {
        let db = Database::builder().open_read_only_with_backend(backend()?);
        db.ok().map(Opened::ReadOnly)
    });
    if let Some(db) = read_only.flatten() {
        return Some(db);
    }
    quietly(|| {
        let db = Database::builder().create_with_backend(backend()?);
        db.ok().map(Opened::Repaired)
    })
    .flatten()
}

/// Reads jobs and retained messages into `out`; whether every read succeeded.
fn read_all(db: &impl ReadableDatabase, out: &mut Salvaged) -> bool {
    let jobs = read_jobs(db, &mut out.jobs);
    let retained = read_retained(db, &mut out.retained);
    jobs && retained
}

/// Reads the pending jobs into `jobs`, past the damaged parts; whether every read
/// succeeded.
fn read_jobs(db: &impl ReadableDatabase, jobs: &mut Vec<(PackageId, u64, Vec<u8>)>) -> bool {
    let mut from = 0u64;
    let mut skip = 1u64;
    let mut complete = true;
    for _ in 0..MAX_ATTEMPTS {
        let before = jobs.len();
        let finished = quietly(AssertUnwindSafe(|| -> Result<(), redb::Error> {
            let read = db.begin_read()?;
            let table = read.open_table(PENDING)?;
            for entry in table.range(from..)? {
                let (key, value) = entry?;
                let (sentinel, package, record) = value.value();
                jobs.push((
                    PackageId::new(sentinel, package),
                    key.value(),
                    record.to_vec(),
                ));
            }
            Ok(())
        }));
        if matches!(finished, Some(Ok(()))) {
            return complete;
        }
        complete = false;
        if jobs.len() > before {
            skip = 1;
        }
        let last = jobs
            .last()
            .map_or(from, |(_, key, _)| key.saturating_add(1));
        from = last.max(from).saturating_add(skip);
        skip = skip.saturating_mul(2);
        if from == u64::MAX {
            break;
        }
    }
    false
}

/// Reads the retained messages into `retained` until the first failure; whether every
/// read succeeded.
fn read_retained(db: &impl ReadableDatabase, retained: &mut RetainedMessages) -> bool {
    let finished = quietly(AssertUnwindSafe(|| -> Result<(), redb::Error> {
        let read = db.begin_read()?;
        let table = read.open_table(RETAINED)?;
        for entry in table.iter()? {
            let (topic, value) = entry?;
            let (payload, qos, properties) = value.value();
            retained.push(
                topic.value(),
                Record {
                    payload: payload.to_vec(),
                    qos,
                    properties: properties.to_vec(),
                },
            );
        }
        Ok(())
    }));
    matches!(finished, Some(Ok(())))
}

/// Runs `f`, which may panic on a damaged database: none if it did. The panic is not
/// printed (the caller reports the damage); used only while the journal opens, before
/// the adapter runs anything else.
pub(super) fn quietly<T>(f: impl FnOnce() -> T + UnwindSafe) -> Option<T> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(f);
    std::panic::set_hook(hook);
    result.ok()
}
