//! Devices learned at run time: Zigbee2MQTT's device list, Homie attributes, Home
//! Assistant discovery configs, ESPHome prefixes and Tasmota FullTopics.
//!
//! Each [`DiscoverySource`] of the configuration becomes a [`Source`] that reads its
//! discovery topics and describes every device it knows as a [`DeviceSpec`]: the same
//! mapping rules and commands a user would write by hand, with literal topics, plus the
//! StateObject types it knows. [`Discovery`] compiles the specs into per-device
//! mappers, routes publishes to them by exact topic, and tells the router which
//! packages changed (to re-declare their descriptors) and which topics to subscribe.

mod esphome;
pub mod ha;
mod homeassistant;
mod homie;
mod names;
mod source;
mod tasmota;
mod zigbee2mqtt;

pub use source::{Change, DeviceSpec, SoType, Source};

use crate::intent::Intent;
use crate::mapping::{Commands, DiscoverySource, MapError, Mapper};
use crate::native::PackageId;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// What learning from a publish changed.
#[derive(Debug, Default)]
pub struct Learned {
    /// Packages whose descriptor changed.
    pub changed: Vec<PackageId>,
    /// Topics the new devices publish on.
    pub subscribe: Vec<String>,
    /// Topics of devices gone that no learned device uses any more.
    pub unsubscribe: Vec<String>,
    /// Discovery payloads that could not be read, specs that did not compile.
    pub errors: Vec<MapError>,
    /// Devices not learned: as many are learned already as the bound allows.
    pub refused: Vec<MapError>,
}

/// Devices learned at most, unless [`Discovery::with_limit`] says otherwise.
const DEFAULT_MAX_DEVICES: usize = 10_000;

struct Device {
    package: PackageId,
    mapper: Arc<Mapper>,
    commands: Arc<Commands>,
    types: Vec<SoType>,
    topics: Vec<String>,
}

/// What a learned device makes of the publishes on one of its topics: taken out of the
/// [`Discovery`] so that its device-supplied templates are rendered without holding it.
pub struct Handler {
    pub mapper: Arc<Mapper>,
    pub commands: Arc<Commands>,
}

impl Handler {
    /// What the device's rules make of a publish; its commands see the values they read.
    pub fn map(&self, topic: &str, payload: &[u8]) -> Vec<Result<(PackageId, Intent), MapError>> {
        let mapped = self.mapper.map(topic, payload);
        self.commands.observe(mapped.iter().flatten());
        mapped
    }
}

/// The learned devices.
pub struct Discovery {
    sources: Vec<Box<dyn Source>>,
    /// The sources' discovery filters.
    filters: Vec<String>,
    devices: BTreeMap<String, Device>,
    /// Exact topic → the devices with a rule on it.
    by_topic: HashMap<String, Vec<String>>,
    /// Devices whose rules have patterns (learned ESPHome prefixes).
    patterned: Vec<String>,
    /// The most devices learned at once.
    max_devices: usize,
}

impl Discovery {
    /// The sources of `config`.
    pub fn new(sources: &[DiscoverySource]) -> Self {
        let sources: Vec<Box<dyn Source>> = sources
            .iter()
            .map(|s| -> Box<dyn Source> {
                match s {
                    DiscoverySource::HomeAssistant { prefix, sentinel } => {
                        Box::new(homeassistant::HomeAssistant::new(prefix, sentinel))
                    }
                    DiscoverySource::EspHome { prefix, sentinel } => {
                        Box::new(esphome::EspHome::new(prefix, sentinel))
                    }
                    DiscoverySource::Zigbee2Mqtt { base, sentinel } => {
                        Box::new(zigbee2mqtt::Zigbee2Mqtt::new(base, sentinel))
                    }
                    DiscoverySource::Homie { base, sentinel } => {
                        Box::new(homie::Homie::new(base, sentinel))
                    }
                    DiscoverySource::Tasmota { sentinel } => {
                        Box::new(tasmota::Tasmota::new(sentinel))
                    }
                }
            })
            .collect();
        let filters = sources.iter().flat_map(|s| s.filters()).collect();
        Self {
            sources,
            filters,
            devices: BTreeMap::new(),
            by_topic: HashMap::new(),
            patterned: Vec::new(),
            max_devices: DEFAULT_MAX_DEVICES,
        }
    }

