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
use super::names::{literal, literal_topic};
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
    /// The rendered text that makes the entity `unknown` (a null value).
    pub reset: Option<String>,
    /// The StateObjects its template reads as `states[name]`.
    pub reads: Vec<String>,
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
    /// The rendered text that clears it (a null value).
    pub reset: Option<String>,
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

/// Home Assistant's `PAYLOAD_NONE`: rendered, it makes the entity `unknown`.
const NONE: &str = "None";

/// A reset payload setting (`payload_reset`…), `None` by default.
fn reset_setting(c: &Map<String, Value>, key: &str) -> String {
    payload_setting(c, key).unwrap_or_else(|| NONE.into())
}

/// How the `state_topic` of entity `name` (a `component`) reads.
pub fn reading(component: &str, name: &str, c: &Map<String, Value>) -> Reading {
    let plain = |type_name, strict| Reading {
        template: None,
        type_name,
        map: Map::new(),
        map_only: false,
        strict,
        reset: Some(NONE.into()),
        reads: Vec::new(),
    };
    let mapped = |type_name, map| Reading {
        map,
        map_only: true,
        ..plain(Some(type_name), false)
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
            Reading {
                // A default-schema light reads `state_value_template` only (Home
                // Assistant drops its `value_template`).
                template: (component == "light")
                    .then(|| text(c, "state_value_template").unwrap_or("{{ value }}").into()),
                ..mapped("System.Boolean", map.into_iter().collect())
            }
        }
        "sensor" if device_class == Some("timestamp") => Reading {
            // An ISO 8601 date and time with its offset, shown in UTC; others ignored.
            template: Some(format!(
                "{}{{% if raw == 'None' %}}None{{% else %}}{{% set t = as_datetime(raw, none) %}}{{% if t is not none and t.tzinfo is not none %}}{{{{ as_timestamp(t) | timestamp_utc }}}}{{% endif %}}{{% endif %}}",
                into_raw(value_template(c))
            )),
            ..plain(Some("System.DateTime"), true)
        },
        "sensor" if device_class == Some("enum") => mapped("System.String", one_of(c, "options", &[])),
        "sensor" if c.contains_key("unit_of_measurement") || c.contains_key("state_class") => {
            plain(Some("System.Double"), true)
        }
        "number" => {
            // A number within `min`..`max` (1..100 by default); others ignored.
            let reset = reset_setting(c, "payload_reset");
            Reading {
                template: Some(format!(
                    "{}{{% if raw == {reset} %}}{{{{ raw }}}}{{% elif raw is number or raw | is_number %}}{{% set v = raw | float %}}{{% if {} <= v <= {} %}}{{{{ v }}}}{{% endif %}}{{% endif %}}",
                    into_raw(value_template(c)),
                    number(c, "min", 1.0),
                    number(c, "max", 100.0),
                    reset = literal(&reset),
                )),
                reset: Some(reset),
                ..plain(Some("System.Double"), true)
            }
        }
        "select" => Reading {
            // `none`, in any case, resets; otherwise one of `options`.
            template: Some(format!(
                "{}{{% if raw | lower == 'none' %}}None{{% else %}}{{{{ raw }}}}{{% endif %}}",
                into_raw(value_template(c))
            )),
            ..mapped("System.String", one_of(c, "options", &[]))
        },
        "text" => Reading {
            // Refused (no update) when its length is outside `min`..`max` (0..255) or
            // it does not match `pattern`, as Home Assistant's text entity refuses it.
            template: Some(format!(
                "{{% set raw %}}{}{{% endset %}}{{% if {} <= raw | length <= {}{} %}}{{{{ raw }}}}{{% else %}}{{{{ refused_by_text_limits }}}}{{% endif %}}",
                value_template(c),
                number(c, "min", 0.0),
                number(c, "max", 255.0),
                text(c, "pattern")
                    .map(|p| format!(" and raw is match({})", literal(p)))
                    .unwrap_or_default()
            )),
            reset: None,
            ..plain(Some("System.String"), false)
        },
        "device_tracker" => {
            // `payload_home` is home, `payload_not_home` away, `payload_reset` unknown,
            // anything else a place.
            let home = payload_setting(c, "payload_home").unwrap_or_else(|| "home".into());
            let away = payload_setting(c, "payload_not_home").unwrap_or_else(|| "not_home".into());
            Reading {
                map: [
                    (home, Value::String("home".into())),
                    (away, Value::String("not_home".into())),
                ]
                .into_iter()
                .collect(),
                reset: Some(reset_setting(c, "payload_reset")),
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
            reset: None,
            ..plain(Some("System.Object"), true)
        },
        "lock" => Reading {
            reset: Some(reset_setting(c, "payload_reset")),
            ..mapped("System.String", states("lock", c).unwrap_or_default())
        },
        "cover" => cover_reading(name, c),
        other => match states(other, c) {
            Some(states) => mapped("System.String", states),
            None => plain(None, false),
        },
    }
}

