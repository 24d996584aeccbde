//! The callbacks of a Home Assistant MQTT entity: one per service Home Assistant has
//! for it, publishing exactly what that service publishes (`lock.lock` →
//! `payload_lock`, `climate.set_temperature` → the temperature through
//! `temperature_command_template`, `fan.set_percentage` → the percentage in the
//! device's speed range…).
//!
//! Home Assistant computes the service's value, then renders the command template with
//! it as `value` (or publishes it as Python writes it when there is no template); each
//! payload template here does the same from the message's `data`.

use super::ha_components::{
    brightness_scale, json_schema, payload_setting, position_range, speed_range, text,
};
use super::names::{callback, literal, literal_topic};
use crate::config::CommandStep;
use serde_json::{Map, Value};

/// One command of an entity, as a callback.
pub struct Command {
    pub key: String,
    /// The parameter's name and type, if it takes one.
    pub parameter: Option<(&'static str, &'static str)>,
    pub topic: String,
    /// The payload template (`data`: the message's data).
    pub payload: String,
    /// More publishes, in order (each skipped when its payload renders to nothing).
    pub steps: Vec<CommandStep>,
    /// The package's StateObjects its templates read, as `states[name]`.
    pub reads: Vec<String>,
}

/// `value` from the message's data, as the services read their parameters.
mod value {
    /// A float (`vol.Coerce(float)`), written `21.0` as Python does.
    pub const FLOAT: &str = "{% set value = data | float %}";
    /// An integer.
    pub const INT: &str = "{% set value = data | int %}";
    /// `number.set_value`: an integer when it is one, else the float.
    pub const NUMBER: &str =
        "{% set value = data | float %}{% if value == value | int %}{% set value = value | int %}{% endif %}";
    /// Text (an option, a mode, a text entity's value).
    pub const TEXT: &str = "{% set value = data | string %}";
}

