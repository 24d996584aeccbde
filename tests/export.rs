//! Constellation → MQTT, end to end: StateObjects of Constellation packages (pushed
//! through the simulator) exported on MQTT, announced to Home Assistant with configs
//! checked against its MQTT discovery schema, and messages sent from MQTT (`_send`)
//! with their saga answered back.

mod common;

use common::console::*;
use common::mqtt::*;
use common::*;
use constellation_mqtt::config::{Config, ExportCallback, ExportConfig, IdentityConfig, OneOrMany};
use constellation_mqtt::constellation::model::{SoFilter, StateObjectPush};
use constellation_mqtt::sim::{Participant, World};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

/// The adapter as the consumer `Consumer/Dashboard`, exporting `HWMonitor`'s
/// StateObjects (announced to Home Assistant) and one callback of each kind.
fn exporting(c: &mut Config) {
    c.constellation.identity = Some(IdentityConfig {
        sentinel: "Consumer".into(),
        package: "Dashboard".into(),
        access_key: None,
    });
    let callback = |key: &str, type_name: Option<&str>| ExportCallback {
        sentinel: "Nest".into(),
        package: "Thermostat".into(),
        key: key.into(),
        type_name: type_name.map(str::to_owned),
        name: None,
    };
    c.export = vec![ExportConfig {
        filter: OneOrMany::One(SoFilter {
            package: "HWMonitor".into(),
            ..SoFilter::default()
        }),
        topic: "constellation-export/{sentinel}/{package}/{name}".into(),
        payload: None,
        retain: true,
        qos: None,
        homeassistant_discovery: true,
        discovery_prefix: "homeassistant".into(),
        object_value_template: "{{ (value_json.Value | tojson)[:255] }}".into(),
        callback: vec![
            callback("Boost", None),
            callback("SetTemp", Some("System.Double")),
            callback("SetEco", Some("System.Boolean")),
            callback("SetLabel", Some("System.String")),
        ],
    }];
}

fn pc() -> Participant {
    Participant::parse("PC/HWMonitor").unwrap()
}

fn push(h: &Harness, name: &str, value: Value, lifetime: Option<i64>, metadatas: Option<Value>) {
    h.sim
        .handle()
        .push_state_object(
            &pc(),
            StateObjectPush {
                name: name.into(),
                value,
                type_name: None,
                lifetime,
                metadatas: metadatas.and_then(|m| m.as_object().cloned()),
            },
        )
        .unwrap();
}

#[tokio::test]
async fn state_objects_are_exported_retained_and_follow_their_updates() {
    exported_and_followed(Harness::embedded(World::open("demo"), exporting).await).await;
}

#[tokio::test]
async fn through_mosquitto_state_objects_are_exported_and_followed() {
    exported_and_followed(Harness::external(World::open("demo"), exporting).await).await;
}

async fn exported_and_followed(h: Harness) {
    push(&h, "CPU", json!(12.5), None, None);
    let d = h.device("dashboard").await;
    d.subscribe("constellation-export/#").await;
    // The current value first (requested), retained.
    let first = d
        .expect("constellation-export/PC/HWMonitor/CPU", |_| true)
        .await;
    assert!(first.retain);
    let so: Value = serde_json::from_str(&first.payload).unwrap();
    assert_eq!(so["Value"], json!(12.5));
    assert_eq!(so["SentinelName"], "PC");
    // Then each update (subscribed and long-polled).
    push(&h, "CPU", json!(50.0), None, None);
    d.expect("constellation-export/PC/HWMonitor/CPU", |p| {
        serde_json::from_str::<Value>(p).is_ok_and(|v| v["Value"] == json!(50.0))
    })
    .await;
    // A name that is no topic level: sanitised.
    push(&h, "Disk /dev/sda #1", json!("ok"), None, None);
    d.expect("constellation-export/PC/HWMonitor/Disk _dev_sda _1", |_| {
        true
    })
    .await;
    // A subscriber coming later gets the latest value, retained.
    let late = h.device("late").await;
    late.subscribe("constellation-export/PC/HWMonitor/CPU")
        .await;
    let retained = late
        .expect("constellation-export/PC/HWMonitor/CPU", |_| true)
        .await;
    assert!(retained.retain);
    assert_eq!(
        serde_json::from_str::<Value>(&retained.payload).unwrap()["Value"],
        json!(50.0)
    );
}

