//! Pending jobs on disk: an append-only log, `journal.jobs`, beside the redb database
//! (which keeps the embedded broker's retained messages).
//!
//! A commit appends its puts and deletes as frames (length, CRC-32, operations; one
//! per 64 KiB) and syncs the file: one write and one `fdatasync` per commit, however
//! many jobs it holds (a B-tree rewrote leaves, branches and allocator pages for each).
//! Reading stops at a torn frame, of the last commit, which never returned (its
//! publishes were never acknowledged), and steps over a damaged stretch to the frames
//! after it. The log is
//! rewritten with the pending jobs only when it opens, and once it has grown to three
//! times what it held then (and past 4 MiB).

use crate::native::PackageId;
use std::collections::{BTreeMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::op::Op;

/// The first bytes of a job log.
const MAGIC: &[u8; 8] = b"CMQJOBS1";
/// A frame's length and checksum, before its operations.
const FRAME_HEADER: usize = 8;
const PUT: u8 = 1;
const DELETE: u8 = 2;
/// A log is not rewritten before it is this long.
const MIN_REWRITE: u64 = 4 << 20;
/// A frame is closed once it holds this much (one operation is never split): damage to
/// one loses no more. A commit larger than this is several frames, read back one by one:
/// what a crash tears off the end of one commit was never acknowledged.
const FRAME_SIZE: usize = 64 << 10;

/// Pending jobs by key: their package and record.
pub(super) type Jobs = BTreeMap<u64, (PackageId, Vec<u8>)>;

/// A pending job as a log's bytes hold it (read without a copy).
pub(super) struct Put<'a> {
    pub sentinel: &'a str,
    pub package: &'a str,
    pub record: &'a [u8],
}

/// Pending jobs by key, as a log's bytes hold them.
pub(super) type Read<'a> = BTreeMap<u64, Put<'a>>;

/// The open log.
pub(super) struct JobLog {
    file: File,
    path: PathBuf,
    /// What is written and synced: a failed append is cut back to it.
    len: u64,
    /// The log is rewritten once it is this long.
    rewrite_at: u64,
}

/// A log as it was found when it opened.
pub(super) struct Opened {
    pub log: JobLog,
    pub jobs: Jobs,
    /// It was damaged: where the file went (the jobs are what could be read of it).
    pub damaged: Option<PathBuf>,
}

impl JobLog {
    /// The log's path in `dir`.
    pub(super) fn path_in(dir: &Path) -> PathBuf {
        dir.join("journal.jobs")
    }

    /// Opens (or creates) the log in `dir` and reads it; it is then rewritten with its
    /// pending jobs only. A damaged log is moved aside first (`journal.jobs.damaged-…`).
    pub(super) fn open(dir: &Path) -> io::Result<Opened> {
        let path = Self::path_in(dir);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        let replayed = replay(&bytes);
        // What was read is on disk before a damaged file is moved aside: a start that
        // fails (a full disk) leaves the damaged file where the next one reads it.
        let new = write_new(&path, &replayed.jobs)?;
        let damaged = if replayed.damaged {
            let moved_to = aside(&path);
            std::fs::rename(&path, &moved_to)?;
            Some(moved_to)
        } else {
            None
        };
        let (file, len) = install(&new, &path)?;
        let log = JobLog {
            file,
            path,
            len,
            rewrite_at: MIN_REWRITE.max(3 * len),
        };
        Ok(Opened {
            log,
            jobs: owned(&replayed.jobs),
            damaged,
        })
    }

    /// Where the log is.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `jobs` (read from an older journal) and syncs them.
    pub(super) fn keep(&mut self, jobs: &Jobs) -> io::Result<()> {
        let mut frames = Frames::new();
        for (key, (package, record)) in jobs {
            frames.put(*key, &package.sentinel, &package.package, record);
        }
        self.append(frames)
    }

