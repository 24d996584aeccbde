//! `siren`: on or off, set by `Set(value)`, as a switch.

use super::command::{on_off as set_on_off, Command, Commands};
use super::state::{on_off, Reading};
use super::{Component, Config};

pub struct Siren;

impl Component for Siren {
    fn name(&self) -> &'static str {
        "siren"
    }

    fn reading(&self, _name: &str, c: &Config) -> Reading {
        on_off(c)
    }

    fn commands(&self, name: &str, c: &Config) -> Vec<Command> {
        let mut commands = Commands::new(c, name);
        commands.set(("value", "System.Boolean"), &set_on_off(c));
        commands.out
    }
}
