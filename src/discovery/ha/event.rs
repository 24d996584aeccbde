//! `event`: a JSON object whose `event_type` is one of `event_types`.

use super::state::{into_raw, one_of, value_template, Reading};
use super::{Component, Config};
use serde_json::Value;

pub struct Event;

impl Component for Event {
    fn name(&self) -> &'static str {
        "event"
    }

    fn reading(&self, _name: &str, c: &Config) -> Reading {
        let types = Value::Array(
            one_of(c, "event_types", &[])
                .into_iter()
                .map(|(_, v)| v)
                .collect(),
        );
        Reading {
            template: Some(format!(
                "{}{{% set e = raw | from_json(none) %}}{{% if e is mapping and e.event_type in {} %}}{{{{ e | tojson }}}}{{% endif %}}",
                into_raw(value_template(c)),
                types
            )),
            reset: None,
            ..Reading::plain(Some("System.Object"), true)
        }
    }
}
