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
use std::collections::HashSet;
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
/// server; returns the duplicates (logs and messages delivered more than once).
async fn everything_arrives(handle: &SimHandle, inbox: &Arc<Mutex<Vec<Value>>>) -> usize {
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
    duplicates
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
    let duplicates = everything_arrives(&handle, &inbox).await;
    assert!(
        duplicates <= LOGS + MESSAGES,
        "at most one extra delivery each"
    );
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
