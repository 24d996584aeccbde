//! Homie devices, v4 (`<base>/<device>/$nodes`, `<node>/$properties`, per-property
//! `$datatype`, `$settable`, `$unit`, `$format`) and v5 (`<base>/5/<device>/$description`).
//! `$state` gives availability (`ready`, `alert` online; `disconnected`, `lost`,
//! `sleeping` offline) and the `State` StateObject; each property is the StateObject
//! `<node>.<property>` typed from its datatype; each settable property a callback
//! `Set<Node><Property>` that publishes on its `/set` topic.

use super::names::{literal_topic, package_name, payload_template, setter};
use super::source::{rule, Change, DeviceSpec, SoType, Source};
use crate::config::{Availability, CommandParameter, CommandResponse, CommandRule, MapRule};
use crate::native::PackageId;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The Homie source.
pub struct Homie {
    base: String,
    sentinel: String,
    /// Device topic (`<base>/<id>` or `<base>/5/<id>`) → what is known of it.
    devices: BTreeMap<String, Device>,
    /// Device topic → its spec as last given.
    specs: BTreeMap<String, Option<DeviceSpec>>,
}

#[derive(Default)]
struct Device {
    id: String,
    /// Node → property → attribute → value.
    nodes: BTreeMap<String, BTreeMap<String, Map<String, Value>>>,
}

const STATE: &str = "{% if value in ['ready', 'alert'] %}true\
{% elif value in ['disconnected', 'lost', 'sleeping'] %}false{% endif %}";

impl Homie {
    pub fn new(base: &str, sentinel: &str) -> Self {
        Self {
            base: base.into(),
            sentinel: sentinel.into(),
            devices: BTreeMap::new(),
            specs: BTreeMap::new(),
        }
    }

    fn spec(&self, topic: &str, d: &Device) -> Option<DeviceSpec> {
        let package = PackageId::new(&self.sentinel, package_name(&d.id)?);
        let rule = |topic: String| rule(&package, topic);
        let mut rules = vec![MapRule {
            availability: Some(Availability::Template(STATE.into())),
            stateobject: Some("State".into()),
            ..rule(format!("{topic}/$state"))
        }];
        let mut commands = Vec::new();
        let mut types = Vec::new();
        for (node, properties) in &d.nodes {
            for (property, attributes) in properties {
                let text = |k: &str| attributes.get(k).and_then(Value::as_str);
                let value_topic = format!("{topic}/{node}/{property}");
                if !literal_topic(&value_topic) {
                    continue;
                }
                let name = format!("{node}.{property}");
                let datatype = text("datatype").unwrap_or("string");
                let type_name = match datatype {
                    "integer" => "System.Int64",
                    "float" => "System.Double",
                    "boolean" => "System.Boolean",
                    _ => "System.String",
                };
                let enum_values = match (datatype, text("format")) {
                    ("enum", Some(f)) => f.split(',').map(str::to_owned).collect(),
                    _ => Vec::new(),
                };
                let metadata: Map<String, Value> = text("unit")
                    .map(|u| ("Unit".to_string(), Value::String(u.into())))
                    .into_iter()
                    .collect();
                rules.push(MapRule {
                    stateobject: Some(name.clone()),
                    type_name: Some(type_name.into()),
                    metadata,
                    ..rule(value_topic.clone())
                });
                types.push(SoType {
                    name: name.clone(),
                    type_name: type_name.into(),
                    description: text("name").map(str::to_owned),
                    enum_values,
                });
                let settable = matches!(attributes.get("settable"), Some(Value::Bool(true)))
                    || text("settable") == Some("true");
                if settable {
                    commands.push(CommandRule {
                        sentinel: package.sentinel.clone(),
                        package: package.package.clone(),
                        key: setter(&[node, property]),
                        description: Some(format!("Set {name} ({datatype})")),
                        parameters: vec![CommandParameter {
                            name: "value".into(),
                            type_name: type_name.into(),
                            description: None,
                        }],
                        topic: format!("{value_topic}/set"),
                        payload: payload_template("true", "false"),
                        response: Some(CommandResponse {
                            topic: value_topic,
                            value: "{{ value }}".into(),
                            timeout_ms: 3_000,
                        }),
                        qos: None,
                        ..CommandRule::default()
                    });
                }
            }
        }
        Some(DeviceSpec {
            package,
            rules,
            commands,
            types,
        })
    }

