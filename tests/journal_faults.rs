//! The journal at the edges, with the built binary: a damaged journal (salvaged, never a
//! panic), an empty or foreign one (a clear error), a full disk (nothing acknowledged
//! that is not kept; reported; recovered without a restart), and SIGTERM while devices
//! publish to the embedded broker (everything the broker acknowledged is delivered).

mod common;

use common::binary::{kill, run, write_config};
use common::mqtt::{free_port, Device, Mosquitto};
use common::{start, wait_for};
use constellation_mqtt::sim::{Faults, Participant, SimHandle, World};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const DEVICE: &str = "Edge/Device";
const LOG_TOPIC: &str = "constellation/Edge/Device/log";

fn down() -> Faults {
    Faults {
        delay_ms: 0,
        status: Some(503),
        management_status: None,
        lie: None,
    }
}

/// Publishes `log-<i>` (padded to `size` bytes) for i = 0, 1, … at QoS 1 on `port`,
/// one at a time, each waiting for its PUBACK; a connection that fails or is refused
/// is opened again and the unacknowledged log sent again. Stops at `total` or when
/// `stop` is set. Every log the broker acknowledged is in `acked`.
struct Streamer {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<usize>>>,
    /// Connections that ended while a log waited for its PUBACK.
    refusals: Arc<Mutex<usize>>,
    task: tokio::task::JoinHandle<()>,
}

impl Streamer {
    fn start(port: u16, total: usize, size: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let refusals = Arc::new(Mutex::new(0));
        let task = tokio::spawn(stream(
            port,
            total,
            size,
            stop.clone(),
            acked.clone(),
            refusals.clone(),
        ));
        Self {
            stop,
            acked,
            refusals,
            task,
        }
    }

    fn acked(&self) -> usize {
        self.acked.lock().unwrap().len()
    }

    async fn finish(self) -> (BTreeSet<usize>, usize) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.task.await;
        let acked = self.acked.lock().unwrap().iter().copied().collect();
        let refusals = *self.refusals.lock().unwrap();
        (acked, refusals)
    }
}

fn log_text(i: usize, size: usize) -> String {
    let head = format!("log-{i}-");
    let pad = size.saturating_sub(head.len());
    head + &"x".repeat(pad)
}

async fn stream(
    port: u16,
    total: usize,
    size: usize,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<usize>>>,
    refusals: Arc<Mutex<usize>>,
) {
    let mut i = 0;
    'connect: while i < total && !stop.load(Ordering::SeqCst) {
        let mut options = MqttOptions::new(format!("streamer-{}", free_port()), "127.0.0.1", port);
        options.set_keep_alive(Duration::from_secs(5));
        options.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut eventloop) = AsyncClient::new(options, 10);
        loop {
            match tokio::time::timeout(Duration::from_secs(2), eventloop.poll()).await {
                Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => break,
                Ok(Ok(_)) => {}
                _ => {
                    // Retry pacing, not synchronisation: the broker is not there yet.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue 'connect;
                }
            }
        }
        while i < total && !stop.load(Ordering::SeqCst) {
            let _ = client
                .publish(LOG_TOPIC, QoS::AtLeastOnce, false, log_text(i, size))
                .await;
            loop {
                match tokio::time::timeout(Duration::from_secs(5), eventloop.poll()).await {
                    Ok(Ok(Event::Incoming(Packet::PubAck(_)))) => {
                        acked.lock().unwrap().push(i);
                        i += 1;
                        break;
                    }
                    Ok(Ok(_)) => {}
                    _ => {
                        *refusals.lock().unwrap() += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue 'connect;
                    }
                }
            }
        }
    }
}

/// The distinct `log-<i>` logs of [`DEVICE`] at the server.
fn delivered(handle: &SimHandle) -> BTreeSet<usize> {
    let device = Participant::parse(DEVICE).unwrap();
    handle
        .logs(Some(&device))
        .into_iter()
        .filter_map(|l| {
            let rest = l.message.strip_prefix("log-")?;
            rest.split('-').next()?.parse().ok()
        })
        .collect()
}

/// Waits until every log of `acked` has reached the server.
async fn all_arrive(handle: &SimHandle, acked: &BTreeSet<usize>) {
    wait_for(
        "every acknowledged log at the server",
        Duration::from_secs(120),
        || async {
            let got = delivered(handle);
            acked.is_subset(&got).then_some(())
        },
    )
    .await;
}