/// Home Assistant's MQTT discovery schema, as far as these configs go: the keys each
/// component accepts (`https://www.home-assistant.io/integrations/<component>.mqtt/`),
/// those it requires, and the shapes of `device` and `availability`. A config Home
/// Assistant would reject fails here.
fn validate(topic: &str, config: &Map<String, Value>) -> Result<String, String> {
    let levels: Vec<&str> = topic.split('/').collect();
    let ok_id = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    let component = match levels.as_slice() {
        ["homeassistant", c, node, object, "config"] if ok_id(node) && ok_id(object) => *c,
        _ => {
            return Err(format!(
                "{topic} is not <prefix>/<component>/<node_id>/<object_id>/config"
            ))
        }
    };
    let common = [
        "availability",
        "availability_mode",
        "availability_topic",
        "availability_template",
        "device",
        "enabled_by_default",
        "encoding",
        "entity_category",
        "icon",
        "json_attributes_template",
        "json_attributes_topic",
        "name",
        "object_id",
        "qos",
        "unique_id",
        "payload_available",
        "payload_not_available",
        "origin",
        "platform",
    ];
    let (own, required): (&[&str], &[&str]) = match component {
        "sensor" => (
            &[
                "device_class",
                "expire_after",
                "force_update",
                "last_reset_value_template",
                "state_class",
                "state_topic",
                "suggested_display_precision",
                "unit_of_measurement",
                "value_template",
                "options",
            ],
            &["state_topic"],
        ),
        "binary_sensor" => (
            &[
                "device_class",
                "expire_after",
                "force_update",
                "off_delay",
                "payload_off",
                "payload_on",
                "state_topic",
                "value_template",
            ],
            &["state_topic"],
        ),
        "button" => (
            &[
                "command_template",
                "command_topic",
                "device_class",
                "payload_press",
                "retain",
            ],
            &["command_topic"],
        ),
        "number" => (
            &[
                "command_template",
                "command_topic",
                "device_class",
                "max",
                "min",
                "mode",
                "optimistic",
                "payload_reset",
                "retain",
                "state_topic",
                "step",
                "unit_of_measurement",
                "value_template",
            ],
            &["command_topic"],
        ),
        "switch" => (
            &[
                "command_template",
                "command_topic",
                "device_class",
                "optimistic",
                "payload_off",
                "payload_on",
                "retain",
                "state_off",
                "state_on",
                "state_topic",
                "value_template",
            ],
            &["command_topic"],
        ),
        "text" => (
            &[
                "command_template",
                "command_topic",
                "max",
                "min",
                "mode",
                "pattern",
                "retain",
                "state_topic",
                "value_template",
            ],
            &["command_topic"],
        ),
        other => return Err(format!("unexpected component {other}")),
    };
    for key in config.keys() {
        if !common.contains(&key.as_str()) && !own.contains(&key.as_str()) {
            return Err(format!("{topic}: {component} has no key {key:?}"));
        }
    }
    for key in required {
        if !config.get(*key).is_some_and(Value::is_string) {
            return Err(format!("{topic}: {component} requires {key:?}"));
        }
    }
    for (key, v) in config {
        let text = matches!(
            key.as_str(),
            "name"
                | "unique_id"
                | "state_topic"
                | "command_topic"
                | "value_template"
                | "json_attributes_topic"
                | "json_attributes_template"
                | "unit_of_measurement"
                | "device_class"
                | "state_class"
                | "availability_mode"
                | "payload_on"
                | "payload_off"
                | "mode"
        );
        if text && !v.is_string() {
            return Err(format!("{topic}: {key} must be text"));
        }
    }
    if let Some(mode) = config.get("availability_mode") {
        if !["all", "any", "latest"].contains(&mode.as_str().unwrap_or("")) {
            return Err(format!("{topic}: availability_mode {mode}"));
        }
    }
    if let Some(a) = config.get("availability") {
        let entries = a.as_array().ok_or("availability must be a list")?;
        if entries.iter().any(|e| !e["topic"].is_string()) {
            return Err(format!("{topic}: each availability entry needs a topic"));
        }
    }
    if let Some(class) = config.get("state_class") {
        if !["measurement", "total", "total_increasing"].contains(&class.as_str().unwrap_or("")) {
            return Err(format!("{topic}: state_class {class}"));
        }
    }
    let device = config
        .get("device")
        .and_then(Value::as_object)
        .ok_or(format!("{topic}: no device"))?;
    if !device
        .get("identifiers")
        .is_some_and(|i| i.is_array() || i.is_string())
        && !device.contains_key("connections")
    {
        return Err(format!(
            "{topic}: a device needs identifiers or connections"
        ));
    }
    if !config.get("unique_id").is_some_and(Value::is_string) {
        return Err(format!(
            "{topic}: no unique_id (the entity could not be edited)"
        ));
    }
    if let (Some(min), Some(max)) = (config.get("min"), config.get("max")) {
        if min.as_f64() >= max.as_f64() {
            return Err(format!("{topic}: min must be below max"));
        }
    }
    Ok(component.to_owned())
}

