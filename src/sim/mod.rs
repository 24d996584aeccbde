//! The Constellation simulator: a faithful, in-memory stand-in for a Constellation
//! server's REST interface, for tests, examples, firmware development and the demo.
//!
//! - [`world`]: what is declared (credentials, packages, settings, groups, permissions);
//! - `state`: the runtime and the semantics of every action;
//! - `routing`: which subscriptions a message's scope reaches;
//! - `rest`: the REST interface; `inspect`: the inspection API (`/sim/...`), which
//!   [`SimHandle`] offers in process too.

mod inspect;
mod rest;
mod routing;
mod state;
pub mod world;

pub use state::{Faults, LogEntry, Participant, SimError, Stats, SubKind, SubscriptionInfo};
pub use world::{PackageDecl, SentinelDecl, World};

use crate::constellation::model::{
    OutgoingMessage, ReceivedMessage, SenderType, SoFilter, StateObject, StateObjectPush,
};
use axum::routing::any;
use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use serde_json::{Map, Value};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use url::Url;

/// The state shared by the HTTP handlers and [`SimHandle`].
#[derive(Clone)]
pub(crate) struct Shared(Arc<Mutex<state::State>>);

impl Shared {
    /// Locks the state. The lock is never held across an await, and a panic while it
    /// was held leaves nothing half-done worth refusing service for.
    fn lock(&self) -> MutexGuard<'_, state::State> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A running simulator. It can stop listening (closing every connection, like a server
/// going down) and listen again on the same address with its state intact.
pub struct Simulator {
    shared: Shared,
    addr: SocketAddr,
    server: Option<(CancellationToken, JoinHandle<()>)>,
    sweeper: JoinHandle<()>,
}

impl Simulator {
    /// Starts a simulator of `world` listening on `addr` (port 0: an ephemeral one).
    pub async fn start(world: World, addr: SocketAddr) -> std::io::Result<Self> {
        let shared = Shared(Arc::new(Mutex::new(state::State::new(world))));
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let sweeper = tokio::spawn(sweep(shared.clone()));
        let mut sim = Self {
            shared,
            addr,
            server: None,
            sweeper,
        };
        sim.serve(listener);
        Ok(sim)
    }

