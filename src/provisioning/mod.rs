//! Zero-touch virtual packages: when the server refuses an admitted package's
//! credential, its sentinel and package instance are declared through the Management
//! API, the server's configuration reloaded, and the package's queued work delivered.
//!
//! Requests of a burst (forty Zigbee devices learned at start) are gathered into one
//! batch — one reload — at most one reload per `reload_min_interval_ms`. Additions are
//! add-or-replace, so a batch retried after a transient failure creates nothing twice.
//! Only sentinels matching `sentinels` are created; an instance that exists on the
//! server and was not created by the adapter is never changed; nothing is removed but
//! the adapter's own instances, gone for `prune_after_s`, when `prune` is set.

mod ledger;

use crate::config::{Config, ProvisioningConfig};
use crate::constellation::{Backoff, Client, Error, Management};
use crate::lock::lock;
use crate::mqtt::Publisher;
use crate::native::{adapter_error_topic, PackageId};
use crate::report::{Code, Problem};
use globset::{Glob, GlobSet, GlobSetBuilder};
use ledger::Ledger;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::Instrument;

/// How long a burst may stay quiet before its batch is applied.
const GATHER: Duration = Duration::from_millis(100);

/// The provisioning of one adapter.
pub struct Provisioner {
    requests: mpsc::UnboundedSender<Request>,
    sentinels: GlobSet,
    /// Packages the server refused for good (a name it rejects), with its reason: not
    /// asked for again.
    rejected: Rejected,
    ledger: Arc<Mutex<Ledger>>,
    management: Management,
    config: ProvisioningConfig,
}

/// A package to declare, and who waits for it.
struct Request {
    package: PackageId,
    done: oneshot::Sender<Result<(), String>>,
}

/// Packages the server refused for good, with its reason.
type Rejected = Arc<Mutex<BTreeMap<PackageId, String>>>;

/// The packages of a batch, each with those waiting for it.
type Batch = BTreeMap<PackageId, Vec<oneshot::Sender<Result<(), String>>>>;

/// The sentinel globs of `config`.
fn sentinel_globs(config: &ProvisioningConfig) -> GlobSet {
    let mut globs = GlobSetBuilder::new();
    for pattern in &config.sentinels {
        // Checked when the configuration was loaded.
        if let Ok(glob) = Glob::new(pattern) {
            globs.add(glob);
        }
    }
    globs.build().unwrap_or_else(|_| GlobSet::empty())
}

/// Where the ledger of created instances is kept (`None`: in memory).
fn ledger_file(config: &Config) -> Option<std::path::PathBuf> {
    (config.storage.durability == crate::config::Durability::Disk)
        .then(|| {
            config
                .storage
                .dir
                .as_ref()
                .map(|d| d.join("provisioned.json"))
        })
        .flatten()
}

/// What `check` reports of provisioning: the packages the configuration declares and
/// those the adapter created before, each with whether the server has it, would be
/// given it, or may not be (its sentinel outside `provisioning.sentinels`). With no
/// package declared, the one `check` asks about (the default credential) is among them.
pub async fn survey(
    config: &Config,
    client: &Client,
) -> Result<Vec<(PackageId, &'static str)>, Error> {
    let p = &config.provisioning;
    let key = p.access_key.as_ref().map_or("", |k| k.expose());
    let m = Management::new(client.clone(), &p.friendly_name, key);
    m.check_access().await?;
    let globs = sentinel_globs(p);
    let mut packages: BTreeSet<PackageId> = config
        .packages
        .iter()
        .map(|d| PackageId::new(&d.sentinel, &d.package))
        .collect();
    packages.extend(Ledger::open(ledger_file(config)).all());
    if config.packages.is_empty() && config.constellation.access_key.is_some() {
        // The package `check` asks about when none is declared.
        let probe = config.default_identity();
        packages.insert(PackageId::new(&probe.sentinel, &probe.package));
    }
    let sentinels: BTreeSet<String> = m.sentinels().await?.into_iter().collect();
    let mut rows = Vec::new();
    let mut listed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for package in packages {
        let s = &package.sentinel;
        if sentinels.contains(s) && !listed.contains_key(s) {
            listed.insert(s.clone(), m.packages(s).await?.into_iter().collect());
        }
        let state = if listed.get(s).is_some_and(|l| l.contains(&package.package)) {
            "exists"
        } else if globs.is_match(s) {
            "would be created"
        } else {
            "missing; its sentinel is outside provisioning.sentinels"
        };
        rows.push((package, state));
    }
    Ok(rows)
}

