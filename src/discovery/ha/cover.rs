//! `cover`: open, opening, closed or closing; `stopped` is `closed` when the position is
//! 0 (with a position topic) or the cover was closed or closing (without), else `open`.
//! Its position in percent of `position_closed`..`position_open`, floored and clamped
//! (Home Assistant's `ranged_value_to_percentage`). `Open`, `Close`, `Stop` and
//! `SetPosition(position)`.

use super::command::{service_payload, set_payload, Command, Commands};
use super::settings::{payload_or, position_range};
use super::state::{each, into_raw, value_template, Attribute, Attributes, Reading, NONE};
use super::{text, Component, Config};
use crate::discovery::names::literal;
use serde_json::Map;

pub struct Cover;

impl Component for Cover {
    fn name(&self) -> &'static str {
        "cover"
    }

    fn reading(&self, name: &str, c: &Config) -> Reading {
        let payload = |key: &str, default: &str| literal(&payload_or(c, key, default));
        let position = format!("{name}.position");
        let stopped = if text(c, "position_topic").is_some() {
            format!(
                "{{{{ 'closed' if states.get({}) == 0 else 'open' }}}}",
                literal(&position)
            )
        } else {
            format!(
                "{{{{ 'closed' if states.get({}) in ['closed', 'closing'] else 'open' }}}}",
                literal(name)
            )
        };
        let template = format!(
            "{{% set raw %}}{}{{% endset %}}{{% if raw == {} %}}{stopped}{{% elif raw == {} %}}opening{{% elif raw == {} %}}closing{{% elif raw == {} %}}open{{% elif raw == {} %}}closed{{% elif raw == 'None' %}}None{{% endif %}}",
            value_template(c),
            payload("state_stopped", "stopped"),
            payload("state_opening", "opening"),
            payload("state_closing", "closing"),
            payload("state_open", "open"),
            payload("state_closed", "closed"),
        );
        Reading {
            template: Some(template),
            type_name: Some("System.String"),
            map: each(&["open", "opening", "closed", "closing"]),
            map_only: true,
            strict: false,
            reset: Some(NONE.into()),
            reads: vec![name.to_owned(), position],
        }
    }

    fn attributes(&self, c: &Config) -> Vec<Attribute> {
        let mut attributes = Attributes::new(c);
        let position = position_percent(c);
        attributes.add(
            Some("position"),
            "position_topic",
            format!("{position}{{{{ p }}}}"),
            "System.Int64",
            Map::new(),
            None,
        );
        if text(c, "state_topic").is_none() {
            // Without a state topic, the position tells open or closed.
            attributes.add(
                None,
                "position_topic",
                format!("{position}{{{{ 'closed' if p == 0 else 'open' }}}}"),
                "System.String",
                each(&["open", "closed"]),
                None,
            );
        }
        attributes.out
    }

    fn commands(&self, name: &str, c: &Config) -> Vec<Command> {
        let mut commands = Commands::new(c, name);
        for (verb, setting, default) in [
            ("Open", "payload_open", "OPEN"),
            ("Close", "payload_close", "CLOSE"),
            ("Stop", "payload_stop", "STOP"),
        ] {
            // Published as it is: a cover has no `command_template`.
            if let Some(payload) = service_payload(c, setting, Some(default)) {
                commands.publish(verb, "command_topic", "", None, &set_payload(&payload));
            }
        }
        let (open, closed) = position_range(c);
        // The percentage asked, in the device's range, as `position` and `value`.
        let setup = format!(
            "{{% set position = ((data | float(0)) * ({open} - {closed}) / 100 + {closed}) | round | int %}}{{% set value = position %}}"
        );
        commands.publish(
            "SetPosition",
            "set_position_topic",
            "set_position_template",
            Some(("position", "System.Int64")),
            &setup,
        );
        commands.out
    }
}

/// Sets `p`, a cover's position in percent, from `position_topic`'s payload (through
/// `position_template`, which may give a JSON object with `position`): Home
/// Assistant's `ranged_value_to_percentage` over `position_closed`..`position_open`,
/// clamped to 0..100; a payload that is not a number leaves `p` undefined (no update).
fn position_percent(config: &Config) -> String {
    let (open, closed) = position_range(config);
    format!(
        "{}{{% set d = raw | from_json(none) %}}{{% if d is mapping %}}{{% set raw = d.position %}}{{% endif %}}\
         {{% if raw is number or raw | is_number %}}{{% set p = [[(((raw | float) - {closed}) * 100 / ({open} - {closed})) | round(0, 'floor'), 0] | max, 100] | min %}}{{% endif %}}",
        into_raw(text(config, "position_template").unwrap_or("{{ value }}"))
    )
}
