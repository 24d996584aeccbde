//! Constellation → MQTT: `[[export]]` follows StateObject filters as the adapter's own
//! identity (current values requested, then a subscription long-polled; a lost
//! subscription is renewed and the values requested again) and publishes each
//! StateObject on its topic, optionally announced to Home Assistant; `<prefix>/_send`
//! sends messages to Constellation ([`send`]).
//!
//! A StateObject that is gone (no longer in the filter's answer, checked at each
//! renewal and every minute) gets its retained topics and its Home Assistant
//! config cleared.

mod follow;
mod homeassistant;
mod publish;
pub mod send;
mod topics;

use crate::config::Config;
use crate::constellation::Client;
use crate::mqtt::{topic_matches, Publisher};
use crate::native::adapter_error_topic;
use publish::Export;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Every export of the adapter, and the `_send` gateway.
pub struct Exports {
    exports: Vec<Arc<Export>>,
    /// `_send`.
    pub send: Arc<send::Send>,
    stop: CancellationToken,
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
            let span = tracing::info_span!("export", index = exports.len());
            tokio::spawn(
                follow::follow(
                    export.clone(),
                    client.clone(),
                    identity.clone(),
                    Duration::from_secs(config.constellation.auth_retry_s),
                    stop.clone(),
                )
                .instrument(span),
            );
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
            let status = topic.strip_prefix(c.discovery_prefix.as_str()) == Some("/status");
            if c.homeassistant_discovery && status {
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
