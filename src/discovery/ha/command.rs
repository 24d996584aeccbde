//! The callbacks of an entity, as data: one per service Home Assistant has for it,
//! publishing exactly what that service publishes.
//!
//! Home Assistant computes the service's value, then renders the command template with
//! it as `value` (or publishes it as Python writes it when there is no template); each
//! payload template here does the same from the message's `data`.

use super::settings::{payload_setting, text, Config};
use crate::config::CommandStep;
use crate::discovery::names::{callback, literal, literal_topic};
use serde_json::Value;

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
pub mod value {
    /// A float (`vol.Coerce(float)`), written `21.0` as Python does.
    pub const FLOAT: &str = "{% set value = data | float %}";
    /// An integer.
    pub const INT: &str = "{% set value = data | int %}";
    /// `number.set_value`: an integer when it is one, else the float.
    pub const NUMBER: &str =
        "{% set value = data | float %}{% if value == value | int %}{% set value = value | int %}{% endif %}";
    /// Text (an option, a mode, a text entity's value).
    pub const TEXT: &str = "{% set value = data | string %}";
    /// Anything: text as it is, other data as JSON.
    pub const TEXT_OR_JSON: &str = "{% set value = data if data is string else data | tojson %}";
}

/// The commands of entity `name`, each added when its topic is configured.
pub struct Commands<'a> {
    config: &'a Config,
    name: &'a str,
    pub out: Vec<Command>,
}

impl<'a> Commands<'a> {
    pub fn new(config: &'a Config, name: &'a str) -> Self {
        Self {
            config,
            name,
            out: Vec::new(),
        }
    }

    /// The service `verb` publishing on the topic setting `topic_key`: `setup` makes
    /// `value`, which the template setting `template_key` renders (`{{ value }}` when
    /// unset).
    pub fn publish(
        &mut self,
        verb: &str,
        topic_key: &str,
        template_key: &str,
        parameter: Option<(&'static str, &'static str)>,
        setup: &str,
    ) {
        let Some(topic) = text(self.config, topic_key).filter(|t| literal_topic(t)) else {
            return;
        };
        let template = text(self.config, template_key).unwrap_or("{{ value }}");
        self.out.push(Command {
            key: callback(verb, &[self.name]),
            parameter,
            topic: topic.into(),
            payload: format!("{setup}{template}"),
            steps: Vec::new(),
            reads: Vec::new(),
        });
    }

    /// The one `Set` service on `command_topic` through `command_template`.
    pub fn set(&mut self, parameter: (&'static str, &'static str), setup: &str) {
        self.publish(
            "Set",
            "command_topic",
            "command_template",
            Some(parameter),
            setup,
        );
    }
}

/// `{% set value = <expression> %}`.
pub fn set_value(expression: &str) -> String {
    format!("{{% set value = {expression} %}}")
}

/// `{% set value = <payload as text> %}`.
pub fn set_payload(payload: &str) -> String {
    set_value(&literal(payload))
}

/// The entity's `payload_on` and `payload_off` (`ON`, `OFF`).
pub fn on_off_payloads(c: &Config) -> (String, String) {
    (
        payload_setting(c, "payload_on").unwrap_or_else(|| "ON".into()),
        payload_setting(c, "payload_off").unwrap_or_else(|| "OFF".into()),
    )
}

/// `value`: `payload_on` for true, `payload_off` for false; other data (`TOGGLE`) as
/// text, or JSON.
pub fn on_off(c: &Config) -> String {
    let (on, off) = on_off_payloads(c);
    format!(
        "{{% if data is sameas true %}}{{% set value = {} %}}{{% elif data is sameas false %}}{{% set value = {} %}}\
         {{% elif data is string %}}{{% set value = data %}}{{% else %}}{{% set value = data | tojson %}}{{% endif %}}",
        literal(&on),
        literal(&off)
    )
}

/// The payload a service publishes: its setting, else `default`; a setting set to
/// null disables the service (`default` `None`: only when configured).
pub fn service_payload(c: &Config, setting: &str, default: Option<&str>) -> Option<String> {
    match c.get(setting) {
        Some(Value::Null) => None,
        Some(_) => payload_setting(c, setting),
        None => default.map(str::to_owned),
    }
}