/// The entity's commands, in the order Home Assistant lists its services.
pub fn commands(component: &str, c: &Map<String, Value>, name: &str) -> Vec<Command> {
    if component == "light" && json_schema(c) {
        return json_light(c, name);
    }
    let mut out = Vec::new();
    // The service `verb` publishing on `topic_key`, through `template_key`.
    let mut publish = |verb: &str,
                       topic_key: &str,
                       template_key: &str,
                       parameter: Option<(&'static str, &'static str)>,
                       setup: String,
                       default: &str| {
        let Some(topic) = text(c, topic_key).filter(|t| literal_topic(t)) else {
            return;
        };
        let template = text(c, template_key).unwrap_or(default);
        out.push(Command {
            key: callback(verb, &[name]),
            parameter,
            topic: topic.into(),
            payload: format!("{setup}{template}"),
            steps: Vec::new(),
            reads: Vec::new(),
        });
    };
    let as_is = "{{ value }}";
    let on = payload_setting(c, "payload_on").unwrap_or_else(|| "ON".into());
    let off = payload_setting(c, "payload_off").unwrap_or_else(|| "OFF".into());
    match component {
        "lock" => {
            for (verb, setting, default) in [
                ("Lock", "payload_lock", Some("LOCK")),
                ("Unlock", "payload_unlock", Some("UNLOCK")),
                ("Open", "payload_open", None),
            ] {
                if let Some(payload) = service_payload(c, setting, default) {
                    let setup = set_value(&literal(&payload));
                    publish(
                        verb,
                        "command_topic",
                        "command_template",
                        None,
                        setup,
                        as_is,
                    );
                }
            }
        }
        "cover" => {
            for (verb, setting, default) in [
                ("Open", "payload_open", "OPEN"),
                ("Close", "payload_close", "CLOSE"),
                ("Stop", "payload_stop", "STOP"),
            ] {
                // Published as it is: a cover has no `command_template`.
                if let Some(payload) = service_payload(c, setting, Some(default)) {
                    let setup = set_value(&literal(&payload));
                    publish(verb, "command_topic", "", None, setup, as_is);
                }
            }
            let (open, closed) = position_range(c);
            // The percentage asked, in the device's range, as `position` and `value`.
            let setup = format!(
                "{{% set position = ((data | float(0)) * ({open} - {closed}) / 100 + {closed}) | round | int %}}{{% set value = position %}}"
            );
            let parameter = Some(("position", "System.Int64"));
            publish(
                "SetPosition",
                "set_position_topic",
                "set_position_template",
                parameter,
                setup,
                as_is,
            );
        }
        "light" => {
            publish(
                "Set",
                "command_topic",
                "",
                Some(("value", "System.Boolean")),
                on_off(&on, &off),
                as_is,
            );
            publish(
                "TurnOff",
                "command_topic",
                "",
                None,
                set_value(&literal(&off)),
                as_is,
            );
            let parameter = Some(("color_temp", "System.Int64"));
            publish(
                "SetColorTemp",
                "color_temp_command_topic",
                "color_temp_command_template",
                parameter,
                value::INT.into(),
                as_is,
            );
            let parameter = Some(("effect", "System.String"));
            publish(
                "SetEffect",
                "effect_command_topic",
                "effect_command_template",
                parameter,
                value::TEXT.into(),
                as_is,
            );
            // `light.turn_on`, with its options or with one of them.
            for (verb, parameter, options) in [
                (
                    "TurnOn",
                    Some(("options", "System.Object")),
                    "data if data is mapping else {}",
                ),
                (
                    "SetBrightness",
                    Some(("brightness", "System.Int64")),
                    "{'brightness': data}",
                ),
                (
                    "SetRgb",
                    Some(("rgb", "System.Object")),
                    "{'rgb_color': data}",
                ),
            ] {
                let mut publishes = light_turn_on(c, name, options, &on).into_iter();
                if let Some((topic, payload)) = publishes.next() {
                    out.push(Command {
                        key: callback(verb, &[name]),
                        parameter,
                        topic,
                        payload,
                        steps: publishes
                            .map(|(topic, payload)| CommandStep { topic, payload })
                            .collect(),
                        reads: vec![format!("{name}.brightness"), format!("{name}.rgb")],
                    });
                }
            }
        }
        "climate" => {
            for (verb, topic, template, parameter) in [
                (
                    "SetTemperature",
                    "temperature_command_topic",
                    "temperature_command_template",
                    "temperature",
                ),
                (
                    "SetTemperatureLow",
                    "temperature_low_command_topic",
                    "temperature_low_command_template",
                    "temperature",
                ),
                (
                    "SetTemperatureHigh",
                    "temperature_high_command_topic",
                    "temperature_high_command_template",
                    "temperature",
                ),
            ] {
                let parameter = Some((parameter, "System.Double"));
                publish(verb, topic, template, parameter, value::FLOAT.into(), as_is);
            }
            let parameter = Some(("humidity", "System.Int64"));
            publish(
                "SetHumidity",
                "target_humidity_command_topic",
                "target_humidity_command_template",
                parameter,
                value::INT.into(),
                as_is,
            );
            for (verb, topic, template, parameter) in [
                (
                    "SetMode",
                    "mode_command_topic",
                    "mode_command_template",
                    "mode",
                ),
                (
                    "SetFanMode",
                    "fan_mode_command_topic",
                    "fan_mode_command_template",
                    "fan_mode",
                ),
                (
                    "SetSwingMode",
                    "swing_mode_command_topic",
                    "swing_mode_command_template",
                    "swing_mode",
                ),
                (
                    "SetPresetMode",
                    "preset_mode_command_topic",
                    "preset_mode_command_template",
                    "preset_mode",
                ),
            ] {
                let parameter = Some((parameter, "System.String"));
                publish(verb, topic, template, parameter, value::TEXT.into(), as_is);
            }
            publish(
                "TurnOn",
                "power_command_topic",
                "power_command_template",
                None,
                set_value(&literal(&on)),
                as_is,
            );
            publish(
                "TurnOff",
                "power_command_topic",
                "power_command_template",
                None,
                set_value(&literal(&off)),
                as_is,
            );
        }
        "fan" => {
            publish(
                "Set",
                "command_topic",
                "command_template",
                Some(("value", "System.Boolean")),
                on_off(&on, &off),
                as_is,
            );
            // `math.ceil(percentage_to_ranged_value(speed_range, percentage))`.
            let (low, high) = speed_range(c);
            let setup = format!(
                "{{% set r = (data | float) * {states} / 100 + {offset} %}}{{% set value = r | int %}}{{% if r > value %}}{{% set value = value + 1 %}}{{% endif %}}",
                states = high - low + 1,
                offset = low - 1
            );
            let parameter = Some(("percentage", "System.Int64"));
            publish(
                "SetPercentage",
                "percentage_command_topic",
                "percentage_command_template",
                parameter,
                setup,
                as_is,
            );
            let parameter = Some(("preset_mode", "System.String"));
            publish(
                "SetPresetMode",
                "preset_mode_command_topic",
                "preset_mode_command_template",
                parameter,
                value::TEXT.into(),
                as_is,
            );
            let osc_on = payload_setting(c, "payload_oscillation_on")
                .unwrap_or_else(|| "oscillate_on".into());
            let osc_off = payload_setting(c, "payload_oscillation_off")
                .unwrap_or_else(|| "oscillate_off".into());
            let setup = format!(
                "{{% set value = {} if data else {} %}}",
                literal(&osc_on),
                literal(&osc_off)
            );
            let parameter = Some(("oscillating", "System.Boolean"));
            publish(
                "Oscillate",
                "oscillation_command_topic",
                "oscillation_command_template",
                parameter,
                setup,
                as_is,
            );
            let parameter = Some(("direction", "System.String"));
            publish(
                "SetDirection",
                "direction_command_topic",
                "direction_command_template",
                parameter,
                value::TEXT.into(),
                as_is,
            );
        }
        "button" => {
            let press = payload_setting(c, "payload_press").unwrap_or_else(|| "PRESS".into());
            publish(
                "Press",
                "command_topic",
                "command_template",
                None,
                set_value(&literal(&press)),
                as_is,
            );
        }
        // One `Set` service: its parameter and how it makes `value`.
        component => {
            let (parameter, setup) = match component {
                "switch" | "siren" => (("value", "System.Boolean"), on_off(&on, &off)),
                "number" => (("value", "System.Double"), value::NUMBER.into()),
                "select" => (("option", "System.String"), value::TEXT.into()),
                "text" => (("value", "System.String"), value::TEXT.into()),
                // Anything else with a command topic: the data as text (JSON if not text).
                _ => (
                    ("value", "System.String"),
                    "{% set value = data if data is string else data | tojson %}".into(),
                ),
            };
            publish(
                "Set",
                "command_topic",
                "command_template",
                Some(parameter),
                setup,
                as_is,
            );
        }
    }
    out
}

