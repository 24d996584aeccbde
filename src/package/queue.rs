//! A package's pending work: ordered, bounded in jobs and bytes, with StateObjects
//! conflated by name.

use crate::intent::Intent;
use hashbrown::hash_map::{EntryRef, HashMap};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Where an intent came from, to report its failure on the package's `error` topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Origin {
    pub topic: String,
    /// The payload's first 256 bytes, lossily decoded.
    pub payload: String,
}

/// One pending operation (as the journal keeps it: JSON of this).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub intent: Intent,
    pub origin: Origin,
}

/// A job in the queue, with its size and where the journal keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub job: Job,
    /// Its key in the journal; `None` for work the package makes itself (a settings
    /// refresh), which nothing needs to survive a restart.
    pub key: Option<u64>,
    /// Its size as journaled.
    pub bytes: usize,
}

/// A package's queue.
///
/// Everything is delivered in publish order, except that a StateObject push (or a package
/// descriptor) waiting in the queue is *replaced in place* by a newer value of the same
/// name: at most one pending value per StateObject name, so a slow or absent server
/// never grows memory beyond one entry per name and always converges to the latest
/// value. The queue holds at most `limit` jobs and `limit_bytes` bytes; beyond that a
/// new job is refused (and the caller reports the drop), a replacing value is still
/// taken. The job being executed is outside the queue; a transient failure puts it
/// back at the front unless a newer value of the same StateObject is already queued.
#[derive(Debug)]
pub struct PackageQueue {
    jobs: VecDeque<Entry>,
    /// Sequence number of `jobs[0]`; sequence numbers are contiguous.
    front_seq: u64,
    /// StateObject name → sequence number of its pending push.
    pending: HashMap<String, u64>,
    /// Sequence number of the pending descriptor declaration.
    pending_descriptor: Option<u64>,
    limit: usize,
    limit_bytes: usize,
    /// Bytes of the jobs waiting.
    bytes: usize,
    dropped: u64,
    high_water: usize,
    /// What the worker holds, taken from the queue.
    taken: Option<Taken>,
    /// Work the package makes itself (its settings), done when nothing else waits, not
    /// journaled; a newer one replaces it.
    own: Option<Job>,
    /// Whether a worker is executing the queue (one runs only while there is work).
    worker: bool,
}

/// The job the worker holds.
#[derive(Debug)]
enum Taken {
    /// A StateObject's value: its name (the key it had in `pending`).
    StateObject(String),
    Other,
}

/// How a job entered the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// At the back, with this journal key.
    Queued { key: Option<u64> },
    /// In place of the pending value of the same StateObject (or descriptor): this
    /// journal key, and the replaced job's journaled bytes.
    Conflated { key: Option<u64>, replaced: usize },
}

/// The queue was full: the job was not queued.
#[derive(Debug, PartialEq)]
pub struct Full {
    /// Jobs dropped so far by this queue, this one included.
    pub dropped: u64,
    /// Jobs and bytes waiting.
    pub jobs: usize,
    pub bytes: usize,
}

impl PackageQueue {
    /// An empty queue holding at most `limit` jobs and `limit_bytes` bytes.
    pub fn new(limit: usize, limit_bytes: usize) -> Self {
        Self {
            jobs: VecDeque::new(),
            front_seq: u64::MAX / 2,
            pending: HashMap::new(),
            pending_descriptor: None,
            limit: limit.max(1),
            limit_bytes,
            bytes: 0,
            dropped: 0,
            high_water: 0,
            taken: None,
            own: None,
            worker: false,
        }
    }