/// Collects retained configs under `homeassistant/` until `done` holds for them.
async fn configs(
    d: &Device,
    done: impl Fn(&BTreeMap<String, Value>) -> bool,
) -> BTreeMap<String, Value> {
    let mut seen = BTreeMap::new();
    within("the Home Assistant configs", async {
        loop {
            let r = d.recv().await.expect("a publish");
            if r.topic.starts_with("homeassistant/") && r.topic.ends_with("/config") {
                if r.payload.is_empty() {
                    seen.remove(&r.topic);
                } else {
                    seen.insert(
                        r.topic,
                        serde_json::from_str(&r.payload).expect("JSON config"),
                    );
                }
                if done(&seen) {
                    return;
                }
            }
        }
    })
    .await;
    seen
}

fn named<'a>(configs: &'a BTreeMap<String, Value>, name: &str) -> Option<(&'a String, &'a Value)> {
    configs.iter().find(|(_, c)| c["name"] == name)
}

#[tokio::test]
async fn home_assistant_configs_follow_its_schema_and_expiry_and_its_birth() {
    let h = Harness::embedded(World::open("demo"), exporting).await;
    push(
        &h,
        "Temperature",
        json!(48.5),
        None,
        Some(json!({"Unit": "°C", "DeviceClass": "temperature"})),
    );
    push(&h, "Fan", json!(true), None, None);
    push(
        &h,
        "Load",
        json!({"cores": [10, 20], "total": 15}),
        None,
        None,
    );
    push(&h, "Host", json!("pc-01"), None, None);
    push(&h, "Uptime", json!(3600), Some(2), None);
    let d = h.device("home-assistant").await;
    d.subscribe("homeassistant/#").await;
    d.subscribe("constellation-export/#").await;
    let names = [
        "Temperature",
        "Fan",
        "Load",
        "Host",
        "Uptime",
        "Boost",
        "SetTemp",
        "SetEco",
        "SetLabel",
        "Connectivity",
    ];
    let seen = configs(&d, |c| names.iter().all(|n| named(c, n).is_some())).await;
    let mut components = BTreeMap::new();
    for (topic, config) in &seen {
        let component = validate(topic, config.as_object().expect("an object"))
            .unwrap_or_else(|e| panic!("{e}\n{config:#}"));
        components.insert(config["name"].as_str().unwrap().to_owned(), component);
    }
    let want = [
        ("Temperature", "sensor"),
        ("Fan", "binary_sensor"),
        ("Load", "sensor"),
        ("Host", "sensor"),
        ("Uptime", "sensor"),
        ("Boost", "button"),
        ("SetTemp", "number"),
        ("SetEco", "switch"),
        ("SetLabel", "text"),
        ("Connectivity", "binary_sensor"),
    ];
    for (name, component) in want {
        assert_eq!(
            components.get(name).map(String::as_str),
            Some(component),
            "{name}"
        );
    }
    let (_, temperature) = named(&seen, "Temperature").unwrap();
    assert_eq!(temperature["unit_of_measurement"], "°C");
    assert_eq!(temperature["device_class"], "temperature");
    assert_eq!(
        temperature["state_topic"],
        "constellation-export/PC/HWMonitor/Temperature"
    );
    assert_eq!(temperature["device"]["name"], "PC/HWMonitor");
    assert!(temperature["device"]["via_device"].is_string());
    let (_, load) = named(&seen, "Load").unwrap();
    assert_eq!(load["json_attributes_topic"], load["state_topic"]);
    // Every package's device hangs off the adapter's.
    let (_, adapter) = named(&seen, "Connectivity").unwrap();
    assert_eq!(
        adapter["device"]["identifiers"][0],
        temperature["device"]["via_device"]
    );

    // Expiry: the exported value says so, and the entity goes unavailable.
    let uptime = d
        .expect("constellation-export/PC/HWMonitor/Uptime", |p| {
            serde_json::from_str::<Value>(p).is_ok_and(|v| v["IsExpired"] == json!(true))
        })
        .await;
    drop(uptime);
    // Kept so: a dashboard coming now sees the expired value, retained.
    let late = h.device("late").await;
    late.subscribe("constellation-export/PC/HWMonitor/Uptime")
        .await;
    let kept = late
        .expect("constellation-export/PC/HWMonitor/Uptime", |_| true)
        .await;
    assert!(
        kept.retain && kept.payload.contains("\"IsExpired\":true"),
        "{kept:?}"
    );
    d.expect("constellation-export/PC/HWMonitor/Uptime/available", |p| {
        p == "offline"
    })
    .await;

    // Home Assistant restarting: every config again.
    let again = h.device("ha-birth").await;
    again.publish("homeassistant/status", "online").await;
    configs(&d, |c| {
        named(c, "Temperature").is_some() && named(c, "Connectivity").is_some()
    })
    .await;
}

