//! The adapter's packages: each started on first use when admitted (`allow`, a
//! credential), released when idle, stopped at shutdown; its work handed to it in order.

use super::admission::Admission;
use crate::intent::Intent;
use crate::lock::lock;
use crate::metrics::{Metrics, Refusal, Snapshot};
use crate::native::{error_topic, PackageId};
use crate::package::{self, Context, Job, Origin, Package, PackageState, Pushed, Refused};
use crate::report::{Problem, Reporter};
use hashbrown::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The live packages, started on first use.
#[derive(Clone)]
pub struct Registry {
    cx: Arc<Context>,
    admission: Arc<Admission>,
    packages: Arc<Mutex<HashMap<PackageId, Arc<Package>>>>,
    /// Refusal lines in the log for publishes no live package answers for (bad topics,
    /// packages refused or not yet started).
    reporter: Arc<Reporter>,
}

impl Registry {
    /// The packages of the adapter sharing `cx`; none is started yet.
    pub fn new(cx: Arc<Context>) -> Self {
        Self {
            admission: Arc::new(Admission::new(&cx.config)),
            cx,
            packages: Arc::default(),
            reporter: Arc::default(),
        }
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

    /// Counts a refusal of `kind` and reports it on `error_topic`, the log line shared by
    /// every publish no live package answers for.
    pub(super) fn refuse(&self, kind: Refusal, error_topic: &str, origin: &Origin, reason: &str) {
        let problem = Problem::refused(&self.cx.metrics, kind, |_| reason.to_owned());
        self.emit(error_topic, origin, &problem);
    }

    /// Reports `problem` of the publish `origin` on `error_topic`.
    fn emit(&self, error_topic: &str, origin: &Origin, problem: &Problem) {
        let origin = (origin.topic.as_str(), origin.payload.as_str());
        self.reporter
            .emit(&self.cx.publisher, error_topic, origin, problem);
    }

    /// Hands `intent`, as it is, to its package (see [`super::Router`], which completes StateObjects first).
    pub(super) fn enqueue(&self, package: PackageId, intent: Intent, origin: Origin) {
        let Some(p) = self.package_for(&package, &origin) else {
            return;
        };
        p.published();
        let (refused, origin) = match package::submit(&self.cx, &p, Job { intent, origin }) {
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
            let _ = package::submit(&self.cx, &p, declare);
        }
        packages.insert(id.clone(), p.clone());
        package::start(&self.cx, &p);
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
        }
    }

    /// The packages of the devices learned from discovery.
    pub fn learned(&self) -> Vec<PackageId> {
        self.cx.devices.learned()
    }

    /// Every live package, with its state, in name order.
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

    /// The state of a live package.
    pub fn package(&self, package: &PackageId) -> Option<PackageState> {
        lock(&self.packages).get(package).map(|p| p.snapshot())
    }

    /// Stops the packages: each delivers what it has queued, for at most `flush`.
    pub async fn shutdown(&self, flush: Duration) {
        let lifecycle = &self.cx.lifecycle;
        lifecycle.drain.cancel();
        lifecycle.tasks.close();
        let drained = tokio::time::timeout(flush, lifecycle.tasks.wait()).await;
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
            lifecycle.abort.cancel();
            lifecycle.tasks.wait().await;
        }
    }
}
