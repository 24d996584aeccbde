//! The embedded broker's configuration, credentials, and the external broker's
//! persistent session.

mod common;

use common::mqtt::*;
use common::*;
use constellation_mqtt::mqtt::embedded::{self, BrokerError};
use constellation_mqtt::sim::World;
use rumqttc::{AsyncClient, MqttOptions};
use serde_json::json;
use std::time::Duration;

fn write(dir: &tempfile::TempDir, text: &str) -> std::path::PathBuf {
    let path = dir.path().join("rumqttd.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn refused(text: &str, key: &str, reason: &str) {
    let dir = tempfile::tempdir().unwrap();
    match embedded::load(Some(&write(&dir, text)), 1024) {
        Err(BrokerError::Config(errors)) => assert!(
            errors
                .iter()
                .any(|e| e.key == key && e.reason.contains(reason)),
            "expected `{key}`: {reason}, got {errors:?}"
        ),
        other => panic!("expected a config error at {key}, got {other:?}"),
    }
}

#[test]
fn the_shipped_broker_config_is_valid() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("broker/rumqttd.toml");
    let config = embedded::load(Some(&path), 256 * 1024).unwrap().settings;
    assert!(config.v5.unwrap().values().all(|s| s.listen.port() == 1884));
}

#[test]
fn the_compiled_in_broker_listens_on_loopback_only() {
    let config = embedded::load(None, 256 * 1024).unwrap().settings;
    let listeners: Vec<_> = [config.v4, config.v5]
        .into_iter()
        .flatten()
        .flat_map(|servers| servers.into_values().map(|s| s.listen))
        .collect();
    assert_eq!(listeners.len(), 2, "{listeners:?}");
    assert!(
        listeners.iter().all(|a| a.ip().is_loopback()),
        "{listeners:?}"
    );
    let ports: Vec<u16> = listeners.iter().map(|a| a.port()).collect();
    assert!(ports.contains(&1883) && ports.contains(&1884), "{ports:?}");
}

#[test]
fn broker_configs_that_would_break_rumqttd_are_refused() {
    let good = broker_toml(1, 2, 4096);
    refused(
        &good.replace("max_segment_size = 4194304", "max_segment_size = 100"),
        "router.max_segment_size",
        "under 1024",
    );
    refused(
        &good.replace("max_segment_count = 4", "max_segment_count = 0"),
        "router.max_segment_count",
        "above 0",
    );
    refused(
        &good.replace("max_payload_size = 4096", "max_payload_size = 10"),
        "v4.1.connections.max_payload_size",
        "below mqtt.max_payload_bytes",
    );
    refused(
        &good
            .replace("[v5.1]", "[v6.1]")
            .replace("[v5.1.connections]", "[v6.1.connections]"),
        "v5",
        "MQTT 5 listener",
    );
    refused(
        &format!("{good}\n[prometheus]\nlisten = \"127.0.0.1:9042\"\n"),
        "prometheus",
        "not supported",
    );
    refused(
        &good.replace("listen = \"127.0.0.1:1\"", "listen = \"nowhere\""),
        "v4.1.listen",
        "",
    );
    refused(
        &good.replace(
            "max_inflight_count = 100",
            "max_inflight_count = \"${CM_TEST_UNSET_VARIABLE}\"",
        ),
        "v4.1.connections.max_inflight_count",
        "CM_TEST_UNSET_VARIABLE is not set",
    );
}

#[tokio::test]
async fn a_port_in_use_is_a_clear_error() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let config = embedded::load(
        Some(&write(&dir, &broker_toml(port, free_port(), 4096))),
        1024,
    )
    .unwrap();
    let err = embedded::start(config.settings).unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{err}"
    );
}

