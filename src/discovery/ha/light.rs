//! `light`: on or off (`state_value_template` only, as Home Assistant reads a
//! default-schema light); brightness in 0..255 from `brightness_scale`, colour
//! temperature, colour (`rgb`, normalised without a brightness state topic), colour mode
//! and effect as attributes. `Set`, `TurnOff`, `SetColorTemp`, `SetEffect`, and
//! `TurnOn(options)`, `SetBrightness`, `SetRgb` publishing what `light.turn_on` does.
//! A light of the JSON schema is [`super::light_json`].

use super::command::{
    on_off as set_on_off, on_off_payloads, set_payload, value, Command, Commands,
};
use super::light_json;
use super::settings::{brightness_scale, json_schema, text, Config};
use super::state::{into_raw, on_off, Attribute, Attributes, Reading};
use super::Component;
use crate::config::CommandStep;
use crate::discovery::names::{callback, literal, literal_topic};
use serde_json::{Map, Value};

pub struct Light;

impl Component for Light {
    fn name(&self) -> &'static str {
        "light"
    }

    fn reading(&self, _name: &str, c: &Config) -> Reading {
        if json_schema(c) {
            return Reading::plain(None, false);
        }
        Reading {
            // Home Assistant drops a default-schema light's `value_template`.
            template: Some(
                text(c, "state_value_template")
                    .unwrap_or("{{ value }}")
                    .into(),
            ),
            ..on_off(c)
        }
    }

    fn json_state(&self, c: &Config) -> Option<Vec<(&'static str, String, &'static str)>> {
        json_schema(c).then(|| light_json::states(c))
    }

    fn attributes(&self, c: &Config) -> Vec<Attribute> {
        if json_schema(c) {
            return Vec::new();
        }
        let mut attributes = Attributes::new(c);
        let int = "System.Int64";
        // Brightness in Home Assistant's 0..255 from `brightness_scale`; 0 ignored.
        let scale = brightness_scale(c);
        let brightness = format!(
            "{}{{% set b = raw | float(0) %}}{{% if b != 0 %}}{{{{ [(b / {scale} * 255) | round | int, 255] | min }}}}{{% endif %}}",
            into_raw(&attributes.own("brightness_value_template"))
        );
        attributes.add(
            Some("brightness"),
            "brightness_state_topic",
            brightness,
            int,
            Map::new(),
            None,
        );
        let color_temp = attributes.own("color_temp_value_template");
        attributes.add(
            Some("color_temp"),
            "color_temp_state_topic",
            color_temp,
            int,
            Map::new(),
            None,
        );
        let channels = format!(
            "{}{{% set c = raw.split(',') | map('int') | list %}}",
            into_raw(&attributes.own("rgb_value_template"))
        );
        let rgb = if text(c, "brightness_state_topic").is_some() {
            format!("{channels}{{{{ c | tojson }}}}")
        } else {
            // Without a brightness state topic the brightness is the brightest channel
            // and the colour is shown at full brightness; all 0 ignored.
            let brightest =
                format!("{channels}{{% if c | max != 0 %}}{{{{ c | max }}}}{{% endif %}}");
            attributes.add(
                Some("brightness"),
                "rgb_state_topic",
                brightest,
                int,
                Map::new(),
                None,
            );
            format!(
                "{channels}{{% set b = c | max %}}{{% if b != 0 %}}[{{% for ch in c %}}{{{{ [(ch / b * 255) | round, 255] | min }}}}{{{{ ', ' if not loop.last }}}}{{% endfor %}}]{{% endif %}}"
            )
        };
        attributes.add(
            Some("rgb"),
            "rgb_state_topic",
            rgb,
            "System.Object",
            Map::new(),
            None,
        );
        for (suffix, topic, template) in [
            (
                "color_mode",
                "color_mode_state_topic",
                "color_mode_value_template",
            ),
            ("effect", "effect_state_topic", "effect_value_template"),
        ] {
            let template = attributes.own(template);
            attributes.add(
                Some(suffix),
                topic,
                template,
                "System.String",
                Map::new(),
                None,
            );
        }
        attributes.out
    }

    fn commands(&self, name: &str, c: &Config) -> Vec<Command> {
        if json_schema(c) {
            return light_json::commands(c, name);
        }
        let mut commands = Commands::new(c, name);
        let (on, off) = on_off_payloads(c);
        commands.publish(
            "Set",
            "command_topic",
            "",
            Some(("value", "System.Boolean")),
            &set_on_off(c),
        );
        commands.publish("TurnOff", "command_topic", "", None, &set_payload(&off));
        commands.publish(
            "SetColorTemp",
            "color_temp_command_topic",
            "color_temp_command_template",
            Some(("color_temp", "System.Int64")),
            value::INT,
        );
        commands.publish(
            "SetEffect",
            "effect_command_topic",
            "effect_command_template",
            Some(("effect", "System.String")),
            value::TEXT,
        );
        // `light.turn_on`, with its options or with one of them.
        for (verb, parameter, options) in [
            (
                "TurnOn",
                ("options", "System.Object"),
                "data if data is mapping else {}",
            ),
            (
                "SetBrightness",
                ("brightness", "System.Int64"),
                "{'brightness': data}",
            ),
            ("SetRgb", ("rgb", "System.Object"), "{'rgb_color': data}"),
        ] {
            let mut publishes = turn_on(c, name, options, &on).into_iter();
            if let Some((topic, payload)) = publishes.next() {
                commands.out.push(Command {
                    key: callback(verb, &[name]),
                    parameter: Some(parameter),
                    topic,
                    payload,
                    steps: publishes
                        .map(|(topic, payload)| CommandStep { topic, payload })
                        .collect(),
                    reads: vec![format!("{name}.brightness"), format!("{name}.rgb")],
                });
            }
        }
        commands.out
    }
}

