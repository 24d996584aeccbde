//! The embedded broker: rumqttd's router on its own thread and its listeners on another
//! (`Broker::start` would block and panic inside async code).

mod access;
mod codec;
mod gate;
mod tls;

pub use gate::Gate;

use crate::config::{parse_toml, read_toml, ConfigError};
use crate::mqtt::connection::Login;
use codec::V4WithoutProperties;
use rumqttd::protocol::{v5::V5, Protocol};
use rumqttd::{LinkType, Router, Server, ServerSettings};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use tokio::net::TcpSocket;

/// A running embedded broker. rumqttd has no shutdown: it lives as long as the process.
#[derive(Debug, Clone)]
pub struct EmbeddedBroker {
    /// Where the adapter connects (the first MQTT 5 listener, on loopback if it listens
    /// on every address).
    pub adapter_addr: SocketAddr,
    /// Every MQTT 3.1.1 listener.
    pub v4: Vec<SocketAddr>,
    /// Every MQTT 5 listener.
    pub v5: Vec<SocketAddr>,
    /// The credentials the adapter logs in with when its listener authenticates and
    /// `mqtt.username` is not set: made for this process, known to nobody else.
    pub adapter_login: Option<Login>,
}

/// A checked configuration of the embedded broker.
#[derive(Clone)]
pub struct BrokerConfig {
    /// What rumqttd runs with.
    pub settings: rumqttd::Config,
    /// What is allowed but unsafe: listeners open to the network without authentication
    /// (`allow_anonymous = true`), for `check` and the start-up log.
    pub warnings: Vec<ConfigError>,
}

/// Listeners and warnings: rumqttd's own `Debug` would show the passwords of `auth`.
impl std::fmt::Debug for BrokerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let listeners: Vec<_> = [&self.settings.v4, &self.settings.v5]
            .into_iter()
            .flatten()
            .flat_map(|servers| servers.values())
            .map(|s| (s.name.as_str(), s.listen, s.connections.auth.is_some()))
            .collect();
        f.debug_struct("BrokerConfig")
            .field("listeners (name, address, authenticated)", &listeners)
            .field("warnings", &self.warnings)
            .finish_non_exhaustive()
    }
}

/// Why the embedded broker cannot start.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Config(Vec<ConfigError>),
    #[error("embedded broker: cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("embedded broker: cannot start its I/O thread: {0}")]
    Runtime(std::io::Error),
}

/// The embedded broker's configuration when none is given (`broker/rumqttd.toml`,
/// compiled in): MQTT 3.1.1 on `127.0.0.1:1883`, MQTT 5 on `127.0.0.1:1884`.
pub const DEFAULT_CONFIG: &str = include_str!("../../../broker/rumqttd.toml");

/// What [`DEFAULT_CONFIG`] is called in messages.
const DEFAULT_NAME: &str = "the embedded broker's defaults";