#[tokio::test]
async fn a_started_broker_already_holds_its_ports() {
    // The listeners are bound inside `start`: once it returns, nobody else can take their
    // ports (rumqttd bound them later, in its own task, and only logged a port taken
    // meanwhile, while the adapter went on connecting to nothing).
    let dir = tempfile::tempdir().unwrap();
    let mut attempts = 0;
    let (broker, v4) = loop {
        let v4 = free_port();
        let config = embedded::load(
            Some(&write(&dir, &broker_toml(v4, free_port(), 4096))),
            1024,
        )
        .unwrap();
        match embedded::start(config.settings) {
            Ok(broker) => break (broker, v4),
            Err(BrokerError::Listen { .. }) if attempts < 5 => attempts += 1,
            Err(e) => panic!("the broker starts: {e}"),
        }
    };
    for addr in broker.v4.iter().chain(&broker.v5) {
        let taken = std::net::TcpListener::bind(addr).map(drop).unwrap_err();
        assert_eq!(taken.kind(), std::io::ErrorKind::AddrInUse, "{addr}");
    }
    let options = MqttOptions::new("early", "127.0.0.1", v4);
    let (_client, mut eventloop) = AsyncClient::new(options, 10);
    assert!(
        connack(&mut eventloop).await,
        "a client connecting at once is served"
    );
}

/// Connects with `credentials` and returns whether the broker accepted (CONNACK) or
/// closed the connection.
async fn accepted(port: u16, credentials: (&str, &str)) -> bool {
    let mut options = MqttOptions::new(format!("auth-{}", free_port()), "127.0.0.1", port);
    options.set_credentials(credentials.0, credentials.1);
    let (_client, mut eventloop) = AsyncClient::new(options, 10);
    connack(&mut eventloop).await
}

#[tokio::test]
async fn embedded_broker_credentials_come_from_the_environment() {
    std::env::set_var("CM_TEST_ADAPTER_PASSWORD", "adapter-secret");
    let h = Harness::embedded_as(World::open("demo"), Some(("device", "device-secret")), |c| {
        let path = c.mqtt.broker_config.clone();
        let path = path.expect("a broker file");
        let text = std::fs::read_to_string(&path).unwrap().replace(
            "dynamic_filters = true",
            "dynamic_filters = true\n    auth = { adapter = \"${CM_TEST_ADAPTER_PASSWORD}\", device = \"device-secret\" }",
        );
        std::fs::write(&path, text).unwrap();
        c.mqtt.username = Some("adapter".into());
        c.mqtt.password = Some("adapter-secret".into());
    })
    .await; // the harness waited for the adapter's `online`: the adapter logged in
    assert!(
        !accepted(h.port, ("device", "wrong")).await,
        "a wrong password is refused"
    );
    assert!(!accepted(h.port, ("intruder", "device-secret")).await);
    assert!(accepted(h.port, ("device", "device-secret")).await);
}

#[tokio::test]
async fn publishes_made_while_the_adapter_was_away_are_delivered_when_it_returns() {
    let mut h = Harness::external(World::open("demo"), |c| {
        c.mqtt.client_id = "persistent-adapter".into()
    })
    .await;
    h.stop_adapter().await;
    let d = h.device("meanwhile").await;
    for i in 0..20 {
        d.publish("constellation/Away/Dev/log", format!("while away {i}"))
            .await;
    }
    d.publish("constellation/Away/Dev/stateobject/Last", "20")
        .await;
    // The same client id again: Mosquitto kept the session and its queued publishes.
    h.start_adapter().await;
    let handle = h.sim.handle();
    wait_for(
        "the publishes made meanwhile",
        Duration::from_secs(15),
        || async {
            let logs = handle.logs(None);
            let so = handle.state_object("Away", "Dev", "Last")?;
            (logs.len() == 20 && so.value == json!(20)).then_some(logs)
        },
    )
    .await
    .iter()
    .enumerate()
    .for_each(|(i, l)| assert_eq!(l.message, format!("while away {i}")));
}

#[tokio::test]
async fn mqtt5_properties_do_not_crash_mqtt311_subscribers() {
    use rumqttc::v5::mqttbytes::v5::PublishProperties;
    let h = Harness::embedded(World::open("demo"), |_| {}).await;
    let old = h.device("v311").await;
    old.subscribe("shared/topic").await;
    let (client, mut eventloop) = rumqttc::v5::AsyncClient::new(
        rumqttc::v5::MqttOptions::new("v5-pub", "127.0.0.1", h.v5_port),
        10,
    );
    tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
    let props = PublishProperties {
        user_properties: vec![("k".into(), "v".into())],
        response_topic: Some("reply/here".into()),
        ..PublishProperties::default()
    };
    // The 3.1.1 subscriber's SUBACK is in: one publish with properties must reach it,
    // without them, and the broker must go on serving.
    client
        .publish_with_properties(
            "shared/topic",
            rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
            false,
            "hi",
            props,
        )
        .await
        .unwrap();
    let got = old.expect("shared/topic", |p| p == "hi").await;
    assert_eq!(got.payload, "hi");
    let d = h.device("after").await;
    d.publish("constellation/Still/Alive/stateobject/Yes", "true")
        .await;
    let handle = h.sim.handle();
    wait_for(
        "the broker still routing",
        Duration::from_secs(15),
        || async { handle.state_object("Still", "Alive", "Yes").map(drop) },
    )
    .await;
}