    /// At most `max_devices` devices learned at once.
    pub fn with_limit(mut self, max_devices: usize) -> Self {
        self.max_devices = max_devices;
        self
    }

    /// The discovery topics of its sources, to subscribe from the start.
    pub fn filters(&self) -> &[String] {
        &self.filters
    }

    /// Learns from a publish on a discovery topic; `None` when it is not one.
    pub fn learn(&mut self, topic: &str, payload: &[u8]) -> Option<Learned> {
        if !self
            .filters
            .iter()
            .any(|f| crate::mqtt::topic_matches(topic, f))
        {
            return None;
        }
        let Ok(text) = std::str::from_utf8(payload) else {
            return Some(Learned {
                errors: vec![MapError {
                    package: None,
                    reason: format!("{topic}: the discovery payload is not UTF-8 text"),
                }],
                ..Learned::default()
            });
        };
        let mut learned: Option<Learned> = None;
        for i in 0..self.sources.len() {
            let Some(result) = self.sources[i].learn(topic, text) else {
                continue;
            };
            let out = learned.get_or_insert_with(Learned::default);
            match result {
                Ok(changes) => {
                    for (key, spec) in changes {
                        self.apply(key, spec, out);
                    }
                }
                Err(reason) => out.errors.push(MapError {
                    package: None,
                    reason: format!("{topic}: {reason}"),
                }),
            }
        }
        if let Some(out) = &mut learned {
            out.changed.sort();
            out.changed.dedup();
            out.unsubscribe.sort();
            out.unsubscribe.dedup();
            let devices = &self.devices;
            out.unsubscribe
                .retain(|t| !devices.values().any(|d| d.topics.contains(t)));
        }
        learned
    }

    fn apply(&mut self, key: String, spec: Option<DeviceSpec>, out: &mut Learned) {
        let old = self.remove(&key);
        if let Some(old) = &old {
            out.changed.push(old.package.clone());
            out.unsubscribe.extend(old.topics.iter().cloned());
        }
        let Some(spec) = spec else { return };
        if old.is_none() && self.devices.len() >= self.max_devices {
            out.refused.push(MapError {
                package: Some(spec.package.clone()),
                reason: format!(
                    "device {key} not learned: {} devices are learned already (constellation.max_learned_devices)",
                    self.max_devices
                ),
            });
            return;
        }
        out.changed.push(spec.package.clone());
        let compiled =
            Mapper::new(&spec.rules).and_then(|m| Ok((m, Commands::new(&spec.commands)?)));
        let (mapper, commands) = match compiled {
            Ok(c) => c,
            Err(errors) => {
                let reasons: Vec<String> =
                    errors.iter().map(|(k, r)| format!("{k}: {r}")).collect();
                out.errors.push(MapError {
                    package: Some(spec.package.clone()),
                    reason: format!("device {key} cannot be mapped: {}", reasons.join("; ")),
                });
                return;
            }
        };
        if let Some(old) = old {
            mapper.adopt(&old.mapper);
            commands.adopt(&old.commands);
        }
        let mut topics: Vec<String> = crate::mapping::filters(&spec.rules, &spec.commands);
        topics.sort();
        topics.dedup();
        for t in &topics {
            if t.contains(['+', '#']) {
                if !self.patterned.contains(&key) {
                    self.patterned.push(key.clone());
                }
            } else {
                self.by_topic
                    .entry(t.clone())
                    .or_default()
                    .push(key.clone());
            }
        }
        out.subscribe.extend(topics.iter().cloned());
        self.devices.insert(
            key,
            Device {
                package: spec.package,
                mapper: Arc::new(mapper),
                commands: Arc::new(commands),
                types: spec.types,
                topics,
            },
        );
    }

