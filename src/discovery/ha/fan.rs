//! `fan`: on or off; its percentage of `speed_range_min`..`speed_range_max`, preset
//! mode, oscillation and direction are attributes. `Set(value)`, `SetPercentage`,
//! `SetPresetMode`, `Oscillate`, `SetDirection`.

use super::command::{on_off as set_on_off, value, Command, Commands};
use super::settings::{payload_or, speed_range};
use super::state::{
    booleans, into_raw, on_off, one_of, reset_setting, Attribute, Attributes, Reading,
};
use super::{Component, Config};
use crate::discovery::names::literal;
use serde_json::Map;

pub struct Fan;

impl Component for Fan {
    fn name(&self) -> &'static str {
        "fan"
    }

    fn reading(&self, _name: &str, c: &Config) -> Reading {
        on_off(c)
    }

    fn attributes(&self, c: &Config) -> Vec<Attribute> {
        let mut attributes = Attributes::new(c);
        // Percent of the speed range, as Home Assistant's `ranged_value_to_percentage`;
        // outside 0..100 ignored; `payload_reset_percentage` resets.
        let (low, high) = speed_range(c);
        let reset = reset_setting(c, "payload_reset_percentage");
        let percentage = format!(
            "{}{{% if raw == {reset} %}}{{{{ raw }}}}{{% elif raw is number or raw | is_number %}}{{% set p = (((raw | float) | int - {offset}) * 100 // {states}) | int %}}{{% if 0 <= p <= 100 %}}{{{{ p }}}}{{% endif %}}{{% endif %}}",
            into_raw(&attributes.own("percentage_value_template")),
            reset = literal(&reset),
            offset = low - 1,
            states = high - low + 1,
        );
        attributes.add(
            Some("percentage"),
            "percentage_state_topic",
            percentage,
            "System.Int64",
            Map::new(),
            Some(reset),
        );
        let preset = attributes.own("preset_mode_value_template");
        attributes.add(
            Some("preset_mode"),
            "preset_mode_state_topic",
            preset,
            "System.String",
            one_of(c, "preset_modes", &[]),
            Some(reset_setting(c, "payload_reset_preset_mode")),
        );
        let (on, off) = oscillation(c);
        let oscillating = attributes.own("oscillation_value_template");
        attributes.add(
            Some("oscillation"),
            "oscillation_state_topic",
            oscillating,
            "System.Boolean",
            booleans(on, off),
            None,
        );
        // Any direction the device names.
        let direction = attributes.own("direction_value_template");
        attributes.add(
            Some("direction"),
            "direction_state_topic",
            direction,
            "System.String",
            Map::new(),
            None,
        );
        attributes.out
    }

    fn commands(&self, name: &str, c: &Config) -> Vec<Command> {
        let mut commands = Commands::new(c, name);
        commands.set(("value", "System.Boolean"), &set_on_off(c));
        // `math.ceil(percentage_to_ranged_value(speed_range, percentage))`.
        let (low, high) = speed_range(c);
        let setup = format!(
            "{{% set r = (data | float) * {states} / 100 + {offset} %}}{{% set value = r | int %}}{{% if r > value %}}{{% set value = value + 1 %}}{{% endif %}}",
            states = high - low + 1,
            offset = low - 1
        );
        commands.publish(
            "SetPercentage",
            "percentage_command_topic",
            "percentage_command_template",
            Some(("percentage", "System.Int64")),
            &setup,
        );
        commands.publish(
            "SetPresetMode",
            "preset_mode_command_topic",
            "preset_mode_command_template",
            Some(("preset_mode", "System.String")),
            value::TEXT,
        );
        let (on, off) = oscillation(c);
        let setup = format!(
            "{{% set value = {} if data else {} %}}",
            literal(&on),
            literal(&off)
        );
        commands.publish(
            "Oscillate",
            "oscillation_command_topic",
            "oscillation_command_template",
            Some(("oscillating", "System.Boolean")),
            &setup,
        );
        commands.publish(
            "SetDirection",
            "direction_command_topic",
            "direction_command_template",
            Some(("direction", "System.String")),
            value::TEXT,
        );
        commands.out
    }
}

/// `payload_oscillation_on` and `payload_oscillation_off`.
fn oscillation(c: &Config) -> (String, String) {
    (
        payload_or(c, "payload_oscillation_on", "oscillate_on"),
        payload_or(c, "payload_oscillation_off", "oscillate_off"),
    )
}
