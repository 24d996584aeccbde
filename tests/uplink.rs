//! Device → Constellation end to end: real MQTT clients, the real embedded broker (and a
//! real Mosquitto), the adapter, the simulator over HTTP.

mod common;

use common::mqtt::*;
use common::*;
use constellation_mqtt::config::{PackageConfig, SoDefaults};
use constellation_mqtt::constellation::model::{LogLevel, ScopeType, SenderType, SoFilter};
use constellation_mqtt::sim::{Participant, World};
use serde_json::{json, Value};
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

/// The simulator answering every request after `delay_ms`.
fn slow(delay_ms: u64) -> constellation_mqtt::sim::Faults {
    constellation_mqtt::sim::Faults {
        delay_ms,
        ..Default::default()
    }
}

fn p(s: &str, p: &str) -> Participant {
    Participant {
        sentinel: s.into(),
        package: p.into(),
    }
}

/// Waits until the simulator holds `S/P/name` with `value`, and returns it.
async fn so_value(
    h: &Harness,
    s: &str,
    pk: &str,
    name: &str,
    value: Value,
) -> constellation_mqtt::constellation::model::StateObject {
    let handle = h.sim.handle();
    wait_for(&format!("{s}/{pk}/{name} = {value}"), T, || async {
        handle
            .state_object(s, pk, name)
            .filter(|so| so.value == value)
    })
    .await
}

async fn logs(h: &Harness, s: &str, pk: &str, n: usize) -> Vec<(LogLevel, String)> {
    let handle = h.sim.handle();
    wait_for(&format!("{n} logs of {s}/{pk}"), T, || async {
        let logs = handle.logs(Some(&p(s, pk)));
        (logs.len() >= n).then(|| logs.into_iter().map(|l| (l.level, l.message)).collect())
    })
    .await
}

