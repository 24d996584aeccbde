//! The load harness: starts the Constellation simulator (in this process), the adapter
//! (the release binary, as its own process, with its embedded broker) and MQTT devices
//! (in this process), drives a scenario, and prints its figures with the adapter's CPU
//! time and peak RSS read from /proc.
//!
//! `scripts/bench.sh [scenario…]` builds and runs it; scenarios: raw, burst,
//! burst-mosquitto, burst-ab and burst-ab-embedded (two adapter builds measured round by
//! round in turn: this one and `$LOAD_ADAPTER_B`), uplink, flood, latency, latency-mosquitto, compare (the adapter and
//! a paho-mqtt + requests bridge on the same Mosquitto: `pip install paho-mqtt
//! requests`), downlink, export, idle, idle1k, overload, journal (default: raw burst
//! burst-mosquitto uplink latency downlink idle idle1k overload).

mod common;

use common::{adapter_binary, free_port};
use constellation_mqtt::constellation::model::{
    OutgoingMessage, Scope, ScopeType, SenderType, SoFilter, StateObjectPush,
};
use constellation_mqtt::constellation::{Client, ClientOptions, Identity};
use constellation_mqtt::sim::{Faults, Participant, SimHandle, Simulator, World};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

const KEY: &str = "bench";
/// Configuration that keeps the journal in memory (`storage.durability = "memory"`).
const MEMORY: &str = "[storage]\ndurability = \"memory\"";

/// Microseconds since the harness started: the clock of every latency (publishers,
/// observers and the simulator share this process).
fn now_us() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_micros() as u64
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let all = [
        "raw",
        "burst",
        "burst-mosquitto",
        "uplink",
        "latency",
        "downlink",
        "idle",
        "idle1k",
        "overload",
    ];
    let chosen: Vec<&str> = if args.is_empty() {
        all.to_vec()
    } else {
        args.iter().map(String::as_str).collect()
    };
    now_us();
    println!(
        "machine: {} cores, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model()
    );
    for s in chosen {
        match s {
            "raw" => drop(raw(32, Duration::from_secs(10)).await),
            "raw-client" => raw_client(32, Duration::from_secs(10)).await,
            "burst" => burst(3_750, 4, None, "").await,
            "burst-mosquitto" => burst(3_750, 4, Some(Mosquitto::start()), "").await,
            "burst-ab" => burst_ab(3_750, 4, 20, true).await,
            "burst-ab-embedded" => burst_ab(3_750, 4, 20, false).await,
            // The same without the journal on disk: what durability costs per push.
            "burst-memory" => burst(3_750, 4, None, MEMORY).await,
            "burst-mosquitto-memory" => burst(3_750, 4, Some(Mosquitto::start()), MEMORY).await,
            "uplink" => uplink(1000, Duration::from_secs(10)).await,
            "flood" => flood(1000, Duration::from_secs(10)).await,
            "latency" => latency(100, 1000, Duration::from_secs(20), None).await,
            "compare" => compare().await,
            "latency-mosquitto" => {
                let mosquitto = Mosquitto::start();
                latency(100, 1000, Duration::from_secs(20), Some(&mosquitto)).await
            }
            "downlink" => downlink(1000, 1000, Duration::from_secs(10)).await,
            "export" => export(1000, 1000, Duration::from_secs(10)).await,
            "idle" => idle(10_000, Duration::from_secs(30)).await,
            "idle1k" => idle(1_000, Duration::from_secs(5)).await,
            "journal" => journal_bytes(100, 20_000).await,
            "empty" => {
                let setup = setup(0, "").await;
                tokio::time::sleep(Duration::from_secs(5)).await;
                println!("no packages: {:?}", usage(setup.adapter.id()));
            }
            "idle-nopoll" => {
                let setup = setup(10_000, "max_long_polls = 1").await;
                tokio::time::sleep(Duration::from_secs(10)).await;
                println!("no polls: {:?}", usage(setup.adapter.id()));
            }
            "overload" => overload(Duration::from_secs(60)).await,
            other => eprintln!("unknown scenario {other}; known: {all:?}"),
        }
    }
}

// ----- the pieces ---------------------------------------------------------------------

struct Setup {
    sim: Simulator,
    adapter: Child,
    port: u16,
    dir: tempfile::TempDir,
}

/// The simulator, then the adapter with its embedded broker, `packages` declared.
async fn setup(packages: usize, extra: &str) -> Setup {
    setup_on(packages, extra, None).await
}

/// As [`setup`], on `external` (a Mosquitto) when given.
async fn setup_on(packages: usize, extra: &str, external: Option<&Mosquitto>) -> Setup {
    setup_with(&adapter_binary(), packages, extra, external).await
}