/// A purged StateObject (noticed when the subscription is renewed) has its exported
/// topic and its Home Assistant config cleared.
#[tokio::test]
async fn a_purged_state_object_is_cleared_from_mqtt_and_home_assistant() {
    let h = Harness::embedded(World::open("demo"), exporting).await;
    push(&h, "Gone", json!(1), None, None);
    let d = h.device("dashboard").await;
    d.subscribe("constellation-export/#").await;
    d.subscribe("homeassistant/#").await;
    d.expect("constellation-export/PC/HWMonitor/Gone", |_| true)
        .await;
    let handle = h.sim.handle();
    let subscription = wait_for("the export's subscription", T, || async {
        handle
            .subscriptions()
            .into_iter()
            .find(|s| {
                s.owner == "Consumer/Dashboard"
                    && s.kind == constellation_mqtt::sim::SubKind::StateObjects
                    && s.polling > 0
            })
            .map(|s| s.id)
    })
    .await;
    // Purged by its package, then the subscription expires: renewed, the adapter asks
    // again and finds it gone.
    purge(&h, "Gone");
    assert!(handle.expire_subscription(&subscription));
    d.expect("constellation-export/PC/HWMonitor/Gone", |p| p.is_empty())
        .await;
    within("its config removed", async {
        loop {
            let r = d.recv().await.expect("a publish");
            if r.topic.starts_with("homeassistant/")
                && r.topic.ends_with("/config")
                && r.payload.is_empty()
            {
                return;
            }
        }
    })
    .await;
}

