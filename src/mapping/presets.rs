//! Presets: one `[[preset]]` line expands into the rules and commands of an ecosystem.

use crate::config::{
    Availability, CommandParameter, CommandResponse, CommandRule, MapRule, MappedStateObject,
    Preset,
};
use serde_json::{json, Map, Value};

/// The kinds a preset can be, and whether this version builds them.
const KINDS: &[(&str, bool)] = &[
    ("tasmota", true),
    ("esphome", true),
    ("zigbee2mqtt", false),
    ("homie", false),
    ("homeassistant", false),
];

/// What presets expand to.
#[derive(Debug, Default)]
pub struct Expansion {
    pub rules: Vec<MapRule>,
    pub commands: Vec<CommandRule>,
}

/// The rules and commands of `presets`, or (key, reason) for each that cannot be.
pub fn expand(presets: &[Preset]) -> Result<Expansion, Vec<(String, String)>> {
    let mut rules = Vec::new();
    let mut commands = Vec::new();
    let mut errors = Vec::new();
    for (i, p) in presets.iter().enumerate() {
        let key = format!("preset[{i}].kind");
        match (p.kind.as_str(), KINDS.iter().find(|(k, _)| *k == p.kind)) {
            ("esphome", _) if p.prefixes.is_empty() => errors.push((
                format!("preset[{i}].prefixes"),
                "list the devices' topic prefixes (learning them from discovery is not built yet)"
                    .into(),
            )),
            ("esphome", _) => esphome(
                p.sentinel.as_deref().unwrap_or("ESPHome"),
                &p.prefixes,
                &mut rules,
                &mut commands,
            ),
            ("tasmota", _) => tasmota(
                p.sentinel.as_deref().unwrap_or("Tasmota"),
                &mut rules,
                &mut commands,
            ),
            (kind, Some(_)) => errors.push((
                key,
                format!("preset {kind:?} is not available in this version yet"),
            )),
            (kind, None) => errors.push((
                key,
                format!(
                    "unknown preset {kind:?} (known: {})",
                    KINDS.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")
                ),
            )),
        }
    }
    if errors.is_empty() {
        Ok(Expansion { rules, commands })
    } else {
        Err(errors)
    }
}

/// Command parameters, all text.
fn text_parameters(names: &[&str]) -> Vec<CommandParameter> {
    names
        .iter()
        .map(|n| CommandParameter {
            name: (*n).into(),
            type_name: "System.String".into(),
            description: None,
        })
        .collect()
}

fn on_off() -> Map<String, Value> {
    json!({"ON": true, "OFF": false})
        .as_object()
        .cloned()
        .unwrap_or_default()
}

/// Tasmota with its default FullTopic `%prefix%/%topic%/`: `tele/<t>/SENSOR` and
/// `STATE` exploded, `stat/<t>/POWER[1-8]` as booleans, `tele/<t>/LWT` availability;
/// callbacks `Power`, `Command` and `Status`, answered from `stat/<t>/RESULT`.
fn tasmota(sentinel: &str, rules: &mut Vec<MapRule>, commands: &mut Vec<CommandRule>) {
    let rule = |topic: &str| MapRule {
        topic: topic.into(),
        sentinel: sentinel.into(),
        package: "{device}".into(),
        ..MapRule::default()
    };
    rules.push(MapRule {
        explode: true,
        skip: vec![
            "Time".into(),
            "TempUnit".into(),
            "ENERGY.TotalStartTime".into(),
        ],
        ..rule("tele/{device}/SENSOR")
    });
    rules.push(MapRule {
        explode: true,
        skip: vec!["Time".into(), "Uptime".into(), "POWER".into()],
        continue_matching: true,
        ..rule("tele/{device}/STATE")
    });
    rules.push(MapRule {
        stateobjects: [(
            "POWER".to_string(),
            MappedStateObject {
                path: Some("POWER".into()),
                type_name: Some("System.Boolean".into()),
                ..MappedStateObject::default()
            },
        )]
        .into(),
        ..rule("tele/{device}/STATE")
    });
    for suffix in ["", "1", "2", "3", "4", "5", "6", "7", "8"] {
        rules.push(MapRule {
            stateobject: Some(format!("POWER{suffix}")),
            type_name: Some("System.Boolean".into()),
            map: on_off(),
            ..rule(&format!("stat/{{device}}/POWER{suffix}"))
        });
    }
    rules.push(MapRule {
        availability: Some(Availability::Payloads {
            online: "Online".into(),
            offline: "Offline".into(),
        }),
        ..rule("tele/{device}/LWT")
    });
    let command = |key: &str,
                   description: &str,
                   topic: &str,
                   payload: &str,
                   answer: &str,
                   parameters: &[&str]| CommandRule {
        sentinel: sentinel.into(),
        package: "*".into(),
        key: key.into(),
        description: Some(description.into()),
        parameters: text_parameters(parameters),
        topic: topic.into(),
        payload: payload.into(),
        response: Some(CommandResponse {
            topic: "stat/{package}/RESULT".into(),
            value: answer.into(),
            timeout_ms: 3_000,
        }),
    };
    commands.push(command(
        "Power",
        "Switch the relay: ON, OFF or TOGGLE",
        "cmnd/{package}/POWER",
        "{{ data }}",
        "{{ value_json.POWER }}",
        &["state"],
    ));
    commands.push(command(
        "Command",
        "Any Tasmota command, with its value",
        "cmnd/{package}/{{ data[0] }}",
        "{{ data[1] }}",
        "{{ value }}",
        &["command", "value"],
    ));
    commands.push(command(
        "Status",
        "Tasmota STATUS <n>",
        "cmnd/{package}/STATUS",
        "{{ data }}",
        "{{ value }}",
        &["n"],
    ));
}

/// ESPHome devices by topic prefix: `<prefix>/status` availability, every
/// `<prefix>/<component>/<object>/state` as the StateObject `<component>.<object>`
/// (`ON`/`OFF` as booleans), and a `Command` callback ([component, object, value]) that
/// publishes on `<prefix>/<component>/<object>/command`. The package is named after the
/// prefix's last level (the node name by default).
fn esphome(
    sentinel: &str,
    prefixes: &[String],
    rules: &mut Vec<MapRule>,
    commands: &mut Vec<CommandRule>,
) {
    for prefix in prefixes {
        let package = prefix.rsplit('/').next().unwrap_or(prefix).to_owned();
        let rule = |topic: String| MapRule {
            topic,
            sentinel: sentinel.into(),
            package: package.clone(),
            ..MapRule::default()
        };
        rules.push(MapRule {
            availability: Some(Availability::Payloads {
                online: "online".into(),
                offline: "offline".into(),
            }),
            ..rule(format!("{prefix}/status"))
        });
        rules.push(MapRule {
            stateobject: Some("{component}.{object}".into()),
            map: on_off(),
            ..rule(format!("{prefix}/{{component}}/{{object}}/state"))
        });
        commands.push(CommandRule {
            sentinel: sentinel.into(),
            package: package.clone(),
            key: "Command".into(),
            description: Some(
                "Set an entity: [component, object, value], e.g. [\"switch\", \"relay\", \"ON\"]"
                    .into(),
            ),
            parameters: text_parameters(&["component", "object", "value"]),
            topic: format!("{prefix}/{{{{ data[0] }}}}/{{{{ data[1] }}}}/command"),
            payload: "{{ data[2] }}".into(),
            response: None,
        });
    }
}
