//! Memory of the embedded broker around bursts of hostile clients: starts the simulator
//! (in this process) and the adapter (the release binary, its own process, `run` with
//! the shipped broker values on free loopback ports), then runs rounds of the hostile
//! mix of `tests/hostile.rs` and prints the adapter's RSS before, after each round and
//! after a quiet period, the panics in its log, and whether a normal device still gets
//! its StateObject through.
//!
//! `cargo build --release --bin constellation-mqtt --example hostile &&
//! target/release/examples/hostile [rounds] [seconds]` (default 3 rounds of 10 s).
//! `HOSTILE_ADAPTER=<path>` runs another build of the adapter (e.g. one without the
//! vendored patch, to compare).

mod common;
#[path = "../tests/common/hostile.rs"]
mod hostile;

use common::free_port;

use constellation_mqtt::mqtt::embedded::DEFAULT_CONFIG;
use constellation_mqtt::sim::{Simulator, World};
use rumqttc::{AsyncClient, MqttOptions, QoS};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const WORKERS: usize = 16;
const QUIET: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);

    let sim = Simulator::start_local(World::open("hostile"))
        .await
        .expect("simulator");
    let dir = tempfile::tempdir().expect("temp dir");
    let (v4, v5) = (free_port(), free_port());
    let broker = dir.path().join("rumqttd.toml");
    std::fs::write(
        &broker,
        DEFAULT_CONFIG
            .replace("127.0.0.1:1883", &format!("127.0.0.1:{v4}"))
            .replace("127.0.0.1:1884", &format!("127.0.0.1:{v5}")),
    )
    .expect("broker file");
    let config = dir.path().join("topics.toml");
    std::fs::write(
        &config,
        format!(
            "[constellation]\nurl = \"{}\"\naccess_key = \"hostile\"\n[http]\nlisten = \"127.0.0.1:0\"\n[mqtt]\nbroker_config = \"rumqttd.toml\"\n",
            sim.url()
        ),
    )
    .expect("config");
    let log = dir.path().join("adapter.log");
    let mut adapter = Adapter::spawn(&config, &log);
    let handle = sim.handle();

    // One round of normal traffic before the baseline.
    publish_and_check(&handle, v4, "Warm", "X").await;
    let pid = adapter.0.id();
    println!(
        "adapter {}; {rounds} rounds of {seconds} s, {WORKERS} hostile clients at a time, both listeners",
        adapter_binary().display()
    );
    println!("baseline: RSS {:.1} MiB", rss_mib(pid));
    let targets: Vec<(SocketAddr, u8)> = vec![
        (SocketAddr::from(([127, 0, 0, 1], v4)), 4),
        (SocketAddr::from(([127, 0, 0, 1], v5)), 5),
    ];
    for round in 1..=rounds {
        let done = hostile::burst(&targets, WORKERS, Duration::from_secs(seconds)).await;
        println!(
            "round {round}: {} hostile connections; RSS {:.1} MiB (peak {:.1} MiB)",
            done.connections,
            rss_mib(pid),
            hwm_mib(pid)
        );
    }
    tokio::time::sleep(QUIET).await;
    println!(
        "after {} s quiet: RSS {:.1} MiB",
        QUIET.as_secs(),
        rss_mib(pid)
    );
    let through = tokio::time::timeout(
        Duration::from_secs(15),
        publish_and_check(&handle, v4, "After", "X"),
    )
    .await
    .is_ok();
    let panics = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .matches("panicked at")
        .count();
    println!(
        "panics in the adapter's log: {panics}; a normal device after: {}",
        if through {
            "its StateObject reached the simulator"
        } else {
            "NOT THROUGH within 15 s"
        }
    );
    adapter.stop();
}

/// The adapter process, killed when dropped.
struct Adapter(Child);

impl Adapter {
    fn spawn(config: &Path, log: &Path) -> Self {
        let stderr = std::fs::File::create(log).expect("log file");
        let child = Command::new(adapter_binary())
            .args(["run", "--config"])
            .arg(config)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("the adapter binary (build it: cargo build --release)");
        Self(child)
    }

    fn stop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Adapter {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A device publishes `value` as `<sentinel>/<package>/<name>` and waits until the
/// simulator holds it (retrying the connection while the adapter starts).
async fn publish_and_check(
    sim: &constellation_mqtt::sim::SimHandle,
    port: u16,
    package: &str,
    name: &str,
) {
    let mut options = MqttOptions::new(format!("normal-{package}"), "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(30));
    let (client, mut eventloop) = AsyncClient::new(options, 10);
    tokio::spawn(async move {
        loop {
            if eventloop.poll().await.is_err() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });
    let topic = format!("constellation/Hostile/{package}/stateobject/{name}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let _ = client.publish(&topic, QoS::AtLeastOnce, false, "1").await;
        for _ in 0..10 {
            if sim.state_object("Hostile", package, name).is_some() {
                let _ = client.disconnect().await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            Instant::now() < deadline,
            "{topic} never reached the simulator"
        );
    }
}

fn adapter_binary() -> PathBuf {
    std::env::var_os("HOSTILE_ADAPTER").map_or_else(common::adapter_binary, PathBuf::from)
}

fn status_kib(pid: u32, key: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

fn rss_mib(pid: u32) -> f64 {
    status_kib(pid, "VmRSS:") / 1024.0
}

fn hwm_mib(pid: u32) -> f64 {
    status_kib(pid, "VmHWM:") / 1024.0
}