/// As [`setup_on`], with the adapter `binary`.
async fn setup_with(
    binary: &std::path::Path,
    packages: usize,
    extra: &str,
    external: Option<&Mosquitto>,
) -> Setup {
    let mut world = World::open(KEY);
    world.max_queued_messages = 100_000;
    world.subscription_expiry_ms = 600_000;
    let sim = Simulator::start_local(world).await.expect("simulator");
    let dir = tempfile::tempdir().expect("temp dir");
    let (v4, v5) = (free_port(), free_port());
    let broker = dir.path().join("rumqttd.toml");
    std::fs::write(&broker, format!(
        "id = 0\n[router]\nid = 0\nmax_connections = 20000\nmax_outgoing_packet_count = 200\nmax_segment_size = 1048576\nmax_segment_count = 4\n\
         [v4.1]\nname = \"v4\"\nlisten = \"127.0.0.1:{v4}\"\nnext_connection_delay_ms = 0\n[v4.1.connections]\nconnection_timeout_ms = 60000\nmax_payload_size = 1048576\nmax_inflight_count = 100\ndynamic_filters = true\n\
         [v5.1]\nname = \"v5\"\nlisten = \"127.0.0.1:{v5}\"\nnext_connection_delay_ms = 0\n[v5.1.connections]\nconnection_timeout_ms = 60000\nmax_payload_size = 1048576\nmax_inflight_count = 100\ndynamic_filters = true\n"
    )).expect("broker config");
    let mqtt = match external {
        None => format!("broker_config = {:?}", broker.display().to_string()),
        Some(m) => format!("mode = \"external\"\nurl = \"mqtt://127.0.0.1:{}\"", m.port),
    };
    let mut config = format!(
        "[constellation]\nurl = \"{}\"\naccess_key = \"{KEY}\"\nsettings_refresh_s = 0\n{extra}\n[http]\nlisten = \"127.0.0.1:0\"\n[mqtt]\n{mqtt}\n",
        sim.url(),
    );
    let v4 = external.map_or(v4, |m| m.port);
    for i in 0..packages {
        config.push_str(&format!(
            "[[packages]]\nsentinel = \"Bench\"\npackage = \"D{i}\"\ncallback_payload = \"data\"\n"
        ));
    }
    let path = dir.path().join("topics.toml");
    std::fs::write(&path, config).expect("config");
    let adapter = Command::new(binary)
        .args(["run", "--config"])
        .arg(&path)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("the adapter binary (build it: cargo build --release)");
    let mut probe = Device::connect("probe", v4).await;
    probe
        .client
        .subscribe("constellation/_adapter/status", QoS::AtLeastOnce)
        .await
        .ok();
    probe
        .wait_for(|t, p| t == "constellation/_adapter/status" && p == b"online")
        .await;
    Setup {
        sim,
        adapter,
        port: v4,
        dir,
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = self.adapter.kill();
        let _ = self.adapter.wait();
    }
}