/// A cover's state: `state_stopped` is `closed` when the position is 0 (with a
/// position topic) or the cover was closed or closing (without), else `open`.
fn cover_reading(name: &str, c: &Map<String, Value>) -> Reading {
    let payload = |key: &str, default: &str| {
        literal(&payload_setting(c, key).unwrap_or_else(|| default.into()))
    };
    let position = format!("{name}.position");
    let stopped = if text(c, "position_topic").is_some() {
        format!(
            "{{{{ 'closed' if states.get({}) == 0 else 'open' }}}}",
            literal(&position)
        )
    } else {
        format!(
            "{{{{ 'closed' if states.get({}) in ['closed', 'closing'] else 'open' }}}}",
            literal(name)
        )
    };
    let template = format!(
        "{{% set raw %}}{}{{% endset %}}{{% if raw == {} %}}{stopped}{{% elif raw == {} %}}opening{{% elif raw == {} %}}closing{{% elif raw == {} %}}open{{% elif raw == {} %}}closed{{% elif raw == 'None' %}}None{{% endif %}}",
        value_template(c),
        payload("state_stopped", "stopped"),
        payload("state_opening", "opening"),
        payload("state_closing", "closing"),
        payload("state_open", "open"),
        payload("state_closed", "closed"),
    );
    Reading {
        template: Some(template),
        type_name: Some("System.String"),
        map: each(&["open", "opening", "closed", "closing"]),
        map_only: true,
        strict: false,
        reset: Some(NONE.into()),
        reads: vec![name.to_owned(), position],
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
    let mut add = |suffix, topic_key: &str, template: String, type_name, map, reset| {
        if let Some(topic) = text(c, topic_key).filter(|t| literal_topic(t)) {
            out.push(Attribute {
                suffix,
                topic: topic.into(),
                template,
                type_name,
                map,
                reset,
            });
        }
    };
    let own = |key: &str| text(c, key).unwrap_or("{{ value }}").to_owned();
    let none = || Some(NONE.to_owned());
    match component {
        "climate" => {
            // `value_template` stands for each state template not set.
            let template = |key: &str| text(c, key).unwrap_or(value_template(c)).to_owned();
            let shown = climate_precision(c);
            for (topic, key, suffix) in CLIMATE_NUMBERS {
                // Temperatures are shown at the entity's precision, humidity as it is.
                let number = if suffix.contains("temperature") {
                    shown
                } else {
                    "raw | float"
                };
                let template = format!(
                    "{}{{% if raw == 'None' %}}None{{% elif raw | is_number %}}{{{{ {number} }}}}{{% endif %}}",
                    into_raw(&template(key))
                );
                add(
                    Some(suffix),
                    topic,
                    template,
                    "System.Double",
                    Map::new(),
                    none(),
                );
            }
            for (topic, key, suffix, list, defaults) in CLIMATE_MODES {
                // The action has no setting: Home Assistant's `HVACAction` values.
                let mut map = if list.is_empty() {
                    each(defaults)
                } else {
                    one_of(c, list, defaults)
                };
                let mut reset = none();
                if *list == "preset_modes" {
                    // `none` and `None` are the preset `none`, not unknown.
                    map.insert("none".into(), Value::String("none".into()));
                    map.insert(NONE.into(), Value::String("none".into()));
                    reset = None;
                }
                add(*suffix, topic, template(key), "System.String", map, reset);
            }
        }
        "fan" => {
            // Percent of `speed_range_min`..`speed_range_max` (1..100), as Home
            // Assistant's `ranged_value_to_percentage`; outside 0..100 ignored;
            // `payload_reset_percentage` resets.
            let (low, high) = speed_range(c);
            let reset = reset_setting(c, "payload_reset_percentage");
            let percentage = format!(
                "{}{{% if raw == {reset} %}}{{{{ raw }}}}{{% elif raw is number or raw | is_number %}}{{% set p = (((raw | float) | int - {offset}) * 100 // {states}) | int %}}{{% if 0 <= p <= 100 %}}{{{{ p }}}}{{% endif %}}{{% endif %}}",
                into_raw(&own("percentage_value_template")),
                reset = literal(&reset),
                offset = low - 1,
                states = high - low + 1,
            );
            add(
                Some("percentage"),
                "percentage_state_topic",
                percentage,
                "System.Int64",
                Map::new(),
                Some(reset),
            );
            add(
                Some("preset_mode"),
                "preset_mode_state_topic",
                own("preset_mode_value_template"),
                "System.String",
                one_of(c, "preset_modes", &[]),
                Some(reset_setting(c, "payload_reset_preset_mode")),
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
                None,
            );
            // Any direction the device names.
            add(
                Some("direction"),
                "direction_state_topic",
                own("direction_value_template"),
                "System.String",
                Map::new(),
                None,
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
                None,
            );
            add(
                Some("color_temp"),
                "color_temp_state_topic",
                own("color_temp_value_template"),
                "System.Int64",
                Map::new(),
                None,
            );
            let channels = format!(
                "{}{{% set c = raw.split(',') | map('int') | list %}}",
                into_raw(&own("rgb_value_template"))
            );
            let rgb = if text(c, "brightness_state_topic").is_some() {
                format!("{channels}{{{{ c | tojson }}}}")
            } else {
                // Without a brightness state topic the brightness is the brightest
                // channel and the colour is shown at full brightness; all 0 ignored.
                add(
                    Some("brightness"),
                    "rgb_state_topic",
                    format!("{channels}{{% if c | max != 0 %}}{{{{ c | max }}}}{{% endif %}}"),
                    "System.Int64",
                    Map::new(),
                    None,
                );
                format!(
                    "{channels}{{% set b = c | max %}}{{% if b != 0 %}}[{{% for ch in c %}}{{{{ [(ch / b * 255) | round, 255] | min }}}}{{{{ ', ' if not loop.last }}}}{{% endfor %}}]{{% endif %}}"
                )
            };
            add(
                Some("rgb"),
                "rgb_state_topic",
                rgb,
                "System.Object",
                Map::new(),
                None,
            );
            add(
                Some("color_mode"),
                "color_mode_state_topic",
                own("color_mode_value_template"),
                "System.String",
                Map::new(),
                None,
            );
            add(
                Some("effect"),
                "effect_state_topic",
                own("effect_value_template"),
                "System.String",
                Map::new(),
                None,
            );
        }
        "cover" => {
            add(
                Some("position"),
                "position_topic",
                format!("{}{{{{ p }}}}", position_percent(c)),
                "System.Int64",
                Map::new(),
                None,
            );
            if text(c, "state_topic").is_none() {
                // Without a state topic, the position tells open or closed.
                add(
                    None,
                    "position_topic",
                    format!(
                        "{}{{{{ 'closed' if p == 0 else 'open' }}}}",
                        position_percent(c)
                    ),
                    "System.String",
                    each(&["open", "closed"]),
                    None,
                );
            }
        }
        _ => {}
    }
    out
}

/// The expression showing a climate temperature `raw` at the entity's `precision`
/// (Home Assistant's `display_temp`): 0.1 by default, 1 for a °F entity (as a Home
/// Assistant with imperial units shows it).
fn climate_precision(c: &Map<String, Value>) -> &'static str {
    let fahrenheit = text(c, "temperature_unit") == Some("F");
    let precision = c
        .get("precision")
        .and_then(Value::as_f64)
        .unwrap_or(if fahrenheit { 1.0 } else { 0.1 });
    if precision == 0.5 {
        "((raw | float) * 2) | round / 2"
    } else if precision == 0.1 {
        "(raw | float) | round(1)"
    } else {
        "(raw | float) | round"
    }
}