/// Sends SIGTERM to `child` and waits (on a blocking thread) until it has exited;
/// a hang fails the test.
async fn terminate(child: Child) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut child = child;
    let exited = tokio::task::spawn_blocking(move || child.wait().unwrap());
    tokio::time::timeout(Duration::from_secs(60), exited)
        .await
        .expect("the adapter exits after SIGTERM")
        .unwrap()
}

fn embedded_config(dir: &Path, sim_url: &str, v4: u16, v5: u16, extra: &str) -> PathBuf {
    std::fs::write(
        dir.join("rumqttd.toml"),
        common::mqtt::broker_toml(v4, v5, 256 * 1024),
    )
    .unwrap();
    let rest = format!("[mqtt]\nbroker_config = \"rumqttd.toml\"\n\n{extra}");
    write_config(dir, sim_url, &rest)
}

fn with_http(config: &Path, http: u16) {
    let text = std::fs::read_to_string(config).unwrap();
    std::fs::write(
        config,
        text.replace("127.0.0.1:0", &format!("127.0.0.1:{http}")),
    )
    .unwrap();
}

async fn get(url: String) -> Option<(u16, String)> {
    let answer = common::http().get(url).send().await.ok()?;
    let status = answer.status().as_u16();
    Some((status, answer.text().await.ok()?))
}

/// The value of the metric `name` at the adapter listening on `http`.
async fn metric(http: u16, name: &str) -> Option<f64> {
    let (_, text) = get(format!("http://127.0.0.1:{http}/metrics")).await?;
    let line = text.lines().find(|l| l.starts_with(name))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// SIGTERM while a device publishes to the embedded broker and the server is down:
/// every log the broker acknowledged before the adapter exited is delivered after the
/// restart (the broker stops acknowledging when shutdown starts, and the adapter
/// journals what it had acknowledged). The log says where undelivered work is kept.
#[tokio::test]
async fn sigterm_with_the_embedded_broker_loses_nothing_acknowledged() {
    let sim = start(World::open("demo")).await;
    let handle = sim.handle();
    handle.set_faults(down());
    let dir = tempfile::tempdir().unwrap();
    let (v4, v5) = (free_port(), free_port());
    let config = embedded_config(dir.path(), sim.url().as_str(), v4, v5, "");
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replace(
        "access_key = \"demo\"\n",
        "access_key = \"demo\"\nflush_timeout_ms = 1500\n",
    );
    std::fs::write(&config, text).unwrap();
    let first_log = dir.path().join("first.log");
    let adapter = run(&config, &first_log);
    let watcher = Device::connect("watcher", v4).await;
    watcher.wait_adapter_online("constellation").await;

    let streamer = Streamer::start(v4, usize::MAX, 64);
    wait_for("300 acknowledged logs", Duration::from_secs(60), || async {
        (streamer.acked() >= 300).then_some(())
    })
    .await;
    // The device goes on publishing through the whole shutdown.
    let status = terminate(adapter).await;
    let (acked, refusals) = streamer.finish().await;
    assert!(status.success(), "exit status {status}");
    let log = std::fs::read_to_string(&first_log).unwrap();
    assert!(!log.contains("dropped"), "{log}");
    assert!(
        log.contains("kept in the journal for the next start"),
        "the log says where undelivered work is: {log}"
    );
    eprintln!(
        "{} logs acknowledged by the broker, {refusals} refused during shutdown",
        acked.len()
    );

    handle.set_faults(Faults::default());
    let mut adapter = run(&config, &dir.path().join("second.log"));
    all_arrive(&handle, &acked).await;
    kill(&mut adapter);
}

/// Runs an adapter on Mosquitto with the server down until its journal holds `LOGS`
/// logs, then stops it with SIGTERM: the journal it leaves.
async fn a_journal_with_pending_logs(dir: &Path, port: u16) -> (PathBuf, usize) {
    const LOGS: usize = 2_000;
    let sim = start(World::open("demo")).await;
    sim.handle().set_faults(down());
    let config = write_config(
        dir,
        sim.url().as_str(),
        &format!(
            "[mqtt]\nmode = \"external\"\nurl = \"mqtt://127.0.0.1:{port}\"\nclient_id = \"journal-maker\"\n"
        ),
    );
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "access_key = \"demo\"\n",
        "access_key = \"demo\"\nflush_timeout_ms = 200\n",
    );
    std::fs::write(&config, text).unwrap();
    let adapter = run(&config, &dir.join("maker.log"));
    let device = Device::connect("maker", port).await;
    device.wait_adapter_online("constellation").await;
    let streamer = Streamer::start(port, LOGS, 200);
    wait_for(
        "every log acknowledged",
        Duration::from_secs(120),
        || async { (streamer.acked() == LOGS).then_some(()) },
    )
    .await;
    streamer.finish().await;
    assert!(terminate(adapter).await.success());
    (dir.join("data/journal.jobs"), LOGS)
}