fn purge(h: &Harness, name: &str) {
    h.sim.handle().purge_state_objects(&pc(), name, "*");
}

#[tokio::test]
async fn a_message_sent_from_mqtt_reaches_its_package_and_its_saga_answer_comes_back() {
    let h = Harness::embedded(World::open("demo"), exporting).await;
    // Nest/Thermostat is a device of the native scheme, answering its callbacks.
    let nest = thermostat(&h).await;
    let ha = h.device("automation").await;
    ha.subscribe("constellation/_send/#").await;
    ha.publish(
        "constellation/_send",
        r#"{"Scope":{"Type":"Package","Args":["Nest/Thermostat"]},"Key":"SetTemp","Data":21,"SagaId":"s1"}"#,
    )
    .await;
    let callback = nest
        .expect("constellation/Nest/Thermostat/callback/SetTemp", |_| true)
        .await;
    assert!(callback.payload.contains("21"), "{}", callback.payload);
    nest.publish("constellation/Nest/Thermostat/response/s1", r#"{"Set":21}"#)
        .await;
    let answer = ha.expect("constellation/_send/response/s1", |_| true).await;
    assert_eq!(
        serde_json::from_str::<Value>(&answer.payload).unwrap(),
        json!({"Set": 21})
    );

    // An announced callback's command topic sends the message with the payload as data.
    ha.publish(
        "constellation/_send/callback/Nest/Thermostat/SetTemp",
        "19.5",
    )
    .await;
    let callback = nest
        .expect("constellation/Nest/Thermostat/callback/SetTemp", |p| {
            p.contains("19.5")
        })
        .await;
    assert!(!callback.retain);
    // A switch's payload is a boolean, a button's nothing.
    ha.publish(
        "constellation/_send/callback/Nest/Thermostat/SetEco",
        "true",
    )
    .await;
    let eco = nest
        .expect("constellation/Nest/Thermostat/callback/SetEco", |_| true)
        .await;
    assert_eq!(
        serde_json::from_str::<Value>(&eco.payload).unwrap()["Data"],
        json!(true)
    );
    ha.publish(
        "constellation/_send/callback/Nest/Thermostat/Boost",
        "PRESS",
    )
    .await;
    let boost = nest
        .expect("constellation/Nest/Thermostat/callback/Boost", |_| true)
        .await;
    assert_eq!(
        serde_json::from_str::<Value>(&boost.payload).unwrap()["Data"],
        Value::Null
    );

    // Not a message: answered on `_send/error`, and nothing else stops.
    ha.publish("constellation/_send", "not json").await;
    let error = ha.expect("constellation/_send/error", |_| true).await;
    assert!(error.payload.contains("not a message"), "{}", error.payload);
    ha.publish(
        "constellation/_send",
        r#"{"Scope":{"Type":"Nowhere"},"Key":"X"}"#,
    )
    .await;
    ha.expect("constellation/_send/error", |p| {
        p.contains("unknown scope type")
    })
    .await;
}

#[tokio::test]
async fn an_export_read_back_by_the_adapter_is_a_configuration_error() {
    let mut config = Config::default();
    exporting(&mut config);
    config.export[0].topic = "constellation/{sentinel}/{package}/stateobject/{name}".into();
    config.preset = vec![constellation_mqtt::config::Preset {
        kind: "homeassistant".into(),
        ..Default::default()
    }];
    let errors = constellation_mqtt::setup::Setup::new(config).unwrap_err();
    let keys: Vec<&str> = errors.iter().map(|(k, _)| k.as_str()).collect();
    assert!(keys.contains(&"export[0].topic"), "{errors:?}");
    assert!(keys.contains(&"export[0].discovery_prefix"), "{errors:?}");
    let mut config = Config::default();
    exporting(&mut config);
    config.constellation.identity = None;
    let errors = constellation_mqtt::setup::Setup::new(config).unwrap_err();
    assert!(
        errors.iter().any(|(k, _)| k == "constellation.identity"),
        "{errors:?}"
    );
}

#[tokio::test]
async fn after_a_restart_only_current_values_are_published() {
    // Over Mosquitto: the broker (and the dashboard's connection) outlive the adapter.
    let mut h = Harness::external(World::open("demo"), exporting).await;
    let d = cpu_exported(&h).await;
    h.stop_adapter().await;
    push(&h, "CPU", json!(2), None, None);
    h.start_adapter().await;
    // The value of now, not the one before the restart.
    let next = d
        .expect("constellation-export/PC/HWMonitor/CPU", |_| true)
        .await;
    assert!(next.payload.contains("\"Value\":2"), "{}", next.payload);
}

/// MQTT 5: a `_send` with a response topic and correlation data (no saga id) gets its
/// answer there, with that correlation data.
#[tokio::test]
async fn an_mqtt5_request_gets_its_answer_on_its_response_topic() {
    use rumqttc::v5::mqttbytes::v5::{Packet, PublishProperties};
    use rumqttc::v5::mqttbytes::QoS;
    use rumqttc::v5::{AsyncClient, Event, MqttOptions};
    let h = Harness::embedded(World::open("demo"), exporting).await;
    let nest = thermostat(&h).await;
    let (client, mut eventloop) = AsyncClient::new(
        MqttOptions::new("v5-automation", "127.0.0.1", h.v5_port),
        10,
    );
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(event) = eventloop.poll().await {
            match event {
                Event::Incoming(Packet::Publish(p)) => {
                    let _ = tx.send(Some(p));
                }
                Event::Incoming(Packet::SubAck(_)) => {
                    let _ = tx.send(None);
                }
                _ => {}
            }
        }
    });
    client
        .subscribe("replies/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    within("the SUBACK", rx.recv()).await.unwrap();
    let properties = PublishProperties {
        response_topic: Some("replies/thermostat".into()),
        correlation_data: Some("req-7".into()),
        ..PublishProperties::default()
    };
    client
        .publish_with_properties(
            "constellation/_send",
            QoS::AtLeastOnce,
            false,
            r#"{"Scope":{"Type":"Package","Args":["Nest/Thermostat"]},"Key":"GetTemp"}"#,
            properties,
        )
        .await
        .unwrap();
    let callback = nest
        .expect("constellation/Nest/Thermostat/callback/GetTemp", |_| true)
        .await;
    let message: Value = serde_json::from_str(&callback.payload).unwrap();
    let saga = message["Scope"]["SagaId"]
        .as_str()
        .expect("a saga made up")
        .to_owned();
    nest.publish(
        &format!("constellation/Nest/Thermostat/response/{saga}"),
        "20.5",
    )
    .await;
    let answer = within("the answer", async {
        loop {
            if let Some(p) = rx.recv().await.unwrap() {
                return p;
            }
        }
    })
    .await;
    assert_eq!(&answer.topic[..], b"replies/thermostat");
    assert_eq!(&answer.payload[..], b"20.5");
    let props = answer.properties.expect("MQTT 5 properties");
    assert_eq!(props.correlation_data.as_deref(), Some(&b"req-7"[..]));
}

