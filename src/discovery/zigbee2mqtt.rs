//! Zigbee2MQTT: the devices and groups from the retained `<base>/bridge/devices` and
//! `<base>/bridge/groups`. Each becomes a package whose StateObjects are the leaves of
//! `<base>/<friendly_name>` (typed from the device's `exposes`), with availability from
//! `<base>/<friendly_name>/availability` (2.x JSON or 1.x plain) and callbacks `Set`
//! and `Get`. The bridge itself is the package `bridge`, with a `Request` callback whose
//! saga is answered by the response carrying its `transaction`. Names may contain `/` and spaces: topics are matched exactly, and where
//! two names overlap (`lamp` and `lamp/availability`) the longest name owns the topic.

use super::names::{literal_topic, package_name};
use super::source::{rule, Change, DeviceSpec, SoType, Source};
use crate::config::{
    Availability, CommandParameter, CommandResponse, CommandRule, MapRule, MappedStateObject,
};
use crate::native::PackageId;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The Zigbee2MQTT source.
pub struct Zigbee2Mqtt {
    base: String,
    sentinel: String,
    devices: Vec<Value>,
    groups: Vec<Value>,
    specs: BTreeMap<String, DeviceSpec>,
}

/// Reads `availability`: `{"state":"online"}` (2.x) or `online` (1.x).
const AVAILABILITY: &str = "{% if value_json is defined and value_json is mapping %}\
{{ value_json.state == 'online' }}{% else %}{{ value | trim == 'online' }}{% endif %}";

/// `Get`'s payload: a property name becomes `{"<name>": ""}`.
const GET_PAYLOAD: &str =
    "{% if data is string %}{{ {data: ''} | tojson }}{% else %}{{ data | tojson }}{% endif %}";

/// A bridge request: `[name, value]`, the value an object (or wrapped as `value`),
/// with the saga id as `transaction`.
const REQUEST_PAYLOAD: &str =
    "{%- set v = data[1] if data[1] is mapping else {'value': data[1]} -%}\
{ {%- for k, x in v | items %}{{ k | tojson }}: {{ x | tojson }}, {% endfor -%}\
\"transaction\": {{ saga_id | tojson }} }";

/// The bridge's response to the request of this saga.
const RESPONSE: &str =
    "{% if value_json.transaction == saga_id %}{{ value_json | tojson }}{% endif %}";

/// `Set`'s payload: a JSON object (or text, as it is).
const SET_PAYLOAD: &str =
    "{% if data is string %}{{ data }}{% else %}{{ data | tojson }}{% endif %}";

impl Zigbee2Mqtt {
    pub fn new(base: &str, sentinel: &str) -> Self {
        Self {
            base: base.into(),
            sentinel: sentinel.into(),
            devices: Vec::new(),
            groups: Vec::new(),
            specs: BTreeMap::new(),
        }
    }

    /// Every device's and group's spec, by key.
    fn specs(&self) -> BTreeMap<String, DeviceSpec> {
        let named = |list: &[Value]| -> Vec<(String, Option<Value>)> {
            list.iter()
                .filter(|d| d.get("type").and_then(Value::as_str) != Some("Coordinator"))
                .filter_map(|d| {
                    let name = d.get("friendly_name")?.as_str()?.to_owned();
                    Some((name, d.pointer("/definition/exposes").cloned()))
                })
                .collect()
        };
        let mut out = BTreeMap::new();
        out.insert(format!("zigbee2mqtt:{}/bridge", self.base), self.bridge());
        let devices = named(&self.devices);
        let groups = named(&self.groups);
        let names: BTreeSet<&str> = devices
            .iter()
            .chain(&groups)
            .map(|(n, _)| n.as_str())
            .collect();
        for (i, (name, exposes)) in devices.iter().chain(&groups).enumerate() {
            let is_device = i < devices.len();
            let state = format!("{}/{name}", self.base);
            let Some(package) = package_name(name).filter(|_| literal_topic(&state)) else {
                tracing::warn!(
                    name,
                    "a Zigbee2MQTT name that cannot be a package or topic: ignored"
                );
                continue;
            };
            // Longest match: `<name>/availability` belongs to a device of that name.
            let availability =
                is_device && !names.contains(format!("{name}/availability").as_str());
            let spec = self.spec(
                PackageId::new(&self.sentinel, package),
                &state,
                exposes.as_ref(),
                availability,
            );
            out.insert(format!("zigbee2mqtt:{state}"), spec);
        }
        out
    }

