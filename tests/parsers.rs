//! Everything that parses what devices send, on arbitrary input: native topics and
//! payloads, mapping patterns and captures, rules with templates and value coercion,
//! every preset's discovery configs. Never a panic; every refusal says why.

use constellation_mqtt::devices::Devices;
use constellation_mqtt::mapping::pattern::Pattern;
use constellation_mqtt::native::{decode, parse_topic, Kind, Topic};
use proptest::prelude::*;
use serde_json::Value;
use std::collections::HashMap;

/// JSON values of any shape, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("ON"),
            Just("OFF"),
            Just("online"),
            Just("true"),
            Just("21.5")
        ]
        .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::hash_map(
                prop_oneof![
                    ".{0,8}",
                    Just("state".to_owned()),
                    Just("POWER".to_owned()),
                    Just("temperature".to_owned()),
                    Just("name".to_owned()),
                    Just("stat_t".to_owned()),
                    Just("cmd_t".to_owned()),
                    Just("val_tpl".to_owned()),
                    Just("dev".to_owned()),
                    Just("ids".to_owned()),
                    Just("~".to_owned()),
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Payloads: arbitrary bytes, or JSON of any shape.
fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        json_value().prop_map(|v| v.to_string().into_bytes()),
        ".{0,40}".prop_map(String::into_bytes),
    ]
}

/// Topics: arbitrary text, and arbitrary levels under the prefixes the adapter reads.
fn topic() -> impl Strategy<Value = String> {
    let level = prop_oneof![
        ".{0,10}",
        Just(String::new()),
        Just("+".into()),
        Just("#".into())
    ];
    let head = prop_oneof![
        Just("constellation"),
        Just("tele"),
        Just("stat"),
        Just("homeassistant"),
        Just("zigbee2mqtt"),
        Just("homie"),
        Just("tasmota/discovery"),
        Just("esphome"),
    ];
    prop_oneof![
        ".{0,60}",
        (head, prop::collection::vec(level, 0..6))
            .prop_map(|(h, levels)| format!("{h}/{}", levels.join("/"))),
    ]
}

fn kinds() -> Vec<Kind> {
    vec![
        Kind::StateObject("X".into()),
        Kind::StateObject("/a/b".into()),
        Kind::StateObjectFull,
        Kind::Purge,
        Kind::Log(None),
        Kind::Log(Some("warn".into())),
        Kind::Log(Some("nonsense".into())),
        Kind::Message,
        Kind::Response("saga-1".into()),
        Kind::Descriptor,
        Kind::Subscribe,
        Kind::Groups,
        Kind::SettingsGet,
        Kind::Status,
    ]
}

/// The adapter's devices with every preset and a rule with templates and coercion.
fn devices() -> Devices {
    let text = r#"
[constellation]
url = "http://127.0.0.1:9/"
access_key = "k"
[[preset]]
kind = "tasmota"
[[preset]]
kind = "zigbee2mqtt"
[[preset]]
kind = "homeassistant"
[[preset]]
kind = "homie"
[[preset]]
kind = "esphome"
prefixes = ["esphome"]
[[map]]
topic = "sensors/{room}/{what}"
sentinel = "Sensors"
package = "{room}"
[map.stateobjects."{what}"]
value = "{{ (value_json.v | float) * 2 if value_json.v is number else value | upper }}"
type = "System.Double"
"#;
    let setup = constellation_mqtt::setup::load_str("topics.toml", text, &HashMap::new())
        .expect("the test configuration is valid");
    Devices::new(setup.mapping)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1_000, ..ProptestConfig::default() })]

    #[test]
    fn native_topics_parse_or_say_why(topic in topic()) {
        if let Topic::Invalid { reason, error_topic } = parse_topic("constellation", &topic) {
            prop_assert!(!reason.is_empty());
            prop_assert!(!error_topic.contains(['+', '#']), "{error_topic}");
        }
    }

    #[test]
    fn native_payloads_decode_or_say_why(
        payload in payload(),
        properties in prop::collection::vec((".{0,12}", ".{0,12}"), 0..4),
    ) {
        for kind in kinds() {
            if let Err(reason) = decode(&kind, "Pkg", &payload, &properties) {
                prop_assert!(!reason.is_empty(), "{kind:?}");
            }
        }
    }

    #[test]
    fn mapping_patterns_compile_or_say_why_and_capture_anything(
        pattern in prop_oneof![".{0,30}", Just("tele/{device}/SENSOR".to_owned()), Just("a/{x}/{y}/+".to_owned())],
        topic in topic(),
    ) {
        match Pattern::new(&pattern) {
            Ok(p) => {
                let _ = p.filter();
                let _ = p.captures(&topic);
            }
            Err(reason) => prop_assert!(!reason.is_empty()),
        }
    }

    #[test]
    fn every_preset_and_rule_takes_any_publish(
        publishes in prop::collection::vec((topic(), payload(), any::<bool>()), 1..8),
    ) {
        let devices = devices();
        for (topic, payload, retained) in &publishes {
            let projection = devices.project(topic, payload, *retained);
            for e in &projection.errors {
                prop_assert!(!e.reason.is_empty());
            }
        }
    }
}

#[test]
fn discovery_configs_of_any_shape_are_learned_or_refused_with_a_reason() {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 500,
        ..ProptestConfig::default()
    });
    let config_topics = prop_oneof![
        Just("homeassistant/sensor/dev/x/config"),
        Just("homeassistant/light/kitchen/config"),
        Just("homeassistant/binary_sensor/door/config"),
        Just("zigbee2mqtt/bridge/devices"),
        Just("zigbee2mqtt/bridge/groups"),
        Just("tasmota/discovery/AABBCC/config"),
        Just("homie/dev/$nodes"),
        Just("homie/dev/node/$properties"),
    ];
    runner
        .run(
            &(config_topics, json_value(), topic(), payload()),
            |(t, config, state_topic, state)| {
                let devices = devices();
                let projection = devices.project(t, config.to_string().as_bytes(), true);
                for e in &projection.errors {
                    prop_assert!(!e.reason.is_empty());
                }
                // Then a state publish anywhere: what was learned handles it.
                let projection = devices.project(&state_topic, &state, false);
                for e in &projection.errors {
                    prop_assert!(!e.reason.is_empty());
                }
                Ok(())
            },
        )
        .unwrap();
}
