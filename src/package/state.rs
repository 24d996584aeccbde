//! A virtual package's shared state: its credential and topics, its queue, its saga
//! memory, the groups and StateObject filters its pollers follow, its recorded status.

use super::memory::Memory;
use super::queue::{Entry, Full, Job, Origin, PackageQueue, Pushed};
use super::sagas::SagaMemory;
use crate::config::{CallbackPayload, Config, SoPayload};
use crate::constellation::model::{SoFilter, StateObject};
use crate::constellation::Identity;
use crate::journal::{Journal, NoRoom};
use crate::lock::lock;
use crate::mqtt::Publisher;
use crate::native::PackageId;
use crate::report::{Problem, Reporter};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// One virtual package, as its uplink worker, its pollers and the registry share it.
pub struct Package {
    /// Its name, shared with the journal's operations.
    pub id: Arc<PackageId>,
    journal: Journal,
    pub(super) identity: Identity,
    /// `<prefix>/<sentinel>/<package>`.
    pub(super) base_topic: String,
    /// Its refusal lines in the log.
    reporter: Reporter,
    /// The span of everything done for it: its tasks run in it, its log lines name it.
    pub span: tracing::Span,
    callback_payload: CallbackPayload,
    so_payload: SoPayload,
    pub(super) queue: Mutex<PackageQueue>,
    pub(super) state: Mutex<PackageState>,
    pub(super) sagas: Mutex<SagaMemory>,
    /// The groups to be in; the message poller follows it.
    pub(super) groups: watch::Sender<Vec<String>>,
    /// The StateObject filters to follow; the StateObject poller follows it.
    pub(super) filters: watch::Sender<Vec<SoFilter>>,
    /// What `[[packages]]` declares: always in force, the device's own added to it.
    declared_groups: Vec<String>,
    declared_filters: Vec<SoFilter>,
    /// What its last worker learnt of the server's failures, when it was anything.
    memory: Mutex<Option<Box<Memory>>>,
    /// The retained `so/...` topics published for the package's links, with the
    /// StateObject each holds (its value left out): cleared when it is no longer
    /// followed or is purged.
    pub(super) linked: Mutex<BTreeMap<String, StateObject>>,
    /// Whether `[[packages]]` declares it: such a package is never released.
    configured: bool,
    /// When a device last published for it.
    active_at: Mutex<Instant>,
    /// Whether a message ever came for it: it may be waiting for more.
    messaged: AtomicBool,
    /// Cancelled when it is released: its tasks end.
    pub(super) released: CancellationToken,
}

/// Why a job was not queued.
#[derive(Debug, PartialEq)]
pub enum Refused {
    /// The package's queue is full (`queue_limit`, `queue_limit_bytes`).
    Full(Full),
    /// The journal is full (`storage.max_bytes`).
    NoRoom(NoRoom),
}

/// A package's recorded intent and status, as [`crate::dispatch::Registry::package`] shows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PackageState {
    /// The StateObject filter set followed: the configuration's and the device's latest
    /// `subscribe`.
    pub filters: Vec<SoFilter>,
    /// The message groups joined: the configuration's and the device's latest `groups`.
    pub groups: Vec<String>,
    /// The latest `status`.
    pub online: Option<bool>,
    /// The last availability each topic of a combined availability reported.
    pub availability: std::collections::HashMap<String, bool>,
    /// The settings last published on `settings`.
    pub settings: Option<Map<String, Value>>,
    /// Jobs waiting, the most ever waiting, and jobs dropped because the queue was full.
    pub queued: usize,
    pub high_water: usize,
    pub dropped: u64,
    /// Requests that Constellation refused for the credential.
    pub refusals: u64,
    /// When a device last published for this package.
    pub last_publish: Option<std::time::SystemTime>,
    /// The latest failure reported on the package's `error` topic.
    pub last_error: Option<String>,
    /// Sagas delivered to the device, not yet answered.
    pub sagas_pending: usize,
}

