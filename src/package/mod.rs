//! One virtual package's whole life: its queue and uplink worker (device →
//! Constellation), its message and StateObject long polls (Constellation → device), its
//! saga memory, and its shutdown.
//!
//! - `state`: the [`Package`] its tasks share; `queue`: its ordered, conflating,
//!   bounded work; `sagas`: the sagas its device must answer;
//! - `work`: a job handed to the package, its worker started when none runs;
//!   `uplink`: the worker executing the queue against Constellation, while there is
//!   work; `memory`: what a worker learnt of the server's failures, kept for the next;
//!   `declared`: a refused credential declared by provisioning;
//! - `messages`, `stateobjects`: the long polls, routed to the package's topics
//!   (`trouble`: their failure handling; `recovery`: the probe that releases every
//!   package waiting for the server when it answers again); `settings`: its settings,
//!   asked for at its start and at each refresh;
//! - `context`: what every package shares, in named parts.

mod context;
mod declared;
mod memory;
mod messages;
mod queue;
mod recovery;
mod sagas;
mod settings;
mod state;
mod stateobjects;
mod trouble;
mod uplink;
mod work;

pub use context::{Context, Lifecycle, Server};
pub use queue::{Full, Job, Origin, PackageQueue, Pushed};
pub use state::{Package, PackageState, Refused};
pub use work::submit;

use futures_util::FutureExt;
use std::sync::Arc;

/// Starts `package`: its message and StateObject pollers and its settings, joined in one
/// task (they wake rarely; a task each would cost a task's cell and future per
/// package). Its uplink worker runs only while it has work (see [`submit`]). They end
/// when the context's lifecycle says so (see [`Lifecycle`]), or when the package is
/// released (only when it holds no job: see [`Package::releasable`]).
pub fn start(cx: &Arc<Context>, package: &Arc<Package>) {
    let pollers = futures_util::future::join3(
        messages::run(cx.clone(), package.clone()),
        stateobjects::run(cx.clone(), package.clone()),
        settings::run(cx.clone(), package.clone()),
    );
    work::spawn(cx, package, Box::pin(pollers.map(drop)));
}