/// Sets `p`, a cover's position in percent, from `position_topic`'s payload (through
/// `position_template`, which may give a JSON object with `position`): Home
/// Assistant's `ranged_value_to_percentage` over `position_closed`..`position_open`,
/// clamped to 0..100; a payload that is not a number leaves `p` undefined (no update).
fn position_percent(config: &Map<String, Value>) -> String {
    let (open, closed) = position_range(config);
    format!(
        "{}{{% set d = raw | from_json(none) %}}{{% if d is mapping %}}{{% set raw = d.position %}}{{% endif %}}\
         {{% if raw is number or raw | is_number %}}{{% set p = [[(((raw | float) - {closed}) * 100 / ({open} - {closed})) | round(0, 'floor'), 0] | max, 100] | min %}}{{% endif %}}",
        into_raw(text(config, "position_template").unwrap_or("{{ value }}"))
    )
}

/// The StateObjects of a JSON-schema light's state, beside its on/off one: each name
/// suffix, its value template, its type. Brightness (not 0, scaled from
/// `brightness_scale`, 1..255) when a supported colour mode has one; the colour mode,
/// and the colour or colour temperature it selects, only when the state names a
/// supported `color_mode`.
pub fn json_light_states(config: &Map<String, Value>) -> Vec<(&'static str, String, &'static str)> {
    let scale = brightness_scale(config);
    let modes: Vec<String> = match config
        .get("supported_color_modes")
        .and_then(Value::as_array)
    {
        Some(list) => list.iter().filter_map(as_payload).collect(),
        None if config.get("brightness") == Some(&Value::Bool(true)) => vec!["brightness".into()],
        None => vec!["onoff".into()],
    };
    let supported = Value::from(modes.clone()).to_string();
    let mode = |test: &str, then: &str| {
        format!(
            "{{% set m = value_json.color_mode %}}{{% if m in {supported} and {test} %}}{{{{ {then} }}}}{{% endif %}}"
        )
    };
    let mut out = Vec::new();
    if modes.iter().any(|m| m != "onoff") {
        let brightness = format!(
            "{{% set b = value_json.brightness %}}{{% if b %}}{{{{ [255, [1, ((b | float) * 255 / {scale}) | round] | max] | min }}}}{{% endif %}}"
        );
        out.push(("brightness", brightness, "System.Int64"));
    }
    out.extend([
        (
            "color_temp",
            mode("m == 'color_temp'", "value_json.color_temp"),
            "System.Int64",
        ),
        ("color_mode", mode("true", "m"), "System.String"),
        (
            "color",
            mode(
                "m in ['hs', 'rgb', 'rgbw', 'rgbww', 'xy']",
                "value_json.color | tojson",
            ),
            "System.Object",
        ),
    ]);
    out
}
