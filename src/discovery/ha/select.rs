//! `select`: one of `options`, `none` (in any case) making it unknown; `Set(option)`.

use super::command::{value, Command, Commands};
use super::state::{into_raw, one_of, value_template, Reading};
use super::{Component, Config};

pub struct Select;

impl Component for Select {
    fn name(&self) -> &'static str {
        "select"
    }

    fn reading(&self, _name: &str, c: &Config) -> Reading {
        Reading {
            template: Some(format!(
                "{}{{% if raw | lower == 'none' %}}None{{% else %}}{{{{ raw }}}}{{% endif %}}",
                into_raw(value_template(c))
            )),
            ..Reading::mapped("System.String", one_of(c, "options", &[]))
        }
    }

    fn commands(&self, name: &str, c: &Config) -> Vec<Command> {
        let mut commands = Commands::new(c, name);
        commands.set(("option", "System.String"), value::TEXT);
        commands.out
    }
}
