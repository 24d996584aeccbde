//! The bridge core: from a device's publish to its package's worker.
//!
//! The dispatcher parses each publish once into an [`Intent`] (`crate::native`), admits
//! its package (the `allow` globs, a credential), completes StateObjects from the
//! configuration, and queues the intent on the package's worker; per-package workers
//! (`worker`) execute their queues concurrently, each in order, under a global bound
//! of requests in flight. Every refusal is reported on the package's `error` topic.

mod defaults;
mod queue;
mod replay;
mod report;
mod worker;

pub use queue::{Job, Origin, PackageQueue};
pub(crate) use worker::Package;
pub use worker::PackageState;

use crate::config::Config;
use crate::constellation::model::ReceivedMessage;
use crate::constellation::Client;
use crate::discovery::{state_object_types, Discovery, SoType};
use crate::mapping::{Commands, Invocation, MapError, Mapper};
use crate::mqtt::Publisher;
use crate::native::{
    adapter_error_topic, decode, error_topic, parse_topic, payload_head, Intent, PackageId, Topic,
};
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use rumqttc::v5::mqttbytes::v5::Publish;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use worker::lock;

/// What every worker and poller shares.
pub(crate) struct Context {
    pub(crate) config: Arc<Config>,
    pub(crate) client: Client,
    pub(crate) publisher: Publisher,
    /// Bounds the requests in flight towards Constellation, over all packages.
    pub(crate) requests: Semaphore,
    /// The `[[command]]`s, for the downlink, and their sagas waiting for an answer.
    pub(crate) commands: Commands,
    /// The devices learned at run time, with their commands.
    pub(crate) discovery: Mutex<Discovery>,
    /// The `[[map]]` rules (the presets' included).
    pub(crate) mapper: Mapper,
    /// Bounds the long polls in flight (each holds a connection).
    pub(crate) polls: Semaphore,
    /// Cancelled at shutdown: workers finish their queues, then stop; pollers stop.
    pub(crate) drain: CancellationToken,
    /// Cancelled when the shutdown flush time is up: workers stop at once.
    pub(crate) abort: CancellationToken,
}

impl Context {
    /// Runs an ordinary (not long-poll) request under the `max_concurrent_requests` bound.
    pub(crate) async fn request<T>(&self, call: impl std::future::Future<Output = T>) -> T {
        let _permit = self.requests.acquire().await;
        call.await
    }

    /// The publish that carries out `message` for `package`, if a command takes its key
    /// (a learned device's first, then the configuration's).
    pub(crate) fn invoke(
        &self,
        package: &PackageId,
        message: &ReceivedMessage,
    ) -> Option<Result<Invocation, String>> {
        lock(&self.discovery)
            .invoke(package, message)
            .or_else(|| self.commands.invoke(package, message))
    }

    /// The error answer of a command's saga still unanswered at its time-out.
    pub(crate) fn time_out(&self, package: &PackageId, saga_id: &str) -> Option<Intent> {
        lock(&self.discovery)
            .time_out(package, saga_id)
            .or_else(|| self.commands.time_out(package, saga_id))
    }

    /// The package descriptor of a mapped package: its commands' callbacks (learned
    /// ones first) and the StateObject types learned for it; `None` for a package no
    /// command or learned device describes.
    fn descriptor(&self, package: &PackageId) -> Option<Value> {
        let known = lock(&self.discovery).knows(package);
        let descriptor = self.current_descriptor(package);
        let empty = descriptor["MessageCallbacks"] == json!([])
            && descriptor["StateObjectTypes"] == json!([]);
        (known || !empty).then_some(descriptor)
    }

    /// What describes `package` now (possibly nothing: a device that went away).
    fn current_descriptor(&self, package: &PackageId) -> Value {
        let discovery = lock(&self.discovery);
        let mut callbacks = discovery.callbacks(package);
        let mut types = discovery.types(package);
        drop(discovery);
        for (name, type_name) in self.mapper.types(package) {
            if !types.iter().any(|t| t.name == name) {
                types.push(SoType {
                    name,
                    type_name,
                    description: None,
                    enum_values: Vec::new(),
                });
            }
        }
        let types = state_object_types(package, &types);
        for c in self.commands.callbacks(package) {
            if !callbacks.iter().any(|l| l["MessageKey"] == c["MessageKey"]) {
                callbacks.push(c);
            }
        }
        json!({"PackageName": package.package, "MessageCallbacks": callbacks,
               "MessageCallbackTypes": [], "StateObjectTypes": types})
    }

    /// How long a refused credential is left alone.
    pub(crate) fn auth_retry_s(&self) -> u64 {
        self.config.constellation.auth_retry_s
    }
}

