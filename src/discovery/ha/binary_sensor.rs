//! `binary_sensor`: on or off. Also what an exported boolean StateObject is announced as.

use super::state::{on_off, Reading};
use super::{Component, Config, Exported};
use serde_json::{json, Map, Value};

pub struct BinarySensor;

impl Component for BinarySensor {
    fn name(&self) -> &'static str {
        "binary_sensor"
    }

    fn reading(&self, _name: &str, c: &Config) -> Reading {
        on_off(c)
    }

    fn exports(&self, exported: &Exported) -> bool {
        matches!(exported, Exported::State { so, .. } if so.value.is_boolean())
    }

    fn export_config(&self, exported: &Exported, c: &mut Map<String, Value>) {
        if let Exported::State { value, .. } = exported {
            let template = format!("{{{{ 'ON' if {value} else 'OFF' }}}}");
            c.insert("value_template".into(), json!(template));
        }
    }
}
