//! Nothing acknowledged is lost: the built binary, killed with SIGKILL while its work is
//! still on the way to a slow server, delivers all of it after a restart — against an
//! external Mosquitto with persistence (the broker keeps what the adapter had not
//! acknowledged, the journal what it had), and against the embedded broker (whose
//! retained topics the journal keeps).

mod common;

use common::binary::{kill, run, write_config};
use common::mqtt::{free_port, Device, Mosquitto};
use common::{start, wait_for};
use constellation_mqtt::sim::{Faults, Participant, SimHandle, World};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const LOGS: usize = 120;
const MESSAGES: usize = 40;
const UPDATES: usize = 100;
const STATUS: &str = "constellation/_adapter/status";

/// Everything that reached the message sink's inbox, kept by a background poller.
fn collect_inbox(handle: SimHandle, who: Participant) -> Arc<Mutex<Vec<Value>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let out = seen.clone();
    tokio::spawn(async move {
        loop {
            let got = handle.inbox(&who, Duration::from_millis(500)).await;
            out.lock().unwrap().extend(got.into_iter().map(|m| m.data));
        }
    });
    seen
}

/// The test's load: logs, messages to `Durable/Sink` and updates of one StateObject, all
/// from `Durable/Device`, at QoS 1.
async fn publish_load(device: &Device) {
    for i in 0..UPDATES.max(LOGS).max(MESSAGES) {
        if i < LOGS {
            device
                .publish("constellation/Durable/Device/log", format!("log-{i}"))
                .await;
        }
        if i < MESSAGES {
            let message = json!({
                "Scope": {"Type": "Package", "Args": ["Durable/Sink"]},
                "Key": "Count",
                "Data": i,
            });
            device
                .publish("constellation/Durable/Device/message", message.to_string())
                .await;
        }
        if i < UPDATES {
            device
                .publish(
                    "constellation/Durable/Device/stateobject/Counter",
                    i.to_string(),
                )
                .await;
        }
    }
}

/// Waits until every log, every message and the last StateObject value have reached the
/// server, and checks that none of them was delivered more than twice.
async fn everything_arrives(handle: &SimHandle, inbox: &Arc<Mutex<Vec<Value>>>) {
    let device = Participant::parse("Durable/Device").unwrap();
    let (logs, messages) = wait_for(
        "every log, every message and the last value",
        Duration::from_secs(90),
        || async {
            let logs: Vec<String> = handle
                .logs(Some(&device))
                .into_iter()
                .map(|l| l.message)
                .filter(|m| m.starts_with("log-"))
                .collect();
            let messages = inbox.lock().unwrap().clone();
            let distinct_logs: HashSet<_> = logs.iter().collect();
            let distinct_messages: HashSet<_> = messages.iter().map(Value::to_string).collect();
            let last = handle
                .state_object("Durable", "Device", "Counter")
                .map(|so| so.value);
            (distinct_logs.len() == LOGS
                && distinct_messages.len() == MESSAGES
                && last == Some(json!(UPDATES - 1)))
            .then_some((logs, messages))
        },
    )
    .await;
    let duplicates = (logs.len() - LOGS) + (messages.len() - MESSAGES);
    eprintln!(
        "{} logs, {} messages ({LOGS} and {MESSAGES} distinct): {duplicates} duplicates",
        logs.len(),
        messages.len(),
    );
    let mut deliveries: HashMap<String, usize> = HashMap::new();
    for item in logs
        .into_iter()
        .chain(messages.iter().map(Value::to_string))
    {
        *deliveries.entry(item).or_default() += 1;
    }
    let worst = deliveries.iter().max_by_key(|(_, n)| **n);
    assert!(
        worst.is_none_or(|(_, n)| *n <= 2),
        "at most one extra delivery each; the most delivered: {worst:?}"
    );
}

fn external_config(dir: &Path, sim_url: &str, port: u16) -> PathBuf {
    let mqtt = format!(
        "[mqtt]\nmode = \"external\"\nurl = \"mqtt://127.0.0.1:{port}\"\nclient_id = \"durable-adapter\"\n"
    );
    write_config(dir, sim_url, &mqtt)
}

