//! `text`: refused (no update) when its length is outside `min`..`max` (0..255) or it
//! does not match `pattern`, as Home Assistant's text entity refuses it; `None` stays
//! text; `Set(value)`. Also what an exported MessageCallback taking anything but a
//! boolean or a number is announced as.

use super::command::{value, Command, Commands};
use super::settings::number;
use super::state::{value_template, Reading};
use super::{is_number, text, Component, Config, Exported};
use crate::discovery::names::literal;

pub struct Text;

impl Component for Text {
    fn name(&self) -> &'static str {
        "text"
    }

    fn reading(&self, _name: &str, c: &Config) -> Reading {
        Reading {
            template: Some(format!(
                "{{% set raw %}}{}{{% endset %}}{{% if {} <= raw | length <= {}{} %}}{{{{ raw }}}}{{% else %}}{{{{ refused_by_text_limits }}}}{{% endif %}}",
                value_template(c),
                number(c, "min", 0.0),
                number(c, "max", 255.0),
                text(c, "pattern")
                    .map(|p| format!(" and raw is match({})", literal(p)))
                    .unwrap_or_default()
            )),
            reset: None,
            ..Reading::plain(Some("System.String"), false)
        }
    }

    fn commands(&self, name: &str, c: &Config) -> Vec<Command> {
        let mut commands = Commands::new(c, name);
        commands.set(("value", "System.String"), value::TEXT);
        commands.out
    }

    fn exports(&self, exported: &Exported) -> bool {
        matches!(
            exported,
            Exported::Callback { type_name: Some(t) } if *t != "System.Boolean" && !is_number(t)
        )
    }
}
