//! Presets: one `[[preset]]` line expands into the rules and commands of an ecosystem.

use crate::config::{
    Availability, CommandParameter, CommandResponse, CommandRule, MapRule, MappedStateObject,
    Preset,
};
use serde_json::{json, Map, Value};

/// A source of devices learned at run time, from a preset.
#[derive(Debug, Clone, PartialEq)]
pub enum DiscoverySource {
    /// Home Assistant discovery configs under `prefix`.
    HomeAssistant { prefix: String, sentinel: String },
    /// ESPHome topic prefixes learned from the discovery configs under `prefix`.
    EspHome { prefix: String, sentinel: String },
    /// Zigbee2MQTT's retained device and group lists under `base`.
    Zigbee2Mqtt { base: String, sentinel: String },
    /// Homie devices (v4 attributes, v5 `$description`) under `base`.
    Homie { base: String, sentinel: String },
    /// Tasmota discovery configs: each device's own FullTopic.
    Tasmota { sentinel: String },
}

/// The kinds a preset can be.
const KINDS: &[&str] = &[
    "tasmota",
    "esphome",
    "zigbee2mqtt",
    "homie",
    "homeassistant",
];

/// What presets expand to.
#[derive(Debug, Default)]
pub struct Expansion {
    pub rules: Vec<MapRule>,
    pub commands: Vec<CommandRule>,
    /// What is learned at run time.
    pub discovery: Vec<DiscoverySource>,
}

/// The rules and commands of `presets`, or (key, reason) for each that cannot be.
pub fn expand(presets: &[Preset]) -> Result<Expansion, Vec<(String, String)>> {
    let mut x = Expansion::default();
    let mut errors = Vec::new();
    for (i, p) in presets.iter().enumerate() {
        let key = |k: &str| format!("preset[{i}].{k}");
        let sentinel = |default: &str| p.sentinel.clone().unwrap_or_else(|| default.into());
        let base = |default: &str| p.base.clone().unwrap_or_else(|| default.into());
        let discovery_prefix = || {
            p.discovery_prefix
                .clone()
                .unwrap_or_else(|| "homeassistant".into())
        };
        let unused = [
            ("prefixes", !p.prefixes.is_empty(), p.kind == "esphome"),
            (
                "base",
                p.base.is_some(),
                matches!(p.kind.as_str(), "zigbee2mqtt" | "homie"),
            ),
            (
                "discovery_prefix",
                p.discovery_prefix.is_some(),
                matches!(p.kind.as_str(), "homeassistant" | "esphome"),
            ),
        ];
        for (field, set, allowed) in unused {
            if set && !allowed && KINDS.contains(&p.kind.as_str()) {
                errors.push((
                    key(field),
                    format!("does not apply to a {:?} preset", p.kind),
                ));
            }
        }
        for (field, value) in [("base", &p.base), ("discovery_prefix", &p.discovery_prefix)] {
            if let Some(v) = value {
                if v.is_empty() || v.contains(['+', '#']) || v.starts_with('/') || v.ends_with('/')
                {
                    errors.push((
                        key(field),
                        format!("{v:?} is not a topic (no wildcards, no leading or trailing `/`)"),
                    ));
                }
            }
        }
        match p.kind.as_str() {
            "tasmota" => {
                let sentinel = sentinel("Tasmota");
                tasmota(
                    &sentinel,
                    &TasmotaTopics::default(),
                    &mut x.rules,
                    &mut x.commands,
                );
                x.discovery.push(DiscoverySource::Tasmota { sentinel });
            }
            "esphome" if p.prefixes.is_empty() => x.discovery.push(DiscoverySource::EspHome {
                prefix: discovery_prefix(),
                sentinel: sentinel("ESPHome"),
            }),
            "esphome" => {
                for prefix in &p.prefixes {
                    esphome(&sentinel("ESPHome"), prefix, &mut x.rules, &mut x.commands);
                }
            }
            "zigbee2mqtt" => x.discovery.push(DiscoverySource::Zigbee2Mqtt {
                base: base("zigbee2mqtt"),
                sentinel: sentinel("Zigbee"),
            }),
            "homie" => x.discovery.push(DiscoverySource::Homie {
                base: base("homie"),
                sentinel: sentinel("Homie"),
            }),
            "homeassistant" => x.discovery.push(DiscoverySource::HomeAssistant {
                prefix: discovery_prefix(),
                sentinel: sentinel("HomeAssistant"),
            }),
            kind => errors.push((
                key("kind"),
                format!("unknown preset {kind:?} (known: {})", KINDS.join(", ")),
            )),
        }
    }
    if errors.is_empty() {
        Ok(x)
    } else {
        Err(errors)
    }
}

