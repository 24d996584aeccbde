//! The Constellation simulator: a faithful, in-memory stand-in for a Constellation
//! server's REST interface, for tests, examples, firmware development and the demo.
//!
//! - [`world`]: what is declared (credentials, packages, settings, groups, permissions);
//! - `state`: the runtime and the semantics of every action;
//! - `participant`: who calls (a package instance or a consumer);
//! - `routing`: which subscriptions a message's scope reaches;
//! - `shared`: the state behind its one mutex;
//! - `configuration`: the configuration file the Management API (`management`) edits;
//! - `console`: the console page (`/`) and its live event stream;
//! - `rest`: the REST interface; `inspect`: the inspection API (`/sim/...`), which
//!   [`SimHandle`] (`handle`) offers in process too.
//!
//! The simulator depends on nothing of the adapter but the REST model
//! ([`crate::constellation`]): it can be used, and split out, on its own.

mod configuration;
mod console;
mod handle;
mod inspect;
mod management;
mod participant;
mod rest;
mod routing;
mod shared;
mod state;
pub mod world;

pub use handle::SimHandle;
pub use participant::Participant;
pub use state::{Faults, Lie, LogEntry, SimError, Stats, SubKind, SubscriptionInfo};
pub use world::{PackageDecl, SentinelDecl, World};

use axum::routing::any;
use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use shared::Shared;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use url::Url;

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
        let shared = Shared::new(state::State::new(world));
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
        SimHandle::from(self.shared.clone())
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
            .route("/rest/management/{*path}", any(management::handle))
            .route("/", axum::routing::get(console::page))
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
                        // Answers to pipelined requests go out together, in one write.
                        let _ = hyper::server::conn::http1::Builder::new()
                            .pipeline_flush(true)
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
