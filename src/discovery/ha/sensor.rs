//! `sensor`: a timestamp (ISO 8601 with its offset, shown in UTC), an enum of `options`,
//! a number (with a unit or a state class), else text. Also what an exported StateObject
//! that is not a boolean is announced as.

use super::state::{into_raw, one_of, value_template, Reading};
use super::{text, Component, Config, Exported};
use crate::constellation::model::StateObject;
use serde_json::{json, Map, Value};

pub struct Sensor;

impl Component for Sensor {
    fn name(&self) -> &'static str {
        "sensor"
    }

    fn reading(&self, _name: &str, c: &Config) -> Reading {
        match text(c, "device_class") {
            Some("timestamp") => Reading {
                // An ISO 8601 date and time with its offset, shown in UTC; others ignored.
                template: Some(format!(
                    "{}{{% if raw == 'None' %}}None{{% else %}}{{% set t = as_datetime(raw, none) %}}{{% if t is not none and t.tzinfo is not none %}}{{{{ as_timestamp(t) | timestamp_utc }}}}{{% endif %}}{{% endif %}}",
                    into_raw(value_template(c))
                )),
                ..Reading::plain(Some("System.DateTime"), true)
            },
            Some("enum") => Reading::mapped("System.String", one_of(c, "options", &[])),
            _ if c.contains_key("unit_of_measurement") || c.contains_key("state_class") => {
                Reading::plain(Some("System.Double"), true)
            }
            _ => Reading::plain(None, false),
        }
    }

    fn exports(&self, exported: &Exported) -> bool {
        matches!(exported, Exported::State { so, .. } if !so.value.is_boolean())
    }

    fn export_config(&self, exported: &Exported, c: &mut Map<String, Value>) {
        let Exported::State {
            so,
            topic,
            value,
            object_value_template,
            whole,
        } = exported
        else {
            return;
        };
        match &so.value {
            Value::Number(_) => {
                c.insert("value_template".into(), json!(format!("{{{{ {value} }}}}")));
                let class = metadata(so, &["StateClass", "state_class"]).unwrap_or("measurement");
                c.insert("state_class".into(), json!(class));
                if let Some(unit) = metadata(so, &["Unit", "unit_of_measurement", "unit"]) {
                    c.insert("unit_of_measurement".into(), json!(unit));
                }
                if let Some(class) = metadata(so, &["DeviceClass", "device_class"]) {
                    c.insert("device_class".into(), json!(class));
                }
            }
            Value::Object(_) | Value::Array(_) => {
                c.insert("value_template".into(), json!(object_value_template));
                c.insert("json_attributes_topic".into(), json!(topic));
                if *whole {
                    c.insert(
                        "json_attributes_template".into(),
                        json!("{{ value_json.Value | tojson if value_json.Value is mapping else {'items': value_json.Value} | tojson }}"),
                    );
                }
            }
            _ => {
                c.insert("value_template".into(), json!(format!("{{{{ {value} }}}}")));
            }
        }
    }
}

/// A metadata text of `so` under any of `keys`.
fn metadata<'a>(so: &'a StateObject, keys: &[&str]) -> Option<&'a str> {
    let m = so.metadatas.as_ref()?;
    keys.iter().find_map(|k| m.get(*k).and_then(Value::as_str))
}
