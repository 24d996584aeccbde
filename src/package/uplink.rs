//! The per-package worker: one task per virtual package, executing its queue in order
//! against Constellation under the package's credential.

use super::context::Context;
use super::queue::{Entry, Job, Origin};
use super::state::Package;
use super::trouble::Declared;
use crate::constellation::model::{
    LogLevel, OutgoingMessage, Scope, ScopeType, SoFilter, StateObjectPush, RESPONSE_KEY,
};
use crate::constellation::{Backoff, Error};
use crate::lock::lock;
use crate::native::Intent;
use crate::report::{Code, Problem};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The outcome of one job.
enum Outcome {
    Done,
    Retry(Job, Error),
    Failed(Job, Problem),
    Refused(Job, Error),
}

/// Runs a package's worker until its lifecycle drains (queue empty) or aborts.
pub(super) async fn run(cx: Arc<Context>, package: Arc<Package>) {
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(30));
    let auth_hold = Duration::from_secs(cx.config.constellation.auth_retry_s);
    let mut refused_until: Option<Instant> = None;
    let mut hold = auth_hold;
    let mut failing = false;
    // Whether a wait after a failure may end when the shared probe sees the server
    // back: not again right after such an early retry failed (the server answers the
    // probe but not this package: its own backoff then applies).
    let mut early = true;
    let mut declared = Declared::default();
    // The first tick is immediate: settings are published at package start.
    let refresh_s = cx.config.constellation.settings_refresh_s;
    let mut settings_refresh = tokio::time::interval(if refresh_s == 0 {
        Duration::from_secs(u64::from(u32::MAX))
    } else {
        Duration::from_secs(refresh_s)
    });
    settings_refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let entry = loop {
            if let Some(entry) = package.next() {
                break entry;
            }
            tokio::select! {
                _ = package.wake.notified() => {}
                _ = settings_refresh.tick() => {
                    let origin = Origin { topic: format!("{}/settings", package.base_topic), payload: String::new() };
                    package.enqueue_own(Job { intent: Intent::GetSettings { force: false }, origin });
                }
                _ = cx.lifecycle.drain.cancelled() => return,
            }
        };
        let Entry { job, key, bytes } = entry;
        // Done with, or refused for good: the journal forgets it.
        let finished = || package.done(key, bytes);
        if let Some(until) = refused_until.filter(|u| Instant::now() < *u) {
            let left = until.saturating_duration_since(Instant::now()).as_secs();
            let msg = format!(
                "Constellation refused the credential of {}; not retried for {left} s",
                package.id
            );
            let problem = Problem::new(Code::CredentialRefused, msg);
            package.fail(&cx.publisher, &job.origin, &problem);
            finished();
            continue;
        }
        let outcome = tokio::select! {
            // Boxed: an idle worker (most of them) then holds no room for the requests'
            // futures, which are large.
            outcome = Box::pin(execute(&cx, &package, job)) => outcome,
            _ = cx.lifecycle.abort.cancelled() => return,
        };
        // A refused credential: declared on the server first, when provisioning may.
        let mut not_provisioned = None;
        let outcome = match outcome {
            // Boxed, as the wait below: rare paths, kept out of the idle worker's room.
            Outcome::Refused(job, error) => {
                match Box::pin(declared.declare(&cx, &package, &error)).await {
                    Ok(()) => {
                        package.retry(Entry { job, key, bytes });
                        continue;
                    }
                    Err(reason) => {
                        not_provisioned = reason;
                        Outcome::Refused(job, error)
                    }
                }
            }
            other => other,
        };
        if !matches!(outcome, Outcome::Retry(..)) {
            finished();
        }
        match outcome {
            Outcome::Done => {
                if failing {
                    tracing::info!("Constellation reachable again");
                    failing = false;
                }
                backoff.reset();
                early = true;
                hold = auth_hold;
                refused_until = None;
            }
            Outcome::Retry(job, error) => {
                if !failing {
                    if matches!(error, Error::BadAnswer { .. }) {
                        // Reported once, on the error topic too: the server is not down
                        // but answers nonsense, which someone must look at.
                        let reason = format!("{error}; keeping the work and retrying");
                        let problem = Problem::new(Code::BadAnswer, reason);
                        package.fail(&cx.publisher, &job.origin, &problem);
                    } else {
                        tracing::warn!(%error, "Constellation unreachable; keeping work and retrying");
                    }
                    failing = true;
                }
                package.retry(Entry { job, key, bytes });
                tokio::select! {
                    released = Box::pin(cx.wait_for_server(&package.identity, backoff.next_delay(), early)) => early = !released,
                    _ = cx.lifecycle.abort.cancelled() => return,
                }
            }
            Outcome::Failed(job, error) => package.fail(&cx.publisher, &job.origin, &error),
            Outcome::Refused(job, error) => {
                lock(&package.state).refusals += 1;
                tracing::warn!(%error, hold_s = hold.as_secs(), "credential refused");
                let message = match &not_provisioned {
                    Some(reason) => format!("{error}; not provisioned: {reason}"),
                    None => error.to_string(),
                };
                let problem = Problem::new(Code::of(&error), message);
                package.fail(&cx.publisher, &job.origin, &problem);
                refused_until = Some(Instant::now() + hold);
                hold = (hold * 2).min(auth_hold * 10);
            }
        }
    }
}

