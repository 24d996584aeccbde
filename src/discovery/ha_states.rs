//! What Home Assistant shows for an MQTT entity's state topics: the value each gives,
//! its type, and which payloads it ignores. The entity's `state_topic` gives its own
//! StateObject ([`reading`]); its other state topics (a climate's temperatures and
//! modes, a fan's percentage, a light's brightness…) give `<name>.<attribute>`
//! ([`attributes`]). A payload Home Assistant would ignore, with a log line, gives no
//! update.

use super::ha_components::{
    as_payload, brightness_scale, json_schema, payload_setting, position_range, speed_range,
    states, text,
};
use super::names::literal_topic;
use serde_json::{Map, Value};

/// How an entity's `state_topic` reads.
pub struct Reading {
    /// The value template (`None`: the payload through `value_template`, if any).
    pub template: Option<String>,
    pub type_name: Option<&'static str>,
    /// Rendered text → value.
    pub map: Map<String, Value>,
    /// Only the map's payloads update.
    pub map_only: bool,
    /// An empty value, or one not of `type_name`, does not update.
    pub strict: bool,
}

/// A StateObject an entity's other state topic feeds.
pub struct Attribute {
    /// The StateObject's name after the entity's (`None`: the entity's own).
    pub suffix: Option<&'static str>,
    pub topic: String,
    pub template: String,
    pub type_name: &'static str,
    /// Rendered text → value; when not empty, nothing else updates.
    pub map: Map<String, Value>,
}

/// The entity's value template, `{{ value }}` when it has none.
fn value_template(c: &Map<String, Value>) -> &str {
    text(c, "value_template")
        .or_else(|| text(c, "state_value_template"))
        .unwrap_or("{{ value }}")
}

/// `template` rendered into `raw`, for a template that reads it.
fn into_raw(template: &str) -> String {
    format!("{{% set raw %}}{template}{{% endset %}}{{% set raw = raw | trim %}}")
}

/// Each of `values` (or the list setting `key`, when the config has it) to itself.
fn one_of(c: &Map<String, Value>, key: &str, values: &[&str]) -> Map<String, Value> {
    match c.get(key).and_then(Value::as_array) {
        Some(list) => list
            .iter()
            .filter_map(as_payload)
            .map(|v| (v.clone(), Value::String(v)))
            .collect(),
        None => each(values),
    }
}

/// Each of `values` to itself.
fn each(values: &[&str]) -> Map<String, Value> {
    values
        .iter()
        .map(|v| ((*v).to_owned(), Value::String((*v).into())))
        .collect()
}

/// A number setting of `c`, or `default`.
fn number(c: &Map<String, Value>, key: &str, default: f64) -> f64 {
    c.get(key).and_then(Value::as_f64).unwrap_or(default)
}

/// How the `state_topic` of `component` reads.
pub fn reading(component: &str, c: &Map<String, Value>) -> Reading {
    let plain = |type_name, strict| Reading {
        template: None,
        type_name,
        map: Map::new(),
        map_only: false,
        strict,
    };
    let mapped = |type_name, map| Reading {
        template: None,
        type_name: Some(type_name),
        map,
        map_only: true,
        strict: false,
    };
    let device_class = text(c, "device_class");
    match component {
        "binary_sensor" | "switch" | "fan" | "siren" | "light" if !json_schema(c) => {
            // Compared, as text, with these; neither matches: the state stays.
            let payload_on = payload_setting(c, "payload_on").unwrap_or_else(|| "ON".into());
            let payload_off = payload_setting(c, "payload_off").unwrap_or_else(|| "OFF".into());
            let on = payload_setting(c, "state_on").unwrap_or(payload_on);
            let off = payload_setting(c, "state_off").unwrap_or(payload_off);
            let map = [(on, Value::Bool(true)), (off, Value::Bool(false))];
            mapped("System.Boolean", map.into_iter().collect())
        }
        "sensor" if device_class == Some("timestamp") => Reading {
            // An ISO 8601 date and time with its offset, shown in UTC; others ignored.
            template: Some(format!(
                "{}{{% set t = as_datetime(raw, none) %}}{{% if t is not none and t.tzinfo is not none %}}{{{{ as_timestamp(t) | timestamp_utc }}}}{{% endif %}}",
                into_raw(value_template(c))
            )),
            ..plain(Some("System.DateTime"), true)
        },
        "sensor" if device_class == Some("enum") => mapped("System.String", one_of(c, "options", &[])),
        "sensor" if c.contains_key("unit_of_measurement") || c.contains_key("state_class") => {
            plain(Some("System.Double"), true)
        }
        "number" => Reading {
            // A number within `min`..`max` (1..100 by default); others ignored.
            template: Some(format!(
                "{}{{% if raw is number or raw | is_number %}}{{% set v = raw | float %}}{{% if {} <= v <= {} %}}{{{{ v }}}}{{% endif %}}{{% endif %}}",
                into_raw(value_template(c)),
                number(c, "min", 1.0),
                number(c, "max", 100.0)
            )),
            ..plain(Some("System.Double"), true)
        },
        "select" => mapped("System.String", one_of(c, "options", &[])),
        "device_tracker" => {
            // `payload_home` is home, `payload_not_home` away, anything else a place.
            let home = payload_setting(c, "payload_home").unwrap_or_else(|| "home".into());
            let away = payload_setting(c, "payload_not_home").unwrap_or_else(|| "not_home".into());
            Reading {
                map: [
                    (home, Value::String("home".into())),
                    (away, Value::String("not_home".into())),
                ]
                .into_iter()
                .collect(),
                ..plain(Some("System.String"), true)
            }
        }
        "event" => Reading {
            // A JSON object whose `event_type` is one of `event_types`.
            template: Some(format!(
                "{}{{% set e = raw | from_json(none) %}}{{% if e is mapping and e.event_type in {} %}}{{{{ e | tojson }}}}{{% endif %}}",
                into_raw(value_template(c)),
                Value::Array(one_of(c, "event_types", &[]).into_iter().map(|(_, v)| v).collect())
            )),
            ..plain(Some("System.Object"), true)
        },
        other => match states(other, c) {
            Some(states) => mapped("System.String", states),
            None => plain(None, false),
        },
    }
}