/// Overwrites 4 KiB of `path` at `offset` with bytes from a fixed seed.
fn damage(path: &Path, offset: u64) {
    use std::io::{Seek, SeekFrom, Write};
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let noise: Vec<u8> = (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let mut file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.seek(SeekFrom::Start(offset)).unwrap();
    file.write_all(&noise).unwrap();
}

/// A journal whose job log is damaged at ¼ and at ½ of its length: the adapter does not
/// panic, moves the file aside, keeps every record it can read (delivered, none invented), and says
/// so in its log, on `_adapter/error` and in `journal_damaged_total`.
#[tokio::test]
async fn a_damaged_journal_is_salvaged_never_a_panic() {
    let port = free_port();
    let _mosquitto = Mosquitto::start(port).await;
    let made = tempfile::tempdir().unwrap();
    let (journal, logs) = a_journal_with_pending_logs(made.path(), port).await;
    // `constellation-mqtt journal` lists what the stopped adapter left, changing nothing.
    let before = std::fs::read(&journal).unwrap();
    let listed = Command::new(env!("CARGO_BIN_EXE_constellation-mqtt"))
        .args(["journal", "--config"])
        .arg(made.path().join("topics.toml"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.status.success(), "{stdout}");
    // Every log was acknowledged; those beyond the package's queue were refused on its
    // `error` topic (constellation.queue_limit): the rest is pending.
    let pending: usize = stdout
        .split(" jobs pending for 1 packages")
        .next()
        .and_then(|head| head.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(pending > 0 && pending <= logs, "{stdout}");
    assert!(
        stdout.contains(&format!("  {DEVICE}  {pending} jobs")),
        "{stdout}"
    );
    let logs = pending;
    assert_eq!(std::fs::read(&journal).unwrap(), before, "read only");
    let length = std::fs::metadata(&journal).unwrap().len();
    for (quarter, name) in [(1, "a quarter"), (2, "half")] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        let copy = dir.path().join("data/journal.jobs");
        std::fs::copy(&journal, &copy).unwrap();
        damage(&copy, length * quarter / 4 / 4096 * 4096);

        let sim = start(World::open("demo")).await;
        let handle = sim.handle();
        let http = free_port();
        let config = write_config(
            dir.path(),
            sim.url().as_str(),
            &format!(
                "[mqtt]\nmode = \"external\"\nurl = \"mqtt://127.0.0.1:{port}\"\nclient_id = \"salvager-{quarter}\"\n"
            ),
        );
        with_http(&config, http);
        let watcher = Device::connect("watcher", port).await;
        watcher.subscribe("constellation/_adapter/error").await;
        let adapter_log = dir.path().join("adapter.log");
        let mut adapter = run(&config, &adapter_log);
        let kept: usize = wait_for("the salvage report", Duration::from_secs(60), || async {
            let log = std::fs::read_to_string(&adapter_log).ok()?;
            let at = log.find("the journal was damaged")?;
            let rest = &log[at..];
            let count = rest
                .split("; ")
                .find(|p| p.contains("retained messages kept in a new journal"))?;
            count.split_whitespace().next()?.parse().ok()
        })
        .await;
        let error = watcher
            .expect("constellation/_adapter/error", |p| {
                p.contains("journal was damaged")
            })
            .await;
        eprintln!(
            "damaged at {name}: {kept} of {logs} logs kept; {}",
            error.payload
        );
        assert!(kept > 0 && kept <= logs, "{kept} logs kept of {logs}");
        let moved: Vec<_> = std::fs::read_dir(dir.path().join("data"))
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("journal.jobs.damaged-")
            })
            .collect();
        assert_eq!(moved.len(), 1, "the damaged file is moved aside");
        wait_for(
            "the kept logs delivered",
            Duration::from_secs(60),
            || async { (delivered(&handle).len() == kept).then_some(()) },
        )
        .await;
        assert!(delivered(&handle).iter().all(|i| *i < logs));
        let damaged = wait_for("the metrics", Duration::from_secs(10), || {
            metric(http, "constellation_mqtt_journal_damaged_total")
        })
        .await;
        assert_eq!(damaged, 1.0);
        assert!(adapter.try_wait().unwrap().is_none(), "the adapter runs on");
        kill(&mut adapter);
        let log = std::fs::read_to_string(&adapter_log).unwrap();
        assert!(!log.contains("panicked"), "{log}");
    }
}

