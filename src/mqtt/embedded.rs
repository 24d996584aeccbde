//! The embedded broker: rumqttd's router on its own thread and its listeners on our
//! runtime (`Broker::start` would block and panic inside async code).

use crate::config::{parse_toml, read_toml, ConfigError};
use rumqttd::protocol::{v4::V4, v5::V5, Packet, Protocol};
use rumqttd::{LinkType, Router, Server, ServerSettings};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

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
}

/// The embedded broker's configuration when none is given (`broker/rumqttd.toml`,
/// compiled in): MQTT 3.1.1 on `127.0.0.1:1883`, MQTT 5 on `127.0.0.1:1884`.
pub const DEFAULT_CONFIG: &str = include_str!("../../broker/rumqttd.toml");

/// What [`DEFAULT_CONFIG`] is called in messages.
const DEFAULT_NAME: &str = "the embedded broker's defaults";

/// Loads and checks the broker configuration at `path`, or the compiled-in
/// [`DEFAULT_CONFIG`] without one. `min_payload` is the largest payload the adapter
/// accepts: every listener must let such a payload through.
pub fn load(path: Option<&Path>, min_payload: usize) -> Result<rumqttd::Config, BrokerError> {
    let (file, tree) = match path {
        Some(path) => (path.display().to_string(), read_toml(path)),
        None => (
            DEFAULT_NAME.into(),
            parse_toml(DEFAULT_NAME, DEFAULT_CONFIG),
        ),
    };
    let tree = tree.map_err(BrokerError::Config)?;
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
    let config: rumqttd::Config = serde_path_to_error::deserialize(tree)
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
    Ok(config)
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
    let v5 = sorted(config.v5.unwrap_or_default());
    // Bind-check first: rumqttd's listeners only log a failure to bind.
    for s in v4.iter().chain(&v5) {
        std::net::TcpListener::bind(s.listen).map_err(|source| BrokerError::Listen {
            addr: s.listen,
            source,
        })?;
    }
    let router_tx = Router::new(config.id, config.router).spawn();
    let broker = EmbeddedBroker {
        adapter_addr: v5
            .first()
            .map(|s| loopback(s.listen))
            .unwrap_or_else(|| loopback(SocketAddr::from(([0, 0, 0, 0], 1884)))),
        v4: v4.iter().map(|s| s.listen).collect(),
        v5: v5.iter().map(|s| s.listen).collect(),
    };
    for settings in v4 {
        let mut server = Server::new(settings, router_tx.clone(), V4WithoutProperties);
        tokio::spawn(async move {
            if let Err(e) = server.start(LinkType::Remote).await {
                tracing::error!(error = ?e, "embedded broker: MQTT 3.1.1 listener stopped");
            }
        });
    }
    for settings in v5 {
        let mut server = Server::new(settings, router_tx.clone(), V5);
        tokio::spawn(async move {
            if let Err(e) = server.start(LinkType::Remote).await {
                tracing::error!(error = ?e, "embedded broker: MQTT 5 listener stopped");
            }
        });
    }
    Ok(broker)
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

/// rumqttd's MQTT 3.1.1 codec, minus a crash: its writer panics (`unreachable!`) on any
/// packet that carries MQTT 5 properties, which is what an MQTT 5 publisher's message
/// (user properties, a response topic…) is when routed to a 3.1.1 subscriber; the panic
/// also poisons the broker's shared state. A 3.1.1 link has no properties to send, so
/// this codec drops them before writing, as an MQTT 3.1.1 broker does.
#[derive(Clone)]
struct V4WithoutProperties;

impl Protocol for V4WithoutProperties {
    fn read_mut(
        &mut self,
        stream: &mut bytes::BytesMut,
        max_size: usize,
    ) -> Result<Packet, rumqttd::protocol::Error> {
        V4.read_mut(stream, max_size)
    }

    fn write(
        &self,
        packet: Packet,
        buffer: &mut bytes::BytesMut,
    ) -> Result<usize, rumqttd::protocol::Error> {
        let packet = match packet {
            Packet::Publish(p, _) => Packet::Publish(p, None),
            Packet::PubAck(p, _) => Packet::PubAck(p, None),
            Packet::PubRec(p, _) => Packet::PubRec(p, None),
            Packet::PubRel(p, _) => Packet::PubRel(p, None),
            Packet::PubComp(p, _) => Packet::PubComp(p, None),
            Packet::Subscribe(p, _) => Packet::Subscribe(p, None),
            Packet::SubAck(p, _) => Packet::SubAck(p, None),
            Packet::Unsubscribe(p, _) => Packet::Unsubscribe(p, None),
            Packet::UnsubAck(p, _) => Packet::UnsubAck(p, None),
            Packet::Disconnect(p, _) => Packet::Disconnect(p, None),
            Packet::Connect(c, _, will, _, login) => Packet::Connect(c, None, will, None, login),
            other => other,
        };
        V4.write(packet, buffer)
    }
}