impl Provisioner {
    /// The provisioning `config` asks for (`None` when disabled), its task started; it
    /// reports on the adapter's `error` topic through `publisher`.
    pub fn start(config: &Arc<Config>, client: &Client, publisher: Publisher) -> Option<Arc<Self>> {
        let p = &config.provisioning;
        if !p.enabled {
            return None;
        }
        let key = p.access_key.as_ref().map_or("", |k| k.expose());
        let management = Management::new(client.clone(), &p.friendly_name, key);
        let ledger = Arc::new(Mutex::new(Ledger::open(ledger_file(config))));
        let (requests, rx) = mpsc::unbounded_channel();
        let rejected = Rejected::default();
        let worker = Worker {
            rejected: rejected.clone(),
            management: management.clone(),
            config: config.clone(),
            ledger: ledger.clone(),
            publisher,
            credentials: HashSet::new(),
        };
        tokio::spawn(
            worker
                .run(rx)
                .instrument(tracing::info_span!("provisioning")),
        );
        Some(Arc::new(Self {
            requests,
            sentinels: sentinel_globs(p),
            rejected,
            ledger,
            management,
            config: p.clone(),
        }))
    }

    /// Whether the adapter may create `sentinel`.
    pub fn covers(&self, sentinel: &str) -> bool {
        self.sentinels.is_match(sentinel)
    }

    /// Declares `package` on the server (with the burst it arrives in) and reloads the
    /// configuration; `Err` says why it was not (then the package is refused as before).
    pub async fn provision(&self, package: &PackageId) -> Result<(), String> {
        if !self.covers(&package.sentinel) {
            return Err(format!(
                "sentinel {:?} is not one provisioning.sentinels lets the adapter create",
                package.sentinel
            ));
        }
        if let Some(reason) = lock(&self.rejected).get(package) {
            return Err(format!("{reason} (not asked again)"));
        }
        let (done, answer) = oneshot::channel();
        let request = Request {
            package: package.clone(),
            done,
        };
        if self.requests.send(request).is_err() {
            return Err("provisioning has stopped".into());
        }
        answer
            .await
            .unwrap_or_else(|_| Err("provisioning has stopped".into()))
    }

    /// With `prune`: marks the adapter's live instances seen and removes (then reloads)
    /// those gone for `prune_after_s`. Called from the adapter's periodic sweep.
    pub fn sweep(&self, live: impl Fn(&PackageId) -> bool) {
        if !self.config.prune {
            return;
        }
        let gone = lock(&self.ledger).sweep(
            |s, p| live(&PackageId::new(s, p)),
            self.config.prune_after_s,
        );
        if gone.is_empty() {
            return;
        }
        let (management, ledger, deploy) = (
            self.management.clone(),
            self.ledger.clone(),
            self.config.deploy,
        );
        let prune = async move {
            let mut removed = 0;
            for c in gone {
                match management.delete_package(&c.sentinel, &c.package).await {
                    Ok(()) => {
                        tracing::info!(package = %format!("{}/{}", c.sentinel, c.package), "provisioning: pruned (gone)");
                        lock(&ledger).remove(&c.sentinel, &c.package);
                        removed += 1;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "provisioning: prune failed; tried again at the next sweep")
                    }
                }
            }
            if removed > 0 {
                if let Err(e) = management.reload(deploy).await {
                    tracing::warn!(error = %e, "provisioning: reload after pruning failed");
                }
            }
        };
        tokio::spawn(prune.instrument(tracing::info_span!("provisioning")));
    }
}

/// The provisioning task's state.
struct Worker {
    management: Management,
    config: Arc<Config>,
    ledger: Arc<Mutex<Ledger>>,
    publisher: Publisher,
    rejected: Rejected,
    /// Credentials known to exist on the server.
    credentials: HashSet<String>,
}