/// `{% set value = <expression> %}`.
fn set_value(expression: &str) -> String {
    format!("{{% set value = {expression} %}}")
}

/// `value`: `payload_on` for true, `payload_off` for false; other data (`TOGGLE`) as
/// text, or JSON.
fn on_off(on: &str, off: &str) -> String {
    format!(
        "{{% if data is sameas true %}}{{% set value = {} %}}{{% elif data is sameas false %}}{{% set value = {} %}}\
         {{% elif data is string %}}{{% set value = data %}}{{% else %}}{{% set value = data | tojson %}}{{% endif %}}",
        literal(on),
        literal(off)
    )
}

/// The payload a service publishes: its setting, else `default`; a setting set to
/// null disables the service (`default` `None`: only when configured).
fn service_payload(c: &Map<String, Value>, setting: &str, default: Option<&str>) -> Option<String> {
    match c.get(setting) {
        Some(Value::Null) => None,
        Some(_) => payload_setting(c, setting),
        None => default.map(str::to_owned),
    }
}

/// What `light.turn_on`/`turn_off` publish for a JSON-schema light: `{"state": "ON"}`
/// with the options given (`brightness` 0..255 scaled to `brightness_scale`,
/// `color_temp`, `color`, `transition`, `effect`…), `{"state": "OFF"}`.
fn json_light(config: &Map<String, Value>, name: &str) -> Vec<Command> {
    let Some(topic) = text(config, "command_topic").filter(|t| literal_topic(t)) else {
        return Vec::new();
    };
    let scale = brightness_scale(config);
    let turn_on = format!(
        "{{% set options = data if data is mapping else {{}} %}}{{\"state\": \"ON\"\
         {{% for k, v in options | items %}}, {{{{ k | tojson }}}}: \
         {{% if k == 'brightness' %}}{{{{ ((v | float(0)) * {scale} / 255) | round }}}}\
         {{% else %}}{{{{ v | tojson }}}}{{% endif %}}{{% endfor %}}}}"
    );
    let on_off =
        "{% if data is sameas true %}{\"state\": \"ON\"}{% else %}{\"state\": \"OFF\"}{% endif %}";
    vec![
        Command {
            key: callback("Set", &[name]),
            parameter: Some(("value", "System.Boolean")),
            topic: topic.into(),
            payload: on_off.into(),
            steps: Vec::new(),
            reads: Vec::new(),
        },
        Command {
            key: callback("TurnOn", &[name]),
            parameter: Some(("options", "System.Object")),
            topic: topic.into(),
            payload: turn_on,
            steps: Vec::new(),
            reads: Vec::new(),
        },
        Command {
            key: callback("TurnOff", &[name]),
            parameter: None,
            topic: topic.into(),
            payload: "{\"state\": \"OFF\"}".into(),
            steps: Vec::new(),
            reads: Vec::new(),
        },
    ]
}

