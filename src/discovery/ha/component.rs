//! What a Home Assistant MQTT component is to the adapter: the [`Component`] trait, and
//! what the adapter announces to Home Assistant ([`Exported`]).

use super::command::{value, Command, Commands};
use super::settings::Config;
use super::state::{Attribute, Reading};
use crate::constellation::model::StateObject;
use serde_json::{Map, Value};

/// One Home Assistant MQTT component.
pub trait Component: Sync {
    /// Home Assistant's name of it (`light`, `cover`…).
    fn name(&self) -> &'static str;

    /// How the `state_topic` of entity `name` reads (by default the payload as it is,
    /// untyped, `None` making it unknown).
    fn reading(&self, _name: &str, _config: &Config) -> Reading {
        Reading::plain(None, false)
    }

    /// The StateObjects of its state topics other than `state_topic`.
    fn attributes(&self, _config: &Config) -> Vec<Attribute> {
        Vec::new()
    }

    /// With Home Assistant's JSON schema (a JSON light), the StateObjects its JSON state
    /// gives beside its on/off one: name suffix, value template, type.
    fn json_state(&self, _config: &Config) -> Option<Vec<(&'static str, String, &'static str)>> {
        None
    }

    /// Its services as callbacks of entity `name`, in the order Home Assistant lists
    /// them (by default a `Set` that publishes its data, as text or JSON, on
    /// `command_topic`).
    fn commands(&self, name: &str, config: &Config) -> Vec<Command> {
        let mut commands = Commands::new(config, name);
        commands.set(("value", "System.String"), value::TEXT_OR_JSON);
        commands.out
    }

    /// Whether the adapter announces `exported` as this component (the first of
    /// [`super::COMPONENTS`] that does).
    fn exports(&self, _exported: &Exported) -> bool {
        false
    }

    /// The keys of this component in the discovery config of `exported`.
    fn export_config(&self, _exported: &Exported, _config: &mut Map<String, Value>) {}
}

/// Something the adapter announces to Home Assistant.
pub enum Exported<'a> {
    /// An exported StateObject, published on `topic`.
    State {
        so: &'a StateObject,
        topic: &'a str,
        /// The value in the published payload, as a Jinja expression.
        value: &'a str,
        /// An object's state, a template over the published payload.
        object_value_template: &'a str,
        /// The payload is the StateObject's JSON (the default), not a custom one.
        whole: bool,
    },
    /// A MessageCallback taking one parameter of this type, or none.
    Callback { type_name: Option<&'a str> },
}

/// Whether a Constellation type is a number.
pub fn is_number(type_name: &str) -> bool {
    is_integer(type_name)
        || matches!(
            type_name,
            "System.Double" | "System.Single" | "System.Decimal"
        )
}

/// Whether a Constellation type is an integer.
pub fn is_integer(type_name: &str) -> bool {
    matches!(
        type_name,
        "System.Int16"
            | "System.Int32"
            | "System.Int64"
            | "System.Byte"
            | "System.UInt16"
            | "System.UInt32"
            | "System.UInt64"
    )
}
