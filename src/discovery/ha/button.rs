//! `button`: `Press` publishes `payload_press`. Also what an exported MessageCallback
//! without a parameter is announced as.

use super::command::{set_payload, Command, Commands};
use super::settings::payload_or;
use super::{Component, Config, Exported};

pub struct Button;

impl Component for Button {
    fn name(&self) -> &'static str {
        "button"
    }

    fn commands(&self, name: &str, c: &Config) -> Vec<Command> {
        let mut commands = Commands::new(c, name);
        let press = set_payload(&payload_or(c, "payload_press", "PRESS"));
        commands.publish("Press", "command_topic", "command_template", None, &press);
        commands.out
    }

    fn exports(&self, exported: &Exported) -> bool {
        matches!(exported, Exported::Callback { type_name: None })
    }
}
