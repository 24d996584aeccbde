//! ESPHome devices whose topic prefixes are learned from the Home Assistant discovery
//! configs they publish: each prefix then gets the rules of the `esphome` preset.

use super::homeassistant::{config_filters, entities, Entity};
use super::source::{Change, DeviceSpec, Source};
use crate::mapping::presets;
use crate::native::PackageId;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The ESPHome source.
pub struct EspHome {
    discovery_prefix: String,
    sentinel: String,
    /// Device prefix → the config topics that announced it.
    prefixes: BTreeMap<String, BTreeSet<String>>,
}

impl EspHome {
    pub fn new(discovery_prefix: &str, sentinel: &str) -> Self {
        Self {
            discovery_prefix: discovery_prefix.into(),
            sentinel: sentinel.into(),
            prefixes: BTreeMap::new(),
        }
    }

    fn spec(&self, prefix: &str) -> DeviceSpec {
        let mut rules = Vec::new();
        let mut commands = Vec::new();
        presets::esphome(&self.sentinel, prefix, &mut rules, &mut commands);
        let package = prefix.rsplit('/').next().unwrap_or(prefix);
        DeviceSpec {
            package: PackageId::new(&self.sentinel, package),
            rules,
            commands,
            types: Vec::new(),
        }
    }
}

/// Whether an entity was announced by ESPHome (its device's software or its origin).
fn from_esphome(e: &Entity) -> bool {
    let says = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .is_some_and(|s| s.to_ascii_lowercase().starts_with("esphome"))
    };
    says(e.config.get("device").and_then(|d| d.get("sw_version")))
        || says(e.config.get("origin").and_then(|o| o.get("name")))
}

/// The device's topic prefix: its availability topic without `/status`, else its
/// state or command topic without `/<component>/<object>/state|command`.
fn prefix_of(e: &Entity) -> Option<String> {
    let topic = |k: &str| e.config.get(k).and_then(Value::as_str);
    if let Some(p) = topic("availability_topic").and_then(|t| t.strip_suffix("/status")) {
        return Some(p.to_owned());
    }
    let t = topic("state_topic").or_else(|| topic("command_topic"))?;
    let mut levels: Vec<&str> = t.split('/').collect();
    (levels.len() > 3).then(|| {
        levels.truncate(levels.len() - 3);
        levels.join("/")
    })
}

impl Source for EspHome {
    fn filters(&self) -> Vec<String> {
        config_filters(&self.discovery_prefix)
    }

    fn learn(&mut self, topic: &str, payload: &str) -> Option<Result<Vec<Change>, String>> {
        let entities = entities(&self.discovery_prefix, topic, payload)?.unwrap_or_default();
        let now: BTreeSet<String> = entities
            .iter()
            .filter(|e| from_esphome(e))
            .filter_map(prefix_of)
            .filter(|p| super::names::literal_topic(p))
            .collect();
        let mut changes = Vec::new();
        let known: Vec<String> = self.prefixes.keys().cloned().collect();
        for prefix in known.iter().filter(|p| !now.contains(*p)) {
            let topics = self.prefixes.entry(prefix.clone()).or_default();
            if topics.remove(topic) && topics.is_empty() {
                self.prefixes.remove(prefix);
                changes.push((format!("esphome:{prefix}"), None));
            }
        }
        for prefix in now {
            if !self.prefixes.contains_key(&prefix) {
                changes.push((format!("esphome:{prefix}"), Some(self.spec(&prefix))));
            }
            self.prefixes
                .entry(prefix)
                .or_default()
                .insert(topic.into());
        }
        Some(Ok(changes))
    }
}
