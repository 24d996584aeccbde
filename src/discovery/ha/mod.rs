//! Home Assistant's MQTT components, one module each behind [`Component`]: what its
//! state topics show ([`Component::reading`], [`Component::attributes`]), the services
//! it has ([`Component::commands`]), and its shape when the adapter announces a
//! Constellation StateObject or callback as one ([`Component::export_config`]).
//! [`COMPONENTS`] lists them; adding one is a new file and a line there.

mod binary_sensor;
mod button;
mod climate;
mod command;
mod component;
mod cover;
mod device_tracker;
mod event;
mod fan;
mod light;
mod light_json;
mod lock;
mod number;
mod other;
mod select;
mod sensor;
mod settings;
mod siren;
mod state;
mod switch;
mod text;

pub use command::Command;
pub use component::{is_integer, is_number, Component, Exported};
pub use settings::{json_schema, text, Config};
pub use state::{Attribute, Reading};

/// Every component the adapter knows, in the order they are asked whether they export
/// something; [`other::Other`] stands for any other.
pub static COMPONENTS: &[&dyn Component] = &[
    &binary_sensor::BinarySensor,
    &button::Button,
    &climate::Climate,
    &cover::Cover,
    &device_tracker::DeviceTracker,
    &event::Event,
    &fan::Fan,
    &light::Light,
    &lock::Lock,
    &number::Number,
    &select::Select,
    &sensor::Sensor,
    &siren::Siren,
    &switch::Switch,
    &text::Text,
];

/// The component named `name` (Home Assistant's), or the generic one.
pub fn component(name: &str) -> &'static dyn Component {
    COMPONENTS
        .iter()
        .copied()
        .find(|c| c.name() == name)
        .unwrap_or(&other::Other)
}

/// The component `exported` is announced as.
pub fn exported_as(exported: &Exported) -> &'static dyn Component {
    COMPONENTS
        .iter()
        .copied()
        .find(|c| c.exports(exported))
        .unwrap_or(&sensor::Sensor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::constellation::model::StateObject;
    use serde_json::{json, Value};

    #[test]
    fn each_component_is_registered_once_and_found_by_its_name() {
        let mut names: Vec<_> = COMPONENTS.iter().map(|c| c.name()).collect();
        for name in &names {
            assert_eq!(component(name).name(), *name);
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), COMPONENTS.len(), "a component is listed twice");
        assert_eq!(component("valve").name(), "other");
    }

    fn state(value: Value) -> StateObject {
        let so = json!({"SentinelName": "S", "PackageName": "P", "Name": "N", "Value": value});
        serde_json::from_value(so).expect("a StateObject")
    }

    #[test]
    fn what_an_export_is_announced_as() {
        let announced = |so: &StateObject| {
            exported_as(&Exported::State {
                so,
                topic: "t",
                value: "value_json.Value",
                object_value_template: "",
                whole: true,
            })
            .name()
        };
        assert_eq!(announced(&state(json!(true))), "binary_sensor");
        assert_eq!(announced(&state(json!(21.5))), "sensor");
        assert_eq!(announced(&state(json!({"a": 1}))), "sensor");
        let callback = |type_name| exported_as(&Exported::Callback { type_name }).name();
        assert_eq!(callback(None), "button");
        assert_eq!(callback(Some("System.Boolean")), "switch");
        assert_eq!(callback(Some("System.Int32")), "number");
        assert_eq!(callback(Some("System.Double")), "number");
        assert_eq!(callback(Some("System.String")), "text");
    }
}