/// What `light.turn_on` publishes for a default-schema light, in Home Assistant's order,
/// for the options `options` (a Jinja expression over `data`): `payload_on` first
/// (`on_command_type: first`); the colour, scaled by the brightness asked for (else the
/// current one) unless the light has a brightness command topic; the brightness in its
/// `brightness_scale` (never 0), or, without a brightness command topic, the current
/// colour scaled by it; the colour temperature (`color_temp_kelvin`, sent in mireds
/// unless the light takes kelvins); an effect of `effect_list`; `payload_on` last
/// (`last`, the default). `on_command_type: brightness` sends no `payload_on` and the
/// brightness always (the current one, else 255). Each publish is skipped when the
/// options do not ask for it.
fn light_turn_on(
    c: &Map<String, Value>,
    name: &str,
    options: &str,
    on: &str,
) -> Vec<(String, String)> {
    let topic = |key: &str| text(c, key).filter(|t| literal_topic(t)).map(str::to_owned);
    let template = |key: &str| text(c, key).unwrap_or("{{ value }}").to_owned();
    let on_command_type = text(c, "on_command_type").unwrap_or("last");
    let brightness = literal(&format!("{name}.brightness"));
    let setup = format!(
        "{{% set o = {options} %}}{{% set bri = o.get('brightness') %}}\
         {{% if {by_brightness} and bri is none and o.get('white') is none %}}{{% set bri = states.get({brightness}) or 255 %}}{{% endif %}}",
        by_brightness = if on_command_type == "brightness" { "true" } else { "false" },
    );
    let rgb_value = |color: &str| {
        format!(
            "{{% set red = ({color}[0] * s / 255) | int %}}{{% set green = ({color}[1] * s / 255) | int %}}{{% set blue = ({color}[2] * s / 255) | int %}}\
             {{% set value = red ~ ',' ~ green ~ ',' ~ blue %}}{}",
            template("rgb_command_template")
        )
    };
    let power = topic("command_topic").map(|t| (t, format!("{{{{ {} }}}}", literal(on))));
    let brightness_topic = topic("brightness_command_topic");
    let rgb_topic = topic("rgb_command_topic");
    let mut out = Vec::new();
    if on_command_type == "first" {
        out.extend(power.clone());
    }
    if let Some(t) = &rgb_topic {
        let scale = if brightness_topic.is_some() {
            "255".to_owned()
        } else {
            format!("(bri or states.get({brightness}) or 255)")
        };
        out.push((
            t.clone(),
            format!(
                "{setup}{{% set rgb = o.get('rgb_color') %}}{{% if rgb %}}{{% set s = {scale} %}}{}{{% endif %}}",
                rgb_value("rgb")
            ),
        ));
    }
    if let Some(t) = &brightness_topic {
        let scale = brightness_scale(c);
        out.push((
            t.clone(),
            format!(
                "{setup}{{% if bri is not none %}}{{% set value = [[((bri | float) / 255 * {scale}) | round | int, {scale} | int] | min, 1] | max %}}{}{{% endif %}}",
                template("brightness_command_template")
            ),
        ));
    } else if let Some(t) = &rgb_topic {
        let rgb = literal(&format!("{name}.rgb"));
        out.push((
            t.clone(),
            format!(
                "{setup}{{% if bri is not none and o.get('rgb_color') is none %}}{{% set current = states.get({rgb}) or [255, 255, 255] %}}{{% set s = bri %}}{}{{% endif %}}",
                rgb_value("current")
            ),
        ));
    }
    if let Some(t) = topic("color_temp_command_topic") {
        let value = if c.get("color_temp_kelvin") == Some(&Value::Bool(true)) {
            "k | int"
        } else {
            "(1000000 / (k | float)) | round(0, 'floor')"
        };
        out.push((
            t,
            format!(
                "{setup}{{% set k = o.get('color_temp_kelvin') %}}{{% if k is not none %}}{{% set value = {value} %}}{}{{% endif %}}",
                template("color_temp_command_template")
            ),
        ));
    }
    let effects = c.get("effect_list").filter(|l| l.is_array());
    if let (Some(t), Some(effects)) = (topic("effect_command_topic"), effects) {
        out.push((
            t,
            format!(
                "{setup}{{% set e = o.get('effect') %}}{{% if e is not none and e in {effects} %}}{{% set value = e %}}{}{{% endif %}}",
                template("effect_command_template")
            ),
        ));
    }
    if on_command_type == "last" {
        out.extend(power);
    }
    out
}