    /// Starts a simulator of `world` on an ephemeral loopback port.
    pub async fn start_local(world: World) -> std::io::Result<Self> {
        Self::start(world, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its root URI, as the adapter's `constellation.url`.
    pub fn url(&self) -> Url {
        Url::parse(&format!("http://{}/", self.addr)).unwrap_or_else(|_| unreachable!())
    }

    /// The in-process inspection and control API.
    pub fn handle(&self) -> SimHandle {
        SimHandle(self.shared.clone())
    }

    /// Stops listening and drops every open connection, in-flight requests included.
    pub async fn stop(&mut self) {
        if let Some((stop, task)) = self.server.take() {
            stop.cancel();
            let _ = task.await;
        }
    }

    /// Listens again on the same address after [`Simulator::stop`].
    pub async fn restart(&mut self) -> std::io::Result<()> {
        if self.server.is_none() {
            let listener = TcpListener::bind(self.addr).await?;
            self.serve(listener);
        }
        Ok(())
    }

    /// Serves until stopped, then stops everything.
    pub async fn run_until(mut self, shutdown: CancellationToken) {
        shutdown.cancelled().await;
        self.stop().await;
    }

    fn serve(&mut self, listener: TcpListener) {
        let app = Router::new()
            .route("/rest/constellation/{action}", any(rest::handle))
            .nest("/sim", inspect::router())
            .with_state(self.shared.clone());
        let stop = CancellationToken::new();
        let task = tokio::spawn(accept_loop(listener, app, stop.clone()));
        self.server = Some((stop, task));
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some((stop, _)) = &self.server {
            stop.cancel();
        }
        self.sweeper.abort();
    }
}

/// Accepts connections and owns their tasks, so that stopping closes them all
/// (`axum::serve` would leave keep-alive connections running).
async fn accept_loop(listener: TcpListener, app: Router, stop: CancellationToken) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let service = TowerToHyperService::new(app.clone());
                    connections.spawn(async move {
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "simulator: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    connections.shutdown().await;
}

async fn sweep(shared: Shared) {
    loop {
        let interval = {
            let mut state = shared.lock();
            state.sweep();
            state.sweep_interval()
        };
        tokio::time::sleep(interval).await;
    }
}

/// Inspects and drives a running simulator in process; the same operations are offered
/// over HTTP under `/sim/` (see the README).
#[derive(Clone)]
pub struct SimHandle(Shared);

impl SimHandle {
    /// The StateObjects matching `filter`, as they are now.
    pub fn state_objects(&self, filter: &SoFilter) -> Vec<StateObject> {
        self.0.lock().query_sos(filter)
    }

    /// One StateObject by its sentinel, package and name.
    pub fn state_object(&self, sentinel: &str, package: &str, name: &str) -> Option<StateObject> {
        let filter = SoFilter {
            sentinel: sentinel.into(),
            package: package.into(),
            name: name.into(),
            type_name: "*".into(),
        };
        self.state_objects(&filter).into_iter().next()
    }

    /// Every StateObject pushed from now on, as it is stored: for observers in the same
    /// process (load tests, tools). A receiver that falls 65 536 pushes behind skips.
    pub fn updates(&self) -> tokio::sync::broadcast::Receiver<StateObject> {
        self.0.lock().updates.subscribe()
    }

    /// Logs written by `sentinel/package` (or by everyone with `None`), oldest first.
    pub fn logs(&self, package: Option<&Participant>) -> Vec<LogEntry> {
        self.0.lock().logs(package)
    }

    /// The latest descriptor of each package, by `Sentinel/Package`.
    pub fn descriptors(&self) -> std::collections::BTreeMap<String, Value> {
        self.0.lock().descriptors()
    }

    /// Every live subscription.
    pub fn subscriptions(&self) -> Vec<SubscriptionInfo> {
        self.0.lock().subscriptions()
    }

    /// Requests seen so far.
    pub fn stats(&self) -> Stats {
        self.0.lock().stats.clone()
    }

    /// Replaces a package's settings.
    pub fn set_settings(&self, package: &Participant, settings: Map<String, Value>) {
        self.0.lock().set_settings(package, settings);
    }

    /// Sets the faults injected into the REST interface.
    pub fn set_faults(&self, faults: Faults) {
        self.0.lock().faults = faults;
    }

    /// Expires a subscription now; returns whether it existed.
    pub fn expire_subscription(&self, id: &str) -> bool {
        self.0.lock().remove_subscription(id)
    }

    /// Pushes a StateObject as `package`, like a real package would.
    pub fn push_state_object(
        &self,
        package: &Participant,
        push: StateObjectPush,
    ) -> Result<(), SimError> {
        self.0.lock().push_so(package, push)
    }

    /// Sends a message as `from` (a package or `Consumer/<name>`), appearing as a sender
    /// of type `sender`. Answers to `from` (sagas) are kept in its inbox, which exists
    /// from this call on. Returns how many subscriptions the message reached.
    pub fn send(
        &self,
        from: &Participant,
        sender: SenderType,
        msg: OutgoingMessage,
    ) -> Result<usize, SimError> {
        let mut state = self.0.lock();
        state.inbox(from);
        state.send_message(from, sender, msg)
    }

    /// Waits up to `timeout` for messages in `who`'s inbox and takes them all.
    pub async fn inbox(&self, who: &Participant, timeout: Duration) -> Vec<ReceivedMessage> {
        let id = self.0.lock().inbox(who);
        rest::long_poll(&self.0, who, SubKind::Messages, &id, timeout, 0)
            .await
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| serde_json::from_value(m).ok())
            .collect()
    }

    /// Waits up to `timeout` for the `__Response` of saga `saga_id` in `who`'s inbox;
    /// other messages taken meanwhile are discarded.
    pub async fn saga_response(
        &self,
        who: &Participant,
        saga_id: &str,
        timeout: Duration,
    ) -> Option<ReceivedMessage> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return None;
            }
            let found = self.inbox(who, left).await.into_iter().find(|m| {
                m.key == crate::constellation::model::RESPONSE_KEY
                    && m.scope.saga_id.as_deref() == Some(saga_id)
            });
            if found.is_some() {
                return found;
            }
        }
    }
}