/// The bridge: dispatches publishes to per-package workers, created on first use.
#[derive(Clone)]
pub struct Bridge {
    cx: Arc<Context>,
    allow: Arc<GlobSet>,
    defaults: Arc<defaults::Defaults>,
    /// Retained topics of other layouts already seen, so that a broker's replay of
    /// them is not pushed again.
    replays: Arc<Mutex<replay::Replays>>,
    packages: Arc<Mutex<HashMap<PackageId, Arc<Package>>>>,
    workers: Arc<Mutex<JoinSet<()>>>,
}

/// Compiles the `allow` patterns; `*` does not cross the `/` between sentinel and package.
pub fn allow_set(patterns: &[String]) -> Result<GlobSet, globset::Error> {
    let mut set = GlobSetBuilder::new();
    for pattern in patterns {
        set.add(GlobBuilder::new(pattern).literal_separator(true).build()?);
    }
    set.build()
}

impl Bridge {
    /// A bridge for `config`, calling Constellation through `client` and answering on
    /// MQTT through `publisher`.
    pub fn new(config: Arc<Config>, client: Client, publisher: Publisher) -> Self {
        let allow = allow_set(&config.constellation.allow).unwrap_or_else(|e| {
            tracing::error!(error = %e, "invalid allow pattern: no package is admitted");
            GlobSet::empty()
        });
        let commands = Commands::new(&config.command).unwrap_or_else(|errors| {
            tracing::error!(?errors, "invalid commands: none applied");
            Commands::new(&[]).unwrap_or_else(|_| unreachable!("no commands, no errors"))
        });
        let mapper = Mapper::new(&config.map).unwrap_or_else(|errors| {
            tracing::error!(?errors, "invalid mapping rules: none applied");
            Mapper::new(&[]).unwrap_or_else(|_| unreachable!("no rules, no errors"))
        });
        let cx = Context {
            commands,
            discovery: Mutex::new(Discovery::new(&config.discovery)),
            mapper,
            requests: Semaphore::new(config.constellation.max_concurrent_requests),
            polls: Semaphore::new(config.constellation.max_long_polls),
            client,
            publisher,
            drain: CancellationToken::new(),
            abort: CancellationToken::new(),
            config: config.clone(),
        };
        Self {
            allow: Arc::new(allow),
            defaults: Arc::new(defaults::Defaults::new(&config)),
            replays: Arc::default(),
            cx: Arc::new(cx),
            packages: Arc::default(),
            workers: Arc::default(),
        }
    }

    /// Handles one publish from the broker. Never blocks on Constellation.
    pub fn handle(&self, publish: &Publish) {
        let topic = String::from_utf8_lossy(&publish.topic);
        let prefix = &self.cx.config.prefix;
        let origin = || Origin {
            topic: topic.to_string(),
            payload: payload_head(&publish.payload),
        };
        let (package, kind) = match parse_topic(prefix, &topic) {
            Topic::Device(package, kind) => (package, kind),
            Topic::Foreign => {
                return self.map_foreign(&topic, &publish.payload, publish.retain, origin)
            }
            Topic::Downlink => return,
            Topic::Invalid {
                error_topic,
                reason,
            } => return report::report(&self.cx.publisher, &error_topic, &origin(), &reason),
        };
        let package_errors = || error_topic(prefix, &package.sentinel, &package.package);
        if let Some(reason) = self.oversized(&publish.payload) {
            return report::report(&self.cx.publisher, &package_errors(), &origin(), &reason);
        }
        let no_properties = Vec::new();
        let user_properties = publish
            .properties
            .as_ref()
            .map_or(&no_properties, |p| &p.user_properties);
        let intent = match decode(&kind, &package.package, &publish.payload, user_properties) {
            Ok(intent) => intent,
            Err(reason) => {
                return report::report(&self.cx.publisher, &package_errors(), &origin(), &reason)
            }
        };
        self.submit(package, intent, origin());
    }

