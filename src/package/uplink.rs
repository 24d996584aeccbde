//! The per-package worker, one per virtual package, carrying out its queue's
//! intents in order against Constellation under the package's credential.

use super::context::Context;
use super::memory::Memory;
use super::queue::{Entry, Job};
use super::state::Package;
use crate::constellation::model::SoFilter;
use crate::constellation::{Client, Error, Identity};
use crate::intent::{AvailabilityMode, Failure, Target};
use crate::lock::lock;
use crate::report::{Code, Problem};
use serde_json::{Map, Value};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The outcome of one job.
enum Outcome {
    Done,
    Retry(Job, Error),
    Failed(Job, Problem),
    Refused(Job, Error),
}

/// Runs a package's worker until its queue is empty (the next job starts another: see
/// [`super::submit`]), or the lifecycle aborts. What it learnt of the server's failures
/// is left with the package for the next worker.
pub(super) async fn run(cx: Arc<Context>, package: Arc<Package>) {
    // The first request turn is waited for before the worker's state is made: at start
    // every package asks for its settings, and 10 000 workers waiting for one of the
    // turns held 2.2 KB each.
    let permit = cx.server.turn().await;
    let turn = Turn { permit, jobs: 0 };
    Box::pin(work(&cx, &package, turn)).await;
}

/// The worker's loop, its first turn taken.
async fn work<'a>(cx: &'a Context, package: &Package, mut turn: Turn<'a>) {
    let auth_hold = Duration::from_secs(cx.config.constellation.auth_retry_s);
    let mut memory = package
        .recall()
        .unwrap_or_else(|| Box::new(Memory::new(auth_hold)));
    while let Some(entry) = package.next() {
        if step(cx, package, &mut memory, &mut turn, entry)
            .await
            .is_break()
        {
            return;
        }
    }
    if !memory.is_blank() {
        package.remember(memory);
    }
}

/// A worker's turn for requests (`max_concurrent_requests`), kept across consecutive
/// jobs of its package that succeed, up to [`TURN_JOBS`]: a burst of a package's work
/// waits for a turn once, not once per job. Given back before any wait and on any
/// failure.
#[derive(Default)]
struct Turn<'a> {
    permit: Option<tokio::sync::SemaphorePermit<'a>>,
    jobs: usize,
}

/// The most consecutive jobs one turn serves before it goes to the next package.
const TURN_JOBS: usize = 8;

