//! The dispatcher: from a device's publish to its package.
//!
//! Each publish is turned once into `(PackageId, Intent)`s, through the native scheme
//! ([`crate::native`]) or the devices of other layouts ([`crate::devices`]); the
//! dispatcher admits their packages (`admission`: the `allow` globs, a credential),
//! completes StateObjects from the configuration (`defaults`), ignores retained replays
//! (`replay`), and hands each intent to its package ([`crate::package`]), starting the
//! package on first use. Every refusal is reported on the package's `error` topic.

mod admission;
mod defaults;
mod replay;

use crate::config::Config;
use crate::constellation::Client;
use crate::devices::Devices;
use crate::export::Exports;
use crate::journal::Journal;
use crate::lock::lock;
use crate::mapping::MapError;
use crate::metrics::{Metrics, Refusal, Snapshot};
use crate::mqtt::Publisher;
use crate::native::{
    adapter_error_topic, decode, error_topic, parse_topic, payload_head, Intent, Kind, PackageId,
    Topic,
};
use crate::package::{
    self, Context, Job, Lifecycle, Origin, Package, PackageState, Pushed, Refused, Server,
};
use crate::provisioning::Provisioner;
use crate::report::{Problem, Reporter};
use rumqttc::v5::mqttbytes::v5::Publish;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinSet;

/// Dispatches publishes to packages, started on first use, and owns them.
#[derive(Clone)]
pub struct Dispatcher {
    cx: Arc<Context>,
    admission: Arc<admission::Admission>,
    defaults: Arc<defaults::Defaults>,
    /// Retained topics of other layouts already seen, so that a broker's replay of
    /// them is not pushed again.
    replays: Arc<Mutex<replay::Replays>>,
    packages: Arc<Mutex<HashMap<PackageId, Arc<Package>>>>,
    tasks: Arc<Mutex<JoinSet<()>>>,
    /// Refusal lines in the log for publishes no live package answers for (bad topics,
    /// packages refused or not yet started).
    reporter: Arc<Reporter>,
    /// `[[export]]` and `_send`, when the adapter has an identity.
    exports: Option<Arc<Exports>>,
}

impl Dispatcher {
    /// A dispatcher for `config` and the `devices` of other layouts, calling
    /// Constellation through `client`, answering on MQTT through `publisher`, keeping
    /// accepted work in `journal`.
    pub fn new(
        config: Arc<Config>,
        devices: Devices,
        client: Client,
        publisher: Publisher,
        metrics: Arc<Metrics>,
        journal: Journal,
    ) -> Self {
        let exports = Exports::start(&config, &client, &publisher);
        let cx = Context {
            provisioner: Provisioner::start(&config, &client, publisher.clone()),
            server: Server::new(client, &config),
            publisher,
            devices: Arc::new(devices),
            lifecycle: Lifecycle::default(),
            config: config.clone(),
            metrics,
            journal,
            purged: tokio::sync::broadcast::channel(256).0,
        };
        Self {
            admission: Arc::new(admission::Admission::new(&config)),
            defaults: Arc::new(defaults::Defaults::new(&config)),
            replays: Arc::default(),
            cx: Arc::new(cx),
            packages: Arc::default(),
            tasks: Arc::default(),
            reporter: Arc::default(),
            exports,
        }
    }

    /// Handles one publish from the broker, then acknowledges it once its work is in
    /// the journal. Never blocks on Constellation.
    pub fn handle(&self, publish: Publish) {
        self.route(&publish);
        self.cx.journal.ack(&publish);
    }

    /// Delivers the work a previous run left in the journal (`(package, key, record)`,
    /// in the order it was accepted), before anything new: each job is queued anew (under
    /// a new key), then its old record forgotten.
    pub fn restore(&self, jobs: Vec<(PackageId, u64, Vec<u8>)>) {
        for (id, key, record) in jobs {
            let restored = match serde_json::from_slice::<Job>(&record) {
                Ok(job) => {
                    self.enqueue(id, job.intent, job.origin);
                    true
                }
                Err(e) => {
                    tracing::error!(package = %id, key, error = %e, "journal: unreadable job dropped");
                    false
                }
            };
            self.cx.journal.delete(key, 0);
            if restored {
                self.cx.metrics.restored();
            }
        }
    }

