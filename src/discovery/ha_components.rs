//! What Home Assistant makes of the MQTT components whose state is one of several named
//! payloads (`lock`, `cover`), and the payload each of its services publishes for them
//! (`lock.lock` → `payload_lock`, `cover.open_cover` → `payload_open`…).

use super::names::{callback, literal, literal_topic};
use serde_json::{Map, Value};

/// A text setting of `config`, when set and not empty.
pub fn text<'a>(config: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    config
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// A payload setting as Home Assistant reads it (`cv.string`): text as it is, `false`
/// as `False`, numbers as Python writes them.
pub fn payload_setting(config: &Map<String, Value>, key: &str) -> Option<String> {
    match config.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Bool(true) => Some("True".into()),
        Value::Bool(false) => Some("False".into()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Each state payload setting of `component`, its default, and the state Home Assistant
/// shows for it.
fn state_settings(component: &str) -> &'static [(&'static str, &'static str, &'static str)] {
    match component {
        "lock" => &[
            ("state_locked", "LOCKED", "locked"),
            ("state_unlocked", "UNLOCKED", "unlocked"),
            ("state_locking", "LOCKING", "locking"),
            ("state_unlocking", "UNLOCKING", "unlocking"),
            ("state_jammed", "JAMMED", "jammed"),
            ("state_open", "OPEN", "open"),
            ("state_opening", "OPENING", "opening"),
        ],
        "cover" => &[
            ("state_open", "open", "open"),
            ("state_opening", "opening", "opening"),
            ("state_closed", "closed", "closed"),
            ("state_closing", "closing", "closing"),
            ("state_stopped", "stopped", "stopped"),
        ],
        _ => &[],
    }
}

/// The state payload → Home Assistant state map of `component`, if its state is one of
/// named payloads (a payload none of them names gives no update, as in Home Assistant).
pub fn states(component: &str, config: &Map<String, Value>) -> Option<Map<String, Value>> {
    let settings = state_settings(component);
    (!settings.is_empty()).then(|| {
        settings
            .iter()
            .map(|(key, default, state)| {
                let payload = payload_setting(config, key).unwrap_or_else(|| (*default).into());
                (payload, Value::String((*state).into()))
            })
            .collect()
    })
}

/// One command of an entity, as a callback.
pub struct Command {
    pub key: String,
    /// The parameter's name and type, if it takes one.
    pub parameter: Option<(&'static str, &'static str)>,
    pub topic: String,
    /// The payload template (`data`: the message's data).
    pub payload: String,
}

/// The commands Home Assistant's services publish for `component` (named after the
/// entity's StateObject `name`), or `None` for a component with one on/off command.
pub fn commands(component: &str, config: &Map<String, Value>, name: &str) -> Option<Vec<Command>> {
    if component == "light" && json_schema(config) {
        return Some(json_light_commands(config, name));
    }
    let services: &[(&str, &str, Option<&str>)] = match component {
        // (callback verb, payload setting, default: `None` = only when configured)
        "lock" => &[
            ("Lock", "payload_lock", Some("LOCK")),
            ("Unlock", "payload_unlock", Some("UNLOCK")),
            ("Open", "payload_open", None),
        ],
        "cover" => &[
            ("Open", "payload_open", Some("OPEN")),
            ("Close", "payload_close", Some("CLOSE")),
            ("Stop", "payload_stop", Some("STOP")),
        ],
        _ => return None,
    };
    let mut out = Vec::new();
    if let Some(topic) = text(config, "command_topic").filter(|t| literal_topic(t)) {
        for (verb, setting, default) in services {
            // A payload set to null disables the service, as in Home Assistant.
            let payload = match config.get(*setting) {
                Some(Value::Null) => None,
                Some(_) => payload_setting(config, setting),
                None => default.map(str::to_owned),
            };
            let Some(payload) = payload else { continue };
            // Home Assistant renders `command_template` with the payload as `value`.
            let template = match text(config, "command_template").filter(|_| component == "lock") {
                Some(t) => format!("{{% set value = {} %}}{t}", literal(&payload)),
                None => format!("{{{{ {} }}}}", literal(&payload)),
            };
            out.push(Command {
                key: callback(verb, &[name]),
                parameter: None,
                topic: topic.to_owned(),
                payload: template,
            });
        }
    }
    if let Some(topic) = text(config, "set_position_topic").filter(|t| literal_topic(t)) {
        let (open, closed) = position_range(config);
        // The percentage asked, in the device's range, as Home Assistant scales it.
        let scaled = format!(
            "{{% set position = ((data | float(0)) * ({open} - {closed}) / 100 + {closed}) | round %}}"
        );
        let payload = match text(config, "set_position_template") {
            Some(t) => format!("{scaled}{t}"),
            None => format!("{scaled}{{{{ position }}}}"),
        };
        out.push(Command {
            key: callback("SetPosition", &[name]),
            parameter: Some(("position", "System.Int64")),
            topic: topic.to_owned(),
            payload,
        });
    }
    Some(out)
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

/// A cover's `position_open` and `position_closed` (100 and 0 by default).
fn position_range(config: &Map<String, Value>) -> (f64, f64) {
    let setting = |key, default| config.get(key).and_then(Value::as_f64).unwrap_or(default);
    (
        setting("position_open", 100.0),
        setting("position_closed", 0.0),
    )
}

/// Whether a light speaks Home Assistant's JSON schema.
pub fn json_schema(config: &Map<String, Value>) -> bool {
    config.get("schema").and_then(Value::as_str) == Some("json")
}

/// A JSON-schema light's `brightness_scale` (Home Assistant's brightness is 0..255).
fn brightness_scale(config: &Map<String, Value>) -> f64 {
    config
        .get("brightness_scale")
        .and_then(Value::as_f64)
        .filter(|s| *s > 0.0)
        .unwrap_or(255.0)
}

/// What `light.turn_on`/`turn_off` publish for a JSON-schema light: `{"state": "ON"}`
/// with the options given (`brightness` 0..255 scaled to `brightness_scale`,
/// `color_temp`, `color`, `transition`, `effect`…), `{"state": "OFF"}`.
fn json_light_commands(config: &Map<String, Value>, name: &str) -> Vec<Command> {
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
        },
        Command {
            key: callback("TurnOn", &[name]),
            parameter: Some(("options", "System.Object")),
            topic: topic.into(),
            payload: turn_on,
        },
        Command {
            key: callback("TurnOff", &[name]),
            parameter: None,
            topic: topic.into(),
            payload: "{\"state\": \"OFF\"}".into(),
        },
    ]
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