/// Executes one job: its Constellation calls, under the global concurrency bound.
async fn execute(cx: &Context, package: &Package, job: Job) -> Outcome {
    let result = match &job.intent {
        Intent::Subscribe(filters) => {
            package.set_device_filters(filters);
            return Outcome::Done;
        }
        Intent::Groups(groups) => {
            package.set_device_groups(groups);
            return Outcome::Done;
        }
        intent => cx.server.request(call(cx, package, intent)).await,
    };
    match result {
        Ok(()) => Outcome::Done,
        Err(Call::Refused(problem)) => Outcome::Failed(job, problem),
        Err(Call::Server(e)) => server_error(job, e),
    }
}

/// What a server error means for the job: retry (transient), a hold (the credential
/// refused: 401 or no subscription id), or a failure reported on `error` (403: the
/// credential is good but not for this action; 400; an unexpected answer).
fn server_error(job: Job, e: Error) -> Outcome {
    match e {
        e if e.is_transient() => Outcome::Retry(job, e),
        e @ Error::Auth {
            status: Some(403), ..
        } => Outcome::Failed(job, Problem::new(Code::Forbidden, e.to_string())),
        e if e.is_auth() => Outcome::Refused(job, e),
        e => {
            let reason = format!("Constellation rejected the request: {e}");
            Outcome::Failed(job, Problem::new(Code::of(&e), reason))
        }
    }
}

/// Why a job's calls did not complete.
enum Call {
    /// Refused before any request (an unknown saga…).
    Refused(Problem),
    Server(Error),
}

impl From<Error> for Call {
    fn from(e: Error) -> Self {
        Self::Server(e)
    }
}

async fn call(cx: &Context, package: &Package, intent: &Intent) -> Result<(), Call> {
    let c = &cx.server.client;
    let id = &package.identity;
    match intent {
        Intent::PushStateObject(so) => c.push_state_object(id, so).await?,
        Intent::Purge { name, type_name } => {
            c.purge_state_objects(id, name, type_name).await?;
            let _ = cx.purged.send(SoFilter {
                sentinel: id.sentinel.clone(),
                package: id.package.clone(),
                name: name.clone(),
                type_name: type_name.clone(),
            });
        }
        Intent::WriteLog { level, message } => c.write_log(id, *level, message).await?,
        Intent::SendMessage(msg) => c.send_message(id, msg).await?,
        Intent::Declare(descriptor) => c.declare_package_descriptor(id, descriptor).await?,
        Intent::Respond { saga_id, data } => {
            let Some(reply_to) = lock(&package.sagas).take(saga_id) else {
                let reason = format!("unknown or expired saga id {saga_id:?}");
                return Err(Call::Refused(Problem::new(Code::UnknownSaga, reason)));
            };
            let answer = OutgoingMessage {
                scope: Scope {
                    kind: ScopeType::Package,
                    args: vec![reply_to.clone()],
                    saga_id: Some(saga_id.clone()),
                },
                key: RESPONSE_KEY.into(),
                data: data.clone(),
            };
            if let Err(e) = c.send_message(id, &answer).await {
                if e.is_transient() {
                    // Retried: the saga must still be answerable then.
                    package.remember_saga(saga_id, &reply_to);
                }
                return Err(e.into());
            }
        }
        Intent::GetSettings { force } => {
            let settings = c.get_settings(id).await?;
            let mut state = lock(&package.state);
            if *force || state.settings.as_ref() != Some(&settings) {
                let topic = format!("{}/settings", package.base_topic);
                cx.publisher
                    .publish(&topic, Value::Object(settings.clone()).to_string(), true);
                state.settings = Some(settings);
            }
        }
        Intent::Availability {
            topic,
            online,
            mode,
        } => {
            let online = {
                let mut state = lock(&package.state);
                state.availability.insert(topic.clone(), *online);
                mode.combine(&state.availability)
            };
            status(cx, package, online).await?;
        }
        Intent::Status(online) => status(cx, package, *online).await?,
        // Handled by `execute` without a request.
        Intent::Subscribe(_) | Intent::Groups(_) => {}
    }
    Ok(())
}

/// Records the device's availability: the online StateObject, and a log line when it
/// changed.
async fn status(cx: &Context, package: &Package, online: bool) -> Result<(), Call> {
    let c = &cx.server.client;
    let id = &package.identity;
    let name = &cx.config.constellation.online_stateobject;
    if !name.is_empty() {
        let push = StateObjectPush {
            name: name.clone(),
            value: Value::Bool(online),
            type_name: Some("System.Boolean".into()),
            lifetime: None,
            metadatas: None,
        };
        c.push_state_object(id, &push).await?;
    }
    let previous = lock(&package.state).online;
    if previous != Some(online) {
        let text = if online { "online" } else { "offline" };
        c.write_log(id, LogLevel::Info, &format!("{} is {text}", package.id))
            .await?;
        lock(&package.state).online = Some(online);
    }
    Ok(())
}