    /// Routes one publish.
    fn route(&self, publish: &Publish) {
        let topic = String::from_utf8_lossy(&publish.topic);
        let prefix = &self.cx.config.prefix;
        let origin = || Origin {
            topic: topic.to_string(),
            payload: payload_head(&publish.payload),
        };
        let metrics = &self.cx.metrics;
        let (package, kind) = match parse_topic(prefix, &topic) {
            Topic::Device(package, kind) => (package, kind),
            Topic::Send => {
                metrics.received("send");
                return match &self.exports {
                    Some(x) => x
                        .send
                        .handle(&topic, &publish.payload, publish.properties.as_ref()),
                    None => self.refuse(
                        Refusal::InvalidTopic,
                        &format!("{prefix}/_send/error"),
                        &origin(),
                        "_send needs the adapter's identity: set [constellation] identity",
                    ),
                };
            }
            Topic::Foreign => {
                metrics.received("foreign");
                if let Some(x) = &self.exports {
                    if x.home_assistant_status(&topic, &publish.payload, prefix) {
                        return;
                    }
                }
                return self.project(&topic, &publish.payload, publish.retain, origin);
            }
            Topic::Downlink => return,
            Topic::Invalid {
                error_topic,
                reason,
            } => {
                metrics.received("invalid");
                return self.refuse(Refusal::InvalidTopic, &error_topic, &origin(), &reason);
            }
        };
        metrics.received(kind.label());
        let package_errors = || error_topic(prefix, &package.sentinel, &package.package);
        if let Some(reason) = self.oversized(&publish.payload) {
            return self.refuse(Refusal::Oversized, &package_errors(), &origin(), &reason);
        }
        let no_properties = Vec::new();
        let user_properties = publish
            .properties
            .as_ref()
            .map_or(&no_properties, |p| &p.user_properties);
        let intent = match decode(&kind, &package.package, &publish.payload, user_properties) {
            Ok(intent) => intent,
            Err(reason) => {
                return self.refuse(
                    Refusal::InvalidPayload,
                    &package_errors(),
                    &origin(),
                    &reason,
                );
            }
        };
        if kind == Kind::StateObjectFull {
            // The full form is sent exactly as given: no defaults, no inferred type.
            return self.enqueue(package, intent, origin());
        }
        self.submit(package, intent, origin());
    }

    /// Projects a publish of another layout through the devices. A retained publish is
    /// last known state: already seen, it is ignored.
    fn project(&self, topic: &str, payload: &[u8], retained: bool, origin: impl Fn() -> Origin) {
        if let Some(reason) = self.oversized(payload) {
            let error_topic = adapter_error_topic(&self.cx.config.prefix);
            return self.refuse(Refusal::Oversized, &error_topic, &origin(), &reason);
        }
        if lock(&self.replays).repeated(topic, payload, retained) {
            return;
        }
        let projection = self.cx.devices.project(topic, payload, retained);
        for filter in &projection.unsubscribe {
            self.cx.publisher.unsubscribe(filter);
        }
        for filter in &projection.subscribe {
            self.cx.publisher.subscribe(filter);
        }
        for e in &projection.errors {
            self.report_map_error(e, &origin());
        }
        let error_topic = adapter_error_topic(&self.cx.config.prefix);
        for e in &projection.refused {
            self.refuse(Refusal::TooManyDevices, &error_topic, &origin(), &e.reason);
        }
        for (package, intent) in projection.intents {
            self.submit(package, intent, origin());
        }
    }

    /// Why a payload is refused for its size, if it is.
    fn oversized(&self, payload: &[u8]) -> Option<String> {
        let limit = self.cx.config.mqtt.max_payload_bytes;
        (payload.len() > limit).then(|| {
            format!(
                "payload of {} bytes exceeds the limit of {limit} bytes",
                payload.len()
            )
        })
    }

    /// Counts a refusal of `kind` and reports it on `error_topic`, the log line shared by
    /// every publish no live package answers for.
    fn refuse(&self, kind: Refusal, error_topic: &str, origin: &Origin, reason: &str) {
        let problem = Problem::refused(&self.cx.metrics, kind, |_| reason.to_owned());
        self.emit(error_topic, origin, &problem);
    }