    /// The bridge itself, as the package `bridge`: `bridge/state` → Online, and the
    /// callback `Request` ([name, value]) → `bridge/request/<name>`, its saga answered
    /// by the `bridge/response/<name>` that carries its `transaction`.
    fn bridge(&self) -> DeviceSpec {
        let package = PackageId::new(&self.sentinel, "bridge");
        let base = format!("{}/bridge", self.base);
        DeviceSpec {
            rules: vec![MapRule {
                topic: format!("{base}/state"),
                sentinel: package.sentinel.clone(),
                package: package.package.clone(),
                availability: Some(Availability::Template(AVAILABILITY.into())),
                ..MapRule::default()
            }],
            commands: vec![CommandRule {
                sentinel: package.sentinel.clone(),
                package: package.package.clone(),
                key: "Request".into(),
                description: Some(
                    "A bridge request: [name, value], e.g. [\"permit_join\", {\"value\": true, \"time\": 60}]; answered with the bridge's response".into(),
                ),
                parameters: vec![
                    CommandParameter {
                        name: "request".into(),
                        type_name: "System.String".into(),
                        description: None,
                    },
                    CommandParameter {
                        name: "value".into(),
                        type_name: "System.Object".into(),
                        description: None,
                    },
                ],
                topic: format!("{base}/request/{{{{ data[0] }}}}"),
                payload: REQUEST_PAYLOAD.into(),
                response: Some(CommandResponse {
                    topic: format!("{base}/response/+"),
                    value: RESPONSE.into(),
                    timeout_ms: 10_000,
                }),
                qos: None,
                ..CommandRule::default()
            }],
            types: Vec::new(),
            package,
        }
    }

    fn spec(
        &self,
        package: PackageId,
        state: &str,
        exposes: Option<&Value>,
        availability: bool,
    ) -> DeviceSpec {
        let mut typed = Vec::new();
        if let Some(Value::Array(exposes)) = exposes {
            properties(exposes, "", &mut typed);
        }
        let rule = |topic: String| rule(&package, topic);
        let mut rules = vec![MapRule {
            explode: true,
            skip: typed.iter().map(|p| p.path.clone()).collect(),
            stateobjects: typed
                .iter()
                .map(|p| {
                    let so = MappedStateObject {
                        path: Some(p.path.clone()),
                        type_name: Some(p.so_type.type_name.clone()),
                        map: p.map.clone(),
                        metadata: p
                            .unit
                            .iter()
                            .map(|u| ("Unit".to_string(), Value::String(u.clone())))
                            .collect(),
                        ..MappedStateObject::default()
                    };
                    (p.path.clone(), so)
                })
                .collect(),
            ..rule(state.to_owned())
        }];
        if availability {
            rules.push(MapRule {
                availability: Some(Availability::Template(AVAILABILITY.into())),
                ..rule(format!("{state}/availability"))
            });
        }
        let command =
            |key: &str, suffix: &str, payload: &str, description: &str, parameter: &str| {
                CommandRule {
                    sentinel: package.sentinel.clone(),
                    package: package.package.clone(),
                    key: key.into(),
                    description: Some(description.into()),
                    parameters: vec![CommandParameter {
                        name: parameter.into(),
                        type_name: "System.Object".into(),
                        description: None,
                    }],
                    topic: format!("{state}/{suffix}"),
                    payload: payload.into(),
                    response: Some(CommandResponse {
                        topic: state.into(),
                        value: "{{ value }}".into(),
                        timeout_ms: 3_000,
                    }),
                    qos: None,
                    ..CommandRule::default()
                }
            };
        let commands = vec![
            command("Set", "set", SET_PAYLOAD,
                "Set properties: a JSON object such as {\"state\": \"ON\", \"brightness\": 200}; answered with the new state",
                "state"),
            command("Get", "get", GET_PAYLOAD,
                "Read properties: a name, or a JSON object such as {\"state\": \"\"}; answered with the state",
                "properties"),
        ];
        DeviceSpec {
            package,
            rules,
            commands,
            types: typed.into_iter().map(|p| p.so_type).collect(),
        }
    }
}