/// Publishes every uplink topic of the spec and checks what Constellation got.
async fn every_uplink_topic(h: &Harness) {
    let d = h.device("thermo").await;
    let base = "constellation/Salon/Thermo";
    for (name, payload, value, type_name) in [
        ("Int", "21", json!(21), "System.Int32"),
        ("Big", "3000000000", json!(3_000_000_000i64), "System.Int64"),
        ("Double", "21.0", json!(21.0), "System.Double"),
        ("Exp", "2e3", json!(2000.0), "System.Double"),
        ("Bool", "true", json!(true), "System.Boolean"),
        ("Text", "hello world", json!("hello world"), "System.String"),
        ("Quoted", "\"quoted\"", json!("quoted"), "System.String"),
        ("/intelcpu/load/0", "12", json!(12), "System.Int32"),
    ] {
        d.publish(&format!("{base}/stateobject/{name}"), payload)
            .await;
        let so = so_value(h, "Salon", "Thermo", name, value).await;
        assert_eq!(so.type_name.as_deref(), Some(type_name), "{name}");
        assert_eq!(so.lifetime, 0);
    }
    d.publish(
        &format!("{base}/stateobject/Object"),
        r#"{"T": 21.5, "H": 40}"#,
    )
    .await;
    let so = so_value(h, "Salon", "Thermo", "Object", json!({"T": 21.5, "H": 40})).await;
    assert_eq!(so.type_name, None, "objects get no inferred type");

    // Configured per-SO defaults (see `configure`).
    d.publish(&format!("{base}/stateobject/Temperature"), "22.5")
        .await;
    let so = so_value(h, "Salon", "Thermo", "Temperature", json!(22.5)).await;
    assert_eq!(so.type_name.as_deref(), Some("System.Single"));
    assert_eq!(so.lifetime, 600);
    assert_eq!(so.metadatas.unwrap()["Room"], json!("Salon"));
    d.publish(&format!("{base}/stateobject/Humidity.Max"), "40")
        .await;
    let so = so_value(h, "Salon", "Thermo", "Humidity.Max", json!(40)).await;
    assert_eq!(so.lifetime, 30, "a glob rule");

    // The full form.
    d.publish(
        &format!("{base}/stateobject"),
        r#"{"Name": "Full", "Value": {"a": 1}, "Type": "MyType", "Lifetime": 60, "Metadatas": {"k": "v"}}"#,
    )
    .await;
    let so = so_value(h, "Salon", "Thermo", "Full", json!({"a": 1})).await;
    assert_eq!((so.type_name.as_deref(), so.lifetime), (Some("MyType"), 60));
    assert_eq!(so.metadatas.unwrap()["k"], json!("v"));

    // Purges: an empty payload, then the purge topic.
    d.publish(&format!("{base}/stateobject/Text"), "").await;
    let handle = h.sim.handle();
    wait_for("Text purged", T, || async {
        handle
            .state_object("Salon", "Thermo", "Text")
            .is_none()
            .then_some(())
    })
    .await;
    d.publish(&format!("{base}/purge"), r#"{"Type": "System.Boolean"}"#)
        .await;
    wait_for("Bool purged", T, || async {
        handle
            .state_object("Salon", "Thermo", "Bool")
            .is_none()
            .then_some(())
    })
    .await;
    assert!(handle.state_object("Salon", "Thermo", "Int").is_some());
    d.publish(&format!("{base}/purge"), "").await;
    wait_for("all purged", T, || async {
        handle
            .state_objects(&SoFilter {
                package: "Thermo".into(),
                ..SoFilter::default()
            })
            .is_empty()
            .then_some(())
    })
    .await;

    // Logs.
    d.publish(&format!("{base}/log"), "started").await;
    d.publish(&format!("{base}/log/warn"), "warm").await;
    d.publish(&format!("{base}/log/WARNING"), "hot").await;
    d.publish(&format!("{base}/log/Error"), "burning").await;
    d.publish(&format!("{base}/log/info"), "ok again").await;
    assert_eq!(
        logs(h, "Salon", "Thermo", 5).await,
        [
            (LogLevel::Info, "started".to_string()),
            (LogLevel::Warn, "warm".into()),
            (LogLevel::Warn, "hot".into()),
            (LogLevel::Error, "burning".into()),
            (LogLevel::Info, "ok again".into()),
        ]
    );

    // A message, with a top-level saga id, to a consumer.
    let console = p("Consumer", "Console");
    h.sim.handle().inbox(&console, Duration::ZERO).await;
    d.publish(
        &format!("{base}/message"),
        r#"{"Scope": {"Type": "Package", "Args": ["Consumer/Console"]}, "Key": "Alert", "Data": [1, "two"], "SagaId": "saga-7"}"#,
    )
    .await;
    let msgs = within("the message", h.sim.handle().inbox(&console, T)).await;
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].key, "Alert");
    assert_eq!(msgs[0].data, json!([1, "two"]));
    assert_eq!(msgs[0].scope.kind, ScopeType::Package);
    assert_eq!(msgs[0].scope.saga_id.as_deref(), Some("saga-7"));
    assert_eq!(msgs[0].sender.friendly_name, "Salon/Thermo");
    assert_eq!(msgs[0].sender.kind, SenderType::ConstellationHttp);

    // The descriptor, its PackageName forced.
    d.publish(
        &format!("{base}/descriptor"),
        r#"{"PackageName": "Wrong", "MessageCallbacks": [{"MessageKey": "Reset"}]}"#,
    )
    .await;
    let descriptor = wait_for("the descriptor", T, || async {
        handle.descriptors().get("Salon/Thermo").cloned()
    })
    .await;
    assert_eq!(descriptor["PackageName"], json!("Thermo"));
    assert_eq!(
        descriptor["MessageCallbacks"][0]["MessageKey"],
        json!("Reset")
    );

    // Availability → the Online StateObject and a log line.
    d.publish(&format!("{base}/status"), "online").await;
    so_value(h, "Salon", "Thermo", "Online", json!(true)).await;
    d.publish(&format!("{base}/status"), "Offline").await;
    let so = so_value(h, "Salon", "Thermo", "Online", json!(false)).await;
    assert_eq!(so.type_name.as_deref(), Some("System.Boolean"));
    let all = logs(h, "Salon", "Thermo", 7).await;
    assert_eq!(all[5].1, "Salon/Thermo is online");
    assert_eq!(all[6].1, "Salon/Thermo is offline");

    // Intent recorded for the downlink: groups and SO filters.
    d.publish(&format!("{base}/groups"), r#"["Sensors", "Salon"]"#)
        .await;
    d.publish(
        &format!("{base}/subscribe"),
        r#"[{"Package": "HWMonitor"}, {"Name": "Online"}]"#,
    )
    .await;
    let state = wait_for("groups and filters recorded", T, || async {
        h.package("Salon", "Thermo")
            .filter(|s| !s.filters.is_empty())
    })
    .await;
    assert_eq!(state.groups, ["Sensors", "Salon"]);
    assert_eq!(state.filters[0].package, "HWMonitor");
    assert_eq!(state.filters[1].name, "Online");

    // settings/get → the settings, retained.
    d.subscribe(&format!("{base}/settings")).await;
    d.publish(&format!("{base}/settings/get"), "").await;
    let settings = d.expect(&format!("{base}/settings"), |_| true).await;
    assert_eq!(
        serde_json::from_str::<Value>(&settings.payload).unwrap(),
        json!({"Interval": 10})
    );
}