/// Command parameters, all text.
pub(crate) fn text_parameters(names: &[&str]) -> Vec<CommandParameter> {
    names
        .iter()
        .map(|n| CommandParameter {
            name: (*n).into(),
            type_name: "System.String".into(),
            description: None,
        })
        .collect()
}

/// `ON` → true, `OFF` → false.
pub(crate) fn on_off() -> Map<String, Value> {
    json!({"ON": true, "OFF": false})
        .as_object()
        .cloned()
        .unwrap_or_default()
}

/// How a Tasmota device builds its topics: its FullTopic with `%prefix%`, `%topic%`,
/// `%hostname%` and `%id%`, its three prefixes, and the name of its package.
#[derive(Debug, Clone)]
pub struct TasmotaTopics {
    pub full_topic: String,
    /// `cmnd`, `stat`, `tele` by default.
    pub prefixes: [String; 3],
    /// `%topic%` in rules: `{device}` (a capture) unless it is one known device.
    pub topic: String,
    pub hostname: String,
    pub id: String,
    /// The package: `{device}` (the capture), or the device's topic.
    pub package: String,
}

impl Default for TasmotaTopics {
    /// Tasmota's default `%prefix%/%topic%/`, for every device.
    fn default() -> Self {
        Self {
            full_topic: "%prefix%/%topic%/".into(),
            prefixes: ["cmnd".into(), "stat".into(), "tele".into()],
            topic: "{device}".into(),
            hostname: "+".into(),
            id: "+".into(),
            package: "{device}".into(),
        }
    }
}

impl TasmotaTopics {
    /// Whether these are Tasmota's defaults (which the preset's patterns cover).
    pub fn is_default(&self) -> bool {
        let d = Self::default();
        self.full_topic == d.full_topic && self.prefixes == d.prefixes
    }

    /// The topic of `command` under prefix `cmnd` (0), `stat` (1) or `tele` (2), for
    /// the device called `topic`.
    fn topic(&self, prefix: usize, topic: &str, command: &str) -> String {
        let mut t = self
            .full_topic
            .replace("%prefix%", &self.prefixes[prefix])
            .replace("%topic%", topic)
            .replace("%hostname%", &self.hostname)
            .replace("%id%", &self.id);
        if !t.ends_with('/') {
            t.push('/');
        }
        t + command
    }
}

/// Tasmota: `tele/<t>/SENSOR` and `STATE` exploded, `stat/<t>/POWER[1-8]` as booleans,
/// `tele/<t>/LWT` availability; callbacks `Power`, `Command` and `Status`, answered
/// from `stat/<t>/RESULT` (topics as `topics` builds them).
/// Tasmota's relay suffixes: `POWER`, `POWER1`…`POWER8`.
const RELAYS: [&str; 9] = ["", "1", "2", "3", "4", "5", "6", "7", "8"];

/// The light's state in a RESULT, named as in tele/STATE.
const LIGHT_STATE: [&str; 8] = [
    "Dimmer", "Color", "HSBColor", "CT", "White", "Channel", "Fade", "Speed",
];

pub(crate) fn tasmota(
    sentinel: &str,
    topics: &TasmotaTopics,
    rules: &mut Vec<MapRule>,
    commands: &mut Vec<CommandRule>,
) {
    tasmota_rules(sentinel, topics, rules);
    tasmota_commands(sentinel, topics, commands);
}

