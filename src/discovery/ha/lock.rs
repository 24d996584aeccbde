//! `lock`: one of its named states (`state_locked`…), `payload_reset` making it
//! unknown; `Lock`, `Unlock` and (when configured) `Open`.

use super::command::{service_payload, set_payload, Command, Commands};
use super::settings::named_states;
use super::state::{reset_setting, Reading};
use super::{Component, Config};

pub struct Lock;

/// Each state payload setting, its default, and the state Home Assistant shows.
const STATES: &[(&str, &str, &str)] = &[
    ("state_locked", "LOCKED", "locked"),
    ("state_unlocked", "UNLOCKED", "unlocked"),
    ("state_locking", "LOCKING", "locking"),
    ("state_unlocking", "UNLOCKING", "unlocking"),
    ("state_jammed", "JAMMED", "jammed"),
    ("state_open", "OPEN", "open"),
    ("state_opening", "OPENING", "opening"),
];

impl Component for Lock {
    fn name(&self) -> &'static str {
        "lock"
    }

    fn reading(&self, _name: &str, c: &Config) -> Reading {
        Reading {
            reset: Some(reset_setting(c, "payload_reset")),
            ..Reading::mapped("System.String", named_states(c, STATES))
        }
    }

    fn commands(&self, name: &str, c: &Config) -> Vec<Command> {
        let mut commands = Commands::new(c, name);
        for (verb, setting, default) in [
            ("Lock", "payload_lock", Some("LOCK")),
            ("Unlock", "payload_unlock", Some("UNLOCK")),
            ("Open", "payload_open", None),
        ] {
            if let Some(payload) = service_payload(c, setting, default) {
                let setup = set_payload(&payload);
                commands.publish(verb, "command_topic", "command_template", None, &setup);
            }
        }
        commands.out
    }
}