fn world() -> World {
    World::open("demo").with_package(
        "Salon",
        None,
        constellation_mqtt::sim::PackageDecl::new("Thermo")
            .with_key("demo")
            .with_settings(json!({"Interval": 10})),
    )
}

fn configure(c: &mut constellation_mqtt::config::Config) {
    let mut stateobjects = std::collections::BTreeMap::new();
    stateobjects.insert(
        "Temperature".to_string(),
        SoDefaults {
            type_name: Some("System.Single".into()),
            lifetime: Some(600),
            metadata: json!({"Room": "Salon"}).as_object().unwrap().clone(),
        },
    );
    stateobjects.insert(
        "Humidity.*".to_string(),
        SoDefaults {
            lifetime: Some(30),
            ..SoDefaults::default()
        },
    );
    c.packages.push(PackageConfig {
        sentinel: "Salon".into(),
        package: "Thermo".into(),
        access_key: None,
        callback_payload: Default::default(),
        so_payload: Default::default(),
        subscribe: Vec::new(),
        groups: Vec::new(),
        settings: Default::default(),
        stateobjects,
    });
}

#[tokio::test]
async fn every_uplink_topic_through_the_embedded_broker() {
    let h = Harness::embedded(world(), configure).await;
    every_uplink_topic(&h).await;
}

#[tokio::test]
async fn every_uplink_topic_through_mosquitto() {
    let h = Harness::external(world(), configure).await;
    every_uplink_topic(&h).await;
}

#[tokio::test]
async fn mosquitto_pub_reaches_constellation() {
    let h = Harness::external(World::open("demo"), |_| {}).await;
    let port = h.port.to_string();
    for (topic, payload) in [
        ("constellation/Cli/Tool/stateobject/Value", "42"),
        ("constellation/Cli/Tool/log/warn", "from the shell"),
    ] {
        let args = ["-p", &port, "-q", "1", "-t", topic, "-m", payload].map(str::to_owned);
        let status = tokio::task::spawn_blocking(move || {
            std::process::Command::new("mosquitto_pub")
                .args(args)
                .status()
        })
        .await
        .unwrap()
        .expect("mosquitto_pub is installed (scripts/test.sh installs it)");
        assert!(status.success());
    }
    so_value(&h, "Cli", "Tool", "Value", json!(42)).await;
    assert_eq!(
        logs(&h, "Cli", "Tool", 1).await,
        [(LogLevel::Warn, "from the shell".to_string())]
    );
}

