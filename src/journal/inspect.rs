//! What a journal holds, read without changing it: `constellation-mqtt journal`.

use super::joblog::{replay, JobLog};
use super::salvage::quietly;
use super::store::{check_header, StoreError};
use super::tables::{PENDING, RETAINED};
use crate::native::PackageId;
use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata};
use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};

/// The pending work of a journal, package by package, and its retained messages.
#[derive(Debug, Default)]
pub struct Summary {
    /// `sentinel/package` → (jobs, bytes of their records).
    pub packages: BTreeMap<String, (u64, u64)>,
    pub retained: u64,
}

/// Why a journal could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("journal {}: {reason}", .path.display())]
    Unreadable { path: PathBuf, reason: String },
}

/// Reads the journal in `dir` (none there: an empty summary). The file is opened
/// read-only: a journal in use by a running adapter, or not closed cleanly, is refused
/// with what to do.
pub fn inspect(dir: &Path) -> Result<Summary, InspectError> {
    let path = dir.join("journal.redb");
    if !path.exists() {
        return Ok(Summary::default());
    }
    check_header(&path)?;
    let unreadable = |reason: String| InspectError::Unreadable {
        path: path.clone(),
        reason,
    };
    let read = quietly(AssertUnwindSafe(|| -> Result<Summary, redb::Error> {
        let db = redb::Database::builder().open_read_only(&path)?;
        let read = db.begin_read()?;
        let mut summary = Summary::default();
        for entry in read.open_table(PENDING)?.iter()? {
            let (_, value) = entry?;
            let (sentinel, package, record) = value.value();
            let counts = summary
                .packages
                .entry(format!("{sentinel}/{package}"))
                .or_default();
            counts.0 += 1;
            counts.1 += record.len() as u64;
        }
        summary.retained = read.open_table(RETAINED)?.len()?;
        Ok(summary)
    }));
    match read {
        Some(Ok(mut summary)) => {
            add_log(dir, &mut summary)?;
            Ok(summary)
        }
        Some(Err(redb::Error::DatabaseAlreadyOpen)) => Err(unreadable(
            "in use by a running adapter: stop it first, or read its /status".into(),
        )),
        Some(Err(e)) => Err(unreadable(format!(
            "{e}. A journal not closed cleanly, or damaged, is repaired (or salvaged) by the adapter's next start"
        ))),
        None => Err(unreadable(
            "damaged: the adapter's next start moves it aside and keeps every record it can read"
                .into(),
        )),
    }
}

/// Adds the jobs of the log in `dir` to `summary` (the database holds an older journal's
/// only, until the adapter's next start moves them into the log).
fn add_log(dir: &Path, summary: &mut Summary) -> Result<(), InspectError> {
    let path = JobLog::path_in(dir);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(InspectError::Unreadable {
                path,
                reason: e.to_string(),
            })
        }
    };
    let replayed = replay(&bytes);
    if replayed.damaged {
        return Err(InspectError::Unreadable {
            path,
            reason:
                "damaged: the adapter's next start moves it aside and keeps every job it can read"
                    .into(),
        });
    }
    for job in replayed.jobs.values() {
        let package = PackageId::new(job.sentinel, job.package).to_string();
        let counts = summary.packages.entry(package).or_default();
        counts.0 += 1;
        counts.1 += job.record.len() as u64;
    }
    Ok(())
}
