//! `climate`: its mode is its state; temperatures (shown at its `precision`), humidity,
//! action, fan, swing and preset modes are its attributes. Setting temperatures,
//! humidity and modes, and power on and off.

use super::command::{on_off_payloads, set_payload, value, Command, Commands};
use super::state::{each, into_raw, one_of, value_template, Attribute, Attributes, NONE};
use super::{text, Component, Config};
use serde_json::{Map, Value};

pub struct Climate;

/// A climate's numeric state topics: (topic, template, attribute).
const NUMBERS: &[(&str, &str, &str)] = &[
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
const MODES: &[Modes] = &[
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

/// The services with a parameter: (verb, topic, template, parameter, its type, how
/// `value` is made).
const SETTERS: &[(&str, &str, &str, &str, &str, &str)] = &[
    (
        "SetTemperature",
        "temperature_command_topic",
        "temperature_command_template",
        "temperature",
        "System.Double",
        value::FLOAT,
    ),
    (
        "SetTemperatureLow",
        "temperature_low_command_topic",
        "temperature_low_command_template",
        "temperature",
        "System.Double",
        value::FLOAT,
    ),
    (
        "SetTemperatureHigh",
        "temperature_high_command_topic",
        "temperature_high_command_template",
        "temperature",
        "System.Double",
        value::FLOAT,
    ),
    (
        "SetHumidity",
        "target_humidity_command_topic",
        "target_humidity_command_template",
        "humidity",
        "System.Int64",
        value::INT,
    ),
    (
        "SetMode",
        "mode_command_topic",
        "mode_command_template",
        "mode",
        "System.String",
        value::TEXT,
    ),
    (
        "SetFanMode",
        "fan_mode_command_topic",
        "fan_mode_command_template",
        "fan_mode",
        "System.String",
        value::TEXT,
    ),
    (
        "SetSwingMode",
        "swing_mode_command_topic",
        "swing_mode_command_template",
        "swing_mode",
        "System.String",
        value::TEXT,
    ),
    (
        "SetPresetMode",
        "preset_mode_command_topic",
        "preset_mode_command_template",
        "preset_mode",
        "System.String",
        value::TEXT,
    ),
];

impl Component for Climate {
    fn name(&self) -> &'static str {
        "climate"
    }

    fn attributes(&self, c: &Config) -> Vec<Attribute> {
        let mut attributes = Attributes::new(c);
        // `value_template` stands for each state template not set.
        let template = |key: &str| text(c, key).unwrap_or(value_template(c)).to_owned();
        let shown = precision(c);
        for (topic, key, suffix) in NUMBERS {
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
            let reset = Some(NONE.to_owned());
            attributes.add(
                Some(suffix),
                topic,
                template,
                "System.Double",
                Map::new(),
                reset,
            );
        }
        for (topic, key, suffix, list, defaults) in MODES {
            // The action has no setting: Home Assistant's `HVACAction` values.
            let mut map = if list.is_empty() {
                each(defaults)
            } else {
                one_of(c, list, defaults)
            };
            let mut reset = Some(NONE.to_owned());
            if *list == "preset_modes" {
                // `none` and `None` are the preset `none`, not unknown.
                map.insert("none".into(), Value::String("none".into()));
                map.insert(NONE.into(), Value::String("none".into()));
                reset = None;
            }
            attributes.add(*suffix, topic, template(key), "System.String", map, reset);
        }
        attributes.out
    }

    fn commands(&self, name: &str, c: &Config) -> Vec<Command> {
        let mut commands = Commands::new(c, name);
        for (verb, topic, template, parameter, type_name, setup) in SETTERS {
            commands.publish(verb, topic, template, Some((parameter, type_name)), setup);
        }
        let (on, off) = on_off_payloads(c);
        for (verb, payload) in [("TurnOn", on), ("TurnOff", off)] {
            let setup = set_payload(&payload);
            commands.publish(
                verb,
                "power_command_topic",
                "power_command_template",
                None,
                &setup,
            );
        }
        commands.out
    }
}

/// The expression showing a climate temperature `raw` at the entity's `precision`
/// (Home Assistant's `display_temp`): 0.1 by default, 1 for a °F entity (as a Home
/// Assistant with imperial units shows it).
fn precision(c: &Config) -> &'static str {
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
