//! The package instances the adapter created on the server, remembered (in
//! `provisioned.json` beside the journal, when durability is `disk`) so that pruning
//! only ever removes those, and only once they have been gone long enough.
//!
//! The file is written by a thread of its own: a change costs its caller (who may hold
//! the registry's locks, on the runtime) an in-memory copy, never a disk write.

use crate::native::PackageId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{SystemTime, UNIX_EPOCH};

/// One created instance.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Created {
    pub sentinel: String,
    pub package: String,
    /// When it was created, and when it was last seen live in the adapter (Unix s).
    pub created_s: u64,
    pub seen_s: u64,
}

/// The created instances, by `sentinel/package`.
#[derive(Debug, Default)]
pub struct Ledger {
    entries: BTreeMap<String, Created>,
    file: Option<FileWriter>,
}

/// The thread that writes the ledger's file, the latest state first.
#[derive(Debug)]
struct FileWriter {
    states: Option<mpsc::Sender<Vec<u8>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FileWriter {
    fn start(file: PathBuf) -> Self {
        let (tx, rx) = mpsc::channel::<Vec<u8>>();
        let thread = std::thread::Builder::new()
            .name("provisioning-ledger".into())
            .spawn(move || {
                while let Ok(mut state) = rx.recv() {
                    // Only the latest of the states waiting matters.
                    while let Ok(newer) = rx.try_recv() {
                        state = newer;
                    }
                    write(&file, &state);
                }
            })
            .ok();
        Self {
            states: Some(tx),
            thread,
        }
    }
}

impl Drop for FileWriter {
    /// The last state is written before the ledger is gone.
    fn drop(&mut self) {
        self.states.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Writes `state` to `file` (through a temporary file renamed over the old one).
fn write(file: &Path, state: &[u8]) {
    let tmp = file.with_extension("json.tmp");
    let written = std::fs::write(&tmp, state).and_then(|()| std::fs::rename(&tmp, file));
    if let Err(e) = written {
        tracing::error!(file = %file.display(), error = %e, "provisioning ledger not written");
    }
}

/// Now, in Unix seconds.
pub fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Ledger {
    /// The ledger kept in `file` (none: in memory only); an unreadable file is reported
    /// and started afresh (pruning then forgets what it had created). Every instance
    /// counts as seen now: the time the adapter was down says nothing of its devices.
    pub fn open(file: Option<PathBuf>) -> Self {
        let mut entries: BTreeMap<String, Created> = file
            .as_ref()
            .filter(|f| f.exists())
            .and_then(|f| {
                let read = std::fs::read(f)
                    .map_err(|e| e.to_string())
                    .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()));
                read.inspect_err(|e| tracing::error!(file = %f.display(), error = %e, "provisioning ledger unreadable; starting afresh"))
                    .ok()
            })
            .unwrap_or_default();
        let now = now_s();
        for c in entries.values_mut() {
            c.seen_s = now;
        }
        Self {
            entries,
            file: file.map(FileWriter::start),
        }
    }

    /// Whether the adapter created this instance.
    pub fn created(&self, sentinel: &str, package: &str) -> bool {
        self.entries.contains_key(&key(sentinel, package))
    }

    /// Every created instance.
    pub fn all(&self) -> impl Iterator<Item = PackageId> + '_ {
        self.entries
            .values()
            .map(|c| PackageId::new(&c.sentinel, &c.package))
    }

    /// Records a created instance.
    pub fn add(&mut self, sentinel: &str, package: &str) {
        let now = now_s();
        self.entries
            .entry(key(sentinel, package))
            .or_insert_with(|| Created {
                sentinel: sentinel.into(),
                package: package.into(),
                created_s: now,
                seen_s: now,
            })
            .seen_s = now;
        self.save();
    }

    /// Marks the live instances seen now; returns those gone for `after_s` or more.
    pub fn sweep(&mut self, live: impl Fn(&str, &str) -> bool, after_s: u64) -> Vec<Created> {
        let now = now_s();
        for c in self.entries.values_mut() {
            if live(&c.sentinel, &c.package) {
                c.seen_s = now;
            }
        }
        self.save();
        self.entries
            .values()
            .filter(|c| now.saturating_sub(c.seen_s) >= after_s)
            .cloned()
            .collect()
    }

    /// Forgets a removed instance.
    pub fn remove(&mut self, sentinel: &str, package: &str) {
        self.entries.remove(&key(sentinel, package));
        self.save();
    }

    /// Hands the ledger's state to its writer thread.
    fn save(&self) {
        let Some(states) = self.file.as_ref().and_then(|f| f.states.as_ref()) else {
            return;
        };
        match serde_json::to_vec_pretty(&self.entries) {
            Ok(state) => {
                let _ = states.send(state);
            }
            Err(e) => tracing::error!(error = %e, "provisioning ledger not serialised"),
        }
    }
}

fn key(sentinel: &str, package: &str) -> String {
    format!("{sentinel}/{package}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_across_opens_and_swept_by_liveness() {
        let dir = std::env::temp_dir().join(format!("ledger-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("provisioned.json");
        let mut l = Ledger::open(Some(file.clone()));
        l.add("Zigbee", "lamp");
        l.add("Zigbee", "plug");
        drop(l);
        let mut l = Ledger::open(Some(file));
        assert!(l.created("Zigbee", "lamp"));
        assert!(!l.created("Zigbee", "other"));
        // Nothing is gone for a day yet; with 0 s, what is not live is.
        assert!(l.sweep(|_, _| false, 86_400).is_empty());
        let gone = l.sweep(|_, p| p == "lamp", 0);
        assert_eq!(gone.len(), 2, "seen now counts as gone after 0 s");
        l.remove("Zigbee", "plug");
        assert!(!l.created("Zigbee", "plug"));
        drop(l);
        let kept = Ledger::open(Some(dir.join("provisioned.json")));
        assert!(kept.created("Zigbee", "lamp") && !kept.created("Zigbee", "plug"));
        drop(kept);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
