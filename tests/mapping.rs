//! Mapping rules end to end: real payloads from `tests/fixtures/` published by a
//! real MQTT client, through rules in the configuration, into the simulator.

mod common;

use common::console::*;
use common::mqtt::*;
use common::*;
use constellation_mqtt::config::{Availability, MapRule, MappedStateObject};
use constellation_mqtt::constellation::model::SoFilter;
use constellation_mqtt::sim::World;
use serde_json::{json, Value};
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

fn rule(topic: &str) -> MapRule {
    MapRule {
        topic: topic.into(),
        sentinel: "Tasmota".into(),
        package: "{device}".into(),
        ..MapRule::default()
    }
}

/// Tasmota, written as plain rules (the preset will generate the same).
fn tasmota_rules() -> Vec<MapRule> {
    let mut energy = std::collections::BTreeMap::new();
    energy.insert(
        "Power".to_string(),
        MappedStateObject {
            path: Some("ENERGY.Power".into()),
            type_name: Some("System.Double".into()),
            metadata: json!({"Unit": "W"}).as_object().unwrap().clone(),
            ..MappedStateObject::default()
        },
    );
    energy.insert(
        "Voltage".to_string(),
        MappedStateObject {
            value: Some("{{ value_json.ENERGY.Voltage }}".into()),
            ..MappedStateObject::default()
        },
    );
    let mut result = std::collections::BTreeMap::new();
    result.insert(
        "Relay".to_string(),
        MappedStateObject {
            value: Some("{{ value_json.POWER }}".into()),
            type_name: Some("System.Boolean".into()),
            ..MappedStateObject::default()
        },
    );
    vec![
        MapRule {
            stateobjects: energy,
            continue_matching: true,
            ..rule("tele/{device}/SENSOR")
        },
        MapRule {
            explode: true,
            skip: vec![
                "Time".into(),
                "TempUnit".into(),
                "ENERGY.TotalStartTime".into(),
            ],
            ..rule("tele/{device}/SENSOR")
        },
        MapRule {
            stateobject: Some("Power".into()),
            value: Some("{{ value == 'ON' }}".into()),
            ..rule("stat/{device}/POWER")
        },
        MapRule {
            stateobjects: result,
            ..rule("stat/{device}/RESULT")
        },
        MapRule {
            availability: Some(Availability::Payloads {
                online: "Online".into(),
                offline: "Offline".into(),
            }),
            ..rule("tele/{device}/LWT")
        },
    ]
}

async fn so(
    h: &Harness,
    package: &str,
    name: &str,
    check: impl Fn(&Value) -> bool,
) -> constellation_mqtt::constellation::model::StateObject {
    let handle = h.sim.handle();
    wait_for(&format!("Tasmota/{package}/{name}"), T, || async {
        handle
            .state_object("Tasmota", package, name)
            .filter(|so| check(&so.value))
    })
    .await
}

#[tokio::test]
async fn tasmota_payloads_become_state_objects() {
    let h = Harness::embedded(World::open("demo"), |c| c.map = tasmota_rules()).await;
    let d = h.device("tasmota").await;
    d.publish(
        "tele/kitchen/SENSOR",
        fixture("tasmota/tele-sensor-am2301.json"),
    )
    .await;
    let t = so(&h, "kitchen", "AM2301.Temperature", |v| *v == json!(24.6)).await;
    assert_eq!(t.type_name.as_deref(), Some("System.Double"));
    so(&h, "kitchen", "AM2301.Humidity", |v| *v == json!(58.2)).await;
    let all = h.sim.handle().state_objects(&SoFilter {
        package: "kitchen".into(),
        ..SoFilter::default()
    });
    let names: Vec<_> = all.iter().map(|s| s.name.as_str()).collect();
    assert!(
        !names.contains(&"Time") && !names.contains(&"TempUnit"),
        "{names:?}"
    );
    assert!(
        !names.contains(&"Power"),
        "no ENERGY in this payload: no Power, and no error"
    );

    d.publish(
        "tele/pow1/SENSOR",
        fixture("tasmota/tele-sensor-energy-pow.json"),
    )
    .await;
    let p = so(&h, "pow1", "Power", |v| *v == json!(2635.0)).await;
    assert_eq!(p.type_name.as_deref(), Some("System.Double"));
    assert_eq!(p.metadatas.unwrap()["Unit"], json!("W"));
    so(&h, "pow1", "Voltage", |v| *v == json!(227)).await;
    so(&h, "pow1", "ENERGY.Today", |v| *v == json!(0.954)).await;

    d.publish("stat/pow1/POWER", "ON").await;
    so(&h, "pow1", "Power", |v| *v == json!(true)).await;

    for line in fixture("tasmota/lwt.txt").lines() {
        let (topic, payload) = line.split_once(' ').unwrap();
        let topic = topic.replace("tasmota_XXXXXX", "pow1");
        d.publish(&topic, payload).await;
        let online = payload == "Online";
        so(&h, "pow1", "Online", |v| *v == json!(online)).await;
    }
}

