//! Tasmota's own discovery (`tasmota/discovery/<mac>/config`): a device whose FullTopic
//! or prefixes differ from the defaults gets the preset's rules and commands on its
//! own topics (the preset's patterns already cover the default layout).

use super::names::{literal_topic, package_name};
use super::source::{Change, DeviceSpec, Source};
use crate::mapping::presets::{self, TasmotaTopics};
use crate::native::PackageId;
use serde_json::Value;

/// The Tasmota discovery source.
pub struct Tasmota {
    sentinel: String,
}

impl Tasmota {
    pub fn new(sentinel: &str) -> Self {
        Self {
            sentinel: sentinel.into(),
        }
    }
}

impl Source for Tasmota {
    fn filters(&self) -> Vec<String> {
        vec!["tasmota/discovery/+/config".into()]
    }

    fn learn(&mut self, topic: &str, payload: &str) -> Option<Result<Vec<Change>, String>> {
        let mac = topic
            .strip_prefix("tasmota/discovery/")?
            .strip_suffix("/config")?;
        let key = format!("tasmota:{mac}");
        if payload.trim().is_empty() {
            return Some(Ok(vec![(key, None)]));
        }
        let config: Value = match serde_json::from_str(payload) {
            Ok(v) => v,
            Err(e) => return Some(Err(format!("the discovery config is not JSON: {e}"))),
        };
        let text = |k: &str| config.get(k).and_then(Value::as_str).unwrap_or_default();
        let device = text("t");
        let Some(package) = package_name(device) else {
            return Some(Err(format!("topic (`t`) {device:?} cannot name a package")));
        };
        let mut topics = TasmotaTopics {
            full_topic: text("ft").to_owned(),
            topic: device.to_owned(),
            hostname: text("hn").to_owned(),
            id: mac
                .get(mac.len().saturating_sub(6)..)
                .unwrap_or(mac)
                .to_owned(),
            package: package.clone(),
            ..TasmotaTopics::default()
        };
        if let Some(Value::Array(tp)) = config.get("tp") {
            for (slot, p) in topics.prefixes.iter_mut().zip(tp) {
                if let Some(p) = p.as_str() {
                    *slot = p.to_owned();
                }
            }
        }
        if topics.full_topic.is_empty() || topics.is_default() {
            return Some(Ok(vec![(key, None)]));
        }
        let mut rules = Vec::new();
        let mut commands = Vec::new();
        presets::tasmota(&self.sentinel, &topics, &mut rules, &mut commands);
        if !rules.iter().all(|r| literal_topic(&r.topic)) {
            return Some(Err(format!(
                "FullTopic {:?} gives unusable topics",
                topics.full_topic
            )));
        }
        Some(Ok(vec![(
            key,
            Some(DeviceSpec {
                package: PackageId::new(&self.sentinel, package),
                rules,
                commands,
                types: Vec::new(),
            }),
        )]))
    }
}