impl Package {
    /// The package `id` with credential `access_key`, set up from `config`, its work
    /// kept in `journal`.
    pub fn new(id: PackageId, access_key: &str, config: &Config, journal: Journal) -> Self {
        let identity = Identity::new(&id.sentinel, &id.package, access_key);
        let base_topic = format!("{}/{}/{}", config.prefix, id.sentinel, id.package);
        let declared = config.package(&id.sentinel, &id.package);
        let c = &config.constellation;
        let declared_groups = declared.map(|p| p.groups.clone()).unwrap_or_default();
        let declared_filters = declared.map(|p| p.subscribe.clone()).unwrap_or_default();
        Self {
            identity,
            reporter: Reporter::default(),
            span: tracing::info_span!("package", package = %id),
            base_topic,
            callback_payload: declared.map(|p| p.callback_payload).unwrap_or_default(),
            so_payload: declared.map(|p| p.so_payload).unwrap_or_default(),
            queue: Mutex::new(PackageQueue::new(c.queue_limit, c.queue_limit_bytes)),
            state: Mutex::new(PackageState::default()),
            sagas: Mutex::new(SagaMemory::new(
                Duration::from_millis(c.saga_timeout_ms),
                c.max_sagas_per_package,
            )),
            groups: watch::Sender::new(declared_groups.clone()),
            filters: watch::Sender::new(declared_filters.clone()),
            declared_groups,
            declared_filters,
            memory: Mutex::new(None),
            linked: Mutex::default(),
            configured: declared.is_some(),
            active_at: Mutex::new(Instant::now()),
            messaged: AtomicBool::new(false),
            released: CancellationToken::new(),
            journal,
            id: Arc::new(id),
        }
    }

    pub(super) fn callback_payload(&self) -> CallbackPayload {
        self.callback_payload
    }

    pub(super) fn so_payload(&self) -> SoPayload {
        self.so_payload
    }

    /// Remembers where the answer to saga `id`, delivered to the device, must go.
    pub(super) fn remember_saga(&self, id: &str, reply_to: &str) {
        lock(&self.sagas).remember(id, reply_to);
    }

    /// Queues a job, kept in the journal; and whether it needs a worker started (none
    /// runs: see [`super::submit`]). A job that would add to the pending work is
    /// refused when the package's queue or the journal is full; one that replaces a
    /// pending value, or follows the value being sent, is always taken (StateObjects
    /// conflate whatever the storage holds). A refusal gives back where the job came from.
    pub(super) fn enqueue(&self, job: Job) -> Result<(Pushed, bool), (Refused, Origin)> {
        // Serializing plain data (strings, numbers, JSON values) cannot fail.
        let record = serde_json::to_vec(&job).unwrap_or_default();
        let mut queue = lock(&self.queue);
        if !queue.conflates(&job.intent) && !queue.follows_in_flight(&job.intent) {
            if let Err(no_room) = self.journal.room(record.len()) {
                return Err((Refused::NoRoom(no_room), job.origin));
            }
        }
        // Taken under the queue's lock: a package's keys follow its queue's order.
        let key = self.journal.next_key();
        let pushed = queue
            .push(job, record.len(), Some(key))
            .map_err(|(full, origin)| (Refused::Full(full), origin))?;
        // Under the queue's lock: the worker's `done` for this job comes after.
        match pushed {
            Pushed::Queued { key: Some(key) } => self.journal.put(&self.id, key, record, 0),
            Pushed::Conflated {
                key: Some(key),
                replaced,
            } => self.journal.put(&self.id, key, record, replaced),
            _ => {}
        }
        Ok((pushed, queue.claim_worker()))
    }

    /// Queues work the package makes itself, not journaled (its settings: done when
    /// nothing else waits, see [`PackageQueue::push_own`]); and whether it needs a
    /// worker started.
    pub(super) fn enqueue_own(&self, job: Job) -> bool {
        let mut queue = lock(&self.queue);
        queue.push_own(job);
        queue.claim_worker()
    }

    /// Takes what its last worker learnt of the server (see [`Memory`]).
    pub(super) fn recall(&self) -> Option<Box<Memory>> {
        lock(&self.memory).take()
    }

    /// Keeps what its worker learnt of the server, for the next one.
    pub(super) fn remember(&self, memory: Box<Memory>) {
        *lock(&self.memory) = Some(memory);
    }