/// The rules of a Tasmota device: its sensors and state exploded, its relays (and a
/// light's state) as StateObjects, its LWT as availability.
fn tasmota_rules(sentinel: &str, topics: &TasmotaTopics, rules: &mut Vec<MapRule>) {
    let (stat, tele) = (1, 2);
    let rule = |prefix: usize, command: &str| MapRule {
        topic: topics.topic(prefix, &topics.topic, command),
        sentinel: sentinel.into(),
        package: topics.package.clone(),
        ..MapRule::default()
    };
    rules.push(MapRule {
        explode: true,
        skip: vec![
            "Time".into(),
            "TempUnit".into(),
            "ENERGY.TotalStartTime".into(),
        ],
        ..rule(tele, "SENSOR")
    });
    let relays: Vec<String> = RELAYS.iter().map(|s| format!("POWER{s}")).collect();
    rules.push(MapRule {
        explode: true,
        skip: ["Time", "Uptime"]
            .into_iter()
            .map(str::to_owned)
            .chain(relays.iter().cloned())
            .collect(),
        continue_matching: true,
        ..rule(tele, "STATE")
    });
    // The relays, as booleans, from the periodic state and from every command's
    // RESULT; RESULT also carries the light's changes (Dimmer, Color, CT…) at once,
    // where tele/STATE would say them only at its next period (300 s by default). The
    // same publish still answers a pending saga (the commands below).
    let state = |path: &str, boolean: bool| {
        (
            path.to_string(),
            MappedStateObject {
                path: Some(path.into()),
                type_name: boolean.then(|| "System.Boolean".into()),
                ..MappedStateObject::default()
            },
        )
    };
    rules.push(MapRule {
        stateobjects: relays.iter().map(|r| state(r, true)).collect(),
        ..rule(tele, "STATE")
    });
    rules.push(MapRule {
        stateobjects: relays
            .iter()
            .map(|r| state(r, true))
            .chain(LIGHT_STATE.iter().map(|k| state(k, false)))
            .collect(),
        ..rule(stat, "RESULT")
    });
    for suffix in RELAYS {
        rules.push(MapRule {
            stateobject: Some(format!("POWER{suffix}")),
            type_name: Some("System.Boolean".into()),
            map: on_off(),
            ..rule(stat, &format!("POWER{suffix}"))
        });
    }
    rules.push(MapRule {
        availability: Some(Availability::Payloads {
            online: "Online".into(),
            offline: "Offline".into(),
        }),
        ..rule(tele, "LWT")
    });
}

/// The commands of a Tasmota device: `Power`, `Command` and `Status`, each answered by
/// its `stat/<topic>/RESULT`.
fn tasmota_commands(sentinel: &str, topics: &TasmotaTopics, commands: &mut Vec<CommandRule>) {
    let (cmnd, stat) = (0, 1);
    // In commands, `{package}` is the package of the message.
    let (command_package, device) = if topics.package == "{device}" {
        ("*".to_string(), "{package}")
    } else {
        (topics.package.clone(), topics.topic.as_str())
    };
    let command = |key: &str,
                   description: &str,
                   command: &str,
                   payload: &str,
                   answer: &str,
                   parameters: &[&str]| CommandRule {
        sentinel: sentinel.into(),
        package: command_package.clone(),
        key: key.into(),
        description: Some(description.into()),
        parameters: text_parameters(parameters),
        topic: topics.topic(cmnd, device, command),
        payload: payload.into(),
        response: Some(CommandResponse {
            topic: topics.topic(stat, device, "RESULT"),
            value: answer.into(),
            timeout_ms: 3_000,
        }),
        qos: None,
        ..CommandRule::default()
    };
    commands.push(command(
        "Power",
        "Switch the relay: ON, OFF or TOGGLE",
        "POWER",
        "{{ data }}",
        "{{ value_json.POWER }}",
        &["state"],
    ));
    commands.push(command(
        "Command",
        "Any Tasmota command, with its value",
        "{{ data[0] }}",
        "{{ data[1] }}",
        "{{ value }}",
        &["command", "value"],
    ));
    commands.push(command(
        "Status",
        "Tasmota STATUS <n>",
        "STATUS",
        "{{ data }}",
        "{{ value }}",
        &["n"],
    ));
}

/// An ESPHome device by its topic prefix: `<prefix>/status` availability, every
/// `<prefix>/<component>/<object>/state` as the StateObject `<component>.<object>`
/// (`ON`/`OFF` as booleans), and a `Command` callback ([component, object, value]) that
/// publishes on `<prefix>/<component>/<object>/command`. The package is named after the
/// prefix's last level (the node name by default).
pub(crate) fn esphome(
    sentinel: &str,
    prefix: &str,
    rules: &mut Vec<MapRule>,
    commands: &mut Vec<CommandRule>,
) {
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
        qos: None,
        ..CommandRule::default()
    });
}
