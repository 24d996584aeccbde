//! Helpers shared by the integration tests: a simulator on an ephemeral port, clients,
//! and waiting on a condition with a deadline (never a fixed sleep).
#![allow(dead_code)]

pub mod binary;
pub mod console;
pub mod docs;
pub mod hostile;
pub mod http;
pub mod mqtt;
pub mod raw5;

use constellation_mqtt::constellation::model::{
    OutgoingMessage, Scope, ScopeType, StateObjectPush,
};
use constellation_mqtt::constellation::{Client, ClientOptions, Identity};
use constellation_mqtt::sim::{PackageDecl, Participant, Simulator, World};
use serde_json::{json, Value};
use std::future::Future;
use std::time::Duration;

/// Key of the sentinel `Salon` in [`world`].
pub const SALON_KEY: &str = "salon-key";
/// Key of consumers in [`world`].
pub const CONSUMER_KEY: &str = "consumer-key";

/// A world with two sentinels, packages with settings and groups, one restricted package.
pub fn world() -> World {
    World::default()
        .with_consumer_key(CONSUMER_KEY)
        .with_package(
            "Salon",
            Some(SALON_KEY),
            PackageDecl::new("Temperature")
                .with_settings(json!({"Interval": 10, "Unit": "C"}))
                .in_group("Sensors"),
        )
        .with_package("Salon", None, PackageDecl::new("Light"))
        .with_package(
            "Garage",
            None,
            PackageDecl::new("Temperature")
                .with_key("garage-temp-key")
                .in_group("Sensors"),
        )
        .with_package(
            "Garage",
            None,
            PackageDecl::new("Door").with_key("door-key"),
        )
        .with_package(
            "Garage",
            None,
            PackageDecl {
                allowed_groups: Some(vec!["Allowed".into()]),
                can_send_messages: false,
                can_read_stateobjects: false,
                ..PackageDecl::new("Restricted").with_key("restricted-key")
            },
        )
}

pub fn salon_temp() -> Identity {
    Identity::new("Salon", "Temperature", SALON_KEY)
}
pub fn salon_light() -> Identity {
    Identity::new("Salon", "Light", SALON_KEY)
}
pub fn garage_temp() -> Identity {
    Identity::new("Garage", "Temperature", "garage-temp-key")
}
pub fn garage_door() -> Identity {
    Identity::new("Garage", "Door", "door-key")
}
pub fn restricted() -> Identity {
    Identity::new("Garage", "Restricted", "restricted-key")
}
pub fn consumer(name: &str) -> Identity {
    Identity::consumer(name, CONSUMER_KEY)
}
pub fn participant(id: &Identity) -> Participant {
    Participant {
        sentinel: id.sentinel.clone(),
        package: id.package.clone(),
    }
}

pub async fn start(world: World) -> Simulator {
    Simulator::start_local(world)
        .await
        .expect("simulator starts")
}

/// A client of `sim` with 1 s long polls (the shortest the server accepts).
pub fn client(sim: &Simulator) -> Client {
    client_at(sim.url())
}

pub fn client_at(url: url::Url) -> Client {
    Client::new(ClientOptions {
        long_poll_timeout: Duration::from_secs(1),
        ..ClientOptions::new(url)
    })
    .expect("client builds")
}

/// Polls `check` until it returns `Some`, failing the test after `deadline`.
pub async fn wait_for<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let end = tokio::time::Instant::now() + deadline;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Runs `fut` with a generous deadline, so that a hang fails instead of blocking CI.
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), fut)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// A plain HTTP client for raw requests (rustls needs its provider installed first).
pub fn http() -> reqwest::Client {
    constellation_mqtt::tls::install_crypto_provider();
    reqwest::Client::new()
}

/// A push of `value` as `name`, with nothing else set.
pub fn push(name: &str, value: Value) -> StateObjectPush {
    StateObjectPush {
        name: name.into(),
        value,
        type_name: None,
        lifetime: None,
        metadatas: None,
    }
}

/// A message of `key` without data to `kind` scope with `args`.
pub fn message(kind: ScopeType, args: &[&str], key: &str) -> OutgoingMessage {
    OutgoingMessage {
        scope: Scope {
            kind,
            args: args.iter().map(|s| s.to_string()).collect(),
            saga_id: None,
        },
        key: key.into(),
        data: Value::Null,
    }
}

/// The adapter's `/metrics` text, from its HTTP listener at `addr`.
pub async fn metrics_text(addr: std::net::SocketAddr) -> String {
    constellation_mqtt::tls::install_crypto_provider();
    reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// This process's resident memory, in KiB (Linux).
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}