/// An empty journal file, or a file that is no journal at all, stops the start with an
/// error that names the file and says what to do; nothing is overwritten.
#[test]
fn an_empty_or_foreign_journal_is_a_clear_error() {
    for (content, what) in [
        (&b""[..], "the file is empty"),
        (&b"name,value\nsome,csv\n"[..], "not a redb database"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        let file = dir.path().join("data/journal.redb");
        std::fs::write(&file, content).unwrap();
        // No server and no broker are needed: the journal opens first.
        let config = embedded_config(
            dir.path(),
            "http://127.0.0.1:9/",
            free_port(),
            free_port(),
            "",
        );
        let out = Command::new(env!("CARGO_BIN_EXE_constellation-mqtt"))
            .args(["run", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("journal.redb")
                && stderr.contains(what)
                && stderr.contains("Move it away"),
            "{stderr}"
        );
        assert_eq!(std::fs::read(&file).unwrap(), content, "left as it was");
    }
}

/// A tmpfs mounted for one test, unmounted when dropped.
struct SmallDisk {
    path: PathBuf,
}

impl SmallDisk {
    /// A tmpfs of `size` (as `mount` takes it) at `path`; none where mounting is not
    /// possible (not root), with a NOTE.
    fn mount(path: PathBuf, size: &str) -> Option<Self> {
        std::fs::create_dir_all(&path).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            eprintln!(
                "NOTE: cannot mount a tmpfs here (not root?): the full-disk test did not run"
            );
            return None;
        }
        Some(Self { path })
    }

    fn resize(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.path)
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// The journal's file system fills up while the server is down: the embedded broker
/// stops acknowledging (devices are refused), the failure is reported once (log,
/// `_adapter/error`, `/readyz` 503, `journal_writable` 0); once there is room again
/// and the server is back, the adapter recovers by itself and every log the broker
/// acknowledged arrives; SIGTERM then stops it at once.
#[tokio::test]
async fn a_full_disk_acknowledges_nothing_it_cannot_keep_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let Some(disk) = SmallDisk::mount(dir.path().join("data"), "2m") else {
        return;
    };
    let sim = start(World::open("demo")).await;
    let handle = sim.handle();
    handle.set_faults(down());
    let (v4, v5, http) = (free_port(), free_port(), free_port());
    let config = embedded_config(dir.path(), sim.url().as_str(), v4, v5, "");
    with_http(&config, http);
    let adapter_log = dir.path().join("adapter.log");
    let adapter = run(&config, &adapter_log);
    let watcher = Device::connect("watcher", v4).await;
    watcher.wait_adapter_online("constellation").await;
    watcher.subscribe("constellation/_adapter/error").await;

    let streamer = Streamer::start(v4, usize::MAX, 4096);
    let error = watcher
        .expect("constellation/_adapter/error", |p| {
            p.contains("journal cannot be written")
        })
        .await;
    eprintln!("reported: {}", error.payload);
    let (status, body) = wait_for("/readyz to say so", Duration::from_secs(30), || async {
        get(format!("http://127.0.0.1:{http}/readyz"))
            .await
            .filter(|(_, body)| body.contains("the journal cannot be written"))
    })
    .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        metric(http, "constellation_mqtt_journal_writable").await,
        Some(0.0)
    );
    // The broker refuses the device's publishes instead of acknowledging them.
    wait_for("refusals", Duration::from_secs(30), || async {
        (*streamer.refusals.lock().unwrap() >= 3).then_some(())
    })
    .await;
    let stalled = streamer.acked();

    disk.resize("256m");
    handle.set_faults(Faults::default());
    wait_for(
        "the journal writable again",
        Duration::from_secs(60),
        || async {
            (metric(http, "constellation_mqtt_journal_writable").await == Some(1.0)).then_some(())
        },
    )
    .await;
    wait_for(
        "publishes acknowledged again",
        Duration::from_secs(60),
        || async { (streamer.acked() > stalled + 10).then_some(()) },
    )
    .await;
    let (acked, refusals) = streamer.finish().await;
    eprintln!(
        "{} logs acknowledged ({stalled} before the disk was full), {refusals} refused",
        acked.len()
    );
    all_arrive(&handle, &acked).await;
    let failures = metric(http, "constellation_mqtt_journal_failures_total").await;
    assert!(failures.is_some_and(|n| n >= 1.0), "{failures:?}");
    assert!(terminate(adapter).await.success());
    let log = std::fs::read_to_string(&adapter_log).unwrap();
    assert_eq!(
        log.matches("journal: commit failed;").count(),
        1,
        "reported once: {log}"
    );
}
