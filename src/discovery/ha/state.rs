//! What Home Assistant shows for an entity's state topics, as data: the entity's own
//! StateObject ([`Reading`]) and those of its other state topics ([`Attribute`]), with
//! the template pieces the components share. A payload Home Assistant would ignore,
//! with a log line, gives no update.

use super::settings::{as_payload, json_schema, payload_setting, text, Config};
use crate::discovery::names::literal_topic;
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

impl Reading {
    /// The payload as it is (through `value_template`), `None` resetting it.
    pub fn plain(type_name: Option<&'static str>, strict: bool) -> Self {
        Self {
            template: None,
            type_name,
            map: Map::new(),
            map_only: false,
            strict,
            reset: Some(NONE.into()),
            reads: Vec::new(),
        }
    }

    /// Only the payloads `map` names update.
    pub fn mapped(type_name: &'static str, map: Map<String, Value>) -> Self {
        Self {
            map,
            map_only: true,
            ..Self::plain(Some(type_name), false)
        }
    }
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

/// The attributes of an entity, each added when its topic is configured.
pub struct Attributes<'a> {
    config: &'a Config,
    pub out: Vec<Attribute>,
}

impl<'a> Attributes<'a> {
    pub fn new(config: &'a Config) -> Self {
        Self {
            config,
            out: Vec::new(),
        }
    }

    /// `<name>.<suffix>` (or the entity's own, without one) from the topic setting
    /// `topic_key`, when the config has a literal topic there.
    pub fn add(
        &mut self,
        suffix: Option<&'static str>,
        topic_key: &str,
        template: String,
        type_name: &'static str,
        map: Map<String, Value>,
        reset: Option<String>,
    ) {
        if let Some(topic) = text(self.config, topic_key).filter(|t| literal_topic(t)) {
            self.out.push(Attribute {
                suffix,
                topic: topic.into(),
                template,
                type_name,
                map,
                reset,
            });
        }
    }

    /// The template setting `key`, `{{ value }}` when unset.
    pub fn own(&self, key: &str) -> String {
        text(self.config, key).unwrap_or("{{ value }}").to_owned()
    }
}

/// Home Assistant's `PAYLOAD_NONE`: rendered, it makes the entity `unknown`.
pub const NONE: &str = "None";

/// A reset payload setting (`payload_reset`…), `None` by default.
pub fn reset_setting(c: &Config, key: &str) -> String {
    payload_setting(c, key).unwrap_or_else(|| NONE.into())
}

/// The entity's value template, `{{ value }}` when it has none.
pub fn value_template(c: &Config) -> &str {
    text(c, "value_template")
        .or_else(|| text(c, "state_value_template"))
        .unwrap_or("{{ value }}")
}

/// `template` rendered into `raw`, for a template that reads it.
pub fn into_raw(template: &str) -> String {
    format!("{{% set raw %}}{template}{{% endset %}}{{% set raw = raw | trim %}}")
}

/// Each of `values` (or the list setting `key`, when the config has it) to itself.
pub fn one_of(c: &Config, key: &str, values: &[&str]) -> Map<String, Value> {
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
pub fn each(values: &[&str]) -> Map<String, Value> {
    values
        .iter()
        .map(|v| ((*v).to_owned(), Value::String((*v).into())))
        .collect()
}

/// `on` to true and `off` to false.
pub fn booleans(on: String, off: String) -> Map<String, Value> {
    [(on, Value::Bool(true)), (off, Value::Bool(false))]
        .into_iter()
        .collect()
}

/// An on/off state: the text compared with `state_on`/`state_off` (else `payload_on`/
/// `payload_off`, `ON`/`OFF`); neither matching, the state stays. With Home Assistant's
/// JSON schema, the payload as it is.
pub fn on_off(c: &Config) -> Reading {
    if json_schema(c) {
        return Reading::plain(None, false);
    }
    let payload_on = payload_setting(c, "payload_on").unwrap_or_else(|| "ON".into());
    let payload_off = payload_setting(c, "payload_off").unwrap_or_else(|| "OFF".into());
    let on = payload_setting(c, "state_on").unwrap_or(payload_on);
    let off = payload_setting(c, "state_off").unwrap_or(payload_off);
    Reading::mapped("System.Boolean", booleans(on, off))
}
