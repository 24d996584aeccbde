//! Home Assistant MQTT discovery configs of what is exported: one entity per exported
//! StateObject (a `device` per Constellation package, `via_device` the adapter), one per
//! announced callback, and the adapter's own connectivity entity. Configs follow Home
//! Assistant's MQTT discovery schema (full key names); each component's own keys come
//! from its module in [`crate::discovery::ha`].

use super::topics::slug;
use crate::config::{ExportCallback, ExportConfig};
use crate::constellation::model::StateObject;
use crate::discovery::ha::{self, Exported};
use serde_json::{json, Map, Value};

/// Where configs go and what they refer to.
pub struct Announce<'a> {
    /// The discovery prefix (`homeassistant`).
    pub prefix: &'a str,
    /// The adapter's status topic (`online`/`offline`, retained, its will).
    pub status_topic: &'a str,
    /// The adapter's MQTT client id: its device and the node id of config topics.
    pub node: &'a str,
}

impl Announce<'_> {
    fn config_topic(&self, component: &str, object: &str) -> String {
        format!(
            "{}/{component}/{}/{object}/config",
            self.prefix,
            slug(self.node)
        )
    }

    fn adapter_device(&self) -> String {
        format!("constellation-mqtt_{}", slug(self.node))
    }

    fn package_device(&self, sentinel: &str, package: &str) -> Value {
        json!({
            "identifiers": [format!("constellation_{}", slug(&format!("{sentinel}/{package}")))],
            "name": format!("{sentinel}/{package}"),
            "manufacturer": "Constellation",
            "model": "Constellation package",
            "via_device": self.adapter_device(),
        })
    }
}

/// The topic telling whether an exported StateObject is current (`online`) or expired
/// (`offline`), retained beside its state topic.
pub fn expiry_topic(state_topic: &str) -> String {
    format!("{state_topic}/available")
}

/// The config topic and config of an exported StateObject published on `topic`.
pub fn state_object(
    a: &Announce,
    x: &ExportConfig,
    so: &StateObject,
    topic: &str,
) -> (String, Value) {
    let key = format!("{}/{}/{}", so.sentinel_name, so.package_name, so.name);
    let object = slug(&key);
    // The default payload is the StateObject's JSON; a custom one is read as it is.
    let value = if x.payload.is_none() {
        "value_json.Value"
    } else {
        "value"
    };
    let mut c = Map::new();
    c.insert("name".into(), json!(so.name));
    c.insert("unique_id".into(), json!(format!("constellation_{object}")));
    c.insert("state_topic".into(), json!(topic));
    c.insert("qos".into(), json!(x.qos.unwrap_or(0)));
    c.insert(
        "device".into(),
        a.package_device(&so.sentinel_name, &so.package_name),
    );
    c.insert(
        "availability".into(),
        json!([{"topic": a.status_topic}, {"topic": expiry_topic(topic)}]),
    );
    c.insert("availability_mode".into(), json!("all"));
    let exported = Exported::State {
        so,
        topic,
        value,
        object_value_template: &x.object_value_template,
        whole: x.payload.is_none(),
    };
    let component = ha::exported_as(&exported);
    component.export_config(&exported, &mut c);
    (a.config_topic(component.name(), &object), Value::Object(c))
}

/// The config topic and config of an announced callback, whose command topic is
/// `command_topic` (the adapter sends the message on each publish there).
pub fn callback(a: &Announce, cb: &ExportCallback, command_topic: &str) -> (String, Value) {
    let object = slug(&format!("{}/{}/{}", cb.sentinel, cb.package, cb.key));
    let exported = Exported::Callback {
        type_name: cb.type_name.as_deref(),
    };
    let component = ha::exported_as(&exported);
    let mut c = Map::new();
    c.insert("name".into(), json!(cb.name.as_deref().unwrap_or(&cb.key)));
    c.insert(
        "unique_id".into(),
        json!(format!("constellation_callback_{object}")),
    );
    c.insert("command_topic".into(), json!(command_topic));
    c.insert("device".into(), a.package_device(&cb.sentinel, &cb.package));
    c.insert("availability_topic".into(), json!(a.status_topic));
    component.export_config(&exported, &mut c);
    (a.config_topic(component.name(), &object), Value::Object(c))
}

/// The adapter itself: a connectivity `binary_sensor` on its status topic, the device
/// every package's device is `via`.
pub fn adapter(a: &Announce) -> (String, Value) {
    let config = json!({
        "name": "Connectivity",
        "unique_id": format!("{}_connectivity", a.adapter_device()),
        "state_topic": a.status_topic,
        "payload_on": "online",
        "payload_off": "offline",
        "device_class": "connectivity",
        "device": {
            "identifiers": [a.adapter_device()],
            "name": format!("constellation-mqtt {}", a.node),
            "manufacturer": "constellation-mqtt",
            "sw_version": env!("CARGO_PKG_VERSION"),
        },
    });
    (a.config_topic("binary_sensor", "connectivity"), config)
}
