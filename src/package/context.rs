//! What every package of the adapter shares, in named parts.

use super::recovery::Recovery;
use crate::config::Config;
use crate::constellation::model::SoFilter;
use crate::constellation::{Client, Identity};
use crate::devices::Devices;
use crate::journal::Journal;
use crate::metrics::Metrics;
use crate::mqtt::Publisher;
use crate::provisioning::Provisioner;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// What every package's worker and pollers share.
pub struct Context {
    /// The configuration: per-package declarations, limits, the topic prefix.
    pub config: Arc<Config>,
    /// The Constellation server, and the bounds on what is asked of it at once.
    pub server: Server,
    /// The MQTT side: what packages publish to their devices.
    pub publisher: Publisher,
    /// The devices of other topic layouts: their commands and sagas.
    pub devices: Arc<Devices>,
    /// When packages stop.
    pub lifecycle: Lifecycle,
    /// The adapter's figures.
    pub metrics: Arc<Metrics>,
    /// Where accepted work is kept until Constellation has it.
    pub journal: Journal,
    /// StateObjects purged through the adapter, as filters: every package that follows
    /// them clears their retained `so/...` topics.
    pub purged: tokio::sync::broadcast::Sender<SoFilter>,
    /// Declares refused packages on the server, when `[provisioning]` is enabled.
    pub provisioner: Option<Arc<Provisioner>>,
}

/// The Constellation server: its client, requests in flight bounded over all packages.
pub struct Server {
    pub client: Client,
    /// Bounds ordinary requests (`max_concurrent_requests`).
    requests: Semaphore,
    /// Bounds long polls (`max_long_polls`): each holds a connection.
    polls: Semaphore,
    max_long_polls: usize,
    /// The probe shared by packages waiting for the server to come back.
    recovery: Recovery,
}

impl Server {
    /// The server behind `client`, with the bounds of `config`.
    pub fn new(client: Client, config: &Config) -> Self {
        let c = &config.constellation;
        Self {
            client,
            requests: Semaphore::new(c.max_concurrent_requests),
            polls: Semaphore::new(c.max_long_polls),
            max_long_polls: c.max_long_polls,
            recovery: Recovery::new(),
        }
    }

    /// Long polls holding their turn now.
    pub fn long_polls(&self) -> usize {
        self.max_long_polls
            .saturating_sub(self.polls.available_permits())
    }

    /// Runs an ordinary (not long-poll) request under the `max_concurrent_requests` bound.
    ///
    /// For the pollers' requests (a worker keeps a [`Server::turn`] instead). The call
    /// is made, and boxed, only once its turn comes: thousands of packages may be
    /// waiting (each subscribes as it starts), and each then holds only this small wait. A combinator rather than an `async fn`, which would hold its
    /// state twice.
    pub fn request<'a, T: 'a, F: Future<Output = T> + 'a>(
        &'a self,
        call: impl FnOnce() -> F + 'a,
    ) -> impl Future<Output = T> + 'a {
        use futures_util::FutureExt;
        self.requests.acquire().then(move |permit| {
            Box::pin(call()).map(move |answer| {
                drop(permit);
                answer
            })
        })
    }

    /// A turn for ordinary requests, under the `max_concurrent_requests` bound: held by
    /// a worker across a few consecutive jobs of its package (see `uplink::run`).
    pub(super) async fn turn(&self) -> Option<SemaphorePermit<'_>> {
        self.requests.acquire().await.ok()
    }

    /// A turn to hold a long poll, under the `max_long_polls` bound.
    pub async fn poll_turn(&self) -> Option<SemaphorePermit<'_>> {
        self.polls.acquire().await.ok()
    }
}

impl Context {
    /// Waits after a transient failure of a request made as `identity`: `delay`, or
    /// less when `early` and the shared probe sees the server answer again meanwhile.
    /// Returns whether the probe ended the wait.
    pub(super) async fn wait_for_server(
        &self,
        identity: &Identity,
        delay: Duration,
        early: bool,
    ) -> bool {
        if !early {
            tokio::time::sleep(delay).await;
            return false;
        }
        let failure =
            self.server
                .recovery
                .failed(&self.server.client, identity, &self.lifecycle.abort);
        failure.wait(delay).await
    }
}

/// The packages' tasks, and their shutdown in two steps.
#[derive(Default)]
pub struct Lifecycle {
    /// Cancelled at shutdown: workers finish their queues, then stop (none starts
    /// again); pollers stop.
    pub drain: CancellationToken,
    /// Cancelled when the shutdown flush time is up: every task stops at once.
    pub abort: CancellationToken,
    /// Every package's tasks, for shutdown to wait on.
    pub tasks: TaskTracker,
}