    /// Projects a publish of another layout through the mapping rules and the learned
    /// devices, after learning from it if it is a discovery topic. A retained publish
    /// is last known state: already seen, it is ignored; it never answers a saga.
    fn map_foreign(
        &self,
        topic: &str,
        payload: &[u8],
        retained: bool,
        origin: impl Fn() -> Origin,
    ) {
        if let Some(reason) = self.oversized(payload) {
            let error_topic = adapter_error_topic(&self.cx.config.prefix);
            return report::report(&self.cx.publisher, &error_topic, &origin(), &reason);
        }
        if lock(&self.replays).repeated(topic, payload, retained) {
            return;
        }
        let mut answers = if retained {
            Vec::new()
        } else {
            self.cx.commands.answers(topic, payload)
        };
        let mut mapped = self.cx.mapper.map(topic, payload);
        let learned = {
            let mut discovery = lock(&self.cx.discovery);
            if !retained {
                answers.extend(discovery.answers(topic, payload));
            }
            let learned = discovery.learn(topic, payload);
            mapped.extend(discovery.map(topic, payload));
            learned
        };
        for (package, answer) in answers {
            self.submit(package, answer, origin());
        }
        if let Some(learned) = learned {
            for filter in &learned.subscribe {
                self.cx.publisher.subscribe(filter);
            }
            for package in learned.changed {
                let descriptor = self.cx.current_descriptor(&package);
                self.submit(package, Intent::Declare(descriptor), origin());
            }
            mapped.extend(learned.errors.into_iter().map(Err));
        }
        for m in mapped {
            match m {
                Ok((package, intent)) => self.submit(package, intent, origin()),
                Err(e) => self.report_map_error(&e, &origin()),
            }
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

    fn report_map_error(&self, e: &MapError, origin: &Origin) {
        let prefix = &self.cx.config.prefix;
        let error_topic = match &e.package {
            Some(p) => error_topic(prefix, &p.sentinel, &p.package),
            None => adapter_error_topic(prefix),
        };
        report::report(&self.cx.publisher, &error_topic, origin, &e.reason);
    }

    /// Queues `intent` on its package's worker, creating the worker if the package is
    /// admitted; reports on the package's `error` topic otherwise.
    pub fn submit(&self, package: PackageId, mut intent: Intent, origin: Origin) {
        let Some(worker) = self.worker(&package, &origin) else {
            return;
        };
        if let Intent::PushStateObject(push) = &mut intent {
            self.defaults.apply(&package, push);
        }
        if let Err(full) = worker.enqueue(Job {
            intent,
            origin: origin.clone(),
        }) {
            let reason = format!(
                "{package}: queue full ({} pending): publish dropped ({} dropped so far)",
                self.cx.config.constellation.queue_limit, full.dropped
            );
            if full.dropped.is_power_of_two() {
                report::report(&self.cx.publisher, worker.error_topic(), &origin, &reason);
            } else {
                report::report_quietly(&self.cx.publisher, worker.error_topic(), &origin, &reason);
            }
        }
    }

    fn worker(&self, package: &PackageId, origin: &Origin) -> Option<Arc<Package>> {
        let mut packages = lock(&self.packages);
        if let Some(p) = packages.get(package) {
            return Some(p.clone());
        }
        let config = &self.cx.config;
        let error_topic = error_topic(&config.prefix, &package.sentinel, &package.package);
        if !self.allow.is_match(package.to_string()) {
            let reason = format!("package {package} is not admitted by constellation.allow");
            report::report(&self.cx.publisher, &error_topic, origin, &reason);
            return None;
        }
        let Some(key) = config.access_key_for(&package.sentinel, &package.package) else {
            let reason = format!(
                "no credential for {package}: declare it in [[packages]] or set constellation.access_key"
            );
            report::report(&self.cx.publisher, &error_topic, origin, &reason);
            return None;
        };
        let p = Arc::new(Package::new(package.clone(), key, config));
        if let Some(descriptor) = self.cx.descriptor(package) {
            let declare = Job {
                intent: Intent::Declare(descriptor),
                origin: origin.clone(),
            };
            // A new queue has room: this cannot be refused.
            let _ = p.enqueue(declare);
        }
        packages.insert(package.clone(), p.clone());
        let mut workers = lock(&self.workers);
        workers.spawn(worker::run(self.cx.clone(), p.clone()));
        workers.spawn(crate::downlink::run_messages(self.cx.clone(), p.clone()));
        workers.spawn(crate::downlink::run_state_objects(
            self.cx.clone(),
            p.clone(),
        ));
        tracing::info!(%package, "package joined");
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
            self.worker(&id, &origin);
        }
    }

    /// The state of a package the bridge knows.
    pub fn package(&self, package: &PackageId) -> Option<PackageState> {
        lock(&self.packages).get(package).map(|p| p.snapshot())
    }

    /// Stops the workers: each delivers what it has queued, for at most `flush`.
    pub async fn shutdown(&self, flush: Duration) {
        self.cx.drain.cancel();
        let mut workers = std::mem::take(&mut *lock(&self.workers));
        let drained = tokio::time::timeout(flush, async {
            while workers.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            let left: usize = lock(&self.packages)
                .values()
                .map(|p| p.snapshot().queued)
                .sum();
            tracing::warn!(left, "shutdown: flush time up, undelivered work dropped");
            self.cx.abort.cancel();
            workers.shutdown().await;
        }
    }
}