/// A filter the server refuses (403: the identity may not read StateObjects) is
/// reported on `_adapter/error`; `_send` keeps working.
#[tokio::test]
async fn a_refused_filter_is_reported_and_the_rest_keeps_working() {
    let world = World::open("demo").with_package(
        "Kiosk",
        None,
        constellation_mqtt::sim::PackageDecl {
            can_read_stateobjects: false,
            ..constellation_mqtt::sim::PackageDecl::new("Screen").with_key("demo")
        },
    );
    let h = Harness::embedded(world, |c| {
        exporting(c);
        // Reported again every second: the watcher sees one whenever it subscribes.
        c.constellation.auth_retry_s = 1;
        c.constellation.identity = Some(IdentityConfig {
            sentinel: "Kiosk".into(),
            package: "Screen".into(),
            access_key: None,
        });
    })
    .await;
    let d = h.device("watcher").await;
    d.subscribe("constellation/_adapter/error").await;
    d.subscribe("constellation/Nest/Thermostat/callback/#")
        .await;
    d.publish("constellation/Nest/Thermostat/stateobject/Temp", "20")
        .await;
    let error = d
        .expect("constellation/_adapter/error", |p| p.contains("export"))
        .await;
    assert!(error.payload.contains("403"), "{}", error.payload);
    polled(&h, "Nest/Thermostat").await;
    d.publish(
        "constellation/_send",
        r#"{"Scope":{"Type":"Package","Args":["Nest/Thermostat"]},"Key":"Boost"}"#,
    )
    .await;
    d.expect("constellation/Nest/Thermostat/callback/Boost", |_| true)
        .await;
}