    fn remove(&mut self, key: &str) -> Option<Device> {
        let device = self.devices.remove(key)?;
        for t in &device.topics {
            if let Some(keys) = self.by_topic.get_mut(t) {
                keys.retain(|k| k != key);
                if keys.is_empty() {
                    self.by_topic.remove(t);
                }
            }
        }
        self.patterned.retain(|k| k != key);
        Some(device)
    }

    fn on_topic<'a>(&'a self, topic: &str) -> impl Iterator<Item = &'a Device> {
        self.by_topic
            .get(topic)
            .into_iter()
            .flatten()
            .chain(&self.patterned)
            .filter_map(|k| self.devices.get(k))
    }

    /// The packages of the learned devices, each once, in name order.
    pub fn learned(&self) -> Vec<PackageId> {
        let set: std::collections::BTreeSet<&PackageId> =
            self.devices.values().map(|d| &d.package).collect();
        set.into_iter().cloned().collect()
    }

    /// The handlers of the learned devices with a rule or a command answer on `topic`.
    pub fn handlers(&self, topic: &str) -> Vec<Handler> {
        self.on_topic(topic)
            .map(|d| Handler {
                mapper: d.mapper.clone(),
                commands: d.commands.clone(),
            })
            .collect()
    }

    fn of<'a>(&'a self, package: &'a PackageId) -> impl Iterator<Item = &'a Device> {
        self.devices.values().filter(move |d| d.package == *package)
    }

    /// The learned commands of `package` that take message `key`, if any: invoked by the
    /// caller, without holding the discovery.
    pub fn commands_taking(&self, package: &PackageId, key: &str) -> Option<Arc<Commands>> {
        self.of(package)
            .find(|d| d.commands.takes(package, key))
            .map(|d| d.commands.clone())
    }

    /// The error answer of a saga still unanswered at its time-out.
    pub fn time_out(&self, package: &PackageId, saga_id: &str) -> Option<Intent> {
        self.of(package)
            .find_map(|d| d.commands.time_out(package, saga_id))
    }

    /// Whether a learned device belongs to `package`.
    pub fn knows(&self, package: &PackageId) -> bool {
        self.of(package).next().is_some()
    }

    /// The learned MessageCallbacks of `package`.
    pub fn callbacks(&self, package: &PackageId) -> Vec<Value> {
        self.of(package)
            .flat_map(|d| d.commands.callbacks(package))
            .collect()
    }

    /// The StateObject types learned for `package`.
    pub fn types(&self, package: &PackageId) -> Vec<SoType> {
        self.of(package).flat_map(|d| d.types.clone()).collect()
    }
}

