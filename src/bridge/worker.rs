//! The per-package worker: one task per virtual package, executing its queue in order
//! against Constellation under the package's credential.

use super::queue::{Full, Job, PackageQueue};
use super::report::{report, report_quietly};
use super::Context;
use crate::constellation::model::{LogLevel, SoFilter, StateObjectPush};
use crate::constellation::{Backoff, Error, Identity};
use crate::native::{Intent, PackageId};
use serde_json::Value;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// What the bridge and the worker share about a package.
pub struct Package {
    pub id: PackageId,
    identity: Identity,
    error_topic: String,
    queue: Mutex<PackageQueue>,
    state: Mutex<PackageState>,
    wake: Notify,
}

/// A package's recorded intent and status, as [`super::Bridge::package`] shows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PackageState {
    /// The latest `subscribe` filter set.
    pub filters: Vec<SoFilter>,
    /// The latest `groups` set.
    pub groups: Vec<String>,
    /// The latest `status`.
    pub online: Option<bool>,
    /// Jobs waiting, the most ever waiting, and jobs dropped because the queue was full.
    pub queued: usize,
    pub high_water: usize,
    pub dropped: u64,
    /// Requests that Constellation refused for the credential.
    pub refusals: u64,
}

impl Package {
    pub(super) fn new(id: PackageId, access_key: &str, prefix: &str, queue_limit: usize) -> Self {
        let identity = Identity::new(&id.sentinel, &id.package, access_key);
        let error_topic = format!(
            "{prefix}/{}/{}/{}",
            id.sentinel,
            id.package,
            crate::native::downlink::ERROR
        );
        Self {
            id,
            identity,
            error_topic,
            queue: Mutex::new(PackageQueue::new(queue_limit)),
            state: Mutex::new(PackageState::default()),
            wake: Notify::new(),
        }
    }

    /// The package's `error` topic.
    pub fn error_topic(&self) -> &str {
        &self.error_topic
    }

    /// Queues a job for the worker.
    pub(super) fn enqueue(&self, job: Job) -> Result<(), Full> {
        lock(&self.queue).push(job)?;
        self.wake.notify_one();
        Ok(())
    }

    /// A snapshot of the package's state.
    pub fn snapshot(&self) -> PackageState {
        let q = lock(&self.queue);
        PackageState {
            queued: q.len(),
            high_water: q.high_water(),
            dropped: q.dropped(),
            ..lock(&self.state).clone()
        }
    }
}

/// Locks a mutex that is only ever held for a few instructions; a panic while holding
/// it leaves data that is still consistent enough to go on with.
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The outcome of one job.
enum Outcome {
    Done,
    Retry(Job, Error),
    Failed(Job, String),
    Refused(Job, Error),
}

/// Runs a package's worker until the bridge drains (queue empty) or aborts.
pub(super) async fn run(cx: Arc<Context>, package: Arc<Package>) {
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(30));
    let auth_hold = Duration::from_secs(cx.config.constellation.auth_retry_s);
    let mut refused_until: Option<Instant> = None;
    let mut hold = auth_hold;
    let mut failing = false;
    loop {
        let job = loop {
            let next = lock(&package.queue).pop();
            if let Some(job) = next {
                break job;
            }
            tokio::select! {
                _ = package.wake.notified() => {}
                _ = cx.drain.cancelled() => return,
            }
        };
        if let Some(until) = refused_until.filter(|u| Instant::now() < *u) {
            let left = until.saturating_duration_since(Instant::now()).as_secs();
            let msg = format!(
                "Constellation refused the credential of {}; not retried for {left} s",
                package.id
            );
            report_quietly(&cx.publisher, &package.error_topic, &job.origin, &msg);
            continue;
        }
        let outcome = tokio::select! {
            outcome = execute(&cx, &package, job) => outcome,
            _ = cx.abort.cancelled() => return,
        };
        match outcome {
            Outcome::Done => {
                if failing {
                    tracing::info!(package = %package.id, "Constellation reachable again");
                    failing = false;
                }
                backoff.reset();
                hold = auth_hold;
                refused_until = None;
            }
            Outcome::Retry(job, error) => {
                if !failing {
                    tracing::warn!(package = %package.id, %error, "Constellation unreachable; keeping work and retrying");
                    failing = true;
                }
                lock(&package.queue).retry(job);
                tokio::select! {
                    _ = tokio::time::sleep(backoff.next_delay()) => {}
                    _ = cx.abort.cancelled() => return,
                }
            }
            Outcome::Failed(job, error) => {
                report(&cx.publisher, &package.error_topic, &job.origin, &error);
            }
            Outcome::Refused(job, error) => {
                lock(&package.state).refusals += 1;
                tracing::warn!(package = %package.id, %error, hold_s = hold.as_secs(), "credential refused");
                report_quietly(
                    &cx.publisher,
                    &package.error_topic,
                    &job.origin,
                    &error.to_string(),
                );
                refused_until = Some(Instant::now() + hold);
                hold = (hold * 2).min(auth_hold * 10);
            }
        }
    }
}