/// StateObject values of every JSON shape, a large one too, go out as they are.
#[tokio::test]
async fn values_of_every_json_shape_are_exported() {
    let h = Harness::embedded(World::open("demo"), exporting).await;
    let large = "x".repeat(200_000);
    let values = [
        ("Null", Value::Null),
        ("Array", json!([1, "two", [3], {"four": 4}])),
        ("Nested", json!({"a": {"b": {"c": [true, null]}}})),
        ("Unicode", json!("Température ✓")),
        ("Large", json!(large)),
        ("Negative", json!(-1.5e-7)),
    ];
    let d = h.device("dashboard").await;
    d.subscribe("constellation-export/#").await;
    for (name, value) in &values {
        push(&h, name, value.clone(), None, None);
    }
    for (name, value) in values {
        let r = d
            .expect(&format!("constellation-export/PC/HWMonitor/{name}"), |_| {
                true
            })
            .await;
        assert_eq!(
            serde_json::from_str::<Value>(&r.payload).unwrap()["Value"],
            value,
            "{name}"
        );
    }
}

/// The server down: exports resume with the current values when it returns.
#[tokio::test]
async fn exports_resume_with_current_values_when_the_server_returns() {
    let mut h = Harness::embedded(World::open("demo"), exporting).await;
    let d = cpu_exported(&h).await;
    h.sim.stop().await;
    push(&h, "CPU", json!(2), None, None);
    h.sim.restart().await.unwrap();
    d.expect("constellation-export/PC/HWMonitor/CPU", |p| {
        p.contains("\"Value\":2")
    })
    .await;
}

/// `CPU` = 1 pushed, and a dashboard that has seen it exported.
async fn cpu_exported(h: &Harness) -> Device {
    push(h, "CPU", json!(1), None, None);
    let d = h.device("dashboard").await;
    d.subscribe("constellation-export/PC/HWMonitor/CPU").await;
    d.expect("constellation-export/PC/HWMonitor/CPU", |p| {
        p.contains("\"Value\":1")
    })
    .await;
    d
}

/// Without an identity there is nothing to send as: `_send` says so on its `error` topic.
#[tokio::test]
async fn send_without_an_identity_is_answered_with_an_error() {
    let h = Harness::embedded(World::open("demo"), |_| {}).await;
    let d = h.device("automation").await;
    d.subscribe("constellation/_send/error").await;
    d.publish(
        "constellation/_send",
        r#"{"Scope":{"Type":"Package","Args":["Nest/Thermostat"]},"Key":"Boost"}"#,
    )
    .await;
    let error = d.expect("constellation/_send/error", |_| true).await;
    assert!(error.payload.contains("identity"), "{}", error.payload);
}

/// `Nest/Thermostat`, a device of the native scheme listening to its callbacks, its
/// messages polled by the adapter.
async fn thermostat(h: &Harness) -> Device {
    let nest = h.device("nest").await;
    nest.subscribe("constellation/Nest/Thermostat/callback/#")
        .await;
    nest.publish("constellation/Nest/Thermostat/stateobject/Temp", "20")
        .await;
    polled(h, "Nest/Thermostat").await;
    nest
}
