//! One virtual package's whole life: its queue and uplink worker (device →
//! Constellation), its message and StateObject long polls (Constellation → device), its
//! saga memory, and its shutdown.
//!
//! - `state`: the [`Package`] its tasks share; `queue`: its ordered, conflating,
//!   bounded work; `sagas`: the sagas its device must answer;
//! - `uplink`: the worker executing the queue against Constellation;
//! - `messages`, `stateobjects`: the long polls, routed to the package's topics
//!   (`trouble`: their failure handling; `recovery`: the probe that releases every
//!   package waiting for the server when it answers again);
//! - `context`: what every package shares, in named parts.

mod context;
mod messages;
mod queue;
mod recovery;
mod sagas;
mod state;
mod stateobjects;
mod trouble;
mod uplink;

pub use context::{Context, Lifecycle, Server};
pub use queue::{Full, Job, Origin, PackageQueue, Pushed};
pub use state::{Package, PackageState, Refused};

use futures_util::FutureExt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Starts the tasks of `package` in `tasks`, in its span: its uplink worker, and its
/// two pollers joined in a second task (they wake rarely; a task of their own each
/// would cost a task's cell and future per package). They end when the context's
/// lifecycle says so (see [`Lifecycle`]), or when the package is released (only when
/// its worker holds no job: see [`Package::releasable`]).
pub fn start(cx: &Arc<Context>, package: &Arc<Package>, tasks: &mut JoinSet<()>) {
    let released = &package.released;
    let tasks_of: [Pin<Box<dyn Future<Output = ()> + Send>>; 2] = [
        Box::pin(uplink::run(cx.clone(), package.clone())),
        Box::pin(
            futures_util::future::join(
                messages::run(cx.clone(), package.clone()),
                stateobjects::run(cx.clone(), package.clone()),
            )
            .map(drop),
        ),
    ];
    for task in tasks_of {
        tasks.spawn(until(released.clone(), task).instrument(package.span.clone()));
    }
}

/// Runs `task` until it ends or the package is released. The task comes boxed: an
/// `async fn` holds its argument twice, and these futures live as long as their package.
async fn until(released: CancellationToken, task: Pin<Box<dyn Future<Output = ()> + Send>>) {
    tokio::select! {
        () = task => {}
        () = released.cancelled() => {}
    }
}