#[tokio::test]
async fn mqtt5_user_properties_set_type_lifetime_and_metadata() {
    use rumqttc::v5::mqttbytes::v5::PublishProperties;
    use rumqttc::v5::{AsyncClient, MqttOptions};
    let h = Harness::embedded(World::open("demo"), |_| {}).await;
    let (client, mut eventloop) =
        AsyncClient::new(MqttOptions::new("v5-device", "127.0.0.1", h.v5_port), 10);
    tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
    let props = PublishProperties {
        user_properties: vec![
            ("type".into(), "System.Decimal".into()),
            ("lifetime".into(), "90".into()),
            ("metadata.Unit".into(), "kWh".into()),
        ],
        ..PublishProperties::default()
    };
    client
        .publish_with_properties(
            "constellation/Meter/Main/stateobject/Energy",
            rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
            false,
            "1234.5",
            props,
        )
        .await
        .unwrap();
    let so = so_value(&h, "Meter", "Main", "Energy", json!(1234.5)).await;
    assert_eq!(so.type_name.as_deref(), Some("System.Decimal"));
    assert_eq!(so.lifetime, 90);
    assert_eq!(so.metadatas.unwrap()["Unit"], json!("kWh"));
}

#[tokio::test]
async fn a_slow_server_sees_only_the_latest_value_of_each_state_object() {
    let h = Harness::embedded(World::open("demo"), |_| {}).await;
    h.sim.handle().set_faults(slow(20));
    let d = h.device("burst").await;
    for i in 0..10_000u32 {
        d.publish(
            &format!("constellation/Burst/Dev/stateobject/S{}", i % 100),
            (i / 100).to_string(),
        )
        .await;
    }
    let handle = h.sim.handle();
    wait_for(
        "the last value of each of 100 SOs",
        Duration::from_secs(60),
        || async {
            let sos = handle.state_objects(&SoFilter {
                package: "Dev".into(),
                ..SoFilter::default()
            });
            (sos.len() == 100 && sos.iter().all(|s| s.value == json!(99))).then_some(())
        },
    )
    .await;
    let state = h.package("Burst", "Dev").unwrap();
    assert!(
        state.high_water <= 100,
        "at most one pending value per SO: {state:?}"
    );
    assert_eq!(state.dropped, 0);
    let pushes = h.sim.handle().stats().count_action("PushStateObject");
    assert!(pushes < 10_000, "conflation saved requests: {pushes}");
}

#[tokio::test]
async fn a_thousand_logs_arrive_in_order() {
    let h = Harness::embedded(World::open("demo"), |_| {}).await;
    let d = h.device("chatty").await;
    for i in 0..1000 {
        d.publish("constellation/Chat/Ty/log", format!("line {i}"))
            .await;
    }
    let got = logs(&h, "Chat", "Ty", 1000).await;
    let expected: Vec<_> = (0..1000)
        .map(|i| (LogLevel::Info, format!("line {i}")))
        .collect();
    assert_eq!(got, expected);
}

/// A worker keeps its request turn across a few of its package's jobs, not its whole
/// queue: with one turn for the whole adapter and a slow server, a package that publishes
/// one log after another's 40 gets it through after a handful of them, not after all.
#[tokio::test]
async fn a_long_queue_does_not_keep_the_request_turn_from_other_packages() {
    let h = Harness::embedded(World::open("demo"), |c| {
        c.constellation.max_concurrent_requests = 1;
    })
    .await;
    h.sim.handle().set_faults(slow(20));
    let d = h.device("two").await;
    for i in 0..40 {
        d.publish("constellation/Long/A/log", format!("a {i}"))
            .await;
    }
    d.publish("constellation/Short/B/log", "b").await;
    logs(&h, "Long", "A", 40).await;
    logs(&h, "Short", "B", 1).await;
    let order: Vec<String> = h
        .sim
        .handle()
        .logs(None)
        .into_iter()
        .map(|l| l.message)
        .collect();
    let b = order.iter().position(|m| m == "b").unwrap();
    assert!(b <= 20, "B's log came after {b} of A's: {order:?}");
    let a: Vec<&String> = order.iter().filter(|m| *m != "b").collect();
    let expected: Vec<String> = (0..40).map(|i| format!("a {i}")).collect();
    assert!(
        a.iter().zip(&expected).all(|(x, y)| *x == y),
        "A's in order"
    );
}