/// Loads and checks the broker configuration at `path`, or the compiled-in
/// [`DEFAULT_CONFIG`] without one. `min_payload` is the largest payload the adapter
/// accepts: every listener must let such a payload through. A listener reachable from
/// other machines must authenticate, or say `allow_anonymous = true` (a warning).
pub fn load(path: Option<&Path>, min_payload: usize) -> Result<BrokerConfig, BrokerError> {
    let (file, tree) = match path {
        Some(path) => (path.display().to_string(), read_toml(path)),
        None => (
            DEFAULT_NAME.into(),
            parse_toml(DEFAULT_NAME, DEFAULT_CONFIG),
        ),
    };
    let mut tree = tree.map_err(BrokerError::Config)?;
    let open = access::take_allow_anonymous(&file, &mut tree).map_err(BrokerError::Config)?;
    let fail = |key: &str, reason: String| {
        BrokerError::Config(vec![ConfigError {
            file: file.clone(),
            key: key.to_owned(),
            reason,
        }])
    };
    for section in [
        "ws",
        "console",
        "prometheus",
        "bridge",
        "cluster",
        "metrics",
    ] {
        if tree.get(section).is_some() {
            return Err(fail(
                section,
                "not supported by the embedded broker: remove it, or use an external broker".into(),
            ));
        }
    }
    let mut config: rumqttd::Config = serde_path_to_error::deserialize(tree)
        .map_err(|e| fail(&e.path().to_string(), e.inner().to_string()))?;
    let r = &config.router;
    if r.max_segment_size < 1024 {
        return Err(fail(
            "router.max_segment_size",
            format!(
                "{} is under 1024 bytes, which rumqttd cannot run with",
                r.max_segment_size
            ),
        ));
    }
    if r.max_segment_count == 0 {
        return Err(fail("router.max_segment_count", "must be above 0".into()));
    }
    if r.max_connections == 0 {
        return Err(fail("router.max_connections", "must be above 0".into()));
    }
    for (name, segment) in r.custom_segment.iter().flatten() {
        if segment.max_segment_size < 1024 || segment.max_segment_count == 0 {
            return Err(fail(
                &format!("router.custom_segment.{name:?}"),
                "max_segment_size must be at least 1024 and max_segment_count above 0".into(),
            ));
        }
    }
    if config.v5.as_ref().is_none_or(|v| v.is_empty()) {
        return Err(fail(
            "v5",
            "the adapter needs an MQTT 5 listener ([v5.1]) to attach to".into(),
        ));
    }
    for (version, servers) in [("v4", &config.v4), ("v5", &config.v5)] {
        for (name, s) in servers.iter().flatten() {
            let c = &s.connections;
            if c.max_payload_size < min_payload {
                return Err(fail(
                    &format!("{version}.{name}.connections.max_payload_size"),
                    format!(
                        "{} is below mqtt.max_payload_bytes ({min_payload}): raise it, or lower that",
                        c.max_payload_size
                    ),
                ));
            }
            if c.max_inflight_count == 0 {
                return Err(fail(
                    &format!("{version}.{name}.connections.max_inflight_count"),
                    "must be above 0".into(),
                ));
            }
        }
    }
    let base = path.and_then(Path::parent);
    for (version, servers) in [("v4", &mut config.v4), ("v5", &mut config.v5)] {
        for (name, s) in servers.iter_mut().flatten() {
            if let Some(tls) = &mut s.tls {
                let missing = tls::resolve_paths(tls, base);
                if !missing.is_empty() {
                    return Err(fail(
                        &format!("{version}.{name}.tls"),
                        format!("no such file: {}", missing.join(", ")),
                    ));
                }
            }
        }
    }
    if config.v5.iter().flatten().all(|(_, s)| s.tls.is_some()) {
        return Err(fail(
            "v5",
            "the adapter attaches to an MQTT 5 listener without TLS: add one on loopback".into(),
        ));
    }
    let (errors, warnings) = access::check_exposure(&file, &config, &open);
    if !errors.is_empty() {
        return Err(BrokerError::Config(errors));
    }
    Ok(BrokerConfig {
        settings: config,
        warnings,
    })
}

/// Moves every listener of `config` whose address is taken to a free port of the same
/// address (for the demo, which must run beside another broker); returns what moved,
/// as (from, to).
pub fn move_taken_listeners(config: &mut rumqttd::Config) -> Vec<(SocketAddr, SocketAddr)> {
    let mut moved = Vec::new();
    for servers in [&mut config.v4, &mut config.v5].into_iter().flatten() {
        for s in servers.values_mut() {
            if std::net::TcpListener::bind(s.listen).is_ok() {
                continue;
            }
            let free = std::net::TcpListener::bind(SocketAddr::new(s.listen.ip(), 0))
                .and_then(|l| l.local_addr());
            if let Ok(to) = free {
                moved.push((s.listen, to));
                s.listen = to;
            }
        }
    }
    moved
}