    /// Applies an attribute publish to the device it is about; the device's topic,
    /// or `None` when the topic is not a Homie attribute.
    fn attribute(&mut self, topic: &str, payload: &str) -> Option<Result<String, String>> {
        let rest = topic.strip_prefix(&self.base)?.strip_prefix('/')?;
        let levels: Vec<&str> = rest.split('/').collect();
        let (device, path): (String, &[&str]) = match levels.as_slice() {
            ["5", id, path @ ..]
                if path
                    .first()
                    .is_some_and(|p| *p == "$state" || *p == "$description") =>
            {
                (format!("{}/5/{id}", self.base), path)
            }
            [id, path @ ..] => (format!("{}/{id}", self.base), path),
            _ => return None,
        };
        let id = device.rsplit('/').next().unwrap_or_default().to_owned();
        let d = self
            .devices
            .entry(device.clone())
            .or_insert_with(|| Device {
                id,
                ..Device::default()
            });
        match path {
            ["$state"] => {}
            ["$nodes"] => {
                let listed: Vec<&str> = payload
                    .split(',')
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .collect();
                d.nodes.retain(|n, _| listed.contains(&n.as_str()));
                for n in listed {
                    d.nodes.entry(n.to_owned()).or_default();
                }
            }
            [node, "$properties"] => {
                let listed: Vec<&str> = payload
                    .split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .collect();
                let props = d.nodes.entry((*node).to_owned()).or_default();
                props.retain(|p, _| listed.contains(&p.as_str()));
                for p in listed {
                    props.entry(p.to_owned()).or_default();
                }
            }
            [node, property, attribute] if attribute.starts_with('$') => {
                d.nodes
                    .entry((*node).to_owned())
                    .or_default()
                    .entry((*property).to_owned())
                    .or_default()
                    .insert(attribute[1..].to_owned(), Value::String(payload.to_owned()));
            }
            ["$description"] => {
                let description: Value = match serde_json::from_str(payload) {
                    Ok(v) => v,
                    Err(e) => return Some(Err(format!("$description is not JSON: {e}"))),
                };
                d.nodes.clear();
                let nodes = description.get("nodes").and_then(Value::as_object);
                for (node, n) in nodes.into_iter().flatten() {
                    let props = n.get("properties").and_then(Value::as_object);
                    let entry = d.nodes.entry(node.clone()).or_default();
                    for (p, attributes) in props.into_iter().flatten() {
                        entry.insert(
                            p.clone(),
                            attributes.as_object().cloned().unwrap_or_default(),
                        );
                    }
                }
            }
            _ => return None,
        }
        Some(Ok(device))
    }
}

impl Source for Homie {
    fn filters(&self) -> Vec<String> {
        let b = &self.base;
        [
            "+/$state",
            "+/$nodes",
            "+/+/$properties",
            "+/+/+/$datatype",
            "+/+/+/$settable",
            "+/+/+/$unit",
            "+/+/+/$format",
            "+/+/+/$name",
            "5/+/$state",
            "5/+/$description",
        ]
        .iter()
        .map(|f| format!("{b}/{f}"))
        .collect()
    }

    fn learn(&mut self, topic: &str, payload: &str) -> Option<Result<Vec<Change>, String>> {
        let device = match self.attribute(topic, payload)? {
            Ok(d) => d,
            Err(e) => return Some(Err(e)),
        };
        let spec = self
            .devices
            .get(&device)
            .and_then(|d| self.spec(&device, d));
        if self.specs.get(&device) == Some(&spec) {
            return Some(Ok(Vec::new()));
        }
        self.specs.insert(device.clone(), spec.clone());
        Some(Ok(vec![(format!("homie:{device}"), spec)]))
    }
}
