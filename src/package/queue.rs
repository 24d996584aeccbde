//! A package's pending work: ordered, bounded, with StateObjects conflated by name.

use crate::native::Intent;
use std::collections::{HashMap, VecDeque};

/// Where an intent came from, to report its failure on the package's `error` topic.
#[derive(Debug, Clone, PartialEq)]
pub struct Origin {
    pub topic: String,
    /// The payload's first 256 bytes, lossily decoded.
    pub payload: String,
}

/// One pending operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub intent: Intent,
    pub origin: Origin,
}

/// A package's queue.
///
/// Everything is delivered in publish order, except that a StateObject push (or a package
/// descriptor) waiting in the queue is *replaced in place* by a newer value of the same name: at most one
/// pending value per StateObject name, so a slow or absent server never grows memory
/// beyond one entry per name and always converges to the latest value. The queue holds
/// at most `limit` jobs; beyond that a new job is refused (and the caller reports the
/// drop). The job being executed is outside the queue; a transient failure puts it
/// back at the front unless a newer value of the same StateObject is already queued.
#[derive(Debug)]
pub struct PackageQueue {
    jobs: VecDeque<Job>,
    /// Sequence number of `jobs[0]`; sequence numbers are contiguous.
    front_seq: u64,
    /// StateObject name → sequence number of its pending push.
    pending: HashMap<String, u64>,
    /// Sequence number of the pending descriptor declaration.
    pending_descriptor: Option<u64>,
    limit: usize,
    dropped: u64,
    high_water: usize,
}

/// How a job entered the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// At the back.
    Queued,
    /// In place of the pending value of the same StateObject (or descriptor).
    Conflated,
}

/// The queue was full: the job was not queued.
#[derive(Debug, PartialEq)]
pub struct Full {
    /// Jobs dropped so far by this queue, this one included.
    pub dropped: u64,
}

impl PackageQueue {
    /// An empty queue holding at most `limit` jobs.
    pub fn new(limit: usize) -> Self {
        Self {
            jobs: VecDeque::new(),
            front_seq: u64::MAX / 2,
            pending: HashMap::new(),
            pending_descriptor: None,
            limit: limit.max(1),
            dropped: 0,
            high_water: 0,
        }
    }

    /// Queues `job`, conflating a StateObject push with its pending predecessor.
    pub fn push(&mut self, job: Job) -> Result<Pushed, Full> {
        if let Some(seq) = self.pending_seq(&job.intent) {
            let index = (seq - self.front_seq) as usize;
            self.jobs[index] = job;
            return Ok(Pushed::Conflated);
        }
        if self.jobs.len() >= self.limit {
            self.dropped += 1;
            return Err(Full {
                dropped: self.dropped,
            });
        }
        self.set_pending(&job.intent, self.front_seq + self.jobs.len() as u64);
        self.jobs.push_back(job);
        self.high_water = self.high_water.max(self.jobs.len());
        Ok(Pushed::Queued)
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

    /// Takes the next job to execute.
    pub fn pop(&mut self) -> Option<Job> {
        let job = self.jobs.pop_front()?;
        if self.pending_seq(&job.intent) == Some(self.front_seq) {
            match &job.intent {
                Intent::PushStateObject(so) => {
                    self.pending.remove(&so.name);
                }
                _ => self.pending_descriptor = None,
            }
        }
        self.front_seq += 1;
        Some(job)
    }

    /// Puts back a job that failed transiently, to be retried first — unless it is a
    /// StateObject push that a newer value has overtaken meanwhile (then it is dropped).
    pub fn retry(&mut self, job: Job) {
        if conflated(&job.intent) {
            if self.pending_seq(&job.intent).is_some() {
                return;
            }
            self.front_seq -= 1;
            self.set_pending(&job.intent, self.front_seq);
        } else {
            self.front_seq -= 1;
        }
        self.jobs.push_front(job);
    }

    /// Jobs waiting.
    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
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
        std::iter::from_fn(|| q.pop()).collect()
    }

    #[test]
    fn state_objects_conflate_in_place_and_the_rest_keeps_order() {
        let mut q = PackageQueue::new(100);
        for j in [
            so("A", 1),
            log("l1"),
            so("B", 1),
            so("A", 2),
            log("l2"),
            so("A", 3),
        ] {
            q.push(j).unwrap();
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
        let mut q = PackageQueue::new(100);
        for j in [
            declare(1),
            so("A", 1),
            declare(2),
            so("\0descriptor", 1),
            declare(3),
        ] {
            q.push(j).unwrap();
        }
        assert_eq!(
            drain(&mut q),
            [declare(3), so("A", 1), so("\0descriptor", 1)]
        );
        q.push(declare(4)).unwrap();
        assert_eq!(drain(&mut q), [declare(4)]);
    }

    #[test]
    fn a_value_pushed_while_one_is_in_flight_is_queued_anew() {
        let mut q = PackageQueue::new(100);
        q.push(so("A", 1)).unwrap();
        let in_flight = q.pop().unwrap();
        q.push(so("A", 2)).unwrap();
        q.push(so("A", 3)).unwrap();
        assert_eq!(q.len(), 1);
        // The failed older value is overtaken: dropped, not retried.
        q.retry(in_flight);
        assert_eq!(drain(&mut q), [so("A", 3)]);
    }

    #[test]
    fn a_failed_job_is_retried_first_and_still_conflates() {
        let mut q = PackageQueue::new(100);
        q.push(so("A", 1)).unwrap();
        q.push(log("l")).unwrap();
        let a = q.pop().unwrap();
        q.retry(a);
        q.push(so("A", 2)).unwrap();
        let l = q.pop().unwrap();
        assert_eq!(l, so("A", 2));
        q.retry(l);
        assert_eq!(drain(&mut q), [so("A", 2), log("l")]);
        let mut q = PackageQueue::new(100);
        q.push(log("1")).unwrap();
        q.push(log("2")).unwrap();
        let one = q.pop().unwrap();
        q.retry(one);
        assert_eq!(drain(&mut q), [log("1"), log("2")]);
    }

    #[test]
    fn a_full_queue_refuses_and_counts_but_still_conflates() {
        let mut q = PackageQueue::new(2);
        q.push(so("A", 1)).unwrap();
        q.push(log("1")).unwrap();
        assert_eq!(q.push(log("2")), Err(Full { dropped: 1 }));
        assert_eq!(q.push(so("B", 1)), Err(Full { dropped: 2 }));
        q.push(so("A", 9)).unwrap();
        assert_eq!(q.dropped(), 2);
        assert_eq!(q.high_water(), 2);
        assert_eq!(drain(&mut q), [so("A", 9), log("1")]);
    }
}