    /// Appends the puts and deletes of `ops` but those of the jobs in `skip`, and syncs
    /// them; nothing when there are none. A failed append leaves the log as it was.
    pub(super) fn commit(&mut self, ops: &[Op], skip: &HashSet<u64>) -> io::Result<()> {
        let mut frames = Frames::new();
        for op in ops {
            match op {
                Op::Put { key, .. } | Op::Delete { key } if skip.contains(key) => {}
                Op::Put {
                    package,
                    key,
                    record,
                } => frames.put(*key, &package.sentinel, &package.package, record),
                Op::Delete { key } => frames.delete(*key),
                Op::Ack(_) | Op::RetainedChanged | Op::Retain { .. } => {}
            }
        }
        self.append(frames)?;
        if self.len >= self.rewrite_at {
            self.shrink();
        }
        Ok(())
    }

    fn append(&mut self, frames: Frames) -> io::Result<()> {
        let bytes = frames.finish()?;
        if bytes.is_empty() {
            return Ok(());
        }
        let written = self
            .file
            .seek(SeekFrom::Start(self.len))
            .and_then(|_| self.file.write_all(&bytes))
            .and_then(|()| self.file.sync_data());
        match written {
            Ok(()) => {
                self.len += bytes.len() as u64;
                Ok(())
            }
            Err(e) => {
                // What was written of it is no commit: cut it off (when that fails
                // too, reading stops at it as at a torn write).
                let _ = self.file.set_len(self.len);
                Err(e)
            }
        }
    }

    /// Rewrites the log with its pending jobs only. A failure leaves it as it was, to
    /// be tried again once it has grown as much again.
    fn shrink(&mut self) {
        let rewritten = std::fs::read(&self.path).and_then(|mut bytes| {
            bytes.truncate(usize::try_from(self.len).unwrap_or(usize::MAX));
            rewrite(&self.path, &replay(&bytes).jobs)
        });
        match rewritten {
            Ok((file, len)) => {
                self.file = file;
                self.len = len;
                self.rewrite_at = MIN_REWRITE.max(3 * len);
            }
            Err(e) => {
                tracing::warn!(error = %e, path = %self.path.display(), "journal: the job log could not be rewritten smaller; it grows until the next try");
                self.rewrite_at = self.len.saturating_mul(2);
            }
        }
    }
}

/// The jobs of `read`, copied out of the log's bytes.
fn owned(read: &Read) -> Jobs {
    read.iter()
        .map(|(key, job)| {
            let id = PackageId::new(job.sentinel, job.package);
            (*key, (id, job.record.to_vec()))
        })
        .collect()
}

/// Where the damaged journal file `path` is moved: `<its name>.damaged-<UTC time>`.
pub(super) fn aside(path: &Path) -> PathBuf {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S");
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!("{name}.damaged-{stamp}"))
}

/// Writes `jobs` as a new log at `path` (through a file beside it, renamed over it once
/// synced), and opens it for appending: the file and its length.
fn rewrite(path: &Path, jobs: &Read) -> io::Result<(File, u64)> {
    let new = write_new(path, jobs)?;
    install(&new, path)
}

/// Writes `jobs` as a log beside `path` (`journal.jobs.new`), synced; removed again when
/// that fails (it would take the room a full disk lacks).
fn write_new(path: &Path, jobs: &Read) -> io::Result<PathBuf> {
    let new = path.with_file_name("journal.jobs.new");
    let written = (|| {
        let mut file = File::create(&new)?;
        file.write_all(MAGIC)?;
        let mut frames = Frames::new();
        for (key, job) in jobs {
            frames.put(*key, job.sentinel, job.package, job.record);
            if frames.closed.len() >= FRAME_SIZE {
                file.write_all(&std::mem::take(&mut frames.closed))?;
            }
        }
        file.write_all(&frames.finish()?)?;
        file.sync_all()
    })();
    match written {
        Ok(()) => Ok(new),
        Err(e) => {
            let _ = std::fs::remove_file(&new);
            Err(e)
        }
    }
}