/// Executes one job: its Constellation calls, under the global concurrency bound.
async fn execute(cx: &Context, package: &Package, job: Job) -> Outcome {
    let result = match &job.intent {
        Intent::Respond { saga_id, .. } => {
            return Outcome::Failed(
                job.clone(),
                format!("unknown or expired saga id {saga_id:?}"),
            )
        }
        Intent::Subscribe(filters) => {
            lock(&package.state).filters = filters.clone();
            return Outcome::Done;
        }
        Intent::Groups(groups) => {
            lock(&package.state).groups = groups.clone();
            return Outcome::Done;
        }
        intent => {
            let _permit = cx.requests.acquire().await;
            call(cx, package, intent).await
        }
    };
    match result {
        Ok(()) => Outcome::Done,
        Err(e) if e.is_transient() => Outcome::Retry(job, e),
        // 403: the credential is good but not for this action; only a refused
        // credential (401, or no subscription id) holds the package's later requests.
        Err(
            e @ Error::Auth {
                status: Some(403), ..
            },
        ) => Outcome::Failed(job, e.to_string()),
        Err(e) if e.is_auth() => Outcome::Refused(job, e),
        Err(e) => {
            let msg = format!("Constellation rejected the request: {e}");
            Outcome::Failed(job, msg)
        }
    }
}

async fn call(cx: &Context, package: &Package, intent: &Intent) -> Result<(), Error> {
    let c = &cx.client;
    let id = &package.identity;
    match intent {
        Intent::PushStateObject(so) => c.push_state_object(id, so).await,
        Intent::Purge { name, type_name } => c.purge_state_objects(id, name, type_name).await,
        Intent::WriteLog { level, message } => c.write_log(id, *level, message).await,
        Intent::SendMessage(msg) => c.send_message(id, msg).await,
        Intent::Declare(descriptor) => c.declare_package_descriptor(id, descriptor).await,
        Intent::GetSettings => {
            let settings = c.get_settings(id).await?;
            let topic = format!(
                "{}/{}/{}/settings",
                cx.config.prefix, package.id.sentinel, package.id.package
            );
            cx.publisher
                .publish(&topic, Value::Object(settings).to_string(), true);
            Ok(())
        }
        Intent::Status(online) => {
            let name = &cx.config.constellation.online_stateobject;
            if !name.is_empty() {
                let push = StateObjectPush {
                    name: name.clone(),
                    value: Value::Bool(*online),
                    type_name: Some("System.Boolean".into()),
                    lifetime: None,
                    metadatas: None,
                };
                c.push_state_object(id, &push).await?;
            }
            let previous = lock(&package.state).online;
            if previous != Some(*online) {
                let text = if *online { "online" } else { "offline" };
                c.write_log(id, LogLevel::Info, &format!("{} is {text}", package.id))
                    .await?;
                lock(&package.state).online = Some(*online);
            }
            Ok(())
        }
        Intent::Respond { .. } | Intent::Subscribe(_) | Intent::Groups(_) => Ok(()),
    }
}