/// Clients coming and going as clients do (a clean disconnect, `mosquitto_pub` over
/// MQTT 3.1.1 and 5, a connection reset, a TCP probe that never speaks MQTT) are not
/// problems: the adapter's log has no ERROR or WARN line for them.
#[tokio::test]
async fn ordinary_clients_coming_and_going_log_no_error_or_warning() {
    let sim = start(World::open("demo")).await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("adapter.log");
    // A port found free may be taken by another test before the adapter binds it: the
    // adapter then exits (or, taken between its check and its bind, logs the listener's
    // error), and the device would meet another test's broker or none. Again, other ports.
    let who = constellation_mqtt::sim::Participant::parse("Quiet/Dev").unwrap();
    let handle = sim.handle();
    let mut attempts = 0;
    let (mut adapter, v4, v5, d) = loop {
        attempts += 1;
        let (v4, v5) = (free_port(), free_port());
        std::fs::write(
            dir.path().join("rumqttd.toml"),
            broker_toml(v4, v5, 256 * 1024),
        )
        .unwrap();
        let config = binary::write_config(
            dir.path(),
            sim.url().as_str(),
            "[mqtt]\nbroker_config = \"rumqttd.toml\"\n\n[storage]\ndurability = \"memory\"\n",
        );
        let mut adapter = binary::run(&config, &log);
        let ours = async {
            let d = Device::connect("comes-and-goes", v4).await;
            d.wait_adapter_online("constellation").await;
            d.publish("constellation/Quiet/Dev/log", "first").await;
            wait_for("the first log", Duration::from_secs(20), || async {
                handle
                    .logs(Some(&who))
                    .iter()
                    .any(|l| l.message == "first")
                    .then_some(())
            })
            .await;
            d
        };
        let gone = async {
            while adapter.try_wait().ok().flatten().is_none()
                && !std::fs::read_to_string(&log).is_ok_and(|t| t.contains(" ERROR "))
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        let connected = tokio::select! {
            d = ours => Some(d),
            () = gone => None,
        };
        match connected {
            Some(d) => break (adapter, v4, v5, d),
            None => {
                let _ = adapter.kill();
                let _ = adapter.wait();
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                assert!(attempts < 5, "the adapter never came up:\n{text}");
            }
        }
    };
    d.client.disconnect().await.unwrap();
    for (port, version, line) in [(v4, "311", "second"), (v5, "5", "third")] {
        let status = std::process::Command::new("mosquitto_pub")
            .args(["-p", &port.to_string(), "-V", version, "-q", "1"])
            .args(["-t", "constellation/Quiet/Dev/log", "-m", line])
            .status()
            .expect("mosquitto_pub (scripts/test.sh installs it)");
        assert!(status.success());
    }
    // A subscriber killed mid-session, a TCP probe.
    let mut sub = std::process::Command::new("mosquitto_sub")
        .args(["-p", &v4.to_string(), "-t", "constellation/#"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    drop(
        tokio::net::TcpStream::connect(("127.0.0.1", v4))
            .await
            .unwrap(),
    );
    let late = Device::connect("late", v4).await;
    late.publish("constellation/Quiet/Dev/log", "last").await;
    wait_for("the last log", Duration::from_secs(15), || async {
        handle
            .logs(Some(&who))
            .iter()
            .any(|l| l.message == "last")
            .then_some(())
    })
    .await;
    let _ = sub.kill();
    let _ = sub.wait();
    drop(late);
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &adapter.id().to_string()])
        .status();
    let _ = adapter.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    let loud: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" ERROR ") || l.contains(" WARN "))
        .collect();
    assert!(loud.is_empty(), "{loud:#?}");
}