/// A climate's numeric state topics: (topic, template, attribute).
const CLIMATE_NUMBERS: &[(&str, &str, &str)] = &[
    (
        "current_temperature_topic",
        "current_temperature_template",
        "current_temperature",
    ),
    (
        "temperature_state_topic",
        "temperature_state_template",
        "temperature",
    ),
    (
        "temperature_low_state_topic",
        "temperature_low_state_template",
        "temperature_low",
    ),
    (
        "temperature_high_state_topic",
        "temperature_high_state_template",
        "temperature_high",
    ),
    (
        "current_humidity_topic",
        "current_humidity_template",
        "current_humidity",
    ),
    (
        "target_humidity_state_topic",
        "target_humidity_state_template",
        "humidity",
    ),
];

/// A climate's state topics with a list of values: (topic, template, attribute, list
/// setting, its default). The mode is the climate's own state.
type Modes = (
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static str,
    &'static [&'static str],
);
const CLIMATE_MODES: &[Modes] = &[
    (
        "mode_state_topic",
        "mode_state_template",
        None,
        "modes",
        &["auto", "off", "cool", "heat", "dry", "fan_only"],
    ),
    // Home Assistant's `HVACAction` values; there is no setting for them.
    (
        "action_topic",
        "action_template",
        Some("action"),
        "",
        &[
            "off",
            "preheating",
            "heating",
            "cooling",
            "drying",
            "idle",
            "fan",
            "defrosting",
        ],
    ),
    (
        "fan_mode_state_topic",
        "fan_mode_state_template",
        Some("fan_mode"),
        "fan_modes",
        &["auto", "low", "medium", "high"],
    ),
    (
        "swing_mode_state_topic",
        "swing_mode_state_template",
        Some("swing_mode"),
        "swing_modes",
        &["on", "off"],
    ),
    (
        "preset_mode_state_topic",
        "preset_mode_value_template",
        Some("preset_mode"),
        "preset_modes",
        &[],
    ),
];

