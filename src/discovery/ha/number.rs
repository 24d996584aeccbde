//! `number`: a number within `min`..`max` (1..100 by default), others ignored,
//! `payload_reset` making it unknown; `Set(value)`. Also what an exported MessageCallback
//! taking a number is announced as.

use super::command::{value, Command, Commands};
use super::settings::number;
use super::state::{into_raw, reset_setting, value_template, Reading};
use super::{is_integer, is_number, Component, Config, Exported};
use crate::discovery::names::literal;
use serde_json::{json, Map, Value};

pub struct Number;

impl Component for Number {
    fn name(&self) -> &'static str {
        "number"
    }

    fn reading(&self, _name: &str, c: &Config) -> Reading {
        let reset = reset_setting(c, "payload_reset");
        Reading {
            template: Some(format!(
                "{}{{% if raw == {reset} %}}{{{{ raw }}}}{{% elif raw is number or raw | is_number %}}{{% set v = raw | float %}}{{% if {} <= v <= {} %}}{{{{ v }}}}{{% endif %}}{{% endif %}}",
                into_raw(value_template(c)),
                number(c, "min", 1.0),
                number(c, "max", 100.0),
                reset = literal(&reset),
            )),
            reset: Some(reset),
            ..Reading::plain(Some("System.Double"), true)
        }
    }

    fn commands(&self, name: &str, c: &Config) -> Vec<Command> {
        let mut commands = Commands::new(c, name);
        commands.set(("value", "System.Double"), value::NUMBER);
        commands.out
    }

    fn exports(&self, exported: &Exported) -> bool {
        matches!(exported, Exported::Callback { type_name: Some(t) } if is_number(t))
    }

    fn export_config(&self, exported: &Exported, c: &mut Map<String, Value>) {
        let integer =
            matches!(exported, Exported::Callback { type_name: Some(t) } if is_integer(t));
        c.insert("min".into(), json!(-1_000_000));
        c.insert("max".into(), json!(1_000_000));
        c.insert("step".into(), json!(if integer { 1.0 } else { 0.001 }));
        c.insert("mode".into(), json!("box"));
    }
}