/// Renames the synced log `new` over `path` (the rename synced too), and opens it for
/// appending: the file and its length.
fn install(new: &Path, path: &Path) -> io::Result<(File, u64)> {
    std::fs::rename(new, path)?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()?;
    let file = OpenOptions::new().read(true).write(true).open(path)?;
    let len = file.metadata()?.len();
    Ok((file, len))
}

/// Operations being written, as frames of about [`FRAME_SIZE`] bytes.
struct Frames {
    /// Frames closed, whole.
    closed: Vec<u8>,
    /// The open frame: room for its length and checksum, then its operations.
    open: Vec<u8>,
    /// An operation too large for a frame's length field (4 GiB) was given.
    oversize: bool,
}

impl Frames {
    fn new() -> Self {
        Frames {
            closed: Vec::new(),
            open: vec![0; FRAME_HEADER],
            oversize: false,
        }
    }

    fn put(&mut self, key: u64, sentinel: &str, package: &str, record: &[u8]) {
        let b = &mut self.open;
        b.push(PUT);
        b.extend_from_slice(&key.to_le_bytes());
        for part in [sentinel.as_bytes(), package.as_bytes(), record] {
            match u32::try_from(part.len()) {
                Ok(len) => b.extend_from_slice(&len.to_le_bytes()),
                Err(_) => self.oversize = true,
            }
            b.extend_from_slice(part);
        }
        self.close_when_full();
    }

    fn delete(&mut self, key: u64) {
        self.open.push(DELETE);
        self.open.extend_from_slice(&key.to_le_bytes());
        self.close_when_full();
    }

    fn close_when_full(&mut self) {
        if self.open.len() >= FRAME_SIZE {
            self.close();
        }
    }

    /// Closes the open frame (when it holds anything) into `closed`.
    fn close(&mut self) {
        let ops = self.open.len() - FRAME_HEADER;
        if ops == 0 {
            return;
        }
        let Ok(len) = u32::try_from(ops) else {
            self.oversize = true;
            return;
        };
        let crc = crc32fast::hash(&self.open[FRAME_HEADER..]);
        self.open[..4].copy_from_slice(&len.to_le_bytes());
        self.open[4..8].copy_from_slice(&crc.to_le_bytes());
        self.closed.append(&mut self.open);
        self.open.resize(FRAME_HEADER, 0);
    }

    /// Every frame's bytes (none when no operation was given); an error when an
    /// operation was too large to be written.
    fn finish(mut self) -> io::Result<Vec<u8>> {
        self.close();
        if self.oversize {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a job of 4 GiB or more cannot be kept in the journal",
            ));
        }
        Ok(self.closed)
    }
}

/// What a log's bytes hold.
pub(super) struct Replayed<'a> {
    pub jobs: Read<'a>,
    /// A stretch could not be read and frames were found after it (a torn last frame,
    /// with nothing readable after it, is no damage).
    pub damaged: bool,
}

/// Reads the frames of `bytes` in order, applying their operations.
pub(super) fn replay(bytes: &[u8]) -> Replayed<'_> {
    let mut out = Replayed {
        jobs: Read::new(),
        damaged: false,
    };
    let mut at = if bytes.starts_with(MAGIC) {
        MAGIC.len()
    } else {
        out.damaged = !bytes.is_empty();
        0
    };
    while at < bytes.len() {
        match frame_at(bytes, at) {
            Some((ops, next)) => {
                apply(ops, &mut out.jobs);
                at = next;
            }
            // Torn, or damaged: the next frame that can be read, if any.
            None => match (at + 1..bytes.len()).find(|&p| frame_at(bytes, p).is_some()) {
                Some(next) => {
                    out.damaged = true;
                    at = next;
                }
                None => break,
            },
        }
    }
    out
}