    /// The next job to execute.
    pub(super) fn next(&self) -> Option<Entry> {
        lock(&self.queue).pop()
    }

    /// Puts back a job that failed transiently (see [`PackageQueue::retry`]).
    pub(super) fn retry(&self, entry: Entry) {
        let overtaken = lock(&self.queue).retry(entry);
        if let Some(entry) = overtaken {
            self.done(entry.key, entry.bytes);
        }
    }

    /// The job of journal key `key` (and `bytes`) is finished with: done, or refused for
    /// good (and reported).
    pub(super) fn done(&self, key: Option<u64>, bytes: usize) {
        lock(&self.queue).finished();
        if let Some(key) = key {
            self.journal.delete(key, bytes);
        }
    }

    /// The device's own groups (its latest `groups`), added to the declared ones.
    pub(super) fn set_device_groups(&self, groups: &[String]) {
        self.groups
            .send_replace(union(&self.declared_groups, groups));
    }

    /// The device's own StateObject filters (its latest `subscribe`), added to the
    /// declared ones.
    pub(super) fn set_device_filters(&self, filters: &[SoFilter]) {
        self.filters
            .send_replace(union(&self.declared_filters, filters));
    }

    /// Notes that a device published for this package.
    pub fn published(&self) {
        lock(&self.state).last_publish = Some(std::time::SystemTime::now());
        *lock(&self.active_at) = Instant::now();
    }

    /// Notes that a message came for this package.
    pub(super) fn messaged(&self) {
        self.messaged.store(true, Ordering::Relaxed);
    }

    /// Whether it can be released: idle for `idle` at least, and nothing it holds
    /// would be lost (see `constellation.package_idle_s`).
    pub fn releasable(&self, idle: Duration) -> bool {
        !self.configured
            && !self.messaged.load(Ordering::Relaxed)
            && lock(&self.active_at).elapsed() >= idle
            && self.filters.borrow().is_empty()
            && self.groups.borrow().is_empty()
            && lock(&self.linked).is_empty()
            && lock(&self.queue).idle()
            && lock(&self.sagas).pending() == 0
    }

    /// Ends its tasks (see [`Package::releasable`]).
    pub fn release(&self) {
        self.released.cancel();
    }

    /// Reports `problem` of the publish `origin` on this package's `error` topic (see
    /// [`Reporter::emit`]) and keeps it as its latest error.
    pub fn fail(&self, publisher: &Publisher, origin: &Origin, problem: &Problem) {
        self.failed(&problem.reason);
        let origin = (origin.topic.as_str(), origin.payload.as_str());
        let _in = self.span.enter();
        self.reporter
            .emit(publisher, &self.error_topic(), origin, problem);
    }

    /// Its `error` topic: `<prefix>/<sentinel>/<package>/error` (as
    /// [`crate::native::error_topic`] names it), made when a failure is reported.
    fn error_topic(&self) -> String {
        format!("{}/error", self.base_topic)
    }

    fn failed(&self, reason: &str) {
        lock(&self.state).last_error = Some(reason.to_owned());
    }

    /// Jobs queued and sagas pending: what a metrics scrape reads, without copying the
    /// rest of the state.
    pub fn load(&self) -> (usize, usize) {
        let sagas = lock(&self.sagas).pending();
        (lock(&self.queue).len(), sagas)
    }

    /// A snapshot of the package's state.
    pub fn snapshot(&self) -> PackageState {
        let sagas_pending = lock(&self.sagas).pending();
        let q = lock(&self.queue);
        PackageState {
            queued: q.len(),
            high_water: q.high_water(),
            dropped: q.dropped(),
            sagas_pending,
            groups: self.groups.borrow().clone(),
            filters: self.filters.borrow().clone(),
            ..lock(&self.state).clone()
        }
    }
}

/// `declared`, then what `own` adds, each once, in order.
fn union<T: Clone + PartialEq>(declared: &[T], own: &[T]) -> Vec<T> {
    let mut all = declared.to_vec();
    for item in own {
        if !all.contains(item) {
            all.push(item.clone());
        }
    }
    all
}