    /// Queues `job` of `bytes` bytes under journal key `key` (none: not journaled),
    /// conflating a StateObject push with its pending predecessor (which keeps its key).
    /// A full queue gives back where the job came from, for its report.
    pub fn push(
        &mut self,
        job: Job,
        bytes: usize,
        key: Option<u64>,
    ) -> Result<Pushed, (Full, Origin)> {
        if let Some(seq) = self.pending_seq(&job.intent) {
            let index = (seq - self.front_seq) as usize;
            let old = std::mem::replace(&mut self.jobs[index], Entry { job, key, bytes });
            self.bytes = self.bytes + bytes - old.bytes;
            // The journal's record of the old value is replaced by the new one.
            let entry = &mut self.jobs[index];
            let replaced = match (old.key, entry.key) {
                (Some(old_key), Some(_)) => {
                    entry.key = Some(old_key);
                    old.bytes
                }
                _ => 0,
            };
            return Ok(Pushed::Conflated {
                key: entry.key,
                replaced,
            });
        }
        if self.jobs.len() >= self.limit || self.bytes + bytes > self.limit_bytes {
            self.dropped += 1;
            let full = Full {
                dropped: self.dropped,
                jobs: self.jobs.len(),
                bytes: self.bytes,
            };
            return Err((full, job.origin));
        }
        self.set_pending(&job.intent, self.front_seq + self.jobs.len() as u64);
        self.bytes += bytes;
        self.jobs.push_back(Entry { job, key, bytes });
        self.high_water = self.high_water.max(self.jobs.len());
        Ok(Pushed::Queued { key })
    }

    /// Whether `intent` would replace a queued job rather than add one.
    pub fn conflates(&self, intent: &Intent) -> bool {
        self.pending_seq(intent).is_some()
    }

    /// Whether `intent` is a new value of the StateObject being sent now: it follows
    /// that one, adding at most one value per StateObject to the pending work.
    pub fn follows_in_flight(&self, intent: &Intent) -> bool {
        matches!((intent, &self.taken), (Intent::PushStateObject(so), Some(Taken::StateObject(name))) if *name == so.name)
    }

    /// The job taken last is finished with (done or refused for good).
    pub fn finished(&mut self) {
        self.taken = None;
    }

    /// Whether nothing is waiting or being done.
    pub fn idle(&self) -> bool {
        self.jobs.is_empty() && self.taken.is_none() && self.own.is_none()
    }

    /// The sequence number of the queued job `intent` would replace.
    fn pending_seq(&self, intent: &Intent) -> Option<u64> {
        match intent {
            Intent::PushStateObject(so) => self.pending.get(&so.name).copied(),
            Intent::Declare(_) => self.pending_descriptor,
            _ => None,
        }
    }

    fn set_pending(&mut self, intent: &Intent, seq: u64) {
        match intent {
            Intent::PushStateObject(so) => {
                self.pending.insert(so.name.clone(), seq);
            }
            Intent::Declare(_) => self.pending_descriptor = Some(seq),
            _ => {}
        }
    }

    /// Queues work the package makes itself: done once nothing else waits, in place of
    /// any such work not done yet.
    pub fn push_own(&mut self, job: Job) {
        self.own = Some(job);
    }

    /// Claims the queue for a new worker: false when one is executing it already.
    pub fn claim_worker(&mut self) -> bool {
        !std::mem::replace(&mut self.worker, true)
    }

    /// Takes the next job to execute. With none left, the worker ends: the next job
    /// needs a new one (see [`PackageQueue::claim_worker`]).
    pub fn pop(&mut self) -> Option<Entry> {
        let Some(entry) = self.jobs.pop_front() else {
            if let Some(job) = self.own.take() {
                self.taken = Some(Taken::Other);
                let (key, bytes) = (None, 0);
                return Some(Entry { job, key, bytes });
            }
            self.worker = false;
            return None;
        };
        self.taken = Some(match &entry.job.intent {
            // The name leaves `pending` for `taken` when this job is the one pending for
            // it: moved, not copied, and looked up once.
            Intent::PushStateObject(so) => {
                Taken::StateObject(match self.pending.entry_ref(&so.name) {
                    EntryRef::Occupied(e) if *e.get() == self.front_seq => e.remove_entry().0,
                    _ => so.name.clone(),
                })
            }
            Intent::Declare(_) => {
                if self.pending_descriptor == Some(self.front_seq) {
                    self.pending_descriptor = None;
                }
                Taken::Other
            }
            _ => Taken::Other,
        });
        self.bytes -= entry.bytes;
        self.front_seq += 1;
        if self.jobs.is_empty() {
            // An idle package keeps no room: most packages are idle most of the time,
            // and a queue keeps the capacity of its longest burst.
            self.jobs = VecDeque::new();
            if self.pending.is_empty() {
                self.pending = HashMap::new();
            }
        }
        Some(entry)
    }