impl Worker {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Request>) {
        match self.management.check_access().await {
            Ok(()) => tracing::info!("provisioning: the Management API accepts the adapter"),
            Err(e) => self.report(&format!("provisioning: {e}")),
        }
        let p = &self.config.provisioning;
        let interval = Duration::from_millis(p.reload_min_interval_ms);
        let mut last_reload: Option<Instant> = None;
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
        while let Some(first) = rx.recv().await {
            let mut batch = Batch::new();
            add(&mut batch, first);
            // The burst: until it is quiet for a moment, and not before the last reload
            // is `reload_min_interval_ms` old.
            let not_before = last_reload.map_or_else(Instant::now, |t| t + interval);
            loop {
                let deadline = (Instant::now() + GATHER).max(not_before);
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(r)) => add(&mut batch, r),
                    Ok(None) => return,
                    Err(_) => break,
                }
            }
            let mut reported = false;
            let outcome = loop {
                match self.apply(&batch).await {
                    Err(e) if e.is_transient() => {
                        if !reported {
                            tracing::warn!(error = %e, packages = batch.len(), "provisioning: Management API failing; retrying");
                            reported = true;
                        }
                        tokio::time::sleep(backoff.next_delay()).await;
                        // Who asked meanwhile joins this batch.
                        while let Ok(r) = rx.try_recv() {
                            add(&mut batch, r);
                        }
                    }
                    other => break other,
                }
            };
            backoff.reset();
            last_reload = Some(Instant::now());
            match outcome {
                Ok(results) => {
                    for (package, waiting) in batch {
                        let result = results
                            .get(&package)
                            .cloned()
                            .unwrap_or_else(|| Err("not provisioned".into()));
                        if let Err(reason) = &result {
                            self.report(&format!("provisioning {package}: {reason}"));
                        }
                        for w in waiting {
                            let _ = w.send(result.clone());
                        }
                    }
                }
                Err(e) => {
                    let reason = e.to_string();
                    self.report(&format!("provisioning: {reason}"));
                    for w in batch.into_values().flatten() {
                        let _ = w.send(Err(reason.clone()));
                    }
                }
            }
        }
    }

    /// Declares the batch's packages and reloads once: each package's outcome, or the
    /// error that stopped the whole batch.
    async fn apply(
        &mut self,
        batch: &Batch,
    ) -> Result<BTreeMap<PackageId, Result<(), String>>, Error> {
        let m = self.management.clone();
        let config = self.config.clone();
        let p = &config.provisioning;
        let mut results = BTreeMap::new();
        let mut sentinels: BTreeSet<String> = m.sentinels().await?.into_iter().collect();
        // A sentinel the server refused to add: not asked again in this batch.
        let mut refused_sentinels: BTreeMap<String, String> = BTreeMap::new();
        let mut existing: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for s in batch.keys().map(|k| &k.sentinel) {
            if sentinels.contains(s) && !existing.contains_key(s) {
                existing.insert(s.clone(), m.packages(s).await?.into_iter().collect());
            }
        }
        let mut changed = false;
        for package in batch.keys() {
            let (s, name) = (&package.sentinel, &package.package);
            let ours = lock(&self.ledger).created(s, name);
            if existing.get(s).is_some_and(|e| e.contains(name)) && !ours {
                results.insert(package.clone(), Err(format!("{package} exists on the server (not created by the adapter) and refuses the adapter's credential; not changed")));
                continue;
            }
            let credential = self.credential_for(package).await?;
            if let Some(refused) = refused_sentinels.get(s) {
                lock(&self.rejected).insert(package.clone(), refused.clone());
                results.insert(package.clone(), Err(refused.clone()));
                continue;
            }
            if !sentinels.contains(s) {
                // Once per batch: a second POST would replace the sentinel just added.
                if let Some(refused) = refused(m.add_sentinel(s, &p.credential).await)? {
                    refused_sentinels.insert(s.clone(), refused.clone());
                    lock(&self.rejected).insert(package.clone(), refused.clone());
                    results.insert(package.clone(), Err(refused));
                    continue;
                }
                sentinels.insert(s.clone());
            }
            if let Some(refused) = refused(m.add_package(s, name, &credential).await)? {
                lock(&self.rejected).insert(package.clone(), refused.clone());
                results.insert(package.clone(), Err(refused));
                continue;
            }
            if let Some(declared) = config
                .packages
                .iter()
                .find(|d| d.sentinel == *s && d.package == *name)
            {
                if !declared.groups.is_empty() {
                    m.set_groups(s, name, &declared.groups).await?;
                }
                if !declared.settings.is_empty() {
                    m.set_settings(s, name, &declared.settings).await?;
                }
            }
            lock(&self.ledger).add(s, name);
            tracing::info!(%package, %credential, "provisioning: package instance declared");
            changed = true;
            results.insert(package.clone(), Ok(()));
        }
        if changed {
            m.reload(p.deploy).await?;
            tracing::info!(
                packages = results.values().filter(|r| r.is_ok()).count(),
                "provisioning: configuration reloaded"
            );
        }
        Ok(results)
    }

    /// The credential `package` is to use, created on the server when missing: the
    /// configured one for the default key, its own for a package with its own key.
    async fn credential_for(&mut self, package: &PackageId) -> Result<String, Error> {
        let config = &self.config;
        let p = &config.provisioning;
        let key = config
            .access_key_for(&package.sentinel, &package.package)
            .unwrap_or_default()
            .to_owned();
        let default = config.constellation.access_key.as_ref().map(|k| k.expose());
        let name = if default == Some(key.as_str()) {
            p.credential.clone()
        } else {
            format!("{}.{}.{}", p.credential, package.sentinel, package.package)
        };
        if !self.credentials.contains(&name) {
            let known = self.management.credentials().await?;
            if !known.contains(&name) {
                self.management.add_credential(&name, &key).await?;
                tracing::info!(credential = %name, "provisioning: credential created");
            }
            self.credentials.insert(name.clone());
        }
        Ok(name)
    }

    /// Logs `error` and publishes it on the adapter's `error` topic.
    fn report(&self, error: &str) {
        tracing::error!("{error}");
        let body = Problem::new(Code::Provisioning, error).payload("provisioning", Value::Null);
        self.publisher
            .publish(&adapter_error_topic(&self.config.prefix), body, false);
    }
}

fn add(batch: &mut Batch, r: Request) {
    batch.entry(r.package).or_default().push(r.done);
}

/// A request the server refused for good (a name it rejects: 400) as `Some(reason)`;
/// other failures stop the batch.
fn refused(result: Result<(), Error>) -> Result<Option<String>, Error> {
    match result {
        Ok(()) => Ok(None),
        Err(e @ Error::BadRequest { .. }) => Ok(Some(e.to_string())),
        Err(e) => Err(e),
    }
}