    /// Reports `problem` of the publish `origin` on `error_topic`.
    fn emit(&self, error_topic: &str, origin: &Origin, problem: &Problem) {
        let origin = (origin.topic.as_str(), origin.payload.as_str());
        self.reporter
            .emit(&self.cx.publisher, error_topic, origin, problem);
    }

    fn report_map_error(&self, e: &MapError, origin: &Origin) {
        let prefix = &self.cx.config.prefix;
        let error_topic = match &e.package {
            Some(p) => error_topic(prefix, &p.sentinel, &p.package),
            None => adapter_error_topic(prefix),
        };
        self.refuse(Refusal::Mapping, &error_topic, origin, &e.reason);
    }

    /// Hands `intent` to its package, a StateObject completed from the configuration's
    /// defaults and type inference, starting the package if it is admitted; reports on
    /// the package's `error` topic otherwise.
    pub fn submit(&self, package: PackageId, mut intent: Intent, origin: Origin) {
        if let Intent::PushStateObject(push) = &mut intent {
            self.defaults.apply(&package, push);
        }
        self.enqueue(package, intent, origin);
    }

    /// Hands `intent`, as it is, to its package (see [`Dispatcher::submit`]).
    fn enqueue(&self, package: PackageId, intent: Intent, origin: Origin) {
        let Some(p) = self.package_for(&package, &origin) else {
            return;
        };
        p.published();
        let refused = match p.enqueue(Job {
            intent,
            origin: origin.clone(),
        }) {
            Ok(Pushed::Queued { .. }) => return,
            Ok(Pushed::Conflated { .. }) => return self.cx.metrics.conflated(),
            Err(refused) => refused,
        };
        let metrics = &self.cx.metrics;
        let problem = match refused {
            Refused::Full(full) => {
                metrics.dropped();
                Problem::refused(metrics, Refusal::QueueFull, |_| {
                    format!(
                        "{package}: queue full ({} jobs, {} bytes pending): publish dropped ({} dropped so far)",
                        full.jobs, full.bytes, full.dropped
                    )
                })
            }
            Refused::NoRoom(no_room) => Problem::refused(metrics, Refusal::StorageFull, |count| {
                format!(
                    "{package}: storage full ({} of {} bytes pending, storage.max_bytes): publish dropped ({count} refused so far)",
                    no_room.pending, no_room.max
                )
            }),
        };
        p.fail(&self.cx.publisher, &origin, &problem);
    }

    /// The package `id`, started now if it is new and admitted.
    fn package_for(&self, id: &PackageId, origin: &Origin) -> Option<Arc<Package>> {
        let mut packages = lock(&self.packages);
        if let Some(p) = packages.get(id) {
            return Some(p.clone());
        }
        let config = &self.cx.config;
        let max = config.constellation.max_packages;
        if packages.len() >= max {
            self.release_idle_in(&mut packages);
        }
        if packages.len() >= max {
            let problem = Problem::refused(&self.cx.metrics, Refusal::TooManyPackages, |refused| {
                format!(
                    "{id}: refused, {max} packages are live already (constellation.max_packages; {refused} refused so far)"
                )
            });
            let error_topic = error_topic(&config.prefix, &id.sentinel, &id.package);
            // A flood of names gives a few log lines, each with the count.
            self.emit(&error_topic, origin, &problem);
            return None;
        }
        let key = match self.admission.admit(config, id) {
            Ok(key) => key,
            Err(reason) => {
                let error_topic = error_topic(&config.prefix, &id.sentinel, &id.package);
                self.refuse(Refusal::NotAdmitted, &error_topic, origin, &reason);
                return None;
            }
        };
        let p = Arc::new(Package::new(
            id.clone(),
            key,
            config,
            self.cx.journal.clone(),
        ));
        if let Some(descriptor) = self.cx.devices.descriptor(id) {
            let declare = Job {
                intent: Intent::Declare(descriptor),
                origin: origin.clone(),
            };
            // A new queue has room: this cannot be refused.
            let _ = p.enqueue(declare);
        }
        packages.insert(id.clone(), p.clone());
        package::start(&self.cx, &p, &mut lock(&self.tasks));
        p.span.in_scope(|| tracing::info!("package joined"));
        Some(p)
    }