struct Property {
    path: String,
    so_type: SoType,
    map: Map<String, Value>,
    unit: Option<String>,
}

/// The typed properties of `exposes` (features of composites under their property).
fn properties(exposes: &[Value], prefix: &str, out: &mut Vec<Property>) {
    for e in exposes {
        let kind = e.get("type").and_then(Value::as_str).unwrap_or_default();
        let property = e.get("property").and_then(Value::as_str);
        if let Some(Value::Array(features)) = e.get("features") {
            let prefix = match (kind, property) {
                ("composite", Some(p)) => format!("{prefix}{p}."),
                _ => prefix.to_owned(),
            };
            properties(features, &prefix, out);
            continue;
        }
        let Some(property) = property else { continue };
        let key = |v: &Value| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let (type_name, map, enum_values) = match kind {
            "binary" => {
                let mut map = Map::new();
                if let (Some(on), Some(off)) = (e.get("value_on"), e.get("value_off")) {
                    map.insert(key(on), Value::Bool(true));
                    map.insert(key(off), Value::Bool(false));
                }
                ("System.Boolean", map, Vec::new())
            }
            "numeric" => ("System.Double", Map::new(), Vec::new()),
            "enum" => {
                let values = e
                    .get("values")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(key)
                    .collect();
                ("System.String", Map::new(), values)
            }
            "text" => ("System.String", Map::new(), Vec::new()),
            _ => continue,
        };
        let path = format!("{prefix}{property}");
        if out.iter().any(|p| p.path == path) {
            continue;
        }
        out.push(Property {
            so_type: SoType {
                name: path.clone(),
                type_name: type_name.into(),
                description: e
                    .get("description")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                enum_values,
            },
            path,
            map,
            unit: e.get("unit").and_then(Value::as_str).map(str::to_owned),
        });
    }
}

impl Source for Zigbee2Mqtt {
    fn filters(&self) -> Vec<String> {
        vec![
            format!("{}/bridge/devices", self.base),
            format!("{}/bridge/groups", self.base),
        ]
    }

    fn learn(&mut self, topic: &str, payload: &str) -> Option<Result<Vec<Change>, String>> {
        let rest = topic.strip_prefix(&self.base)?.strip_prefix("/bridge/")?;
        let list = match rest {
            "devices" => &mut self.devices,
            "groups" => &mut self.groups,
            _ => return None,
        };
        *list = match serde_json::from_str(payload) {
            Ok(Value::Array(items)) => items,
            Ok(_) => return Some(Err(format!("bridge/{rest} must be a JSON array"))),
            Err(e) => return Some(Err(format!("bridge/{rest} is not JSON: {e}"))),
        };
        let specs = self.specs();
        let mut changes: Vec<Change> = Vec::new();
        for (key, spec) in &specs {
            if self.specs.get(key) != Some(spec) {
                changes.push((key.clone(), Some(spec.clone())));
            }
        }
        for key in self.specs.keys().filter(|k| !specs.contains_key(*k)) {
            changes.push((key.clone(), None));
        }
        self.specs = specs;
        Some(Ok(changes))
    }
}