#[tokio::test]
async fn work_queued_while_the_server_is_down_is_delivered_when_it_returns() {
    let mut h = Harness::embedded(World::open("demo"), |_| {}).await;
    h.sim.stop().await;
    let d = h.device("patient").await;
    for i in 0..50 {
        d.publish("constellation/Down/Dev/stateobject/Counter", i.to_string())
            .await;
        d.publish("constellation/Down/Dev/log", format!("event {i}"))
            .await;
    }
    wait_for("work to be queued", T, || async {
        h.package("Down", "Dev").filter(|s| s.queued > 0).map(drop)
    })
    .await;
    h.sim.restart().await.unwrap();
    so_value(&h, "Down", "Dev", "Counter", json!(49)).await;
    let got = logs(&h, "Down", "Dev", 50).await;
    assert_eq!(got.len(), 50);
    assert!(got
        .iter()
        .enumerate()
        .all(|(i, (_, m))| *m == format!("event {i}")));
}

#[tokio::test]
async fn a_refused_credential_is_answered_on_error_without_a_request_storm() {
    let world = World::default()
        .with_package(
            "Locked",
            Some("right"),
            constellation_mqtt::sim::PackageDecl::new("Box"),
        )
        .with_package(
            "Open",
            Some("ok"),
            constellation_mqtt::sim::PackageDecl::new("Box"),
        );
    let h = Harness::embedded(world, |c| {
        c.constellation.access_key = Some("wrong".into());
        c.packages.push(PackageConfig {
            sentinel: "Open".into(),
            package: "Box".into(),
            access_key: Some("ok".into()),
            callback_payload: Default::default(),
            so_payload: Default::default(),
            subscribe: Vec::new(),
            groups: Vec::new(),
            settings: Default::default(),
            stateobjects: Default::default(),
        });
    })
    .await;
    let d = h.device("locked").await;
    d.subscribe("constellation/Locked/Box/error").await;
    for i in 0..20 {
        d.publish("constellation/Locked/Box/log", format!("try {i}"))
            .await;
    }
    for i in 0..20 {
        let e = d
            .expect("constellation/Locked/Box/error", |p| {
                p.contains(&format!("\"payload\":\"try {i}\""))
            })
            .await;
        let body: Value = serde_json::from_str(&e.payload).unwrap();
        assert_eq!(body["topic"], json!("constellation/Locked/Box/log"));
        assert!(
            body["error"].as_str().unwrap().contains("credential"),
            "{body}"
        );
        assert!(!e.retain);
    }
    let stats = h.sim.handle().stats();
    assert_eq!(
        stats.count("WriteLog", 401),
        1,
        "one request, then a hold: {stats:?}"
    );
    assert_eq!(h.package("Locked", "Box").unwrap().refusals, 1);
    // Another package, with a good credential, is not held up.
    d.publish("constellation/Open/Box/stateobject/Fine", "true")
        .await;
    so_value(&h, "Open", "Box", "Fine", json!(true)).await;
}

#[tokio::test]
async fn a_restarted_external_broker_is_reconnected_and_work_resumes() {
    let mut h = Harness::external(World::open("demo"), |_| {}).await;
    let d = h.device("before").await;
    d.publish("constellation/Re/Start/stateobject/Phase", "1")
        .await;
    so_value(&h, "Re", "Start", "Phase", json!(1)).await;
    // The broker lost every session: the adapter must subscribe again by itself.
    h.restart_mosquitto().await;
    let d = h.device("after").await;
    d.publish("constellation/Re/Start/stateobject/Phase", "2")
        .await;
    d.publish("constellation/Re/Start/log", "resumed").await;
    so_value(&h, "Re", "Start", "Phase", json!(2)).await;
    assert_eq!(logs(&h, "Re", "Start", 1).await[0].1, "resumed");
}

#[tokio::test]
async fn shutdown_delivers_queued_work_and_says_offline() {
    let mut h = Harness::embedded(World::open("demo"), |_| {}).await;
    let d = h.device("last-words").await;
    d.subscribe("constellation/_adapter/status").await;
    d.expect("constellation/_adapter/status", |p| p == "online")
        .await;
    d.publish("constellation/Bye/Dev/log", "last words").await;
    logs(&h, "Bye", "Dev", 1).await;
    h.shutdown.cancel();
    within("shutdown", h.adapter.take().unwrap().wait()).await;
    // Published by the adapter itself on its way out (its last will would be too late).
    d.expect("constellation/_adapter/status", |p| p == "offline")
        .await;
}

