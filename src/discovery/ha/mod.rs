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