async fn killed_mid_stream_with_mosquitto(server_down_during_the_kill: bool) {
    let sim = start(World::open("demo")).await;
    let handle = sim.handle();
    handle.set_faults(Faults {
        delay_ms: 20,
        status: None,
        management_status: None,
        lie: None,
    });
    let port = free_port();
    let _mosquitto = Mosquitto::start_persistent(port).await;
    let dir = tempfile::tempdir().unwrap();
    let config = external_config(dir.path(), sim.url().as_str(), port);
    let mut adapter = run(&config, &dir.path().join("first.log"));

    let sink = Participant::parse("Durable/Sink").unwrap();
    handle.inbox(&sink, Duration::ZERO).await;
    let inbox = collect_inbox(handle.clone(), sink);
    let device = Device::connect("durable-device", port).await;
    device.wait_adapter_online("constellation").await;
    publish_load(&device).await;
    // Killed while most of the work is still on its way to the slow server.
    let device_id = Participant::parse("Durable/Device").unwrap();
    wait_for("the first logs", Duration::from_secs(30), || async {
        (handle.logs(Some(&device_id)).len() >= 5).then_some(())
    })
    .await;
    if server_down_during_the_kill {
        handle.set_faults(Faults {
            delay_ms: 0,
            status: Some(503),
            management_status: None,
            lie: None,
        });
    }
    kill(&mut adapter);
    let delivered = handle.logs(Some(&device_id)).len();
    assert!(
        delivered < LOGS,
        "the kill came before the work was done ({delivered} logs delivered)"
    );

    let mut adapter = run(&config, &dir.path().join("second.log"));
    device.expect(STATUS, |p| p == "online").await;
    if server_down_during_the_kill {
        handle.set_faults(Faults::default());
    }
    everything_arrives(&handle, &inbox).await;
    kill(&mut adapter);
}

#[tokio::test]
async fn a_killed_adapter_loses_nothing_with_mosquitto() {
    killed_mid_stream_with_mosquitto(false).await;
}

#[tokio::test]
async fn a_killed_adapter_loses_nothing_while_the_server_is_down() {
    killed_mid_stream_with_mosquitto(true).await;
}