#[tokio::test]
async fn the_full_form_is_pushed_exactly_as_given_without_configured_defaults() {
    let h = Harness::embedded(world(), configure).await;
    let d = h.device("full-form").await;
    // `Temperature` has configured defaults (System.Single, 600 s, Room = Salon): the
    // value form gets them, the full form does not.
    d.publish(
        "constellation/Salon/Thermo/stateobject",
        r#"{"Name": "Temperature", "Value": {"C": 21}}"#,
    )
    .await;
    let so = so_value(&h, "Salon", "Thermo", "Temperature", json!({"C": 21})).await;
    assert_eq!(so.type_name, None, "no type added");
    assert_eq!(so.lifetime, 0, "no lifetime added");
    assert_eq!(so.metadatas, Some(Default::default()), "no metadata added");

    d.publish(
        "constellation/Salon/Thermo/stateobject",
        r#"{"Name": "Temperature", "Value": 1, "Type": "Custom.Type", "Lifetime": 5, "Metadatas": {"K": "v"}}"#,
    )
    .await;
    let so = so_value(&h, "Salon", "Thermo", "Temperature", json!(1)).await;
    assert_eq!(so.type_name.as_deref(), Some("Custom.Type"));
    assert_eq!(so.lifetime, 5);
    assert_eq!(so.metadatas, json!({"K": "v"}).as_object().cloned());

    d.publish("constellation/Salon/Thermo/stateobject/Temperature", "22.5")
        .await;
    let so = so_value(&h, "Salon", "Thermo", "Temperature", json!(22.5)).await;
    assert_eq!(so.type_name.as_deref(), Some("System.Single"));
    assert_eq!(so.lifetime, 600);
}

#[tokio::test]
async fn names_beyond_ascii_reach_the_server_intact() {
    // Headers carry printable ASCII only: such names travel percent-encoded in the
    // query string, which the server (and the simulator) also reads.
    let h = Harness::embedded(World::open("demo"), |_| {}).await;
    let d = h.device("unicode-names").await;
    d.publish("constellation/Salle à manger/Lumière/stateobject/État", "1")
        .await;
    d.publish("constellation/Salle à manger/Lumière/log", "allumée")
        .await;
    let so = h
        .state_object_arrives("Salle à manger", "Lumière", "État")
        .await;
    assert_eq!(so.value, json!(1));
    let handle = h.sim.handle();
    let logs = wait_for("the log", T, || async {
        let logs = handle.logs(None);
        (!logs.is_empty()).then_some(logs)
    })
    .await;
    assert_eq!(logs[0].message, "allumée");
}

#[tokio::test]
async fn work_queued_when_the_shutdown_signal_comes_is_delivered() {
    let mut h = Harness::embedded(World::open("demo"), |c| {
        c.constellation.flush_timeout_ms = 20_000;
    })
    .await;
    let handle = h.sim.handle();
    // Each request takes 200 ms: the package's worker has one in flight, the rest wait.
    handle.set_faults(slow(200));
    let d = h.device("flush").await;
    for i in 0..10 {
        d.publish("constellation/Flush/Dev/log", format!("queued {i}"))
            .await;
    }
    let id = constellation_mqtt::native::PackageId::new("Flush", "Dev");
    let adapter = h.adapter.take().unwrap();
    wait_for("nine queued behind the one in flight", T, || async {
        adapter
            .registry
            .package(&id)
            .filter(|p| p.queued == 9)
            .map(drop)
    })
    .await;
    assert!(
        handle.logs(None).len() < 10,
        "work was still queued at the signal"
    );
    h.shutdown.cancel();
    within("shutdown", adapter.wait()).await;
    let delivered: Vec<String> = handle.logs(None).into_iter().map(|l| l.message).collect();
    let expected: Vec<String> = (0..10).map(|i| format!("queued {i}")).collect();
    assert_eq!(
        delivered, expected,
        "all queued work, in order, before the adapter stopped"
    );
}