/// A process's user and system CPU seconds so far, from /proc.
fn cpu_split(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let seconds = |i: usize| {
        fields
            .get(i)
            .and_then(|t| t.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 100.0
    };
    (seconds(11), seconds(12))
}

/// The adapter's CPU seconds so far and its peak and current RSS (MiB), from /proc.
fn usage(pid: u32) -> (f64, f64, f64) {
    let (user, system) = cpu_split(pid);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (
        user + system,
        kib("VmHWM:") / 1024.0,
        kib("VmRSS:") / 1024.0,
    )
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// A device: an MQTT 3.1.1 client; received publishes go to `on_publish`.
struct Device {
    client: AsyncClient,
    rx: tokio::sync::mpsc::UnboundedReceiver<(String, Vec<u8>)>,
}

impl Device {
    async fn connect(id: &str, port: u16) -> Self {
        let mut options = MqttOptions::new(format!("{id}-{}", free_port()), "127.0.0.1", port);
        options
            .set_keep_alive(Duration::from_secs(60))
            .set_inflight(100);
        let (client, mut eventloop) = AsyncClient::new(options, 1000);
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let (up_tx, mut up) = tokio::sync::mpsc::channel(1);
        tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let _ = up_tx.try_send(());
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        if tx.send((p.topic.clone(), p.payload.to_vec())).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        let _ = up.recv().await;
        Self { client, rx }
    }

    async fn wait_for(&mut self, check: impl Fn(&str, &[u8]) -> bool) {
        while let Some((t, p)) = self.rx.recv().await {
            if check(&t, &p) {
                return;
            }
        }
    }
}

/// `n` connected devices named `<name><i>`.
async fn devices_on(port: u16, name: &str, n: usize) -> Vec<Device> {
    let mut devices = Vec::with_capacity(n);
    for i in 0..n {
        devices.push(Device::connect(&format!("{name}{i}"), port).await);
    }
    devices
}

/// p50, p99 and max of latencies in µs, printed in ms.
fn percentiles(mut v: Vec<u64>) -> String {
    if v.is_empty() {
        return "no samples".into();
    }
    v.sort_unstable();
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize] as f64 / 1000.0;
    format!(
        "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} samples)",
        at(0.5),
        at(0.99),
        at(1.0),
        v.len()
    )
}

fn pushes(sim: &SimHandle) -> u64 {
    sim.stats().count("PushStateObject", 204)
}

// ----- scenarios ----------------------------------------------------------------------

/// The ceiling: a plain HTTP client pushing StateObjects straight to the simulator,
/// `concurrency` requests in flight. Returns the rate.
async fn raw(concurrency: usize, run: Duration) -> f64 {
    let sim = Simulator::start_local(World::open(KEY))
        .await
        .expect("simulator");
    let rate = push_flat_out(&sim.url(), KEY, concurrency, run).await;
    println!("raw baseline: {rate:.0} PushStateObject/s with {concurrency} in flight (the adapter's HTTP client → simulator)");
    rate
}

/// What one HTTP client costs: the raw baseline against the simulator in its own
/// process (`constellation-mqtt sim`), with this process's CPU time per request, the
/// floor of the adapter's HTTP side.
async fn raw_client(concurrency: usize, run: Duration) {
    let port = free_port();
    let mut sim = Command::new(adapter_binary())
        .args(["sim", "--log-level", "warn", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .spawn()
        .expect("the adapter binary");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let url = url::Url::parse(&format!("http://127.0.0.1:{port}/")).expect("url");
    let (user0, sys0) = cpu_split(std::process::id());
    let (sim0, _, _) = usage(sim.id());
    let started = Instant::now();
    let rate = push_flat_out(&url, "demo", concurrency, run).await;
    let requests = rate * started.elapsed().as_secs_f64();
    let (user1, sys1) = cpu_split(std::process::id());
    let (sim1, _, _) = usage(sim.id());
    let _ = sim.kill();
    let _ = sim.wait();
    let per = |seconds: f64| seconds / requests * 1e6;
    println!(
        "raw client: {rate:.0} PushStateObject/s with {concurrency} in flight against the simulator's own process; client CPU {:.1} µs per request ({:.1} user, {:.1} kernel), simulator {:.1} µs",
        per(user1 - user0 + sys1 - sys0),
        per(user1 - user0),
        per(sys1 - sys0),
        per(sim1 - sim0)
    );
}

/// Pushes StateObjects to `url` as `key` with `concurrency` in flight for `run`, through
/// the adapter's own client; returns the rate.
async fn push_flat_out(url: &url::Url, key: &str, concurrency: usize, run: Duration) -> f64 {
    let client = Client::new(ClientOptions::new(url.clone())).expect("client");
    let key: Arc<str> = key.into();
    let count = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|t| {
            let (client, count, stop, key) =
                (client.clone(), count.clone(), stop.clone(), key.clone());
            tokio::spawn(async move {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let id =
                        Identity::new("Bench", format!("D{}", (t as u64 * 31 + i) % 1000), &*key);
                    let push = StateObjectPush {
                        name: "Value".into(),
                        value: i.into(),
                        type_name: None,
                        lifetime: None,
                        metadatas: None,
                    };
                    if client.push_state_object(&id, &push).await.is_ok() {
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                    i += 1;
                }
            })
        })
        .collect();
    tokio::time::sleep(run).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    count.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// A Mosquitto of its own on a free port, for the external-broker scenarios.
struct Mosquitto {
    port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Mosquitto {
    fn start() -> Self {
        let port = free_port();
        let dir = tempfile::tempdir().expect("temp dir");
        let conf = dir.path().join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!("allow_anonymous true\nlistener {port} 127.0.0.1\nmax_queued_messages 0\n"),
        )
        .expect("mosquitto config");
        let binary = ["/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .unwrap_or("mosquitto");
        let child = Command::new(binary)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto (scripts/test.sh installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "mosquitto does not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self {
            port,
            child,
            _dir: dir,
        }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The flat, non-conflated burst of issue 15: `packages × sos` distinct StateObjects,
/// each published once, as fast as 25 devices can, on the embedded broker or on
/// `external`. A first round (every SO once) brings the packages up; the second is
/// measured: the adapter's CPU time ÷ pushes, and pushes/s against the raw ceiling
/// measured just before.
async fn burst(packages: usize, sos: usize, external: Option<Mosquitto>, extra: &str) {
    let ceiling = raw(32, Duration::from_secs(5)).await;
    let rig = Burst::start(&adapter_binary(), packages, sos, external.as_ref(), extra).await;
    // Three measured rounds, each SO once per round: a longer window than one round
    // gives steadier figures on a shared machine.
    let (cpu0, _, _) = usage(rig.setup.adapter.id());
    let mut elapsed = 0.0;
    for value in 1..=3 {
        elapsed += rig.round(value).await.as_secs_f64();
    }
    let (cpu1, peak, _) = usage(rig.setup.adapter.id());
    let total = 3 * rig.topics.len() as u64;
    let rate = total as f64 / elapsed;
    let broker = match (external.is_some(), extra.is_empty()) {
        (true, true) => "Mosquitto",
        (false, true) => "embedded broker",
        (true, false) => "Mosquitto, journal in memory",
        (false, false) => "embedded broker, journal in memory",
    };
    println!(
        "burst, {broker}: {} distinct SOs of {packages} packages once each, 3 rounds: {rate:.0} pushes/s = {:.2} × raw ({ceiling:.0}/s); adapter CPU {:.1} µs per push ({:.0}% of one core), peak RSS {peak:.1} MiB",
        total / 3,
        rate / ceiling,
        (cpu1 - cpu0) / total as f64 * 1e6,
        (cpu1 - cpu0) / elapsed * 100.0
    );
}

/// The burst of two adapter builds in one run, measured round by round in turn: the
/// adapter beside this harness (A) and the one at `$LOAD_ADAPTER_B` (B), each with its
/// own Mosquitto (or its embedded broker: not `mosquitto`), simulator and devices. A machine whose speed drifts by minutes (a
/// shared VM) slows both alike, so their difference shows where two separate runs would
/// bury it in noise.
async fn burst_ab(packages: usize, sos: usize, pairs: usize, mosquitto: bool) {
    let Some(b) = std::env::var_os("LOAD_ADAPTER_B") else {
        eprintln!("burst-ab: set LOAD_ADAPTER_B to the path of the adapter to compare");
        return;
    };
    let brokers = [(); 2].map(|()| mosquitto.then(Mosquitto::start));
    let binaries = [adapter_binary(), std::path::PathBuf::from(b)];
    let mut rigs = Vec::new();
    for (binary, broker) in binaries.iter().zip(&brokers) {
        rigs.push(Burst::start(binary, packages, sos, broker.as_ref(), "").await);
    }
    let mut per_push: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut value = 1;
    for pair in 0..pairs {
        // A then B, then B then A: neither always follows the other.
        let order = if pair % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let rig = &rigs[i];
            let (cpu0, _, _) = usage(rig.setup.adapter.id());
            rig.round(value).await;
            let (cpu1, _, _) = usage(rig.setup.adapter.id());
            per_push[i].push((cpu1 - cpu0) / rig.topics.len() as f64 * 1e6);
            value += 1;
        }
    }
    let stats = |v: &[f64]| {
        let mut sorted = v.to_vec();
        sorted.sort_by(f64::total_cmp);
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        (mean, sorted[sorted.len() / 2])
    };
    let diffs: Vec<f64> = per_push[1]
        .iter()
        .zip(&per_push[0])
        .map(|(b, a)| b - a)
        .collect();
    let (a_mean, a_median) = stats(&per_push[0]);
    let (b_mean, b_median) = stats(&per_push[1]);
    let (d_mean, d_median) = stats(&diffs);
    let spread = (diffs.iter().map(|d| (d - d_mean).powi(2)).sum::<f64>()
        / (diffs.len().max(2) - 1) as f64)
        .sqrt();
    println!(
        "burst-ab, {}: {} distinct SOs of {packages} packages, {pairs} rounds each in turn: adapter CPU per push A {a_mean:.1} µs (median {a_median:.1}), B {b_mean:.1} µs (median {b_median:.1}); B − A {d_mean:+.1} µs (median {d_median:+.1}, standard error {:.1})",
        if mosquitto { "Mosquitto" } else { "embedded broker" },
        rigs[0].topics.len(),
        spread / (diffs.len() as f64).sqrt()
    );
}

/// An adapter with its packages up, and the devices that publish its burst.
struct Burst {
    setup: Setup,
    clients: Vec<AsyncClient>,
    topics: Arc<Vec<String>>,
}

impl Burst {
    /// The adapter `binary` on `external` (else its embedded broker) with `packages ×
    /// sos` StateObjects, each pushed once so that every package is up and polling.
    async fn start(
        binary: &std::path::Path,
        packages: usize,
        sos: usize,
        external: Option<&Mosquitto>,
        extra: &str,
    ) -> Self {
        let setup = setup_with(binary, 0, extra, external).await;
        let clients = devices_on(setup.port, "burst", 25)
            .await
            .into_iter()
            .map(|d| d.client)
            .collect();
        let topics = Arc::new(
            (0..packages * sos)
                .map(|i| format!("constellation/Bench/D{}/stateobject/V{}", i / sos, i % sos))
                .collect(),
        );
        let rig = Self {
            setup,
            clients,
            topics,
        };
        rig.round(0).await;
        wait_polling(&rig.setup.sim.handle(), packages).await;
        rig
    }

    /// Every StateObject published once with `value`, and the time until all are pushed.
    async fn round(&self, value: u32) -> Duration {
        let handle = self.setup.sim.handle();
        let total = self.topics.len() as u64;
        // Counted before any device publishes: a push of this round that lands before
        // the wait below starts must not count as a previous one.
        let before = pushes(&handle);
        let started = Instant::now();
        let devices = self.clients.len();
        let tasks: Vec<_> = self
            .clients
            .iter()
            .cloned()
            .enumerate()
            .map(|(d, client)| {
                let topics = self.topics.clone();
                let payload = value.to_string();
                tokio::spawn(async move {
                    for topic in topics.iter().skip(d).step_by(devices) {
                        let _ = client
                            .publish(topic, QoS::AtLeastOnce, false, payload.clone())
                            .await;
                    }
                })
            })
            .collect();
        for t in tasks {
            let _ = t.await;
        }
        while pushes(&handle) < before + total {
            if started.elapsed() > Duration::from_secs(BURST_DEADLINE_S) {
                eprintln!("burst: only {} of {total} pushed", pushes(&handle) - before);
                missing(&handle, &self.topics, &value.to_string());
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        started.elapsed()
    }
}

/// How long a burst round may take before the harness reports what is missing.
const BURST_DEADLINE_S: u64 = 120;

/// Prints the StateObjects of `topics` the simulator does not hold with `value`, and
/// what the simulator answered to pushes so far.
fn missing(handle: &SimHandle, topics: &[String], value: &str) {
    let mut absent = 0;
    for topic in topics {
        let mut parts = topic.split('/').skip(2);
        let (package, name) = (parts.next().unwrap_or(""), parts.nth(1).unwrap_or(""));
        let held = handle.state_object("Bench", package, name);
        if held.as_ref().map(|so| so.value.to_string()) != Some(value.to_owned()) {
            absent += 1;
            if absent <= 10 {
                eprintln!("burst: {topic} holds {:?}", held.map(|so| so.value));
            }
        }
    }
    eprintln!(
        "burst: {absent} StateObjects without {value}; pushes answered {:?}",
        handle.stats().by_action.get("PushStateObject")
    );
}

/// (a) `devices` devices, one SO each, flat out in closed loop: each device publishes
/// its next value as soon as the previous one is visible in the simulator, so the
/// adapter always has `devices` updates to carry and none to conflate.
async fn uplink(devices: usize, run: Duration) {
    let setup = setup(0, "").await;
    let handle = setup.sim.handle();
    let clients: Vec<AsyncClient> = devices_on(setup.port, "pub", devices)
        .await
        .into_iter()
        .map(|d| d.client)
        .collect();
    let topics: Vec<String> = (0..devices)
        .map(|i| format!("constellation/Bench/D{i}/stateobject/Value"))
        .collect();
    let mut updates = handle.updates();
    let (cpu0, _, _) = usage(setup.adapter.id());
    let started = Instant::now();
    for (client, topic) in clients.iter().zip(&topics) {
        let _ = client.publish(topic, QoS::AtLeastOnce, false, "0").await;
    }
    let mut applied = 0u64;
    let mut lat = Vec::new();
    while started.elapsed() < run {
        let Ok(Ok(so)) = tokio::time::timeout(Duration::from_secs(5), updates.recv()).await else {
            break;
        };
        let Some(i) = so
            .package_name
            .strip_prefix('D')
            .and_then(|n| n.parse::<usize>().ok())
        else {
            continue;
        };
        applied += 1;
        if let Some(sent) = so.value.as_u64().filter(|v| *v > 0) {
            lat.push(now_us().saturating_sub(sent));
        }
        let _ = clients[i].try_publish(&topics[i], QoS::AtLeastOnce, false, now_us().to_string());
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (cpu1, peak, _) = usage(setup.adapter.id());
    println!(
        "(a) uplink, {devices} devices × 1 SO flat out (closed loop): {:.0} PushStateObject/s; publish → visible {}; adapter CPU {:.0}% of one core, peak RSS {peak:.1} MiB",
        applied as f64 / elapsed, percentiles(lat), (cpu1 - cpu0) / elapsed * 100.0
    );
}

/// (a') `devices` devices, one SO each, publishing open loop as fast as their clients
/// can: far more than any server absorbs; conflation keeps the latest values.
async fn flood(devices: usize, run: Duration) {
    let setup = setup(0, "").await;
    let handle = setup.sim.handle();
    let publishers = devices_on(setup.port, "pub", devices).await;
    let stop = Arc::new(AtomicBool::new(false));
    let published = Arc::new(AtomicU64::new(0));
    let (cpu0, _, _) = usage(setup.adapter.id());
    let before = pushes(&handle);
    let started = Instant::now();
    let tasks: Vec<_> = publishers
        .into_iter()
        .enumerate()
        .map(|(i, d)| {
            let (stop, published) = (stop.clone(), published.clone());
            tokio::spawn(async move {
                let topic = format!("constellation/Bench/D{i}/stateobject/Value");
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    if d.client
                        .publish(&topic, QoS::AtLeastOnce, false, n.to_string())
                        .await
                        .is_err()
                    {
                        break;
                    }
                    published.fetch_add(1, Ordering::Relaxed);
                    n += 1;
                    tokio::task::yield_now().await;
                }
                d
            })
        })
        .collect();
    tokio::time::sleep(run).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    let applied = pushes(&handle) - before;
    let (cpu1, peak, _) = usage(setup.adapter.id());
    for t in tasks {
        let _ = t.await;
    }
    println!(
        "(a') flood, {devices} devices × 1 SO open loop: {:.0} publishes/s in, {:.0} PushStateObject/s applied (conflation merges the rest); adapter CPU {:.0}% of one core, peak RSS {peak:.1} MiB",
        published.load(Ordering::Relaxed) as f64 / elapsed,
        applied as f64 / elapsed,
        (cpu1 - cpu0) / elapsed * 100.0
    );
}

/// Disk bytes per queued job: `jobs` logs over `packages` packages published while the
/// server answers 503, so that all of them stay in the journal (`durability = "disk"`).
async fn journal_bytes(packages: usize, jobs: usize) {
    let setup = setup(0, "[storage]\ndurability = \"disk\"\n").await;
    setup
        .sim
        .handle()
        .set_faults(constellation_mqtt::sim::Faults {
            delay_ms: 0,
            status: Some(503),
            management_status: None,
            lie: None,
        });
    // Both files: the jobs' log and the database (retained messages).
    let files = ["journal.jobs", "journal.redb"].map(|f| setup.dir.path().join("data").join(f));
    let size = || {
        files
            .iter()
            .map(|f| std::fs::metadata(f).map_or(0, |m| m.len()))
            .sum::<u64>()
    };
    // Settled: unchanged for a second.
    let settle = || async {
        let mut last = size();
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let now = size();
            if now == last {
                return now;
            }
            last = now;
        }
    };
    let before = settle().await;
    let d = Device::connect("journal", setup.port).await;
    for i in 0..jobs {
        let topic = format!("constellation/Bench/J{}/log", i % packages);
        let _ = d
            .client
            .publish(
                &topic,
                QoS::AtLeastOnce,
                false,
                format!("event {i}: door opened"),
            )
            .await;
    }
    let after = settle().await;
    println!(
        "journal: {jobs} pending logs over {packages} packages: journal.jobs + journal.redb {before} → {after} bytes, {:.0} bytes per job",
        (after - before) as f64 / jobs as f64
    );
}

/// (b) `devices` devices at `rate` msg/s in total: publish → visible latency.
async fn latency(devices: usize, rate: u64, run: Duration, external: Option<&Mosquitto>) {
    let setup = setup_on(0, "", external).await;
    let (lat, cpu, peak) = publish_to_visible(
        &setup,
        setup.adapter.id(),
        "Bench",
        devices,
        rate,
        run,
        |i, j| format!("constellation/Bench/D{i}/stateobject/Sent{j}"),
    )
    .await;
    println!(
        "(b) latency{}, {devices} devices ({} StateObjects) at {rate} msg/s: publish → visible in simulator {}; adapter CPU {cpu:.0}% of one core, peak RSS {peak:.1} MiB",
        if external.is_some() { " on Mosquitto" } else { "" },
        devices * 2,
        percentiles(lat),
    );
}

/// `devices` devices publish (QoS 1) the time in µs on `topic(device, 0|1)` in turns,
/// `rate` per second in total, for `run`, on the broker of `setup`; the latencies until
/// each value is visible in the simulator as a StateObject of `sentinel`, and the CPU
/// (% of a core) and peak RSS (MiB) of process `pid` meanwhile.
async fn publish_to_visible(
    setup: &Setup,
    pid: u32,
    sentinel: &'static str,
    devices: usize,
    rate: u64,
    run: Duration,
    topic: fn(usize, usize) -> String,
) -> (Vec<u64>, f64, f64) {
    let mut updates = setup.sim.handle().updates();
    let collector = tokio::spawn(async move {
        let mut lat = Vec::new();
        while let Ok(so) = updates.recv().await {
            if so.sentinel_name != sentinel {
                continue;
            }
            if so.name == "Stop" {
                break;
            }
            if let Some(sent) = so.value.as_u64() {
                lat.push(now_us().saturating_sub(sent));
            }
        }
        lat
    });
    let publishers = devices_on(setup.port, sentinel, devices).await;
    let (cpu0, _, _) = usage(pid);
    let period = Duration::from_micros(1_000_000 * devices as u64 / rate);
    let started = Instant::now();
    let tasks: Vec<_> = publishers
        .into_iter()
        .enumerate()
        .map(|(i, d)| {
            tokio::spawn(async move {
                // Two StateObjects per device, taking turns.
                let topics = [topic(i, 0), topic(i, 1)];
                // Spread the devices over the period.
                tokio::time::sleep(period * i as u32 / devices as u32).await;
                let mut tick = tokio::time::interval(period);
                let mut n = 0;
                while started.elapsed() < run {
                    tick.tick().await;
                    n += 1;
                    let _ = d
                        .client
                        .publish(
                            &topics[n % 2],
                            QoS::AtLeastOnce,
                            false,
                            now_us().to_string(),
                        )
                        .await;
                }
                d
            })
        })
        .collect();
    let mut devices_back = Vec::new();
    for t in tasks {
        if let Ok(d) = t.await {
            devices_back.push(d);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (cpu1, peak, _) = usage(pid);
    let stop = topic(0, 0).replace("Sent0", "Stop");
    let _ = devices_back[0]
        .client
        .publish(stop, QoS::AtLeastOnce, false, "1")
        .await;
    let lat = collector.await.unwrap_or_default();
    (lat, (cpu1 - cpu0) / elapsed * 100.0, peak)
}

/// Issue 32's comparison, in one run: the adapter and a paho-mqtt + requests bridge
/// (`scripts/bench/paho_bridge.py`), one after the other, on the same Mosquitto and the
/// same simulator, 100 devices publishing 200 StateObjects at 1 000 msg/s for 20 s.
async fn compare() {
    let mosquitto = Mosquitto::start();
    let setup = setup_on(0, "", Some(&mosquitto)).await;
    let run = Duration::from_secs(20);
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/bench/paho_bridge.py");
    let mut bridge = match Command::new("python3")
        .arg(&script)
        .arg(mosquitto.port.to_string())
        .arg(setup.sim.url().to_string())
        .arg(KEY)
        .stdout(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => return println!("compare: python3 {} cannot start: {e}", script.display()),
    };
    // Ready once a value it bridges is visible.
    let probe = Device::connect("pyprobe", mosquitto.port).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while setup
        .sim
        .handle()
        .state_object("Python", "probe", "Ready")
        .is_none()
    {
        if Instant::now() > deadline {
            let _ = bridge.kill();
            return println!(
                "compare: the paho bridge did not start (pip install paho-mqtt requests)"
            );
        }
        let _ = probe
            .client
            .publish("pybench/probe/Ready", QoS::AtLeastOnce, false, "1")
            .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // At 1 000 msg/s (issue 32), then at 200 msg/s, where a Python bridge on a small
    // machine keeps up.
    for rate in [1000, 200] {
        let adapter = publish_to_visible(
            &setup,
            setup.adapter.id(),
            "Bench",
            100,
            rate,
            run,
            |i, j| format!("constellation/Bench/D{i}/stateobject/Sent{j}"),
        )
        .await;
        let python = publish_to_visible(&setup, bridge.id(), "Python", 100, rate, run, |i, j| {
            format!("pybench/D{i}/Sent{j}")
        })
        .await;
        for (who, (lat, cpu, peak)) in [
            ("constellation-mqtt (journal on disk)", adapter),
            ("paho-mqtt + requests (Python)", python),
        ] {
            println!(
                "compare, Mosquitto, {rate} msg/s over 200 StateObjects for {}s, {who}: publish → visible {}; CPU {cpu:.0}% of one core ({:.2} s), peak RSS {peak:.1} MiB",
                run.as_secs(),
                percentiles(lat),
                cpu / 100.0 * run.as_secs_f64(),
            );
        }
    }
    let _ = bridge.kill();
    let _ = bridge.wait();
}

/// (c) Messages to `packages` packages, `rate` per second in total: send → device.
async fn downlink(packages: usize, rate: u64, run: Duration) {
    let setup = setup(packages, "").await;
    let handle = setup.sim.handle();
    wait_polling(&handle, packages).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
    for i in 0..packages {
        let mut d = Device::connect(&format!("sub{i}"), setup.port).await;
        let _ = d
            .client
            .subscribe(
                format!("constellation/Bench/D{i}/callback/Ping"),
                QoS::AtLeastOnce,
            )
            .await;
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Some((_, payload)) = d.rx.recv().await {
                if let Some(sent) = std::str::from_utf8(&payload)
                    .ok()
                    .and_then(|p| p.parse::<u64>().ok())
                {
                    let _ = tx.send(now_us().saturating_sub(sent));
                }
            }
        });
    }
    // Subscriptions travel to the broker asynchronously: let one round trip settle them.
    let mut probe = Device::connect("settle", setup.port).await;
    let _ = probe.client.subscribe("settle", QoS::AtLeastOnce).await;
    let _ = probe
        .client
        .publish("settle", QoS::AtLeastOnce, false, "x")
        .await;
    probe.wait_for(|t, _| t == "settle").await;
    let (cpu0, _, _) = usage(setup.adapter.id());
    let console = Participant {
        sentinel: "Consumer".into(),
        package: "Bench".into(),
    };
    let period = Duration::from_micros(1_000_000 / rate);
    let mut tick = tokio::time::interval(period);
    let started = Instant::now();
    let mut sent = 0usize;
    while started.elapsed() < run {
        tick.tick().await;
        let msg = OutgoingMessage {
            scope: Scope {
                kind: ScopeType::Package,
                args: vec![format!("Bench/D{}", sent % packages)],
                saga_id: None,
            },
            key: "Ping".into(),
            data: now_us().into(),
        };
        let _ = handle.send(&console, SenderType::ConsumerHttp, msg);
        sent += 1;
    }
    let mut lat = Vec::with_capacity(sent);
    let deadline = Instant::now() + Duration::from_secs(30);
    while lat.len() < sent && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
            Ok(Some(l)) => lat.push(l),
            _ => break,
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (cpu1, peak, _) = usage(setup.adapter.id());
    println!(
        "(c) downlink, {sent} messages to {packages} packages at {rate}/s: Constellation → device {} ({} lost); adapter CPU {:.0}% of one core, peak RSS {peak:.1} MiB",
        percentiles(lat.clone()), sent - lat.len(), (cpu1 - cpu0) / elapsed * 100.0
    );
}

/// Constellation → MQTT: `sos` StateObjects of a Constellation package updated at
/// `rate`/s in turn, exported by the adapter (as its identity); latency from the push to
/// the MQTT subscriber.
async fn export(sos: usize, rate: u64, run: Duration) {
    let extra = "identity = { sentinel = \"Consumer\", package = \"Bench\" }\n\
                 [[export]]\nfilter = { Package = \"Source\" }\n";
    let setup = setup(0, extra).await;
    let handle = setup.sim.handle();
    let source = Participant {
        sentinel: "Bench".into(),
        package: "Source".into(),
    };
    let push = |i: usize| {
        let _ = handle.push_state_object(
            &source,
            StateObjectPush {
                name: format!("S{i}"),
                value: now_us().into(),
                type_name: None,
                lifetime: None,
                metadatas: None,
            },
        );
    };
    let mut d = Device::connect("dashboard", setup.port).await;
    let _ = d
        .client
        .subscribe("constellation-export/#", QoS::AtMostOnce)
        .await;
    // Every SO once, then wait until each has been exported: the export is live.
    for i in 0..sos {
        push(i);
    }
    let mut seen = std::collections::HashSet::new();
    while seen.len() < sos {
        match tokio::time::timeout(Duration::from_secs(30), d.rx.recv()).await {
            Ok(Some((topic, _))) => {
                seen.insert(topic);
            }
            _ => {
                println!("(e) export: only {} of {sos} SOs exported", seen.len());
                return;
            }
        }
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
    tokio::spawn(async move {
        while let Some((_, payload)) = d.rx.recv().await {
            let pushed = serde_json::from_slice::<serde_json::Value>(&payload)
                .ok()
                .and_then(|so| so["Value"].as_u64());
            if let Some(pushed) = pushed {
                let _ = tx.send(now_us().saturating_sub(pushed));
            }
        }
    });
    let (cpu0, _, _) = usage(setup.adapter.id());
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    let started = Instant::now();
    let mut sent = 0usize;
    while started.elapsed() < run {
        tick.tick().await;
        push(sent % sos);
        sent += 1;
    }
    let mut lat = Vec::with_capacity(sent);
    while let Ok(Some(l)) = tokio::time::timeout(Duration::from_secs(2), rx.recv()).await {
        lat.push(l);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (cpu1, peak, _) = usage(setup.adapter.id());
    println!(
        "(e) export, {sent} updates of {sos} SOs at {rate}/s: Constellation → MQTT {} ({} published; conflation may merge updates); adapter CPU {:.0}% of one core, peak RSS {peak:.1} MiB",
        percentiles(lat.clone()), lat.len(), (cpu1 - cpu0) / elapsed * 100.0
    );
}

async fn wait_polling(handle: &SimHandle, n: usize) -> Duration {
    let started = Instant::now();
    loop {
        let polling = handle
            .subscriptions()
            .iter()
            .filter(|s| s.polling > 0 && s.kind == constellation_mqtt::sim::SubKind::Messages)
            .count();
        if polling >= n {
            return started.elapsed();
        }
        if started.elapsed() > Duration::from_secs(300) {
            eprintln!("only {polling} of {n} packages polling after 300 s");
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// (d) `packages` packages with live message long polls: RSS and idle CPU.
async fn idle(packages: usize, window: Duration) {
    let setup = setup(packages, "").await;
    let ready = wait_polling(&setup.sim.handle(), packages).await;
    let (cpu0, _, _) = usage(setup.adapter.id());
    tokio::time::sleep(window).await;
    let (cpu1, peak, rss) = usage(setup.adapter.id());
    println!(
        "(d) idle, {packages} packages with live long polls (all polling after {:.1} s): RSS {rss:.1} MiB = {:.1} KiB per package (peak {peak:.1} MiB), idle CPU {:.1}% of one core over {} s",
        ready.as_secs_f64(), rss * 1024.0 / packages as f64, (cpu1 - cpu0) / window.as_secs_f64() * 100.0, window.as_secs()
    );
}

/// (e) Ten times what the simulator can absorb, for `run`: RSS over time, final values.
async fn overload(run: Duration) {
    let setup = setup(0, "max_concurrent_requests = 32").await;
    let handle = setup.sim.handle();
    // 100 ms per request × 32 in flight: the server absorbs about 320 pushes/s.
    handle.set_faults(Faults {
        delay_ms: 100,
        status: None,
        management_status: None,
        lie: None,
    });
    let capacity = 320u64;
    let (devices, names) = (100usize, 10usize);
    let publishers = devices_on(setup.port, "ovl", devices).await;
    let period = Duration::from_micros(1_000_000 * devices as u64 / (10 * capacity));
    let started = Instant::now();
    let tasks: Vec<_> = publishers
        .into_iter()
        .enumerate()
        .map(|(i, d)| {
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(period);
                let mut n = 0u64;
                while started.elapsed() < run {
                    tick.tick().await;
                    let topic =
                        format!("constellation/Bench/D{i}/stateobject/S{}", n % names as u64);
                    let _ = d
                        .client
                        .publish(topic, QoS::AtLeastOnce, false, n.to_string())
                        .await;
                    n += 1;
                }
                (d, n)
            })
        })
        .collect();
    let mut samples = Vec::new();
    while started.elapsed() < run {
        tokio::time::sleep(Duration::from_secs(5)).await;
        samples.push(usage(setup.adapter.id()).2);
    }
    let mut finals = Vec::new();
    for t in tasks {
        if let Ok(r) = t.await {
            finals.push(r);
        }
    }
    handle.set_faults(Faults::default());
    // Converged: every SO holds the last value its device published.
    let expected: Vec<(String, String, u64)> = finals
        .iter()
        .enumerate()
        .flat_map(|(i, (_, n))| {
            (0..names as u64).filter(|k| *k < *n).map(move |k| {
                let last = (0..*n).rev().find(|m| m % names as u64 == k).unwrap_or(0);
                (format!("D{i}"), format!("S{k}"), last)
            })
        })
        .collect();
    let converge = Instant::now();
    let mut wrong = expected.len();
    while converge.elapsed() < Duration::from_secs(120) {
        wrong = expected
            .iter()
            .filter(|(p, n, v)| {
                handle
                    .state_object("Bench", p, n)
                    .is_none_or(|so| so.value != serde_json::json!(v))
            })
            .count();
        if wrong == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (_, peak, _) = usage(setup.adapter.id());
    let published: u64 = finals.iter().map(|(_, n)| n).sum();
    let all = handle
        .state_objects(&SoFilter {
            sentinel: "Bench".into(),
            ..SoFilter::default()
        })
        .len();
    println!(
        "(e) overload, {:.0} publishes/s for {} s against ~{capacity} pushes/s: RSS every 5 s {:?} MiB, peak {peak:.1} MiB; {} of {} SOs at their last value after {:.1} s ({all} SOs, {published} publishes)",
        published as f64 / run.as_secs_f64(), run.as_secs(),
        samples.iter().map(|r| (r * 10.0).round() / 10.0).collect::<Vec<_>>(),
        expected.len() - wrong, expected.len(), converge.elapsed().as_secs_f64()
    );
}