/// The value of counter `name` in the `/metrics` of the adapter listening on `http`
/// (none while it does not answer).
async fn counter(http: u16, name: &str) -> Option<u64> {
    constellation_mqtt::tls::install_crypto_provider();
    let text = reqwest::get(format!("http://127.0.0.1:{http}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let line = text.lines().find(|l| l.starts_with(name))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Waits until the adapter on `http` has committed its journal twice more: the second
/// of those commits began after every operation sent before this call. Each round
/// publishes a log on `marker` (a commit needs work to keep).
async fn two_more_commits(http: u16, device: &Device, marker: &str) {
    const COMMITS: &str = "constellation_mqtt_journal_commits_total";
    let c0 = wait_for("the adapter's metrics", Duration::from_secs(30), || {
        counter(http, COMMITS)
    })
    .await;
    wait_for(
        "two more journal commits",
        Duration::from_secs(30),
        || async {
            device.publish(marker, "marker").await;
            counter(http, COMMITS).await.filter(|c| *c >= c0 + 2)
        },
    )
    .await;
}

/// A server down from the start, and the adapter killed twice: the second run queues
/// what the first one's journal held anew and is killed once that is committed; the
/// third delivers everything when the server is back. (Each package's journal keys
/// used to start again at 1 in every run: a job restored under the key it had been
/// found under was forgotten by the restore itself, and the second kill lost it.)
#[tokio::test]
async fn an_adapter_killed_twice_during_an_outage_loses_nothing() {
    let sim = start(World::open("demo")).await;
    let handle = sim.handle();
    let down = Faults {
        delay_ms: 0,
        status: Some(503),
        management_status: None,
        lie: None,
    };
    handle.set_faults(down);
    let port = free_port();
    let _mosquitto = Mosquitto::start_persistent(port).await;
    let dir = tempfile::tempdir().unwrap();
    let http = free_port();
    let config = external_config(dir.path(), sim.url().as_str(), port);
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("127.0.0.1:0", &format!("127.0.0.1:{http}")),
    )
    .unwrap();
    let sink = Participant::parse("Durable/Sink").unwrap();
    let inbox = collect_inbox(handle.clone(), sink);
    let marker = "constellation/Durable/Marker/log";

    let mut adapter = run(&config, &dir.path().join("first.log"));
    let device = Device::connect("durable-device", port).await;
    device.wait_adapter_online("constellation").await;
    publish_load(&device).await;
    two_more_commits(http, &device, marker).await;
    kill(&mut adapter);

    let mut adapter = run(&config, &dir.path().join("second.log"));
    two_more_commits(http, &device, marker).await;
    let restored = counter(http, "constellation_mqtt_jobs_restored_total").await;
    assert!(
        restored.is_some_and(|n| n > 0),
        "the second run found the first one's work in the journal ({restored:?})"
    );
    kill(&mut adapter);

    let mut adapter = run(&config, &dir.path().join("third.log"));
    handle.set_faults(Faults::default());
    everything_arrives(&handle, &inbox).await;
    kill(&mut adapter);
}

/// A journal written by an adapter of before 2026-12-03 (jobs keyed by package, then a
/// per-package number) is read: its jobs are delivered, each package's in order.
#[tokio::test]
async fn a_journal_of_the_previous_layout_is_delivered() {
    use constellation_mqtt::constellation::model::LogLevel;
    use constellation_mqtt::native::Intent;
    use constellation_mqtt::package::{Job, Origin};
    const OLD: redb::TableDefinition<(&str, &str, u64), &[u8]> = redb::TableDefinition::new("jobs");
    let sim = start(World::open("demo")).await;
    let handle = sim.handle();
    let port = free_port();
    let _mosquitto = Mosquitto::start(port).await;
    let dir = tempfile::tempdir().unwrap();
    let config = external_config(dir.path(), sim.url().as_str(), port);
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let db = redb::Database::create(dir.path().join("data/journal.redb")).unwrap();
    let write = db.begin_write().unwrap();
    {
        let mut jobs = write.open_table(OLD).unwrap();
        // Two packages, each with keys from 1, as every package had them.
        for (package, key) in [("A", 1), ("A", 2), ("B", 1), ("A", 3), ("B", 2)] {
            let job = Job {
                intent: Intent::WriteLog {
                    level: LogLevel::Info,
                    message: format!("old-{package}-{key}"),
                },
                origin: Origin {
                    topic: format!("constellation/Old/{package}/log"),
                    payload: String::new(),
                },
            };
            let record = serde_json::to_vec(&job).unwrap();
            jobs.insert(("Old", package, key), record.as_slice())
                .unwrap();
        }
    }
    write.commit().unwrap();
    drop(db);

    let mut adapter = run(&config, &dir.path().join("adapter.log"));
    for (package, expected) in [
        ("A", vec!["old-A-1", "old-A-2", "old-A-3"]),
        ("B", vec!["old-B-1", "old-B-2"]),
    ] {
        let who = Participant::parse(&format!("Old/{package}")).unwrap();
        wait_for(
            "the old journal's logs, in order",
            Duration::from_secs(30),
            || async {
                let logs: Vec<String> = handle
                    .logs(Some(&who))
                    .into_iter()
                    .map(|l| l.message)
                    .collect();
                (logs == expected).then_some(())
            },
        )
        .await;
    }
    kill(&mut adapter);
    // Moved when the journal opened: no later run reads the old table again.
    let db = redb::Database::create(dir.path().join("data/journal.redb")).unwrap();
    let read = redb::ReadableDatabase::begin_read(&db).unwrap();
    assert!(read.open_table(OLD).is_err(), "the old table is gone");
}

fn embedded_config(dir: &Path, sim_url: &str, v4: u16, v5: u16) -> PathBuf {
    std::fs::write(
        dir.join("rumqttd.toml"),
        common::mqtt::broker_toml(v4, v5, 256 * 1024),
    )
    .unwrap();
    let rest = "[mqtt]\nbroker_config = \"rumqttd.toml\"\n\n[[preset]]\nkind = \"zigbee2mqtt\"\n";
    write_config(dir, sim_url, rest)
}

/// What the device of `Durable/Thermo` declared, retained, is in force at `handle`'s
/// server: its groups, its StateObject link, its descriptor, its availability.
async fn declarations_in_force(handle: &SimHandle) {
    wait_for(
        "the group, the link, the descriptor and the status",
        Duration::from_secs(30),
        || async {
            let subs = handle.subscriptions();
            let grouped = subs.iter().any(|s| {
                s.owner == "Durable/Thermo" && s.polling > 0 && s.groups.contains(&"Kitchen".into())
            });
            let linked = subs.iter().any(|s| {
                s.owner == "Durable/Thermo"
                    && s.polling > 0
                    && s.filters.iter().any(|f| f.package == "Mem")
            });
            let described = handle.descriptors().contains_key("Durable/Thermo");
            let online = handle
                .state_object("Durable", "Thermo", "Online")
                .is_some_and(|so| so.value == json!(true));
            (grouped && linked && described && online).then_some(())
        },
    )
    .await;
}

/// Packages whose device said `online`, retained, before the restart.
const MANY: usize = 250;

/// Every one of the [`MANY`] packages is online at `handle`'s server.
async fn all_online(handle: &SimHandle) {
    wait_for("every package online", Duration::from_secs(60), || async {
        (0..MANY)
            .all(|i| {
                handle
                    .state_object("Many", &format!("P{i}"), "Online")
                    .is_some_and(|so| so.value == json!(true))
            })
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_restarted_adapter_keeps_the_embedded_brokers_retained_topics() {
    let first_server = start(World::open("demo")).await;
    let dir = tempfile::tempdir().unwrap();
    let (v4, v5) = (free_port(), free_port());
    let config = embedded_config(dir.path(), first_server.url().as_str(), v4, v5);
    let mut adapter = run(&config, &dir.path().join("first.log"));
    let device = Device::connect("thermo", v4).await;
    device.wait_adapter_online("constellation").await;
    // More retained topics than the broker's in-flight window (100) holds.
    for i in 0..MANY {
        device
            .publish_retained(&format!("constellation/Many/P{i}/status"), "online")
            .await;
    }
    for (topic, payload) in [
        (
            "constellation/Durable/Thermo/groups",
            r#"["Kitchen"]"#.to_owned(),
        ),
        (
            "constellation/Durable/Thermo/subscribe",
            r#"{"Package": "Mem"}"#.to_owned(),
        ),
        (
            "constellation/Durable/Thermo/descriptor",
            json!({"MessageCallbacks": [{"MessageKey": "Reset", "Parameters": []}]}).to_string(),
        ),
        ("constellation/Durable/Thermo/status", "online".to_owned()),
        ("zigbee2mqtt/bridge/devices", bridge_devices()),
    ] {
        device.publish_retained(topic, payload).await;
    }
    declarations_in_force(&first_server.handle()).await;
    all_online(&first_server.handle()).await;
    kill(&mut adapter);
    drop(device);

    // A new server knows nothing of the first run: what it gets comes from the
    // adapter's restored broker, without any device publishing again.
    let server = start(World::open("demo")).await;
    let config = embedded_config(dir.path(), server.url().as_str(), v4, v5);
    let mut adapter = run(&config, &dir.path().join("second.log"));
    let handle = server.handle();
    declarations_in_force(&handle).await;
    all_online(&handle).await;
    // The learned Zigbee2MQTT device still maps its state.
    let bulb = Device::connect("bulb", v4).await;
    bulb.wait_adapter_online("constellation").await;
    bulb.publish(
        "zigbee2mqtt/bulb_color",
        r#"{"state": "ON", "brightness": 12}"#,
    )
    .await;
    wait_for(
        "the learned bulb's state",
        Duration::from_secs(30),
        || async {
            handle
                .state_object("Zigbee", "bulb_color", "brightness")
                .filter(|so| so.value.as_f64() == Some(12.0))
                .map(drop)
        },
    )
    .await;
    kill(&mut adapter);
}

/// A Zigbee2MQTT bridge list with one bulb.
fn bridge_devices() -> String {
    json!([
        {"friendly_name": "Coordinator", "type": "Coordinator", "ieee_address": "0x00", "definition": null},
        {"friendly_name": "bulb_color", "type": "Router", "ieee_address": "0x01",
         "definition": {"model": "LED1624G9", "exposes": [
            {"type": "light", "features": [
                {"type": "binary", "name": "state", "property": "state", "value_on": "ON", "value_off": "OFF"},
                {"type": "numeric", "name": "brightness", "property": "brightness"}
            ]}
         ]}}
    ])
    .to_string()
}

#[test]
fn two_adapters_cannot_share_one_journal() {
    let dir = tempfile::tempdir().unwrap();
    let storage = constellation_mqtt::config::StorageConfig {
        dir: Some(dir.path().join("data")),
        ..Default::default()
    };
    let _first = constellation_mqtt::journal::Journal::open(&storage).unwrap();
    let Err(e) = constellation_mqtt::journal::Journal::open(&storage) else {
        panic!("a second journal on the same directory opened");
    };
    let text = e.to_string();
    assert!(
        text.contains("journal.redb") && text.to_lowercase().contains("already open"),
        "{text}"
    );
}
