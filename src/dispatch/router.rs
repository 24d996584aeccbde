//! From a device's publish to its package's work: the topic parsed (the native scheme,
//! `_send`, or another layout projected through the devices), the payload decoded into
//! intents, StateObjects completed from the configuration, retained replays ignored;
//! each intent handed to the [`Registry`]. Every refusal is reported on an `error` topic.

use super::defaults::Defaults;
use super::registry::Registry;
use super::replay::Replays;
use crate::export::Exports;
use crate::intent::{decode, Intent};
use crate::lock::lock;
use crate::mapping::MapError;
use crate::metrics::Refusal;
use crate::native::{
    adapter_error_topic, error_topic, parse_topic, payload_head, Kind, PackageId, Topic,
};
use crate::package::{Context, Origin};
use rumqttc::v5::mqttbytes::v5::Publish;
use std::sync::{Arc, Mutex};

/// Routes publishes to the packages of the [`Registry`].
#[derive(Clone)]
pub struct Router {
    cx: Arc<Context>,
    registry: Registry,
    defaults: Arc<Defaults>,
    /// Retained topics of other layouts already seen, so that a broker's replay of
    /// them is not pushed again.
    replays: Arc<Mutex<Replays>>,
    /// `[[export]]` and `_send`, when the adapter has an identity.
    exports: Option<Arc<Exports>>,
}

impl Router {
    /// A router for the packages of `registry`, sharing `cx`; `exports` takes `_send`
    /// and Home Assistant's status.
    pub fn new(cx: Arc<Context>, registry: Registry, exports: Option<Arc<Exports>>) -> Self {
        Self {
            defaults: Arc::new(Defaults::new(&cx.config)),
            replays: Arc::default(),
            cx,
            registry,
            exports,
        }
    }

    /// Handles one publish from the broker, then acknowledges it once its work is in
    /// the journal. Never blocks on Constellation.
    pub fn handle(&self, publish: Publish) {
        self.route(&publish);
        self.cx.journal.ack(&publish);
    }

    /// Routes one publish.
    fn route(&self, publish: &Publish) {
        let topic = String::from_utf8_lossy(&publish.topic);
        let prefix = &self.cx.config.prefix;
        let origin = || Origin {
            topic: topic.to_string(),
            payload: payload_head(&publish.payload),
        };
        let metrics = &self.cx.metrics;
        let (package, kind) = match parse_topic(prefix, &topic) {
            Topic::Device(package, kind) => (package, kind),
            Topic::Send => {
                metrics.received("send");
                return match &self.exports {
                    Some(x) => x
                        .send
                        .handle(&topic, &publish.payload, publish.properties.as_ref()),
                    None => self.registry.refuse(
                        Refusal::InvalidTopic,
                        &format!("{prefix}/_send/error"),
                        &origin(),
                        "_send needs the adapter's identity: set [constellation] identity",
                    ),
                };
            }
            Topic::Foreign => {
                metrics.received("foreign");
                if let Some(x) = &self.exports {
                    if x.home_assistant_status(&topic, &publish.payload, prefix) {
                        return;
                    }
                }
                return self.project(&topic, &publish.payload, publish.retain, origin);
            }
            Topic::Downlink => return,
            Topic::Invalid {
                error_topic,
                reason,
            } => {
                metrics.received("invalid");
                return self.registry.refuse(
                    Refusal::InvalidTopic,
                    &error_topic,
                    &origin(),
                    &reason,
                );
            }
        };
        metrics.received(kind.label());
        let package_errors = || error_topic(prefix, &package.sentinel, &package.package);
        if let Some(reason) = self.oversized(&publish.payload) {
            return self
                .registry
                .refuse(Refusal::Oversized, &package_errors(), &origin(), &reason);
        }
        let no_properties = Vec::new();
        let user_properties = publish
            .properties
            .as_ref()
            .map_or(&no_properties, |p| &p.user_properties);
        let intent = match decode(&kind, &package.package, &publish.payload, user_properties) {
            Ok(intent) => intent,
            Err(reason) => {
                return self.registry.refuse(
                    Refusal::InvalidPayload,
                    &package_errors(),
                    &origin(),
                    &reason,
                );
            }
        };
        if kind == Kind::StateObjectFull {
            // The full form is sent exactly as given: no defaults, no inferred type.
            return self.registry.enqueue(package, intent, origin());
        }
        self.submit(package, intent, origin());
    }

    /// Projects a publish of another layout through the devices. A retained publish is
    /// last known state: already seen, it is ignored.
    fn project(&self, topic: &str, payload: &[u8], retained: bool, origin: impl Fn() -> Origin) {
        if let Some(reason) = self.oversized(payload) {
            let error_topic = adapter_error_topic(&self.cx.config.prefix);
            return self
                .registry
                .refuse(Refusal::Oversized, &error_topic, &origin(), &reason);
        }
        if lock(&self.replays).repeated(topic, payload, retained) {
            return;
        }
        let projection = self.cx.devices.project(topic, payload, retained);
        for filter in &projection.unsubscribe {
            self.cx.publisher.unsubscribe(filter);
        }
        for filter in &projection.subscribe {
            self.cx.publisher.subscribe(filter);
        }
        for e in &projection.errors {
            self.report_map_error(e, &origin());
        }
        let error_topic = adapter_error_topic(&self.cx.config.prefix);
        for e in &projection.refused {
            self.registry
                .refuse(Refusal::TooManyDevices, &error_topic, &origin(), &e.reason);
        }
        for (package, intent) in projection.intents {
            self.submit(package, intent, origin());
        }
    }

    /// Why a payload is refused for its size, if it is.
    fn oversized(&self, payload: &[u8]) -> Option<String> {
        let limit = self.cx.config.mqtt.max_payload_bytes;
        (payload.len() > limit).then(|| {
            format!(
                "payload of {} bytes exceeds the limit of {limit} bytes",
                payload.len()
            )
        })
    }

    fn report_map_error(&self, e: &MapError, origin: &Origin) {
        let prefix = &self.cx.config.prefix;
        let error_topic = match &e.package {
            Some(p) => error_topic(prefix, &p.sentinel, &p.package),
            None => adapter_error_topic(prefix),
        };
        self.registry
            .refuse(Refusal::Mapping, &error_topic, origin, &e.reason);
    }

    /// Hands `intent` to its package, a StateObject completed from the configuration's
    /// defaults and type inference, starting the package if it is admitted; reports on
    /// the package's `error` topic otherwise.
    pub fn submit(&self, package: PackageId, mut intent: Intent, origin: Origin) {
        if let Intent::PushStateObject(push) = &mut intent {
            self.defaults.apply(&package, push);
        }
        self.registry.enqueue(package, intent, origin);
    }
}
