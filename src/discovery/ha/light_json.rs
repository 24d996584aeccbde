//! A `light` speaking Home Assistant's JSON schema: its state and `light.turn_on` as
//! JSON objects.

use super::command::Command;
use super::settings::{as_payload, brightness_scale, text, Config};
use crate::discovery::names::{callback, literal_topic};
use serde_json::Value;

/// The StateObjects of a JSON light's state, beside its on/off one: each name suffix,
/// its value template, its type. Brightness (not 0, scaled from `brightness_scale`,
/// 1..255) when a supported colour mode has one; the colour mode, and the colour or
/// colour temperature it selects, only when the state names a supported `color_mode`.
pub fn states(config: &Config) -> Vec<(&'static str, String, &'static str)> {
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

/// What `light.turn_on`/`turn_off` publish: `{"state": "ON"}` with the options given
/// (`brightness` 0..255 scaled to `brightness_scale`, `color_temp`, `color`,
/// `transition`, `effect`…), `{"state": "OFF"}`.
pub fn commands(config: &Config, name: &str) -> Vec<Command> {
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
    let command = |verb: &str, parameter, payload: String| Command {
        key: callback(verb, &[name]),
        parameter,
        topic: topic.into(),
        payload,
        steps: Vec::new(),
        reads: Vec::new(),
    };
    vec![
        command("Set", Some(("value", "System.Boolean")), on_off.into()),
        command("TurnOn", Some(("options", "System.Object")), turn_on),
        command("TurnOff", None, "{\"state\": \"OFF\"}".into()),
    ]
}