    /// Puts back a job that failed transiently, to be retried first — unless it is a
    /// StateObject push that a newer value has overtaken meanwhile: then it is given
    /// back, to be forgotten.
    pub fn retry(&mut self, entry: Entry) -> Option<Entry> {
        let taken = self.taken.take();
        if conflated(&entry.job.intent) {
            if self.pending_seq(&entry.job.intent).is_some() {
                return Some(entry);
            }
            self.front_seq -= 1;
            match taken {
                Some(Taken::StateObject(name)) => {
                    self.pending.insert(name, self.front_seq);
                }
                _ => self.set_pending(&entry.job.intent, self.front_seq),
            }
        } else {
            self.front_seq -= 1;
        }
        self.bytes += entry.bytes;
        self.jobs.push_front(entry);
        None
    }

    /// Jobs waiting.
    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// Bytes of the jobs waiting.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Jobs refused because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The most jobs ever waiting at once.
    pub fn high_water(&self) -> usize {
        self.high_water
    }
}

/// Whether a job is conflated: StateObject pushes (by name) and descriptors.
fn conflated(intent: &Intent) -> bool {
    matches!(intent, Intent::PushStateObject(_) | Intent::Declare(_))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::constellation::model::{LogLevel, StateObjectPush};
    use serde_json::json;

    fn so(name: &str, v: i32) -> Job {
        job(Intent::PushStateObject(StateObjectPush {
            name: name.into(),
            value: json!(v),
            type_name: None,
            lifetime: None,
            metadatas: None,
        }))
    }
    fn log(m: &str) -> Job {
        job(Intent::WriteLog {
            level: LogLevel::Info,
            message: m.into(),
        })
    }
    fn job(intent: Intent) -> Job {
        Job {
            intent,
            origin: Origin {
                topic: "t".into(),
                payload: String::new(),
            },
        }
    }
    fn drain(q: &mut PackageQueue) -> Vec<Job> {
        std::iter::from_fn(|| q.pop().map(|e| e.job)).collect()
    }
    fn push(q: &mut PackageQueue, job: Job) -> Result<Pushed, Full> {
        q.push(job, 10, Some(q.len() as u64))
            .map_err(|(full, _)| full)
    }

    #[test]
    fn state_objects_conflate_in_place_and_the_rest_keeps_order() {
        let mut q = PackageQueue::new(100, 1 << 20);
        for j in [
            so("A", 1),
            log("l1"),
            so("B", 1),
            so("A", 2),
            log("l2"),
            so("A", 3),
        ] {
            push(&mut q, j).unwrap();
        }
        assert_eq!(q.len(), 4);
        assert_eq!(
            drain(&mut q),
            [so("A", 3), log("l1"), so("B", 1), log("l2")]
        );
    }

    #[test]
    fn descriptors_conflate_apart_from_state_objects() {
        let declare = |n: i32| job(Intent::Declare(json!({ "n": n })));
        let mut q = PackageQueue::new(100, 1 << 20);
        for j in [
            declare(1),
            so("A", 1),
            declare(2),
            so("\0descriptor", 1),
            declare(3),
        ] {
            push(&mut q, j).unwrap();
        }
        assert_eq!(
            drain(&mut q),
            [declare(3), so("A", 1), so("\0descriptor", 1)]
        );
        push(&mut q, declare(4)).unwrap();
        assert_eq!(drain(&mut q), [declare(4)]);
    }

    #[test]
    fn a_value_pushed_while_one_is_in_flight_is_queued_anew() {
        let mut q = PackageQueue::new(100, 1 << 20);
        push(&mut q, so("A", 1)).unwrap();
        let in_flight = q.pop().unwrap();
        push(&mut q, so("A", 2)).unwrap();
        push(&mut q, so("A", 3)).unwrap();
        assert_eq!(q.len(), 1);
        // The failed older value is overtaken: given back to be forgotten, not retried.
        assert_eq!(q.retry(in_flight.clone()), Some(in_flight));
        assert_eq!(drain(&mut q), [so("A", 3)]);
    }

    #[test]
    fn a_failed_job_is_retried_first_and_still_conflates() {
        let mut q = PackageQueue::new(100, 1 << 20);
        push(&mut q, so("A", 1)).unwrap();
        push(&mut q, log("l")).unwrap();
        let a = q.pop().unwrap();
        q.retry(a);
        push(&mut q, so("A", 2)).unwrap();
        let l = q.pop().unwrap();
        assert_eq!(l.job, so("A", 2));
        q.retry(l);
        assert_eq!(drain(&mut q), [so("A", 2), log("l")]);
        let mut q = PackageQueue::new(100, 1 << 20);
        push(&mut q, log("1")).unwrap();
        push(&mut q, log("2")).unwrap();
        let one = q.pop().unwrap();
        q.retry(one);
        assert_eq!(drain(&mut q), [log("1"), log("2")]);
    }

    #[test]
    fn a_full_queue_refuses_and_counts_but_still_conflates() {
        let mut q = PackageQueue::new(2, 1 << 20);
        push(&mut q, so("A", 1)).unwrap();
        push(&mut q, log("1")).unwrap();
        let full = |dropped| {
            Err(Full {
                dropped,
                jobs: 2,
                bytes: 20,
            })
        };
        assert_eq!(push(&mut q, log("2")), full(1));
        assert_eq!(push(&mut q, so("B", 1)), full(2));
        push(&mut q, so("A", 9)).unwrap();
        assert_eq!(q.dropped(), 2);
        assert_eq!(q.high_water(), 2);
        assert_eq!(drain(&mut q), [so("A", 9), log("1")]);
    }

    #[test]
    fn bytes_bound_the_queue_and_a_replacing_value_keeps_its_journal_key() {
        let mut q = PackageQueue::new(100, 25);
        assert_eq!(
            q.push(so("A", 1), 10, Some(1)),
            Ok(Pushed::Queued { key: Some(1) })
        );
        assert_eq!(
            q.push(log("1"), 10, Some(2)),
            Ok(Pushed::Queued { key: Some(2) })
        );
        assert_eq!(
            q.push(log("2"), 10, Some(3)),
            Err((
                Full {
                    dropped: 1,
                    jobs: 2,
                    bytes: 20
                },
                log("2").origin
            ))
        );
        assert_eq!(
            q.push(so("A", 2), 12, Some(4)),
            Ok(Pushed::Conflated {
                key: Some(1),
                replaced: 10
            })
        );
        assert_eq!(q.bytes(), 22);
        assert_eq!(q.push(log("3"), 3, None), Ok(Pushed::Queued { key: None }));
        let first = q.pop().unwrap();
        assert_eq!((first.key, first.bytes), (Some(1), 12));
        assert_eq!(q.bytes(), 13);
    }

    #[test]
    fn a_worker_is_claimed_once_and_ends_when_nothing_is_left() {
        let mut q = PackageQueue::new(100, 1 << 20);
        push(&mut q, log("1")).unwrap();
        assert!(q.claim_worker(), "the first job starts a worker");
        push(&mut q, log("2")).unwrap();
        assert!(!q.claim_worker(), "one runs already");
        assert_eq!(drain(&mut q), [log("1"), log("2")]);
        // Its last `pop` found nothing: it ended, the next job needs a new one.
        assert!(q.claim_worker());
    }

    #[test]
    fn own_work_waits_for_the_rest_and_a_newer_one_replaces_it() {
        let mut q = PackageQueue::new(100, 1 << 20);
        q.push_own(log("settings 1"));
        push(&mut q, so("A", 1)).unwrap();
        q.push_own(log("settings 2"));
        assert!(!q.idle());
        assert_eq!(q.len(), 1, "own work is not counted as waiting");
        assert_eq!(drain(&mut q), [so("A", 1), log("settings 2")]);
        q.finished();
        assert!(q.idle());
    }
}