    /// Starts every package declared in `[[packages]]`: their message and StateObject
    /// subscriptions exist before their devices first publish.
    pub fn start_declared(&self) {
        for p in &self.cx.config.packages {
            let id = PackageId::new(&p.sentinel, &p.package);
            let origin = Origin {
                topic: format!("{}/{id}", self.cx.config.prefix),
                payload: String::new(),
            };
            self.package_for(&id, &origin);
        }
    }

    /// Releases the packages idle for `constellation.package_idle_s` (see
    /// [`Package::releasable`]): their next publish starts them again.
    pub fn release_idle(&self) {
        let mut packages = lock(&self.packages);
        self.release_idle_in(&mut packages);
        if let Some(provisioner) = &self.cx.provisioner {
            provisioner.sweep(|id| packages.contains_key(id));
        }
    }

    fn release_idle_in(&self, packages: &mut HashMap<PackageId, Arc<Package>>) {
        let idle_s = self.cx.config.constellation.package_idle_s;
        if idle_s == 0 {
            return;
        }
        let idle = Duration::from_secs(idle_s);
        let before = packages.len();
        packages.retain(|_, p| {
            let release = p.releasable(idle);
            if release {
                p.release();
                p.span
                    .in_scope(|| tracing::info!(idle_s, "package released: idle"));
            }
            !release
        });
        let released = before - packages.len();
        if released > 0 {
            self.cx.metrics.released(released);
            // Their tasks end now: what the set keeps of them goes.
            let mut tasks = lock(&self.tasks);
            while tasks.try_join_next().is_some() {}
        }
    }

    /// The packages of the devices learned from discovery.
    pub fn learned(&self) -> Vec<PackageId> {
        self.cx.devices.learned()
    }

    /// Every package the dispatcher knows, with its state, in name order.
    pub fn packages(&self) -> Vec<(PackageId, PackageState)> {
        let mut all: Vec<_> = lock(&self.packages)
            .iter()
            .map(|(id, p)| (id.clone(), p.snapshot()))
            .collect();
        all.sort_by_key(|(id, _)| id.to_string());
        all
    }

    /// The figures taken at a scrape: packages, queues, polls, sagas.
    pub fn snapshot(&self) -> Snapshot {
        let packages: Vec<Arc<Package>> = lock(&self.packages).values().cloned().collect();
        let mut s = Snapshot {
            packages: packages.len() as i64,
            long_polls: self.cx.server.long_polls() as i64,
            pending_bytes: self.cx.journal.pending_bytes() as i64,
            mqtt_filters: self.cx.publisher.filters() as i64,
            ..Snapshot::default()
        };
        for p in packages {
            let (queued, sagas) = p.load();
            s.queued += queued as i64;
            s.queued_worst = s.queued_worst.max(queued as i64);
            s.sagas_pending += sagas as i64;
        }
        s
    }

    /// The adapter's figures.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.cx.metrics
    }

    /// The state of a package the dispatcher knows.
    pub fn package(&self, package: &PackageId) -> Option<PackageState> {
        lock(&self.packages).get(package).map(|p| p.snapshot())
    }

    /// Stops the packages: each delivers what it has queued, for at most `flush`.
    pub async fn shutdown(&self, flush: Duration) {
        if let Some(x) = &self.exports {
            x.stop();
        }
        self.cx.lifecycle.drain.cancel();
        let mut tasks = std::mem::take(&mut *lock(&self.tasks));
        let drained =
            tokio::time::timeout(flush, async { while tasks.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            let left: usize = lock(&self.packages)
                .values()
                .map(|p| p.snapshot().queued)
                .sum();
            if self.cx.config.storage.durability == crate::config::Durability::Disk {
                tracing::warn!(
                    left,
                    "shutdown: flush time up; undelivered work is kept in the journal for the next start"
                );
            } else {
                tracing::warn!(
                    left,
                    "shutdown: flush time up; undelivered work dropped (storage.durability = \"memory\")"
                );
            }
            self.cx.lifecycle.abort.cancel();
            tasks.shutdown().await;
        }
    }
}