/// What `light.turn_on` publishes, in Home Assistant's order, for the options `options`
/// (a Jinja expression over `data`): `payload_on` first (`on_command_type: first`); the
/// colour, scaled by the brightness asked for (else the current one) unless the light
/// has a brightness command topic; the brightness in its `brightness_scale` (never 0),
/// or, without a brightness command topic, the current colour scaled by it; the colour
/// temperature (`color_temp_kelvin`, sent in mireds unless the light takes kelvins); an
/// effect of `effect_list`; `payload_on` last (`last`, the default).
/// `on_command_type: brightness` sends no `payload_on` and the brightness always (the
/// current one, else 255). Each publish is skipped when the options do not ask for it.
fn turn_on(c: &Config, name: &str, options: &str, on: &str) -> Vec<(String, String)> {
    let topic = |key: &str| text(c, key).filter(|t| literal_topic(t)).map(str::to_owned);
    let on_command_type = text(c, "on_command_type").unwrap_or("last");
    let brightness = literal(&format!("{name}.brightness"));
    let setup = format!(
        "{{% set o = {options} %}}{{% set bri = o.get('brightness') %}}\
         {{% if {by_brightness} and bri is none and o.get('white') is none %}}{{% set bri = states.get({brightness}) or 255 %}}{{% endif %}}",
        by_brightness = if on_command_type == "brightness" { "true" } else { "false" },
    );
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
                rgb_value(c, "rgb")
            ),
        ));
    }
    if let Some(t) = &brightness_topic {
        let scale = brightness_scale(c);
        out.push((
            t.clone(),
            format!(
                "{setup}{{% if bri is not none %}}{{% set value = [[((bri | float) / 255 * {scale}) | round | int, {scale} | int] | min, 1] | max %}}{}{{% endif %}}",
                template(c, "brightness_command_template")
            ),
        ));
    } else if let Some(t) = &rgb_topic {
        let rgb = literal(&format!("{name}.rgb"));
        out.push((
            t.clone(),
            format!(
                "{setup}{{% if bri is not none and o.get('rgb_color') is none %}}{{% set current = states.get({rgb}) or [255, 255, 255] %}}{{% set s = bri %}}{}{{% endif %}}",
                rgb_value(c, "current")
            ),
        ));
    }
    out.extend(color_temp(c, &setup));
    out.extend(effect(c, &setup));
    if on_command_type == "last" {
        out.extend(power);
    }
    out
}

/// The template setting `key`, `{{ value }}` when unset.
fn template(c: &Config, key: &str) -> String {
    text(c, key).unwrap_or("{{ value }}").to_owned()
}

/// `value`: the colour `color` scaled by `s`, as `r,g,b` through `rgb_command_template`.
fn rgb_value(c: &Config, color: &str) -> String {
    format!(
        "{{% set red = ({color}[0] * s / 255) | int %}}{{% set green = ({color}[1] * s / 255) | int %}}{{% set blue = ({color}[2] * s / 255) | int %}}\
         {{% set value = red ~ ',' ~ green ~ ',' ~ blue %}}{}",
        template(c, "rgb_command_template")
    )
}

/// The colour temperature's publish: in mireds unless the light takes kelvins.
fn color_temp(c: &Config, setup: &str) -> Option<(String, String)> {
    let topic = text(c, "color_temp_command_topic").filter(|t| literal_topic(t))?;
    let value = if c.get("color_temp_kelvin") == Some(&Value::Bool(true)) {
        "k | int"
    } else {
        "(1000000 / (k | float)) | round(0, 'floor')"
    };
    Some((
        topic.into(),
        format!(
            "{setup}{{% set k = o.get('color_temp_kelvin') %}}{{% if k is not none %}}{{% set value = {value} %}}{}{{% endif %}}",
            template(c, "color_temp_command_template")
        ),
    ))
}

/// The effect's publish: one of `effect_list`.
fn effect(c: &Config, setup: &str) -> Option<(String, String)> {
    let topic = text(c, "effect_command_topic").filter(|t| literal_topic(t))?;
    let effects = c.get("effect_list").filter(|l| l.is_array())?;
    Some((
        topic.into(),
        format!(
            "{setup}{{% set e = o.get('effect') %}}{{% if e is not none and e in {effects} %}}{{% set value = e %}}{}{{% endif %}}",
            template(c, "effect_command_template")
        ),
    ))
}