/// Executes `entry`, and acts on its outcome; `Break` when the lifecycle aborts.
async fn step<'a>(
    cx: &'a Context,
    package: &Package,
    memory: &mut Memory,
    turn: &mut Turn<'a>,
    entry: Entry,
) -> ControlFlow<()> {
    let Entry { job, key, bytes } = entry;
    // Done with, or refused for good: the journal forgets it.
    let finished = || package.done(key, bytes);
    if let Some(until) = memory.refused_until.filter(|u| Instant::now() < *u) {
        let left = until.saturating_duration_since(Instant::now()).as_secs();
        let msg = format!(
            "Constellation refused the credential of {}; not retried for {left} s",
            package.id
        );
        let problem = Problem::new(Code::CredentialRefused, msg);
        package.fail(&cx.publisher, &job.origin, &problem);
        finished();
        return ControlFlow::Continue(());
    }
    let outcome = tokio::select! {
        biased;
        outcome = execute(cx, package, job, turn) => outcome,
        _ = cx.lifecycle.abort.cancelled() => return ControlFlow::Break(()),
    };
    if !matches!(outcome, Outcome::Done) || turn.jobs >= TURN_JOBS {
        *turn = Turn::default();
    }
    // A refused credential: declared on the server first, when provisioning may.
    let mut not_provisioned = None;
    let outcome = match outcome {
        // Boxed, as the wait below: rare paths.
        Outcome::Refused(job, error) => {
            match Box::pin(memory.declared.declare(cx, &package.id, &error)).await {
                Ok(()) => {
                    package.retry(Entry { job, key, bytes });
                    return ControlFlow::Continue(());
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
            if memory.failing {
                tracing::info!("Constellation reachable again");
                memory.failing = false;
            }
            memory.succeeded();
        }
        Outcome::Retry(job, error) => {
            if !memory.failing {
                if matches!(error, Error::BadAnswer { .. }) {
                    // Reported once, on the error topic too: the server is not down
                    // but answers nonsense, which someone must look at.
                    let reason = format!("{error}; keeping the work and retrying");
                    let problem = Problem::new(Code::BadAnswer, reason);
                    package.fail(&cx.publisher, &job.origin, &problem);
                } else {
                    tracing::warn!(%error, "Constellation unreachable; keeping work and retrying");
                }
                memory.failing = true;
            }
            package.retry(Entry { job, key, bytes });
            let delay = memory.backoff.next_delay();
            tokio::select! {
                released = Box::pin(cx.wait_for_server(&package.identity, delay, memory.early)) => memory.early = !released,
                _ = cx.lifecycle.abort.cancelled() => return ControlFlow::Break(()),
            }
        }
        Outcome::Failed(job, error) => package.fail(&cx.publisher, &job.origin, &error),
        Outcome::Refused(job, error) => {
            lock(&package.state).refusals += 1;
            let hold = memory.hold;
            tracing::warn!(%error, hold_s = hold.as_secs(), "credential refused");
            let message = match &not_provisioned {
                Some(reason) => format!("{error}; not provisioned: {reason}"),
                None => error.to_string(),
            };
            let problem = Problem::new(Code::of(&error), message);
            package.fail(&cx.publisher, &job.origin, &problem);
            memory.refused_until = Some(Instant::now() + hold);
            memory.hold = memory.refuse_again();
        }
    }
    ControlFlow::Continue(())
}

/// Executes one job: its Constellation calls, under the global concurrency bound (the
/// worker's `turn`, taken when it has none).
async fn execute<'a>(cx: &'a Context, package: &Package, job: Job, turn: &mut Turn<'a>) -> Outcome {
    let target = Worker { cx, package };
    let intent = &job.intent;
    if !intent.is_local() && turn.permit.is_none() {
        // None only if the bound were closed, which it never is.
        *turn = Turn {
            permit: cx.server.turn().await,
            jobs: 0,
        };
    }
    turn.jobs += 1;
    // Boxed once its turn comes: a worker waiting its turn holds no room for it.
    let result = Box::pin(intent.apply(&target)).await;
    match result {
        Ok(()) => Outcome::Done,
        Err(Failure::Refused(problem)) => Outcome::Failed(job, problem),
        Err(Failure::Server(e)) => server_error(job, e),
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

/// The package as its intents see it.
struct Worker<'a> {
    cx: &'a Context,
    package: &'a Package,
}

impl Target for Worker<'_> {
    fn client(&self) -> &Client {
        &self.cx.server.client
    }

    fn identity(&self) -> &Identity {
        &self.package.identity
    }

    fn take_saga(&self, saga_id: &str) -> Option<String> {
        lock(&self.package.sagas).take(saga_id)
    }

    fn remember_saga(&self, saga_id: &str, reply_to: &str) {
        self.package.remember_saga(saga_id, reply_to);
    }

    fn publish_settings(&self, settings: Map<String, Value>, force: bool) {
        let mut state = lock(&self.package.state);
        if force || state.settings.as_ref() != Some(&settings) {
            let topic = format!("{}/settings", self.package.base_topic);
            let text = Value::Object(settings.clone()).to_string();
            self.cx.publisher.publish(&topic, text, true);
            state.settings = Some(settings);
        }
    }

    fn purged(&self, filter: SoFilter) {
        let _ = self.cx.purged.send(filter);
    }

    fn report_availability(&self, topic: &str, online: bool, mode: &AvailabilityMode) -> bool {
        let mut state = lock(&self.package.state);
        state.availability.insert(topic.to_owned(), online);
        mode.combine(&state.availability)
    }

    fn online_stateobject(&self) -> &str {
        &self.cx.config.constellation.online_stateobject
    }

    fn online(&self) -> Option<bool> {
        lock(&self.package.state).online
    }

    fn set_online(&self, online: bool) {
        lock(&self.package.state).online = Some(online);
    }

    fn set_device_filters(&self, filters: &[SoFilter]) {
        self.package.set_device_filters(filters);
    }

    fn set_device_groups(&self, groups: &[String]) {
        self.package.set_device_groups(groups);
    }
}