/// The operations of the frame at `at` and where it ends, when it is whole, its
/// checksum right and its operations well formed.
fn frame_at(bytes: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let header = bytes.get(at..at + FRAME_HEADER)?;
    let len = u32::from_le_bytes(header[..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(header[4..].try_into().ok()?);
    let start = at + FRAME_HEADER;
    let ops = bytes.get(start..start.checked_add(len)?)?;
    if len == 0 || crc32fast::hash(ops) != crc || !well_formed(ops) {
        return None;
    }
    Some((ops, start + len))
}

/// Whether `ops` parses whole.
fn well_formed(mut ops: &[u8]) -> bool {
    while !ops.is_empty() {
        match next_op(ops) {
            Some((_, rest)) => ops = rest,
            None => return false,
        }
    }
    true
}

/// One operation read from a frame.
enum Parsed<'a> {
    Put(u64, Put<'a>),
    Delete(u64),
}

/// The first operation of `ops`, and what follows it.
fn next_op(ops: &[u8]) -> Option<(Parsed<'_>, &[u8])> {
    let (&kind, rest) = ops.split_first()?;
    let (key, mut rest) = rest.split_first_chunk::<8>()?;
    let key = u64::from_le_bytes(*key);
    match kind {
        DELETE => Some((Parsed::Delete(key), rest)),
        PUT => {
            let mut part = || -> Option<&[u8]> {
                let (len, tail) = rest.split_first_chunk::<4>()?;
                let len = u32::from_le_bytes(*len) as usize;
                let (part, tail) = (tail.get(..len)?, tail.get(len..)?);
                rest = tail;
                Some(part)
            };
            let (sentinel, package, record) = (part()?, part()?, part()?);
            let put = Put {
                sentinel: std::str::from_utf8(sentinel).ok()?,
                package: std::str::from_utf8(package).ok()?,
                record,
            };
            Some((Parsed::Put(key, put), rest))
        }
        _ => None,
    }
}

/// Applies a well-formed frame's operations to `jobs`.
fn apply<'a>(mut ops: &'a [u8], jobs: &mut Read<'a>) {
    while let Some((op, rest)) = next_op(ops) {
        match op {
            Parsed::Put(key, put) => {
                jobs.insert(key, put);
            }
            Parsed::Delete(key) => {
                jobs.remove(&key);
            }
        }
        ops = rest;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn put(key: u64, record: &str) -> Op {
        Op::Put {
            package: Arc::new(PackageId::new("S", "P")),
            key,
            record: record.as_bytes().to_vec(),
        }
    }

    fn records(jobs: &Jobs) -> Vec<(u64, String)> {
        jobs.iter()
            .map(|(k, (_, r))| (*k, String::from_utf8_lossy(r).into_owned()))
            .collect()
    }

    fn commit(log: &mut JobLog, ops: &[Op]) {
        log.commit(ops, &HashSet::new()).unwrap();
    }

    #[test]
    fn commits_are_read_back_in_key_order_without_their_deletes_or_skipped_jobs() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = JobLog::open(dir.path()).unwrap().log;
        commit(&mut log, &[put(1, "a"), put(2, "b"), put(3, "c")]);
        commit(
            &mut log,
            &[Op::Delete { key: 2 }, put(1, "a2"), put(4, "d")],
        );
        let skip = HashSet::from([5]);
        log.commit(&[put(5, "never"), Op::Delete { key: 5 }], &skip)
            .unwrap();
        drop(log);
        let opened = JobLog::open(dir.path()).unwrap();
        assert!(opened.damaged.is_none());
        assert_eq!(
            records(&opened.jobs),
            [(1, "a2".into()), (3, "c".into()), (4, "d".into())]
        );
        // Opening rewrote it with those three only: the same again.
        drop(opened);
        let again = JobLog::open(dir.path()).unwrap();
        assert_eq!(records(&again.jobs).len(), 3);
    }

    #[test]
    fn a_torn_last_frame_is_no_damage_and_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = JobLog::open(dir.path()).unwrap().log;
        commit(&mut log, &[put(1, "kept")]);
        commit(&mut log, &[put(2, "torn")]);
        let path = log.path().to_owned();
        drop(log);
        let len = std::fs::metadata(&path).unwrap().len();
        // A commit that never returned: its frame only partly on disk.
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(len - 3).unwrap();
        drop(file);
        let opened = JobLog::open(dir.path()).unwrap();
        assert!(opened.damaged.is_none());
        assert_eq!(records(&opened.jobs), [(1, "kept".into())]);
    }

    #[test]
    fn a_damaged_stretch_is_stepped_over_and_the_file_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = JobLog::open(dir.path()).unwrap().log;
        for key in 1..=30 {
            commit(
                &mut log,
                &[put(key, &format!("job {key:02} {}", "x".repeat(40)))],
            );
        }
        let path = log.path().to_owned();
        drop(log);
        let mut bytes = std::fs::read(&path).unwrap();
        let middle = bytes.len() / 2;
        for b in &mut bytes[middle..middle + 100] {
            *b ^= 0x5a;
        }
        std::fs::write(&path, &bytes).unwrap();
        let opened = JobLog::open(dir.path()).unwrap();
        let moved = opened.damaged.clone().expect("damage reported");
        assert!(moved.exists(), "the damaged log is kept aside");
        let kept = records(&opened.jobs);
        assert!(kept.len() >= 26 && kept.len() < 30, "{kept:?}");
        assert_eq!(kept.first().map(|k| k.0), Some(1));
        assert_eq!(
            kept.last().map(|k| k.0),
            Some(30),
            "frames after the damage"
        );
        // The new log holds what was kept, and is whole.
        drop(opened);
        let again = JobLog::open(dir.path()).unwrap();
        assert!(again.damaged.is_none());
        assert_eq!(records(&again.jobs), kept);
    }

    #[test]
    fn a_commit_larger_than_a_frame_is_several_and_reads_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = JobLog::open(dir.path()).unwrap().log;
        let record = "r".repeat(1000);
        let ops: Vec<Op> = (1..=200).map(|key| put(key, &record)).collect();
        commit(&mut log, &ops);
        assert!(log.len > 2 * FRAME_SIZE as u64, "{} bytes", log.len);
        let path = log.path().to_owned();
        drop(log);
        let bytes = std::fs::read(&path).unwrap();
        let replayed = replay(&bytes);
        assert!(!replayed.damaged);
        assert_eq!(replayed.jobs.len(), 200);
        // Torn in its last frame: the frames before it are read.
        let torn = replay(&bytes[..bytes.len() - 10]);
        assert!(!torn.damaged);
        assert!(torn.jobs.len() > 100 && torn.jobs.len() < 200);
    }

    #[test]
    fn a_foreign_file_is_damage_not_a_silent_loss() {
        let replayed = replay(b"name,value\nsome,csv\n");
        assert!(replayed.damaged);
        assert!(replayed.jobs.is_empty());
        assert!(!replay(b"").damaged, "an empty log is a new one");
    }

    #[test]
    fn the_log_is_rewritten_once_it_holds_mostly_done_jobs() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = JobLog::open(dir.path()).unwrap().log;
        let record = "r".repeat(4096);
        commit(&mut log, &[put(1, "pending")]);
        for key in 2..2_000 {
            commit(&mut log, &[put(key, &record)]);
            commit(&mut log, &[Op::Delete { key }]);
        }
        assert!(log.len < MIN_REWRITE, "rewritten: {} bytes", log.len);
        assert_eq!(log.len, std::fs::metadata(log.path()).unwrap().len());
        drop(log);
        let opened = JobLog::open(dir.path()).unwrap();
        assert_eq!(records(&opened.jobs), [(1, "pending".into())]);
    }
}
