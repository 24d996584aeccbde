//! `switch`: on or off, set by `Set(value)`. Also what an exported MessageCallback taking
//! a boolean is announced as.

use super::command::{on_off as set_on_off, Command, Commands};
use super::state::{on_off, Reading};
use super::{Component, Config, Exported};
use serde_json::{json, Map, Value};

pub struct Switch;

impl Component for Switch {
    fn name(&self) -> &'static str {
        "switch"
    }

    fn reading(&self, _name: &str, c: &Config) -> Reading {
        on_off(c)
    }

    fn commands(&self, name: &str, c: &Config) -> Vec<Command> {
        let mut commands = Commands::new(c, name);
        commands.set(("value", "System.Boolean"), &set_on_off(c));
        commands.out
    }

    fn exports(&self, exported: &Exported) -> bool {
        matches!(
            exported,
            Exported::Callback {
                type_name: Some("System.Boolean")
            }
        )
    }

    fn export_config(&self, _exported: &Exported, c: &mut Map<String, Value>) {
        c.insert("payload_on".into(), json!("true"));
        c.insert("payload_off".into(), json!("false"));
    }
}
