//! The adapter's figures, in Prometheus' text format (`/metrics`): what it received,
//! refused and asked of Constellation, its queues, polls, sagas and connections.
//!
//! One registry per adapter (never a process-global one), so that adapters in one
//! process (tests, the demo) each count their own.

use crate::constellation::RequestObserver;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Why a publish was refused (the `reason` label of `refused_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A native topic that does not parse.
    InvalidTopic,
    /// Over `mqtt.max_payload_bytes`.
    Oversized,
    /// A payload its kind cannot take (not UTF-8, bad JSON…).
    InvalidPayload,
    /// A rule, preset or discovery config could not map it.
    Mapping,
    /// The package is not admitted (`allow`, no credential).
    NotAdmitted,
    /// The package's queue is full.
    QueueFull,
    /// `constellation.max_packages` live packages already.
    TooManyPackages,
    /// `constellation.max_learned_devices` learned devices already.
    TooManyDevices,
    /// The journal is full (`storage.max_bytes`).
    StorageFull,
}

impl Refusal {
    /// The label, also the `code` of the refused publish's error payload.
    pub fn label(self) -> &'static str {
        match self {
            Self::InvalidTopic => "invalid_topic",
            Self::Oversized => "oversized",
            Self::InvalidPayload => "invalid_payload",
            Self::Mapping => "mapping",
            Self::NotAdmitted => "not_admitted",
            Self::QueueFull => "queue_full",
            Self::TooManyPackages => "too_many_packages",
            Self::TooManyDevices => "too_many_devices",
            Self::StorageFull => "storage_full",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    action: &'static str,
    /// `2xx`, `4xx`, `5xx`…, or `error` when no answer came (time-out, connection).
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabel {
    action: &'static str,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms to ≈ 16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// Figures taken when `/metrics` is scraped, from the packages and the bounds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Snapshot {
    pub packages: i64,
    pub queued: i64,
    pub queued_worst: i64,
    pub long_polls: i64,
    pub sagas_pending: i64,
    /// Bytes of work pending in the journal.
    pub pending_bytes: i64,
    /// MQTT filters the adapter is subscribed to.
    pub mqtt_filters: i64,
}

/// Every figure of one adapter.
pub struct Metrics {
    registry: Registry,
    received: Family<KindLabel, Counter>,
    refused: Family<ReasonLabel, Counter>,
    requests: Family<RequestLabels, Counter>,
    latency: Family<ActionLabel, Histogram, fn() -> Histogram>,
    dropped: Counter,
    conflated: Counter,
    mqtt_connected: Gauge,
    mqtt_reconnects: Counter,
    constellation_reachable: Gauge,
    packages: Gauge,
    queued: Gauge,
    queued_worst: Gauge,
    long_polls: Gauge,
    mqtt_filters: Gauge,
    sagas_pending: Gauge,
    pending_bytes: Gauge,
    restored: Counter,
    commits: Counter,
    resent: Family<ActionLabel, Counter>,
    bad_answers: Family<ActionLabel, Counter>,
    journal_writable: Gauge,
    journal_failures: Counter,
    journal_damaged: Counter,
    /// Why the journal cannot be written now (none: it can).
    journal_problem: std::sync::Mutex<Option<String>>,
    released: Counter,
    started: Instant,
    /// Milliseconds since `started` of the latest answer from Constellation, plus one
    /// (0: never).
    last_answer_ms: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut m = Self {
            registry: Registry::with_prefix("constellation_mqtt"),
            received: Family::default(),
            refused: Family::default(),
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            dropped: Counter::default(),
            conflated: Counter::default(),
            mqtt_connected: Gauge::default(),
            mqtt_reconnects: Counter::default(),
            constellation_reachable: Gauge::default(),
            packages: Gauge::default(),
            queued: Gauge::default(),
            queued_worst: Gauge::default(),
            long_polls: Gauge::default(),
            mqtt_filters: Gauge::default(),
            sagas_pending: Gauge::default(),
            pending_bytes: Gauge::default(),
            restored: Counter::default(),
            commits: Counter::default(),
            resent: Family::default(),
            bad_answers: Family::default(),
            journal_writable: Gauge::default(),
            journal_failures: Counter::default(),
            journal_damaged: Counter::default(),
            journal_problem: std::sync::Mutex::new(None),
            released: Counter::default(),
            started: Instant::now(),
            last_answer_ms: AtomicU64::new(0),
        };
        m.journal_writable.set(1);
        m.register_traffic();
        m.register_state();
        m
    }

    /// Registers what comes in and goes out: publishes, refusals, requests.
    fn register_traffic(&mut self) {
        let m = &mut *self;
        let r = &mut m.registry;
        r.register(
            "publishes_received",
            "MQTT publishes received, by kind (native topic kind, or `foreign`)",
            m.received.clone(),
        );
        r.register(
            "refused",
            "Publishes refused and reported on an error topic, by reason",
            m.refused.clone(),
        );
        r.register(
            "rest_requests",
            "Requests to Constellation, by action and status class",
            m.requests.clone(),
        );
        r.register(
            "rest_request_duration_seconds",
            "Time to Constellation's answer, by action (long polls included)",
            m.latency.clone(),
        );
        r.register(
            "jobs_dropped",
            "Jobs dropped because their package's queue was full",
            m.dropped.clone(),
        );
        r.register(
            "jobs_conflated",
            "StateObject values replaced in a queue by a newer one before delivery",
            m.conflated.clone(),
        );
        r.register(
            "mqtt_connected",
            "1 while the adapter's MQTT connection is up",
            m.mqtt_connected.clone(),
        );
        r.register(
            "mqtt_reconnects",
            "Times the adapter's MQTT connection was lost and attempted again",
            m.mqtt_reconnects.clone(),
        );
        r.register(
            "constellation_reachable",
            "1 when the latest request got an answer from Constellation that was not 5xx",
            m.constellation_reachable.clone(),
        );
        r.register("packages", "Live virtual packages", m.packages.clone());
        r.register(
            "pending_bytes",
            "Bytes of accepted work not yet taken by Constellation (bounded by storage.max_bytes)",
            m.pending_bytes.clone(),
        );
    }

    /// Registers the journal's figures, the queues, the packages and the polls.
    fn register_state(&mut self) {
        let m = &mut *self;
        let r = &mut m.registry;
        r.register(
            "journal_commits",
            "Durable commits of the journal (storage.durability = \"disk\")",
            m.commits.clone(),
        );
        r.register(
            "requests_resent",
            "Requests that may not be repeated, sent again after a kept connection closed unanswered (possible duplicates at the server)",
            m.resent.clone(),
        );
        r.register(
            "bad_answers",
            "Answers that were not the action's (a body not JSON or too large, broken HTTP): not taken as done, retried",
            m.bad_answers.clone(),
        );
        r.register(
            "journal_writable",
            "1 while the journal can be written (0: its last commit failed; publishes wait)",
            m.journal_writable.clone(),
        );
        r.register(
            "journal_failures",
            "Journal commits that failed (a full disk, an I/O error), each retried",
            m.journal_failures.clone(),
        );
        r.register(
            "journal_damaged",
            "Damaged journals found at start, moved aside with what could be read kept",
            m.journal_damaged.clone(),
        );
        r.register(
            "jobs_restored",
            "Jobs found in the journal at start and delivered again",
            m.restored.clone(),
        );
        r.register(
            "packages_released",
            "Packages released for being idle (constellation.package_idle_s)",
            m.released.clone(),
        );
        r.register(
            "queue_depth",
            "Jobs queued over all packages",
            m.queued.clone(),
        );
        r.register(
            "queue_depth_worst",
            "Jobs queued in the package with the most",
            m.queued_worst.clone(),
        );
        r.register(
            "long_polls",
            "Long polls in flight (messages and StateObjects)",
            m.long_polls.clone(),
        );
        r.register(
            "mqtt_filters",
            "MQTT filters subscribed (configured, discovery, and learned devices' topics)",
            m.mqtt_filters.clone(),
        );
        r.register(
            "sagas_pending",
            "Sagas delivered to devices and not yet answered",
            m.sagas_pending.clone(),
        );
    }

    /// A publish of `kind` came in.
    pub fn received(&self, kind: &'static str) {
        self.received.get_or_create(&KindLabel { kind }).inc();
    }

    /// A publish was refused for `reason`; returns how many were, this one included.
    pub fn refused(&self, reason: Refusal) -> u64 {
        self.refused
            .get_or_create(&ReasonLabel {
                reason: reason.label(),
            })
            .inc()
            + 1
    }

    /// A job was dropped: its queue was full.
    pub fn dropped(&self) {
        self.dropped.inc();
    }

    /// A queued StateObject value was replaced by a newer one.
    pub fn conflated(&self) {
        self.conflated.inc();
    }

    /// The MQTT connection came up (`true`) or went down (`false`).
    pub fn mqtt_connected(&self, up: bool) {
        let was = self.mqtt_connected.set(i64::from(up));
        if was == 1 && !up {
            self.mqtt_reconnects.inc();
        }
    }

    /// Whether the MQTT connection is up.
    pub fn is_mqtt_connected(&self) -> bool {
        self.mqtt_connected.get() == 1
    }

    /// How long ago Constellation last answered (not 5xx), if it ever did.
    pub fn since_constellation_answered(&self) -> Option<Duration> {
        match self.last_answer_ms.load(Ordering::Relaxed) {
            0 => None,
            at => {
                let now = self.started.elapsed().as_millis() as u64;
                Some(Duration::from_millis(now.saturating_sub(at - 1)))
            }
        }
    }

    /// Counts a durable commit of the journal.
    pub fn committed(&self) {
        self.commits.inc();
    }

    /// A journal commit failed for `reason`: true when the journal was writable until
    /// now (the failure is news to report).
    pub fn journal_failed(&self, reason: &str) -> bool {
        self.journal_failures.inc();
        self.journal_writable.set(0);
        let mut problem = self
            .journal_problem
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        problem.replace(reason.to_owned()).is_none()
    }

    /// The journal can be written (again): true when it could not until now.
    pub fn journal_writable(&self) -> bool {
        self.journal_writable.set(1);
        let mut problem = self
            .journal_problem
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        problem.take().is_some()
    }

    /// Why the journal cannot be written now, if it cannot.
    pub fn journal_problem(&self) -> Option<String> {
        let problem = self
            .journal_problem
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        problem.clone()
    }

    /// Whether the journal can be written now (cheap: read for every publish the
    /// embedded broker takes).
    pub fn is_journal_writable(&self) -> bool {
        self.journal_writable.get() == 1
    }

    /// Counts a damaged journal found at start.
    pub fn journal_damaged(&self) {
        self.journal_damaged.inc();
    }

    /// Counts a job found in the journal at start (counted once it is queued anew).
    pub fn restored(&self) {
        self.restored.inc();
    }

    /// Counts packages released for being idle.
    pub fn released(&self, n: usize) {
        self.released.inc_by(n as u64);
    }

    /// The registry's text, the figures of `snapshot` set first.
    pub fn encode(&self, snapshot: Snapshot) -> String {
        self.packages.set(snapshot.packages);
        self.queued.set(snapshot.queued);
        self.queued_worst.set(snapshot.queued_worst);
        self.long_polls.set(snapshot.long_polls);
        self.mqtt_filters.set(snapshot.mqtt_filters);
        self.sagas_pending.set(snapshot.sagas_pending);
        self.pending_bytes.set(snapshot.pending_bytes);
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

impl RequestObserver for Metrics {
    fn answered(&self, action: &'static str, status: Option<u16>, elapsed: Duration) {
        let class = match status {
            Some(200..=299) => "2xx",
            Some(300..=399) => "3xx",
            Some(400..=499) => "4xx",
            Some(500..=599) => "5xx",
            Some(_) => "other",
            None => "error",
        };
        self.requests
            .get_or_create(&RequestLabels {
                action,
                status: class,
            })
            .inc();
        self.latency
            .get_or_create(&ActionLabel { action })
            .observe(elapsed.as_secs_f64());
        let reachable = status.is_some_and(|s| s < 500);
        self.constellation_reachable.set(i64::from(reachable));
        if reachable {
            let now = self.started.elapsed().as_millis() as u64;
            self.last_answer_ms.store(now + 1, Ordering::Relaxed);
        }
    }

    fn resent(&self, action: &'static str) {
        self.resent.get_or_create(&ActionLabel { action }).inc();
    }

    fn bad_answer(&self, action: &'static str) {
        self.bad_answers
            .get_or_create(&ActionLabel { action })
            .inc();
    }
}
