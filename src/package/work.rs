//! Hands work to a package: a job goes to its queue, and an uplink worker is started
//! when none runs. A worker runs only while its package has work: an idle package
//! (most of them) holds no task, no future and no timer for its uplink.

use super::context::Context;
use super::queue::{Job, Origin, Pushed};
use super::state::{Package, Refused};
use super::uplink;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Queues `job` for `package`, kept in the journal (see [`Package`]'s queue), and starts
/// its worker if none runs.
pub fn submit(
    cx: &Arc<Context>,
    package: &Arc<Package>,
    job: Job,
) -> Result<Pushed, (Refused, Origin)> {
    let (pushed, start) = package.enqueue(job)?;
    if start {
        start_worker(cx, package);
    }
    Ok(pushed)
}

/// Queues work the package makes itself (not journaled), and starts its worker if none
/// runs.
pub(super) fn submit_own(cx: &Arc<Context>, package: &Arc<Package>, job: Job) {
    if package.enqueue_own(job) {
        start_worker(cx, package);
    }
}

/// Starts `package`'s worker, unless the adapter is shutting down: work queued from then
/// on stays in the journal for the next start.
fn start_worker(cx: &Arc<Context>, package: &Arc<Package>) {
    if cx.lifecycle.drain.is_cancelled() {
        return;
    }
    spawn(
        cx,
        package,
        Box::pin(uplink::run(cx.clone(), package.clone())),
    );
}

/// Runs `task` in `package`'s span, among the adapter's tasks (see
/// [`super::Lifecycle`]), until it ends, the package is released or the lifecycle aborts.
pub(super) fn spawn(
    cx: &Context,
    package: &Package,
    task: Pin<Box<dyn Future<Output = ()> + Send>>,
) {
    let stop = [package.released.clone(), cx.lifecycle.abort.clone()];
    let task = until(stop, task).instrument(package.span.clone());
    cx.lifecycle.tasks.spawn(task);
}

/// Runs `task` until it ends or either token is cancelled. The task comes boxed: an
/// `async fn` holds its argument twice.
async fn until(stop: [CancellationToken; 2], task: Pin<Box<dyn Future<Output = ()> + Send>>) {
    let [released, abort] = stop;
    // The task first: its tokens are looked at (each a lock) only when it waits.
    tokio::select! {
        biased;
        () = task => {}
        () = released.cancelled() => {}
        () = abort.cancelled() => {}
    }
}