/// The descriptor's `StateObjectTypes` for `package` with StateObjects `types`: one type
/// listing them (by name, with their types) and one per enumeration.
pub fn state_object_types(package: &PackageId, types: &[SoType]) -> Vec<Value> {
    {
        let types: BTreeMap<&str, &SoType> = types.iter().map(|t| (t.name.as_str(), t)).collect();
        if types.is_empty() {
            return Vec::new();
        }
        let enum_name = |t: &SoType| format!("{}.{}", package.package, t.name);
        let type_descriptor =
            |name: String, description: String, properties: Value, values: Option<Value>| {
                json!({"TypeName": name, "TypeFullname": name, "Description": description,
                   "IsGeneric": false, "IsArray": false, "GenericParameters": null,
                   "IsEnum": values.is_some(), "EnumValues": values, "Properties": properties})
            };
        let properties: Vec<Value> = types
            .values()
            .map(|t| {
                let type_name = if t.enum_values.is_empty() { t.type_name.clone() } else { enum_name(t) };
                json!({"Name": t.name, "TypeName": type_name, "Description": t.description, "Type": 0})
            })
            .collect();
        let mut out = vec![type_descriptor(
            package.package.clone(),
            format!("The StateObjects of {}", package.package),
            Value::Array(properties),
            None,
        )];
        for t in types.values().filter(|t| !t.enum_values.is_empty()) {
            let values: Vec<Value> = t
                .enum_values
                .iter()
                .map(|v| json!({"Name": v, "TypeName": "System.String", "Type": 1}))
                .collect();
            out.push(type_descriptor(
                enum_name(t),
                format!("The values of {}", t.name),
                json!([]),
                Some(Value::Array(values)),
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the learned devices push for `payload` on `topic`.
    fn pushes(d: &Discovery, topic: &str, payload: &str) -> Vec<(String, Value)> {
        d.handlers(topic)
            .iter()
            .flat_map(|h| h.map(topic, payload.as_bytes()))
            .filter_map(|r| match r {
                Ok((_, Intent::PushStateObject(so))) => Some((so.name, so.value)),
                _ => None,
            })
            .collect()
    }

    /// Beyond the bound, a new device is refused (and says why); one already learned
    /// may still change, and one gone makes room.
    #[test]
    fn learned_devices_are_bounded() {
        let mut d = Discovery::new(&[DiscoverySource::HomeAssistant {
            prefix: "homeassistant".into(),
            sentinel: "HomeAssistant".into(),
        }])
        .with_limit(2);
        let config = |i: usize| {
            format!(
                r#"{{"name": "T{i}", "state_topic": "t/{i}", "unique_id": "u{i}", "device": {{"identifiers": ["d{i}"], "name": "D{i}"}}}}"#
            )
        };
        let topic = |i: usize| format!("homeassistant/sensor/d{i}/t/config");
        for i in 0..2 {
            let learned = d.learn(&topic(i), config(i).as_bytes()).unwrap();
            assert!(learned.refused.is_empty() && learned.errors.is_empty());
        }
        let learned = d.learn(&topic(2), config(2).as_bytes()).unwrap();
        assert_eq!(learned.refused.len(), 1, "{:?}", learned.refused);
        assert!(learned.refused[0].reason.contains("max_learned_devices"));
        assert!(d.handlers("t/2").is_empty());
        // A learned device may change; a device gone makes room.
        let again = d.learn(&topic(1), config(1).as_bytes()).unwrap();
        assert!(again.refused.is_empty());
        d.learn(&topic(0), b"").unwrap();
        let learned = d.learn(&topic(2), config(2).as_bytes()).unwrap();
        assert!(learned.refused.is_empty(), "{:?}", learned.refused);
        assert_eq!(d.learned().len(), 2);
    }

    /// Home Assistant keeps an entity's state when the payload is none of those it
    /// knows: no push at all, rather than the raw payload.
    #[test]
    fn a_payload_no_state_setting_names_pushes_nothing() {
        let mut d = Discovery::new(&[DiscoverySource::HomeAssistant {
            prefix: "homeassistant".into(),
            sentinel: "HomeAssistant".into(),
        }]);
        for (topic, config) in [
            (
                "homeassistant/lock/e/front/config",
                r#"{"name": "Front", "state_topic": "lock/front", "unique_id": "l1"}"#,
            ),
            (
                "homeassistant/binary_sensor/e/door/config",
                r#"{"name": "Door", "state_topic": "door", "value_template": "{{ value_json.contact }}",
                    "payload_on": false, "payload_off": true, "unique_id": "d1"}"#,
            ),
        ] {
            let learned = d
                .learn(topic, config.as_bytes())
                .expect("a discovery topic");
            assert!(learned.errors.is_empty(), "{:?}", learned.errors);
        }
        assert_eq!(
            pushes(&d, "lock/front", "LOCKED"),
            [("Front".into(), json!("locked"))]
        );
        assert_eq!(pushes(&d, "lock/front", "FOO"), []);
        assert_eq!(
            pushes(&d, "door", r#"{"contact": false}"#),
            [("Door".into(), json!(true))]
        );
        assert_eq!(pushes(&d, "door", r#"{"contact": "jammed"}"#), []);
    }
}