#[tokio::test]
async fn a_missing_key_on_a_shared_topic_gives_no_update_and_no_error() {
    let h = Harness::embedded(World::open("demo"), |c| c.map = tasmota_rules()).await;
    let d = h.device("tasmota").await;
    d.subscribe("constellation/#").await;
    d.publish("stat/lamp/RESULT", r#"{"Dimmer": 50}"#).await;
    d.publish("stat/lamp/RESULT", r#"{"POWER": "OFF"}"#).await;
    so(&h, "lamp", "Relay", |v| *v == json!(false)).await;
    assert_eq!(
        h.sim
            .handle()
            .state_objects(&SoFilter {
                package: "lamp".into(),
                ..SoFilter::default()
            })
            .len(),
        1
    );
    let errors = d.errors().await;
    assert!(errors.is_empty(), "{errors:?}");
}

#[tokio::test]
async fn esphome_text_states_with_captured_names_and_a_value_map() {
    let rules = vec![MapRule {
        topic: "{node}/{component}/{object}/state".into(),
        sentinel: "ESPHome".into(),
        package: "{node}".into(),
        stateobject: Some("{component}.{object}".into()),
        map: json!({"ON": true, "OFF": false})
            .as_object()
            .unwrap()
            .clone(),
        ..MapRule::default()
    }];
    let h = Harness::embedded(World::open("demo"), |c| c.map = rules).await;
    let d = h.device("esphome").await;
    for line in fixture("esphome/states.txt").lines() {
        let (topic, payload) = line.split_once(' ').unwrap();
        d.publish(topic, payload).await;
    }
    let handle = h.sim.handle();
    for (name, value) in [
        ("sensor.firstfloor_inverter_operation_mode", json!("Normal")),
        ("sensor.inverter0_power_demand", json!(190)),
        ("sensor.firstfloor_inverter_energy_yesterday", json!(0.105)),
        ("switch.attic-powerwall_restart", json!(false)),
    ] {
        wait_for(name, T, || async {
            handle
                .state_object("ESPHome", "attic-powerwall", name)
                .filter(|so| so.value == value)
        })
        .await;
    }
}

#[tokio::test]
async fn non_utf8_payloads_are_refused_on_the_packages_error_topic() {
    let h = Harness::embedded(World::open("demo"), |c| c.map = tasmota_rules()).await;
    let d = h.device("tasmota").await;
    d.subscribe("constellation/Tasmota/bad/error").await;
    d.publish("stat/bad/POWER", vec![0xff, 0xfe]).await;
    let e = d.expect("constellation/Tasmota/bad/error", |_| true).await;
    assert!(e.payload.contains("not UTF-8"), "{}", e.payload);
}

fn power_command(timeout_ms: u64) -> constellation_mqtt::config::CommandRule {
    use constellation_mqtt::config::{CommandParameter, CommandResponse, CommandRule};
    CommandRule {
        sentinel: "Tasmota".into(),
        package: "*".into(),
        key: "Power".into(),
        description: Some("Switch the relay: ON, OFF or TOGGLE".into()),
        parameters: vec![CommandParameter {
            name: "state".into(),
            type_name: "System.String".into(),
            description: None,
        }],
        topic: "cmnd/{package}/POWER".into(),
        payload: "{{ data }}".into(),
        response: Some(CommandResponse {
            topic: "stat/{package}/RESULT".into(),
            value: "{{ value_json.POWER }}".into(),
            timeout_ms,
        }),
        qos: None,
        ..CommandRule::default()
    }
}

#[tokio::test]
async fn commands_publish_at_their_own_qos_and_everything_else_at_mqtt_qos() {
    let h = Harness::external(World::open("demo"), |c| {
        c.mqtt.qos = 0;
        c.map = tasmota_rules();
        c.command = vec![constellation_mqtt::config::CommandRule {
            qos: Some(2),
            ..power_command(500)
        }];
    })
    .await;
    let d = h.device("tasmota_qos").await;
    d.subscribe_qos("cmnd/tasmota_qos/#", rumqttc::QoS::ExactlyOnce)
        .await;
    d.subscribe_qos(
        "constellation/Native/Dev/callback/#",
        rumqttc::QoS::ExactlyOnce,
    )
    .await;
    d.publish("tele/tasmota_qos/LWT", "Online").await;
    d.publish("constellation/Native/Dev/status", "online").await;
    polled(&h, "Tasmota/tasmota_qos").await;
    polled(&h, "Native/Dev").await;

    call(&h, "Tasmota/tasmota_qos", "Power", json!("ON"), None);
    let cmd = d.expect("cmnd/tasmota_qos/POWER", |_| true).await;
    assert_eq!(cmd.qos, rumqttc::QoS::ExactlyOnce, "the command's qos = 2");
    call(&h, "Native/Dev", "Ping", json!(1), None);
    let callback = d
        .expect("constellation/Native/Dev/callback/Ping", |_| true)
        .await;
    assert_eq!(callback.qos, rumqttc::QoS::AtMostOnce, "mqtt.qos = 0");
}

#[tokio::test]
async fn the_tasmota_command_flow_answers_sagas() {
    let h = Harness::embedded(World::open("demo"), |c| {
        c.map = tasmota_rules();
        c.command = vec![power_command(500)];
    })
    .await;
    let d = h.device("tasmota_switch").await;
    d.subscribe("cmnd/tasmota_switch/#").await;
    d.publish("tele/tasmota_switch/LWT", "Online").await;
    let handle = h.sim.handle();
    polled(&h, "Tasmota/tasmota_switch").await;
    let descriptor = wait_for("the generated descriptor", T, || async {
        handle.descriptors().get("Tasmota/tasmota_switch").cloned()
    })
    .await;
    assert_eq!(
        descriptor["MessageCallbacks"][0]["MessageKey"],
        json!("Power")
    );
    assert_eq!(
        descriptor["MessageCallbacks"][0]["Parameters"][0]["Name"],
        json!("state")
    );

    let console = console();
    let toggle = |saga| {
        call(
            &h,
            "Tasmota/tasmota_switch",
            "Power",
            json!("TOGGLE"),
            Some(saga),
        )
    };
    toggle("s1");
    let cmd = d.expect("cmnd/tasmota_switch/POWER", |_| true).await;
    assert_eq!(cmd.payload, "TOGGLE");
    assert!(!cmd.retain, "commands are never retained");
    // The device answers as in the fixture; an unrelated RESULT first does not answer.
    d.publish("stat/tasmota_switch/RESULT", r#"{"Dimmer": 40}"#)
        .await;
    for line in fixture("tasmota/command-flow.txt")
        .lines()
        .filter(|l| l.starts_with('>'))
    {
        let (topic, payload) = line[2..].split_once(' ').unwrap();
        if payload.contains("\"ON\"") || payload == "ON" {
            d.publish(topic, payload).await;
        }
    }
    let answer = within("the saga's answer", handle.saga_response(&console, "s1", T))
        .await
        .expect("an answer");
    assert_eq!(answer.data, json!("ON"));
    assert_eq!(answer.sender.friendly_name, "Tasmota/tasmota_switch");

    // No answer from the device: an error object after the time-out.
    toggle("s2");
    d.expect("cmnd/tasmota_switch/POWER", |_| true).await;
    let answer = within(
        "the time-out answer",
        handle.saga_response(&console, "s2", T),
    )
    .await
    .expect("an answer");
    assert!(
        answer.data["Error"].as_str().unwrap().contains("no answer"),
        "{}",
        answer.data
    );
}

#[tokio::test]
async fn one_tasmota_preset_line_projects_a_device() {
    use constellation_mqtt::config::Preset;
    let h = Harness::embedded(World::open("demo"), |c| {
        c.preset = vec![Preset {
            kind: "tasmota".into(),
            ..Preset::default()
        }]
    })
    .await;
    let d = h.device("tasmota").await;
    d.subscribe("cmnd/#").await;
    d.publish("tele/kitchen/LWT", "Online").await;
    d.publish(
        "tele/kitchen/SENSOR",
        fixture("tasmota/tele-sensor-am2301.json"),
    )
    .await;
    d.publish("tele/kitchen/STATE", fixture("tasmota/tele-state-vcc.json"))
        .await;
    d.publish("stat/kitchen/POWER", "ON").await;
    let t = so(&h, "kitchen", "AM2301.Temperature", |v| *v == json!(24.6)).await;
    assert_eq!(t.type_name.as_deref(), Some("System.Double"));
    so(&h, "kitchen", "Vcc", |v| *v == json!(3.423)).await;
    so(&h, "kitchen", "Wifi.RSSI", |v| *v == json!(100)).await;
    so(&h, "kitchen", "POWER", |v| *v == json!(true)).await;
    so(&h, "kitchen", "Online", |v| *v == json!(true)).await;
    let names: Vec<String> = h
        .sim
        .handle()
        .state_objects(&SoFilter {
            package: "kitchen".into(),
            ..SoFilter::default()
        })
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert!(
        !names.iter().any(|n| n == "Time" || n == "TempUnit"),
        "{names:?}"
    );
    let handle = h.sim.handle();
    let descriptor = wait_for("the descriptor", T, || async {
        handle.descriptors().get("Tasmota/kitchen").cloned()
    })
    .await;
    let keys: Vec<&str> = descriptor["MessageCallbacks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["MessageKey"].as_str())
        .collect();
    assert_eq!(keys, ["Power", "Command", "Status"]);
    // The generic Command callback: [command, value].
    polled(&h, "Tasmota/kitchen").await;
    call(
        &h,
        "Tasmota/kitchen",
        "Command",
        json!(["Dimmer", 40]),
        None,
    );
    let cmd = d.expect("cmnd/kitchen/Dimmer", |_| true).await;
    assert_eq!(cmd.payload, "40");
}

#[test]
fn unknown_presets_and_misplaced_fields_are_config_errors_naming_the_preset() {
    use constellation_mqtt::setup::load_str;
    let errs = load_str(
        "topics.toml",
        "[[preset]]\nkind = \"sonoff\"\n",
        &Default::default(),
    )
    .unwrap_err();
    assert_eq!(errs[0].key, "preset[0].kind");
    assert!(
        errs[0].reason.contains("unknown preset \"sonoff\""),
        "{errs:?}"
    );
    let errs = load_str(
        "topics.toml",
        "[[preset]]\nkind = \"homie\"\nprefixes = [\"x\"]\nbase = \"a/#\"\n",
        &Default::default(),
    )
    .unwrap_err();
    let keys: Vec<&str> = errs.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["preset[0].prefixes", "preset[0].base"], "{errs:?}");
    assert!(
        errs[0]
            .reason
            .contains("does not apply to a \"homie\" preset"),
        "{errs:?}"
    );
    assert!(errs[1].reason.contains("is not a topic"), "{errs:?}");
    let ok = load_str(
        "topics.toml",
        "[[preset]]\nkind = \"tasmota\"\n",
        &Default::default(),
    )
    .unwrap();
    let expansion = constellation_mqtt::mapping::presets::expand(&ok.preset).unwrap();
    assert!(!expansion.rules.is_empty() && expansion.commands.len() == 3);
}

#[tokio::test]
async fn one_esphome_preset_line_projects_a_device() {
    use constellation_mqtt::config::Preset;
    let h = Harness::embedded(World::open("demo"), |c| {
        c.preset = vec![Preset {
            kind: "esphome".into(),
            prefixes: vec!["attic-powerwall".into()],
            ..Preset::default()
        }]
    })
    .await;
    let d = h.device("esphome").await;
    d.subscribe("attic-powerwall/+/+/command").await;
    d.publish("attic-powerwall/status", "online").await;
    for line in fixture("esphome/states.txt").lines() {
        let (topic, payload) = line.split_once(' ').unwrap();
        d.publish(topic, payload).await;
    }
    let handle = h.sim.handle();
    for (name, value) in [
        ("switch.attic-powerwall_restart", json!(false)),
        ("sensor.inverter0_power_demand", json!(190)),
        ("sensor.firstfloor_inverter_operation_mode", json!("Normal")),
    ] {
        wait_for(name, T, || async {
            handle
                .state_object("ESPHome", "attic-powerwall", name)
                .filter(|so| so.value == value)
        })
        .await;
    }
    wait_for("Online", T, || async {
        handle
            .state_object("ESPHome", "attic-powerwall", "Online")
            .filter(|so| so.value == json!(true))
    })
    .await;
    polled(&h, "ESPHome/attic-powerwall").await;
    call(
        &h,
        "ESPHome/attic-powerwall",
        "Command",
        json!(["switch", "attic-powerwall_restart", "ON"]),
        None,
    );
    let cmd = d
        .expect(
            "attic-powerwall/switch/attic-powerwall_restart/command",
            |_| true,
        )
        .await;
    assert_eq!(cmd.payload, "ON");
    assert!(!cmd.retain);
}

#[tokio::test]
async fn a_package_mapped_by_rules_alone_is_described_with_its_state_object_types() {
    let h = Harness::embedded(World::open("demo"), |c| c.map = tasmota_rules()).await;
    let d = h.device("pow").await;
    d.publish(
        "tele/pow1/SENSOR",
        fixture("tasmota/tele-sensor-energy-pow.json"),
    )
    .await;
    let handle = h.sim.handle();
    let descriptor = wait_for("the descriptor", T, || async {
        handle.descriptors().get("Tasmota/pow1").cloned()
    })
    .await;
    assert_eq!(descriptor["MessageCallbacks"], json!([]));
    let properties = &descriptor["StateObjectTypes"][0]["Properties"];
    assert!(
        properties
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["Name"] == "Power" && p["TypeName"] == "System.Double"),
        "{descriptor}"
    );
}

#[tokio::test]
async fn tasmota_result_changes_update_state_objects_at_once_and_still_answer_sagas() {
    use constellation_mqtt::config::Preset;
    let h = Harness::embedded(World::open("demo"), |c| {
        c.preset = vec![Preset {
            kind: "tasmota".into(),
            ..Preset::default()
        }]
    })
    .await;
    let d = h.device("bulb").await;
    d.subscribe("cmnd/#").await;
    d.publish("tele/bulb/LWT", "Online").await;
    polled(&h, "Tasmota/bulb").await;

    // `Dimmer 40` in a saga; the light answers with its whole state in RESULT (the
    // shape Tasmota prints for a light command).
    call(
        &h,
        "Tasmota/bulb",
        "Command",
        json!(["Dimmer", 40]),
        Some("d1"),
    );
    d.expect("cmnd/bulb/Dimmer", |p| p == "40").await;
    d.publish(
        "stat/bulb/RESULT",
        r#"{"POWER":"ON","Dimmer":40,"Color":"66,66,66","HSBColor":"0,0,26","White":26,"CT":153,"Channel":[26,26,26]}"#,
    )
    .await;
    so(&h, "bulb", "Dimmer", |v| *v == json!(40)).await;
    so(&h, "bulb", "CT", |v| *v == json!(153)).await;
    so(&h, "bulb", "Color", |v| *v == json!("66,66,66")).await;
    let power = so(&h, "bulb", "POWER", |v| *v == json!(true)).await;
    assert_eq!(power.type_name.as_deref(), Some("System.Boolean"));
    let handle = h.sim.handle();
    let answer = within(
        "the saga's answer",
        handle.saga_response(&console(), "d1", T),
    )
    .await
    .expect("an answer");
    assert!(answer.data.to_string().contains("40"), "{:?}", answer.data);

    // A second relay from RESULT and from tele/STATE: the same boolean StateObject.
    d.publish("stat/bulb/RESULT", r#"{"POWER2":"OFF"}"#).await;
    so(&h, "bulb", "POWER2", |v| *v == json!(false)).await;
    d.publish(
        "tele/bulb/STATE",
        r#"{"Time":"2026-12-02T10:00:00","POWER2":"ON","Dimmer":41}"#,
    )
    .await;
    so(&h, "bulb", "POWER2", |v| *v == json!(true)).await;
    so(&h, "bulb", "Dimmer", |v| *v == json!(41)).await;
    // A RESULT that is no state (a command's echo) makes no StateObject.
    d.publish("stat/bulb/RESULT", r#"{"Timezone":99}"#).await;
    d.publish("stat/bulb/RESULT", r#"{"Dimmer":42}"#).await;
    so(&h, "bulb", "Dimmer", |v| *v == json!(42)).await;
    assert!(handle.state_object("Tasmota", "bulb", "Timezone").is_none());
}

/// Templates pasted from Home Assistant (its filters and functions, Python methods)
/// work in rules and commands alike; one that needs Home Assistant's state machine is
/// reported on the package's `error` topic, not silently ignored.
#[tokio::test]
async fn home_assistant_templates_work_in_rules_and_commands() {
    let h = Harness::embedded(World::open("demo"), |c| {
        let mut sos = std::collections::BTreeMap::new();
        sos.insert(
            "Temperature".to_string(),
            MappedStateObject {
                value: Some("{{ value.split(',')[1] | float(0) | round(1) }}".into()),
                ..MappedStateObject::default()
            },
        );
        sos.insert(
            "Seen".to_string(),
            MappedStateObject {
                value: Some("{{ as_datetime(value.split(',')[0]).hour }}".into()),
                ..MappedStateObject::default()
            },
        );
        c.map = vec![
            MapRule {
                stateobjects: sos,
                ..rule("csv/{device}")
            },
            MapRule {
                stateobject: Some("Away".into()),
                value: Some("{{ is_state('person.me', 'away') }}".into()),
                ..rule("presence/{device}")
            },
        ];
        c.command = vec![constellation_mqtt::config::CommandRule {
            payload: "{{ iif(data | bool, 'ON', 'OFF') }}".into(),
            response: None,
            ..power_command(500)
        }];
    })
    .await;
    let d = h.device("ha_templates").await;
    d.publish("csv/probe", "2024-05-01T07:30:00+00:00,21.46,x")
        .await;
    so(&h, "probe", "Temperature", |v| *v == json!(21.5)).await;
    so(&h, "probe", "Seen", |v| *v == json!(7)).await;

    d.subscribe("constellation/Tasmota/probe/error").await;
    d.publish("presence/probe", "home").await;
    let e = d
        .expect("constellation/Tasmota/probe/error", |_| true)
        .await;
    assert!(
        e.payload
            .contains("is_state() not supported outside Home Assistant"),
        "{}",
        e.payload
    );

    d.subscribe("cmnd/probe/#").await;
    polled(&h, "Tasmota/probe").await;
    call(&h, "Tasmota/probe", "Power", json!("on"), None);
    let cmd = d.expect("cmnd/probe/POWER", |_| true).await;
    assert_eq!(cmd.payload, "ON");
}

/// A rule's `reset` text pushes null (Home Assistant's `unknown`); a command with
/// `steps` publishes each in order, skipping a publish whose payload renders to
/// nothing, and reads the package's StateObjects the rules mapped (`reads`) as `states`.
#[tokio::test]
async fn commands_with_steps_read_the_mapped_state_and_resets_push_null() {
    let h = Harness::embedded(World::open("demo"), |c| {
        c.map = vec![MapRule {
            stateobject: Some("Dimmer".into()),
            type_name: Some("System.Int64".into()),
            strict: true,
            reset: Some("None".into()),
            ..rule("stat/{device}/DIMMER")
        }];
        c.command = vec![constellation_mqtt::config::CommandRule {
            key: "Brighten".into(),
            topic: "cmnd/{package}/Dimmer".into(),
            payload: "{% if data > states.get('Dimmer', 0) %}{{ data }}{% endif %}".into(),
            steps: vec![constellation_mqtt::config::CommandStep {
                topic: "cmnd/{package}/POWER".into(),
                payload: "ON".into(),
            }],
            reads: vec!["Dimmer".into()],
            response: None,
            ..power_command(500)
        }];
    })
    .await;
    let d = h.device("steps").await;
    d.subscribe("cmnd/lamp/#").await;
    d.publish("stat/lamp/DIMMER", "30").await;
    so(&h, "lamp", "Dimmer", |v| *v == json!(30)).await;
    polled(&h, "Tasmota/lamp").await;

    call(&h, "Tasmota/lamp", "Brighten", json!(50), None);
    d.expect("cmnd/lamp/Dimmer", |p| p == "50").await;
    d.expect("cmnd/lamp/POWER", |p| p == "ON").await;
    // 10 is not brighter than 30: only the power step.
    call(&h, "Tasmota/lamp", "Brighten", json!(10), None);
    d.expect("cmnd/lamp/POWER", |p| p == "ON").await;
    call(&h, "Tasmota/lamp", "Brighten", json!(60), None);
    let next = d.expect("cmnd/lamp/Dimmer", |_| true).await;
    assert_eq!(next.payload, "60", "the skipped publish was not sent");

    d.publish("stat/lamp/DIMMER", "None").await;
    so(&h, "lamp", "Dimmer", |v| v.is_null()).await;
    d.publish("stat/lamp/DIMMER", "n/a").await;
    d.publish("stat/lamp/DIMMER", "40").await;
    so(&h, "lamp", "Dimmer", |v| *v == json!(40)).await;
}
