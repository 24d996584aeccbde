//! The devices of other topic layouts, as one thing: the compiled mapping (rules and
//! commands of the file and its presets) and the devices learned at run time. It turns
//! their publishes into intents, carries out messages as their commands, and assembles
//! what describes their packages.

use crate::constellation::model::ReceivedMessage;
use crate::discovery::{state_object_types, Discovery, SoType};
use crate::intent::Intent;
use crate::lock::lock;
use crate::mapping::{Commands, Invocation, MapError, Mapper, Mapping};
use crate::native::PackageId;
use serde_json::{json, Value};
use std::sync::Mutex;

/// Mapped and learned devices.
pub struct Devices {
    mapper: Mapper,
    commands: Commands,
    discovery: Mutex<Discovery>,
    filters: Vec<String>,
}

/// What one publish of another layout means.
#[derive(Default)]
pub struct Projection {
    /// Intents for packages, saga answers first, in order.
    pub intents: Vec<(PackageId, Intent)>,
    /// What could not be mapped or learned.
    pub errors: Vec<MapError>,
    /// Devices not learned for the bound on learned devices.
    pub refused: Vec<MapError>,
    /// Topics the adapter must subscribe to now (devices just learned).
    pub subscribe: Vec<String>,
    /// Topics no learned device uses any more (devices gone).
    pub unsubscribe: Vec<String>,
}

impl Devices {
    /// The devices of `mapping`, none learned yet.
    pub fn new(mapping: Mapping) -> Self {
        let discovery = Discovery::new(&mapping.discovery).with_limit(mapping.max_learned_devices);
        let mut filters = mapping.filters;
        filters.extend(discovery.filters().iter().cloned());
        Self {
            mapper: mapping.mapper,
            commands: mapping.commands,
            discovery: Mutex::new(discovery),
            filters,
        }
    }

    /// The packages of the devices learned from discovery.
    pub fn learned(&self) -> Vec<PackageId> {
        crate::lock::lock(&self.discovery).learned()
    }

    /// The MQTT filters the rules, the commands' answers and the discovery topics need
    /// from the start.
    pub fn filters(&self) -> &[String] {
        &self.filters
    }

    /// Projects a publish: the sagas it answers (never from a `retained` one), what the
    /// rules and the learned devices make of it, and what it teaches if it is a
    /// discovery topic (a changed package is declared again).
    pub fn project(&self, topic: &str, payload: &[u8], retained: bool) -> Projection {
        let mut out = Projection::default();
        if !retained {
            out.intents = self.commands.answers(topic, payload);
        }
        let mut mapped = self.mapper.map(topic, payload);
        self.commands.observe(mapped.iter().flatten());
        // Learned devices' templates are the devices' own: rendered after the lock.
        let (handlers, learned) = {
            let mut discovery = lock(&self.discovery);
            let learned = discovery.learn(topic, payload);
            (discovery.handlers(topic), learned)
        };
        for h in &handlers {
            if !retained {
                out.intents.extend(h.commands.answers(topic, payload));
            }
            mapped.extend(h.map(topic, payload));
        }
        if let Some(learned) = learned {
            out.subscribe = learned.subscribe;
            out.unsubscribe = learned.unsubscribe;
            for package in learned.changed {
                let descriptor = self.current_descriptor(&package);
                out.intents.push((package, Intent::Declare(descriptor)));
            }
            out.errors.extend(learned.errors);
            out.refused.extend(learned.refused);
        }
        for m in mapped {
            match m {
                Ok(intent) => out.intents.push(intent),
                Err(e) => out.errors.push(e),
            }
        }
        out
    }

    /// The publishes that carry out `message` for `package`, if a command takes its key
    /// (a learned device's first, then the configuration's).
    pub fn invoke(
        &self,
        package: &PackageId,
        message: &ReceivedMessage,
    ) -> Option<Result<Invocation, String>> {
        let learned = lock(&self.discovery).commands_taking(package, &message.key);
        learned
            .and_then(|c| c.invoke(package, message))
            .or_else(|| self.commands.invoke(package, message))
    }

    /// The error answer of a command's saga still unanswered at its time-out.
    pub fn time_out(&self, package: &PackageId, saga_id: &str) -> Option<Intent> {
        lock(&self.discovery)
            .time_out(package, saga_id)
            .or_else(|| self.commands.time_out(package, saga_id))
    }

    /// The package descriptor of a mapped package: its commands' callbacks (learned
    /// ones first) and the StateObject types known for it; `None` for a package no
    /// command, rule type or learned device describes.
    pub fn descriptor(&self, package: &PackageId) -> Option<Value> {
        let known = lock(&self.discovery).knows(package);
        let descriptor = self.current_descriptor(package);
        let empty = descriptor["MessageCallbacks"] == json!([])
            && descriptor["StateObjectTypes"] == json!([]);
        (known || !empty).then_some(descriptor)
    }

    /// What describes `package` now (possibly nothing: a device that went away).
    fn current_descriptor(&self, package: &PackageId) -> Value {
        let discovery = lock(&self.discovery);
        let mut callbacks = discovery.callbacks(package);
        let mut types = discovery.types(package);
        drop(discovery);
        for (name, type_name) in self.mapper.types(package) {
            if !types.iter().any(|t| t.name == name) {
                types.push(SoType {
                    name,
                    type_name,
                    description: None,
                    enum_values: Vec::new(),
                });
            }
        }
        let types = state_object_types(package, &types);
        for c in self.commands.callbacks(package) {
            if !callbacks.iter().any(|l| l["MessageKey"] == c["MessageKey"]) {
                callbacks.push(c);
            }
        }
        json!({"PackageName": package.package, "MessageCallbacks": callbacks,
               "MessageCallbackTypes": [], "StateObjectTypes": types})
    }
}
