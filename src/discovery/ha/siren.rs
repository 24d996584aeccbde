//! `siren`: on or off, set by `Set(value)`, as a switch.

use super::command::Command;
use super::state::Reading;
use super::switch::Switch;
use super::{Component, Config};

pub struct Siren;

impl Component for Siren {
    fn name(&self) -> &'static str {
        "siren"
    }

    fn reading(&self, name: &str, c: &Config) -> Reading {
        Switch.reading(name, c)
    }

    fn commands(&self, name: &str, c: &Config) -> Vec<Command> {
        Switch.commands(name, c)
    }
}
