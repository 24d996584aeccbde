//! One export's publishing side: each StateObject on its topic, its Home Assistant
//! config and expiry state, and the clearing of what is gone.

use super::homeassistant::{self, Announce};
use super::{send, topics};
use crate::config::ExportConfig;
use crate::constellation::model::StateObject;
use crate::lock::lock;
use crate::mqtt::Publisher;
use crate::report::{Code, Problem};
use minijinja::Environment;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;

/// One `[[export]]`.
pub(super) struct Export {
    pub(super) config: ExportConfig,
    pub(super) env: Environment<'static>,
    pub(super) publisher: Publisher,
    /// The adapter's status topic and MQTT client id (Home Assistant availability and
    /// device).
    pub(super) status_topic: String,
    pub(super) node: String,
    pub(super) error_topic: String,
    /// What is published, by StateObject key.
    pub(super) published: Mutex<HashMap<String, Published>>,
}

/// What was published for one StateObject.
#[derive(Clone)]
pub(super) struct Published {
    topic: String,
    /// Its Home Assistant config topic, if announced.
    config_topic: Option<String>,
    /// The StateObject as last published (its config is rebuilt from it).
    so: StateObject,
}

impl Export {
    fn announce(&self) -> Announce<'_> {
        Announce {
            prefix: &self.config.discovery_prefix,
            status_topic: &self.status_topic,
            node: &self.node,
        }
    }

    /// The adapter's connectivity entity and the callbacks' entities.
    pub(super) fn announce_adapter_and_callbacks(&self, prefix: &str) {
        let a = self.announce();
        let (topic, config) = homeassistant::adapter(&a);
        self.publisher.publish(&topic, config.to_string(), true);
        for cb in &self.config.callback {
            let command_topic = send::callback_topic(prefix, cb);
            let (topic, config) = homeassistant::callback(&a, cb, &command_topic);
            self.publisher.publish(&topic, config.to_string(), true);
        }
    }

    /// Publishes `so` (and, once or when its kind changed, its Home Assistant config).
    pub(super) fn publish(&self, so: &StateObject) {
        let topic = topics::topic(&self.config.topic, so);
        let payload = match self.payload(so) {
            Ok(p) => p,
            Err(e) => {
                let error = format!("export of {}: {e}", topics::key(so));
                tracing::warn!("{error}");
                let body = Problem::new(Code::Export, error).payload(&topic, Value::Null);
                self.publisher.publish(&self.error_topic, body, false);
                return;
            }
        };
        self.publisher
            .publish_at(&topic, payload, self.config.retain, self.config.qos);
        let config = self
            .config
            .homeassistant_discovery
            .then(|| homeassistant::state_object(&self.announce(), &self.config, so, &topic));
        let now = Published {
            topic: topic.clone(),
            config_topic: config.as_ref().map(|(t, _)| t.clone()),
            so: so.clone(),
        };
        let before = lock(&self.published).insert(topics::key(so), now);
        if let Some((config_topic, config)) = config {
            let availability = if so.is_expired { "offline" } else { "online" };
            if before.as_ref().map(|b| b.so.is_expired) != Some(so.is_expired) {
                self.publisher
                    .publish(&homeassistant::expiry_topic(&topic), availability, true);
            }
            if before.as_ref().and_then(|b| b.config_topic.as_ref()) != Some(&config_topic) {
                if let Some(old) = before.and_then(|b| b.config_topic) {
                    // Its kind changed (a number became text): the old entity goes.
                    self.publisher.publish(&old, "", true);
                }
                self.publisher
                    .publish(&config_topic, config.to_string(), true);
            }
        }
    }

    fn payload(&self, so: &StateObject) -> Result<String, String> {
        let json = serde_json::to_value(so).map_err(|e| e.to_string())?;
        match self.env.get_template("payload") {
            Ok(t) => t
                .render(minijinja::context! { so => json })
                .map_err(|e| format!("payload template: {e}")),
            Err(_) => Ok(json.to_string()),
        }
    }

    /// Clears what was published for the StateObjects of `keys` (gone).
    pub(super) fn remove(&self, keys: &[String]) {
        for key in keys {
            let Some(p) = lock(&self.published).remove(key) else {
                continue;
            };
            if self.config.retain {
                self.publisher.publish(&p.topic, "", true);
            }
            if let Some(config_topic) = p.config_topic {
                self.publisher.publish(&config_topic, "", true);
                self.publisher
                    .publish(&homeassistant::expiry_topic(&p.topic), "", true);
            }
            tracing::info!(stateobject = %key, "export: gone, its topics cleared");
        }
    }

    /// The keys published now.
    pub(super) fn keys(&self) -> Vec<String> {
        lock(&self.published).keys().cloned().collect()
    }

    /// Publishes every Home Assistant config (and expiry state) again.
    pub(super) fn reannounce(&self) {
        let published: Vec<Published> = lock(&self.published).values().cloned().collect();
        let a = self.announce();
        for p in published {
            let (config_topic, config) =
                homeassistant::state_object(&a, &self.config, &p.so, &p.topic);
            self.publisher
                .publish(&config_topic, config.to_string(), true);
            let availability = if p.so.is_expired { "offline" } else { "online" };
            self.publisher
                .publish(&homeassistant::expiry_topic(&p.topic), availability, true);
        }
    }

    /// Reports a failure of this export on the adapter's `error` topic.
    pub(super) fn report(&self, error: &str) {
        tracing::warn!("{error}");
        let body = Problem::new(Code::Export, error).payload("export", Value::Null);
        self.publisher.publish(&self.error_topic, body, false);
    }
}