/// The StateObjects of `component`'s state topics other than `state_topic`.
pub fn attributes(component: &str, c: &Map<String, Value>) -> Vec<Attribute> {
    let mut out = Vec::new();
    let mut add = |suffix, topic_key: &str, template: String, type_name, map| {
        if let Some(topic) = text(c, topic_key).filter(|t| literal_topic(t)) {
            out.push(Attribute {
                suffix,
                topic: topic.into(),
                template,
                type_name,
                map,
            });
        }
    };
    let own = |key: &str| text(c, key).unwrap_or("{{ value }}").to_owned();
    match component {
        "climate" => {
            // `value_template` stands for each state template not set.
            let template = |key: &str| text(c, key).unwrap_or(value_template(c)).to_owned();
            for (topic, key, suffix) in CLIMATE_NUMBERS {
                add(
                    Some(suffix),
                    topic,
                    template(key),
                    "System.Double",
                    Map::new(),
                );
            }
            for (topic, key, suffix, list, defaults) in CLIMATE_MODES {
                // The action has no setting: Home Assistant's `HVACAction` values.
                let mut map = if list.is_empty() {
                    each(defaults)
                } else {
                    one_of(c, list, defaults)
                };
                if *list == "preset_modes" {
                    map.insert("none".into(), Value::String("none".into()));
                }
                add(*suffix, topic, template(key), "System.String", map);
            }
        }
        "fan" => {
            // Percent of `speed_range_min`..`speed_range_max` (1..100), as Home
            // Assistant's `ranged_value_to_percentage`; outside 0..100 ignored.
            let (low, high) = speed_range(c);
            let percentage = format!(
                "{}{{% if raw is number or raw | is_number %}}{{% set p = (((raw | float) | int - {offset}) * 100 // {states}) | int %}}{{% if 0 <= p <= 100 %}}{{{{ p }}}}{{% endif %}}{{% endif %}}",
                into_raw(&own("percentage_value_template")),
                offset = low - 1,
                states = high - low + 1,
            );
            add(
                Some("percentage"),
                "percentage_state_topic",
                percentage,
                "System.Int64",
                Map::new(),
            );
            add(
                Some("preset_mode"),
                "preset_mode_state_topic",
                own("preset_mode_value_template"),
                "System.String",
                one_of(c, "preset_modes", &[]),
            );
            let on = payload_setting(c, "payload_oscillation_on")
                .unwrap_or_else(|| "oscillate_on".into());
            let off = payload_setting(c, "payload_oscillation_off")
                .unwrap_or_else(|| "oscillate_off".into());
            add(
                Some("oscillation"),
                "oscillation_state_topic",
                own("oscillation_value_template"),
                "System.Boolean",
                [(on, Value::Bool(true)), (off, Value::Bool(false))]
                    .into_iter()
                    .collect(),
            );
            add(
                Some("direction"),
                "direction_state_topic",
                own("direction_value_template"),
                "System.String",
                each(&["forward", "reverse"]),
            );
        }
        "light" if !json_schema(c) => {
            // Brightness in Home Assistant's 0..255 from `brightness_scale`; 0 ignored.
            let scale = brightness_scale(c);
            let brightness = format!(
                "{}{{% set b = raw | float(0) %}}{{% if b != 0 %}}{{{{ [(b / {scale} * 255) | round | int, 255] | min }}}}{{% endif %}}",
                into_raw(&own("brightness_value_template"))
            );
            add(
                Some("brightness"),
                "brightness_state_topic",
                brightness,
                "System.Int64",
                Map::new(),
            );
            add(
                Some("color_temp"),
                "color_temp_state_topic",
                own("color_temp_value_template"),
                "System.Int64",
                Map::new(),
            );
            let rgb = format!(
                "{}{{{{ raw | split(',') | map('int') | list | tojson }}}}",
                into_raw(&own("rgb_value_template"))
            );
            add(
                Some("rgb"),
                "rgb_state_topic",
                rgb,
                "System.Object",
                Map::new(),
            );
            add(
                Some("color_mode"),
                "color_mode_state_topic",
                own("color_mode_value_template"),
                "System.String",
                Map::new(),
            );
            add(
                Some("effect"),
                "effect_state_topic",
                own("effect_value_template"),
                "System.String",
                Map::new(),
            );
        }
        "cover" => add(
            Some("position"),
            "position_topic",
            position_template(c),
            "System.Int64",
            Map::new(),
        ),
        _ => {}
    }
    out
}

/// The template of a cover's position in percent, from `position_topic`'s payload
/// (through `position_template`), scaled from `position_closed`..`position_open`.
pub fn position_template(config: &Map<String, Value>) -> String {
    let (open, closed) = position_range(config);
    let raw = text(config, "position_template").unwrap_or("{{ value }}");
    format!(
        "{{% set raw %}}{raw}{{% endset %}}{{{{ (((raw | float) - {closed}) * 100 / ({open} - {closed})) | round }}}}"
    )
}

/// The StateObjects of a JSON-schema light's state, beside its on/off one: each name
/// suffix, its value template, its type.
pub fn json_light_states(config: &Map<String, Value>) -> Vec<(&'static str, String, &'static str)> {
    let scale = brightness_scale(config);
    let brightness = if scale == 255.0 {
        "{{ value_json.brightness }}".to_owned()
    } else {
        format!("{{{{ (value_json.brightness * 255 / {scale}) | round }}}}")
    };
    vec![
        ("brightness", brightness, "System.Int64"),
        (
            "color_temp",
            "{{ value_json.color_temp }}".into(),
            "System.Int64",
        ),
        (
            "color_mode",
            "{{ value_json.color_mode }}".into(),
            "System.String",
        ),
        (
            "color",
            "{{ value_json.color | tojson }}".into(),
            "System.Object",
        ),
    ]
}