/// Starts the router and every listener of `config`.
pub fn start(config: rumqttd::Config) -> Result<EmbeddedBroker, BrokerError> {
    let v4 = sorted(config.v4.unwrap_or_default());
    let mut v5 = sorted(config.v5.unwrap_or_default());
    // Bound here, before anything runs: a port that is taken is this call's error, and
    // nobody can take it between a check and rumqttd's own bind (which only logged it).
    let bound_v4 = v4
        .iter()
        .map(|s| bind(s.listen))
        .collect::<Result<Vec<_>, _>>()?;
    let bound_v5 = v5
        .iter()
        .map(|s| bind(s.listen))
        .collect::<Result<Vec<_>, _>>()?;
    if v4.iter().chain(&v5).any(|s| s.tls.is_some()) {
        crate::tls::install_crypto_provider();
    }
    // The adapter attaches to the first MQTT 5 listener without TLS.
    let attach = v5.iter_mut().find(|s| s.tls.is_none());
    let adapter_addr = attach
        .as_ref()
        .map(|s| loopback(s.listen))
        .unwrap_or_else(|| loopback(SocketAddr::from(([0, 0, 0, 0], 1884))));
    let adapter_login = attach.and_then(access::adapter_login);
    let router_tx = Router::new(config.id, config.router).spawn();
    let broker = EmbeddedBroker {
        adapter_addr,
        v4: v4.iter().map(|s| s.listen).collect(),
        v5: v5.iter().map(|s| s.listen).collect(),
        adapter_login,
    };
    let v4 = v4
        .into_iter()
        .map(|s| Server::new(s, router_tx.clone(), V4WithoutProperties))
        .zip(bound_v4)
        .collect();
    let v5 = v5
        .into_iter()
        .map(|s| Server::new(s, router_tx.clone(), V5))
        .zip(bound_v5)
        .collect();
    serve(v4, v5)?;
    Ok(broker)
}

/// A listener on `addr` as rumqttd makes one (address reuse, a backlog of 1024), not
/// yet tied to a runtime: the broker's own takes it.
fn bind(addr: SocketAddr) -> Result<std::net::TcpListener, BrokerError> {
    let listen = || {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }?;
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        socket.listen(1024)?.into_std()
    };
    listen().map_err(|source| BrokerError::Listen { addr, source })
}

/// Runs the listeners on a thread of their own with a single-threaded runtime, as
/// rumqttd's own broker does: its connections are then read in the order their
/// packets arrive (on the adapter's multi-threaded runtime the last connection woken ran
/// first, so a SUBSCRIBE could reach the router after a PUBLISH another client sent
/// later). The thread ends with the runtime that started it (the adapter's, or a
/// test's). The sockets already listen: a client connecting before the thread runs
/// waits in their backlog.
fn serve(v4: Listeners<V4WithoutProperties>, v5: Listeners<V5>) -> Result<(), BrokerError> {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _stop = stop_tx;
        std::future::pending::<()>().await
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(BrokerError::Runtime)?;
    std::thread::Builder::new()
        .name("mqtt-broker-io".into())
        .spawn(move || {
            runtime.block_on(async move {
                for (server, listener) in v4 {
                    tokio::spawn(accept(server, listener, "MQTT 3.1.1"));
                }
                for (server, listener) in v5 {
                    tokio::spawn(accept(server, listener, "MQTT 5"));
                }
                let _ = stop_rx.await;
            });
        })
        .map_err(BrokerError::Runtime)?;
    Ok(())
}

/// Listeners of one protocol, each bound to its socket.
type Listeners<P> = Vec<(Server<P>, std::net::TcpListener)>;

/// Accepts `server`'s connections on `listener` until it fails.
async fn accept<P: Protocol + Clone + Send + 'static>(
    mut server: Server<P>,
    listener: std::net::TcpListener,
    protocol: &str,
) {
    let stopped = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => server
            .serve(listener, LinkType::Remote)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(error) = stopped {
        tracing::error!(%error, "embedded broker: {protocol} listener stopped");
    }
}

fn sorted(servers: std::collections::HashMap<String, ServerSettings>) -> Vec<ServerSettings> {
    let mut list: Vec<_> = servers.into_iter().collect();
    list.sort_by(|a, b| a.0.cmp(&b.0));
    list.into_iter().map(|(_, s)| s).collect()
}

/// A listening address as a client reaches it: the unspecified address becomes loopback.
fn loopback(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
    } else {
        addr
    }
}
