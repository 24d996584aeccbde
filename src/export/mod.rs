//! Constellation → MQTT: `[[export]]` follows StateObject filters as the adapter's own
//! identity (current values requested, then a subscription long-polled; a lost
//! subscription is renewed and the values requested again) and publishes each
//! StateObject on its topic, optionally announced to Home Assistant; `<prefix>/_send`
//! sends messages to Constellation ([`send`]).
//!
//! A StateObject that is gone (no longer in the filter's answer, checked at each
//! renewal and every [`RECONCILE`]) gets its retained topics and its Home Assistant
//! config cleared.

mod follow;
mod homeassistant;
pub mod send;
mod topics;

use crate::config::{Config, ExportConfig};
use crate::constellation::model::StateObject;
use crate::constellation::Client;
use crate::lock::lock;
use crate::mqtt::{topic_matches, Publisher};
use crate::native::adapter_error_topic;
use homeassistant::Announce;
use minijinja::Environment;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often each export asks for its StateObjects again, to clear those purged.
pub const RECONCILE: Duration = Duration::from_secs(60);

/// Every export of the adapter, and the `_send` gateway.
pub struct Exports {
    exports: Vec<Arc<Export>>,
    /// `_send`.
    pub send: Arc<send::Send>,
    stop: CancellationToken,
}

/// One `[[export]]`.
struct Export {
    config: ExportConfig,
    env: Environment<'static>,
    publisher: Publisher,
    /// The adapter's status topic and MQTT client id (Home Assistant availability and
    /// device).
    status_topic: String,
    node: String,
    error_topic: String,
    /// What is published, by StateObject key.
    published: Mutex<HashMap<String, Published>>,
}

/// What was published for one StateObject.
#[derive(Clone)]
struct Published {
    topic: String,
    /// Its Home Assistant config topic, if announced.
    config_topic: Option<String>,
    /// The StateObject as last published (its config is rebuilt from it).
    so: StateObject,
}

/// The problems of exports whose topics the adapter itself would read back (`filters`:
/// what it subscribes for its rules, presets and discovery): (key, reason).
pub fn loops(config: &Config, filters: &[String]) -> Vec<(String, String)> {
    let native = format!("{}/#", config.prefix);
    let mut out = Vec::new();
    for (i, x) in config.export.iter().enumerate() {
        let mut samples = vec![("topic", topics::sample(&x.topic))];
        if x.homeassistant_discovery {
            samples.push((
                "discovery_prefix",
                format!("{}/sensor/node/object/config", x.discovery_prefix),
            ));
        }
        for (key, sample) in samples {
            if let Some(f) = filters
                .iter()
                .chain([&native])
                .find(|f| topic_matches(&sample, f))
            {
                out.push((
                    format!("export[{i}].{key}"),
                    format!("the adapter would read its own exports back (`{sample}` matches its subscription `{f}`): a loop"),
                ));
            }
        }
    }
    out
}

impl Exports {
    /// Starts every export of `config` (and `_send`) as `identity`; `None` without an
    /// identity.
    pub fn start(
        config: &Arc<Config>,
        client: &Client,
        publisher: &Publisher,
    ) -> Option<Arc<Self>> {
        let identity = config.identity()?;
        let stop = CancellationToken::new();
        let status_topic = format!("{}/_adapter/status", config.prefix);
        let mut exports = Vec::new();
        for x in &config.export {
            let mut env = crate::mapping::environment();
            if let Some(t) = &x.payload {
                // Checked at start (see `check_templates`): an error leaves the default.
                let _ = env.add_template_owned("payload", t.clone());
            }
            let export = Arc::new(Export {
                config: x.clone(),
                env,
                publisher: publisher.clone(),
                status_topic: status_topic.clone(),
                node: config.mqtt.client_id.clone(),
                error_topic: adapter_error_topic(&config.prefix),
                published: Mutex::default(),
            });
            if x.homeassistant_discovery {
                publisher.subscribe(&format!("{}/status", x.discovery_prefix));
                export.announce_adapter_and_callbacks(&config.prefix);
            }
            tokio::spawn(follow::follow(
                export.clone(),
                client.clone(),
                identity.clone(),
                Duration::from_secs(config.constellation.auth_retry_s),
                stop.clone(),
            ));
            exports.push(export);
        }
        let send = send::Send::start(config, client, publisher, identity, stop.clone());
        Some(Arc::new(Self {
            exports,
            send,
            stop,
        }))
    }

    /// Home Assistant announcing itself (`<discovery_prefix>/status` = `online`):
    /// every config is published again. Whether `topic` was such a status.
    pub fn home_assistant_status(&self, topic: &str, payload: &[u8], prefix: &str) -> bool {
        let mut matched = false;
        for x in &self.exports {
            let c = &x.config;
            if c.homeassistant_discovery && topic == format!("{}/status", c.discovery_prefix) {
                matched = true;
                if payload == b"online" {
                    x.announce_adapter_and_callbacks(prefix);
                    x.reannounce();
                }
            }
        }
        matched
    }

    /// Stops following.
    pub fn stop(&self) {
        self.stop.cancel();
    }
}

impl Drop for Exports {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Checks the payload templates of `config`'s exports: (key, reason) per problem.
pub fn check_templates(config: &Config) -> Vec<(String, String)> {
    let mut env = crate::mapping::environment();
    config
        .export
        .iter()
        .enumerate()
        .filter_map(|(i, x)| {
            let t = x.payload.as_ref()?;
            env.add_template_owned(format!("{i}"), t.clone())
                .err()
                .map(|e| {
                    (
                        format!("export[{i}].payload"),
                        format!("template error: {e}"),
                    )
                })
        })
        .collect()
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
    fn announce_adapter_and_callbacks(&self, prefix: &str) {
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
    fn publish(&self, so: &StateObject) {
        let topic = topics::topic(&self.config.topic, so);
        let payload = match self.payload(so) {
            Ok(p) => p,
            Err(e) => {
                let error = format!("export of {}: {e}", topics::key(so));
                tracing::warn!("{error}");
                let body = json!({"topic": topic, "error": error, "payload": Value::Null});
                self.publisher
                    .publish(&self.error_topic, body.to_string(), false);
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
    fn remove(&self, keys: &[String]) {
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
    fn keys(&self) -> Vec<String> {
        lock(&self.published).keys().cloned().collect()
    }

    /// Publishes every Home Assistant config (and expiry state) again.
    fn reannounce(&self) {
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
    fn report(&self, error: &str) {
        tracing::warn!("{error}");
        let body = json!({"topic": "export", "error": error, "payload": Value::Null});
        self.publisher
            .publish(&self.error_topic, body.to_string(), false);
    }
}
