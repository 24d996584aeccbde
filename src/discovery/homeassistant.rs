//! Home Assistant MQTT discovery: `<prefix>/<component>/[<node_id>/]<object_id>/config`
//! (one entity) and `<prefix>/device/<object_id>/config` (a device with its `cmps`).
//!
//! One package per device; per entity, a StateObject from its `state_topic` through its
//! `value_template`, a callback per `command_topic` through its `command_template`, and
//! availability from its availability settings. An empty config removes the entity.

use super::ha::{self, text, Attribute, Command, Config, Reading};
use super::names::{callback, literal, literal_topic, package_name};
use super::source::{rule, Change, DeviceSpec, SoType, Source};
use crate::config::{
    Availability, CommandParameter, CommandResponse, CommandRule, MapRule, MappedStateObject,
};
use crate::intent::AvailabilityMode;
use crate::native::PackageId;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};

/// The Home Assistant discovery source.
pub struct HomeAssistant {
    prefix: String,
    sentinel: String,
    /// Config topic → the entities it announced.
    announced: HashMap<String, Vec<String>>,
}

impl HomeAssistant {
    pub fn new(prefix: &str, sentinel: &str) -> Self {
        Self {
            prefix: prefix.into(),
            sentinel: sentinel.into(),
            announced: HashMap::new(),
        }
    }
}

/// The config filters under `prefix`.
pub fn config_filters(prefix: &str) -> Vec<String> {
    vec![
        format!("{prefix}/+/+/config"),
        format!("{prefix}/+/+/+/config"),
    ]
}

/// One announced entity, its keys expanded and `~` resolved.
pub struct Entity {
    /// The config topic, plus `#<component id>` in a device-based config.
    pub key: String,
    pub component: String,
    /// The `object_id` level of the config topic (or the component id).
    pub object_id: String,
    pub config: Map<String, Value>,
}

/// The entities of a config publish on `topic` (under `prefix`), or `None` when the
/// topic is not a config topic. An empty payload announces no entity.
pub fn entities(prefix: &str, topic: &str, payload: &str) -> Option<Result<Vec<Entity>, String>> {
    let rest = topic.strip_prefix(prefix)?.strip_prefix('/')?;
    let levels: Vec<&str> = rest.split('/').collect();
    let (component, object_id) = match levels.as_slice() {
        [c, o, "config"] | [c, _, o, "config"] => (*c, *o),
        _ => return None,
    };
    if payload.trim().is_empty() {
        return Some(Ok(Vec::new()));
    }
    let config = match serde_json::from_str::<Value>(payload) {
        Ok(Value::Object(o)) => expand(o),
        Ok(_) => return Some(Err("a discovery config must be a JSON object".into())),
        Err(e) => return Some(Err(format!("the discovery config is not JSON: {e}"))),
    };
    if component != "device" {
        return Some(Ok(vec![Entity {
            key: topic.into(),
            component: component.into(),
            object_id: object_id.into(),
            config: with_base(config),
        }]));
    }
    // Device-based: shared keys at the top, one entry per component in `components`.
    let mut shared = config;
    let Some(Value::Object(components)) = shared.remove("components") else {
        return Some(Err(
            "a device discovery config needs `components` (`cmps`)".into()
        ));
    };
    let mut out = Vec::new();
    for (id, c) in components {
        let Value::Object(c) = c else { continue };
        let mut own = expand(c);
        let Some(Value::String(platform)) = own.remove("platform") else {
            return Some(Err(format!("component {id:?} has no `platform` (`p`)")));
        };
        // A component left with only its platform has been removed.
        if own.is_empty() {
            continue;
        }
        let mut merged = shared.clone();
        merged.extend(own);
        out.push(Entity {
            key: format!("{topic}#{id}"),
            component: platform,
            object_id: id,
            config: with_base(merged),
        });
    }
    Some(Ok(out))
}

impl Source for HomeAssistant {
    fn filters(&self) -> Vec<String> {
        config_filters(&self.prefix)
    }

    fn learn(&mut self, topic: &str, payload: &str) -> Option<Result<Vec<Change>, String>> {
        let entities = match entities(&self.prefix, topic, payload)? {
            Ok(e) => e,
            Err(e) => return Some(Err(e)),
        };
        let mut changes: Vec<Change> = Vec::new();
        let mut keys = Vec::new();
        for e in entities {
            // Device triggers and tag scanners fire Home Assistant automations; they
            // hold no state (Zigbee2MQTT's `action` sensor or event carries the same).
            if matches!(e.component.as_str(), "device_automation" | "tag") {
                tracing::debug!(config = %e.key, "a trigger, not a StateObject: not projected");
                continue;
            }
            match spec(&self.sentinel, &e) {
                Ok(spec) => {
                    keys.push(e.key.clone());
                    changes.push((e.key, Some(spec)));
                }
                Err(reason) => return Some(Err(reason)),
            }
        }
        let before = self
            .announced
            .insert(topic.into(), keys.clone())
            .unwrap_or_default();
        for gone in before.into_iter().filter(|k| !keys.contains(k)) {
            changes.push((gone, None));
        }
        if keys.is_empty() {
            self.announced.remove(topic);
        }
        Some(Ok(changes))
    }
}

/// The package of an entity's device: its name, else its first identifier, else the
/// entity's unique id or object id.
fn package_of(sentinel: &str, e: &Entity) -> Result<PackageId, String> {
    let device = e.config.get("device").and_then(Value::as_object);
    let identifier = device.and_then(|d| match d.get("identifiers") {
        Some(Value::String(s)) => Some(s.as_str()),
        Some(Value::Array(a)) => a.first().and_then(Value::as_str),
        _ => None,
    });
    let candidates = [
        device.and_then(|d| text(d, "name")),
        identifier,
        text(&e.config, "unique_id"),
        Some(e.object_id.as_str()),
    ];
    candidates
        .into_iter()
        .flatten()
        .find_map(package_name)
        .map(|p| PackageId::new(sentinel, p))
        .ok_or_else(|| format!("no usable package name for {}", e.key))
}

/// The StateObject's name: the entity's name, else its device class, else its
/// component (Home Assistant's `name: null` is the device's main feature).
pub fn so_name(e: &Entity) -> String {
    text(&e.config, "name")
        .or_else(|| text(&e.config, "device_class"))
        .unwrap_or(&e.component)
        .to_owned()
}

/// The rules, commands and types of entity `e`, in the package of its device.
fn spec(sentinel: &str, e: &Entity) -> Result<DeviceSpec, String> {
    let package = package_of(sentinel, e)?;
    let c = &e.config;
    let component = ha::component(&e.component);
    let mut entity = EntitySpec {
        package,
        name: so_name(e),
        metadata: metadata(e),
        value_template: value_template(e),
        rules: Vec::new(),
        types: Vec::new(),
    };
    let state_topic = text(c, "state_topic").filter(|t| literal_topic(t));
    let json_state = component.json_state(c);
    match (state_topic, &json_state) {
        (Some(topic), Some(states)) => entity.json_state(topic, states.clone()),
        (Some(topic), None) => entity.state(topic, component.reading(&entity.name, c), c),
        (None, _) => {}
    }
    for a in component.attributes(c) {
        entity.attribute(a);
    }
    entity.availability(c);
    // A `Set` saga is answered by the state it brings (not a JSON state's: it carries
    // more than the answer).
    let response = state_topic.filter(|_| json_state.is_none());
    let commands = entity.commands(e, component.commands(&entity.name, c), response);
    if entity.rules.is_empty() && commands.is_empty() {
        return Err(format!(
            "{}: no state, command or availability topic",
            e.key
        ));
    }
    Ok(DeviceSpec {
        package: entity.package,
        rules: entity.rules,
        commands,
        types: entity.types,
    })
}

/// The metadata of an entity's own StateObject.
fn metadata(e: &Entity) -> Map<String, Value> {
    let mut metadata = Map::new();
    for (from, to) in [
        ("unit_of_measurement", "Unit"),
        ("device_class", "DeviceClass"),
        ("unique_id", "UniqueId"),
    ] {
        if let Some(v) = text(&e.config, from) {
            metadata.insert(to.into(), Value::String(v.into()));
        }
    }
    metadata.insert("Component".into(), Value::String(e.component.clone()));
    metadata
}

/// The spec of one entity as it is built: its package, StateObject name and metadata,
/// the rules and types so far.
struct EntitySpec {
    package: PackageId,
    name: String,
    metadata: Map<String, Value>,
    value_template: Option<String>,
    rules: Vec<MapRule>,
    types: Vec<SoType>,
}

impl EntitySpec {
    /// A rule of the entity's package on `topic`; every rule is read (an entity's state
    /// topics are often one topic).
    fn rule(&self, topic: &str) -> MapRule {
        MapRule {
            continue_matching: true,
            ..rule(&self.package, topic)
        }
    }

    /// The type of StateObject `so`, with the values of `map` as its enum when text.
    fn typed(
        &mut self,
        so: &str,
        type_name: &str,
        description: Option<&str>,
        map: &Map<String, Value>,
    ) {
        self.types.push(SoType {
            name: so.into(),
            type_name: type_name.into(),
            description: description.map(str::to_owned),
            enum_values: map
                .values()
                .filter_map(Value::as_str)
                .filter(|_| type_name == "System.String")
                .map(str::to_owned)
                .collect(),
        });
    }

    /// Home Assistant's JSON schema: on/off from `state`, each other state its own
    /// StateObject.
    fn json_state(&mut self, topic: &str, states: Vec<(&'static str, String, &'static str)>) {
        let on_off: Map<String, Value> = [
            ("ON".into(), Value::Bool(true)),
            ("OFF".into(), Value::Bool(false)),
        ]
        .into_iter()
        .collect();
        let mut sos = BTreeMap::new();
        sos.insert(
            self.name.clone(),
            MappedStateObject {
                value: Some("{{ value_json.state }}".into()),
                type_name: Some("System.Boolean".into()),
                metadata: self.metadata.clone(),
                map: on_off,
                map_only: true,
                // A `null` state makes it unknown.
                reset: Some("None".into()),
                ..MappedStateObject::default()
            },
        );
        let name = self.name.clone();
        self.typed(&name, "System.Boolean", Some("on"), &Map::new());
        for (suffix, template, type_name) in states {
            let so = format!("{name}.{suffix}");
            sos.insert(
                so.clone(),
                MappedStateObject {
                    value: Some(template),
                    type_name: Some(type_name.into()),
                    strict: true,
                    ..MappedStateObject::default()
                },
            );
            self.typed(&so, type_name, Some(&suffix.replace('_', " ")), &Map::new());
        }
        let rule = MapRule {
            stateobjects: sos,
            ..self.rule(topic)
        };
        self.rules.push(rule);
    }

    /// The entity's own StateObject from its `state_topic`, read as `reading` says.
    fn state(&mut self, topic: &str, reading: Reading, c: &Config) {
        let name = self.name.clone();
        if let Some(t) = reading.type_name {
            // The map names every value only when nothing else updates.
            let values = if reading.map_only {
                reading.map.clone()
            } else {
                Map::new()
            };
            self.typed(&name, t, text(c, "device_class"), &values);
        }
        let rule = MapRule {
            stateobject: Some(name),
            value: reading.template.or_else(|| self.value_template.clone()),
            type_name: reading.type_name.map(str::to_owned),
            lifetime: c.get("expire_after").and_then(Value::as_i64),
            metadata: self.metadata.clone(),
            map: reading.map,
            map_only: reading.map_only,
            strict: reading.strict,
            reset: reading.reset,
            reads: reading.reads,
            ..self.rule(topic)
        };
        self.rules.push(rule);
    }

    /// `<name>.<suffix>` (or the entity's own StateObject) from another state topic.
    fn attribute(&mut self, a: Attribute) {
        let so = a
            .suffix
            .map_or_else(|| self.name.clone(), |s| format!("{}.{s}", self.name));
        let description = a.suffix.map(|s| s.replace('_', " "));
        self.typed(&so, a.type_name, description.as_deref(), &a.map);
        let rule = MapRule {
            stateobject: Some(so),
            value: Some(a.template),
            type_name: Some(a.type_name.into()),
            metadata: if a.suffix.is_none() {
                self.metadata.clone()
            } else {
                Map::new()
            },
            map_only: !a.map.is_empty(),
            map: a.map,
            strict: true,
            reset: a.reset,
            ..self.rule(&a.topic)
        };
        self.rules.push(rule);
    }

    /// A rule per availability topic; `availability_mode`: `latest` (the default),
    /// `all` or `any` of the topics.
    fn availability(&mut self, c: &Config) {
        let available = availability(c);
        let topics: Vec<String> = available.iter().map(|(t, _)| t.clone()).collect();
        let mode = match text(c, "availability_mode") {
            Some("all") => Some(AvailabilityMode::All(topics)),
            Some("any") => Some(AvailabilityMode::Any(topics)),
            _ => None,
        };
        for (topic, a) in available {
            let rule = MapRule {
                availability: Some(a),
                availability_mode: mode.clone(),
                ..self.rule(&topic)
            };
            self.rules.push(rule);
        }
    }

    /// The entity's commands as command rules; a `Set` saga is answered on
    /// `response_topic` (the state topic), when there is one.
    fn commands(
        &self,
        e: &Entity,
        commands: Vec<Command>,
        response_topic: Option<&str>,
    ) -> Vec<CommandRule> {
        let c = &e.config;
        let set = callback("Set", &[&self.name]);
        commands
            .into_iter()
            .map(|command| CommandRule {
                sentinel: self.package.sentinel.clone(),
                package: self.package.package.clone(),
                description: Some(format!(
                    "{} {:?}: publishes on {}",
                    e.component, self.name, command.topic
                )),
                parameters: command
                    .parameter
                    .map(|(name, type_name)| CommandParameter {
                        name: name.into(),
                        type_name: type_name.into(),
                        description: None,
                    })
                    .into_iter()
                    .collect(),
                response: response_topic
                    .filter(|_| command.key == set)
                    .map(|t| CommandResponse {
                        topic: t.into(),
                        value: self
                            .value_template
                            .clone()
                            .unwrap_or_else(|| "{{ value }}".into()),
                        timeout_ms: 3_000,
                    }),
                key: command.key,
                topic: command.topic,
                payload: command.payload,
                qos: qos_of(c),
                steps: command.steps,
                reads: command.reads,
            })
            .collect()
    }
}

/// The entity's value template: a light reads `state_value_template` only (Home
/// Assistant drops its `value_template`), others `value_template`, else that.
fn value_template(e: &Entity) -> Option<String> {
    let c = &e.config;
    match e.component.as_str() {
        "light" => text(c, "state_value_template"),
        _ => text(c, "value_template").or_else(|| text(c, "state_value_template")),
    }
    .map(str::to_owned)
}

/// Home Assistant's `qos`: the command's as well as the state's.
fn qos_of(c: &Config) -> Option<u8> {
    c.get("qos")
        .and_then(Value::as_u64)
        .and_then(|q| u8::try_from(q).ok())
        .filter(|q| *q <= 2)
}

/// The availability topics of a config, each with how to read it.
fn availability(c: &Config) -> Vec<(String, Availability)> {
    let read = |entry: &Map<String, Value>, template_key: &str| {
        let online = text(entry, "payload_available")
            .or(text(c, "payload_available"))
            .unwrap_or("online");
        let offline = text(entry, "payload_not_available")
            .or(text(c, "payload_not_available"))
            .unwrap_or("offline");
        match text(entry, template_key) {
            Some(t) => Availability::Template(format!(
                "{{% set v %}}{t}{{% endset %}}{{% if v | trim == {} %}}true{{% elif v | trim == {} %}}false{{% endif %}}",
                literal(online),
                literal(offline)
            )),
            None => Availability::Payloads {
                online: online.into(),
                offline: offline.into(),
            },
        }
    };
    let mut out = Vec::new();
    if let Some(topic) = text(c, "availability_topic").filter(|t| literal_topic(t)) {
        out.push((topic.to_owned(), read(c, "availability_template")));
    }
    for entry in c
        .get("availability")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(entry) = entry.as_object() {
            if let Some(topic) = text(entry, "topic").filter(|t| literal_topic(t)) {
                out.push((topic.to_owned(), read(entry, "value_template")));
            }
        }
    }
    out
}

/// Resolves the base topic `~` at the start or the end of every `*_topic` value (and
/// of the `topic` of `availability` entries).
fn with_base(mut config: Map<String, Value>) -> Map<String, Value> {
    let Some(Value::String(base)) = config.remove("~") else {
        return config;
    };
    let resolve = |v: &mut Value| {
        if let Value::String(s) = v {
            if let Some(rest) = s.strip_prefix('~') {
                *s = format!("{base}{rest}");
            } else if let Some(rest) = s.strip_suffix('~') {
                *s = format!("{rest}{base}");
            }
        }
    };
    for (k, v) in config.iter_mut() {
        if k.ends_with("_topic") {
            resolve(v);
        }
    }
    if let Some(Value::Array(entries)) = config.get_mut("availability") {
        for e in entries.iter_mut().filter_map(Value::as_object_mut) {
            if let Some(t) = e.get_mut("topic") {
                resolve(t);
            }
        }
    }
    config
}

/// Home Assistant's abbreviations that word-by-word expansion does not give.
const WHOLE: &[(&str, &str)] = &[
    ("act_stat_t", "activity_state_topic"),
    ("act_val_tpl", "activity_value_template"),
    ("atype", "automation_type"),
    ("av_tones", "available_tones"),
    ("avty", "availability"),
    ("b_tpl", "blue_template"),
    ("clrm", "color_mode"),
    ("cmps", "components"),
    ("cns", "connections"),
    ("cod_dis_req", "code_disarm_required"),
    ("cod_form", "code_format"),
    ("cod_trig_req", "code_trigger_required"),
    ("cont_type", "content_type"),
    ("cu", "configuration_url"),
    ("def_ent_id", "default_entity_id"),
    ("dev", "device"),
    ("dev_cla", "device_class"),
    ("dsp_prc", "display_precision"),
    ("e", "encoding"),
    ("en", "enabled_by_default"),
    ("ent_cat", "entity_category"),
    ("ent_pic", "entity_picture"),
    ("evt_typ", "event_types"),
    ("exp_aft", "expire_after"),
    ("fanspd_lst", "fan_speed_list"),
    ("flsh", "flash"),
    ("flsh_tlng", "flash_time_long"),
    ("flsh_tsht", "flash_time_short"),
    ("frc_upd", "force_update"),
    ("g_tpl", "green_template"),
    ("hum_cmd_t", "target_humidity_command_topic"),
    ("hum_cmd_tpl", "target_humidity_command_template"),
    ("hum_stat_t", "target_humidity_state_topic"),
    ("hum_state_tpl", "target_humidity_state_template"),
    ("hw", "hw_version"),
    ("ic", "icon"),
    ("ids", "identifiers"),
    ("img_e", "image_encoding"),
    ("init", "initial"),
    ("json_attr", "json_attributes"),
    ("json_attr_t", "json_attributes_topic"),
    ("json_attr_tpl", "json_attributes_template"),
    ("l_ver_t", "latest_version_topic"),
    ("l_ver_tpl", "latest_version_template"),
    ("lrst_t", "last_reset_topic"),
    ("lrst_val_tpl", "last_reset_value_template"),
    ("max_temp", "max_temp"),
    ("mdl", "model"),
    ("mdl_id", "model_id"),
    ("mf", "manufacturer"),
    ("migr_discvry", "migrate_discovery"),
    ("min_temp", "min_temp"),
    ("o", "origin"),
    ("obj_id", "object_id"),
    ("ops", "options"),
    ("opt", "optimistic"),
    ("p", "platform"),
    ("pause_mw_cmd_t", "pause_command_topic"),
    ("pause_mw_cmd_tpl", "pause_command_template"),
    ("pl", "payload"),
    ("pl_arm_custom_b", "payload_arm_custom_bypass"),
    ("pl_arm_nite", "payload_arm_night"),
    ("pl_cln_sp", "payload_clean_spot"),
    ("pl_ret", "payload_return_to_base"),
    ("pl_stpa", "payload_start_pause"),
    ("pl_toff", "payload_turn_off"),
    ("pl_ton", "payload_turn_on"),
    ("pos", "reports_position"),
    ("ptrn", "pattern"),
    ("r_tpl", "red_template"),
    ("rel_s", "release_summary"),
    ("rel_u", "release_url"),
    ("ret", "retain"),
    ("sa", "suggested_area"),
    ("sn", "serial_number"),
    ("src_type", "source_type"),
    ("stat_cla", "state_class"),
    ("strt_mw_cmd_t", "start_mowing_command_topic"),
    ("strt_mw_cmd_tpl", "start_mowing_command_template"),
    ("stype", "subtype"),
    ("sug_dsp_prc", "suggested_display_precision"),
    ("sup_clrm", "supported_color_modes"),
    ("sup_dur", "support_duration"),
    ("sup_feat", "supported_features"),
    ("sup_vol", "support_volume_set"),
    ("sw", "sw_version"),
    ("swing_h_mode_cmd_t", "swing_horizontal_mode_command_topic"),
    (
        "swing_h_mode_cmd_tpl",
        "swing_horizontal_mode_command_template",
    ),
    ("swing_h_mode_stat_t", "swing_horizontal_mode_state_topic"),
    (
        "swing_h_mode_stat_tpl",
        "swing_horizontal_mode_state_template",
    ),
    ("swing_h_modes", "swing_horizontal_modes"),
    ("t", "topic"),
    ("temp_unit", "temperature_unit"),
    ("tilt_opt", "tilt_optimistic"),
    ("tit", "title"),
    ("trns", "transition"),
    ("uniq_id", "unique_id"),
    ("unit_of_meas", "unit_of_measurement"),
    ("url", "support_url"),
];

/// Words of abbreviated keys (`bri_cmd_t` → `brightness_command_topic`).
const WORDS: &[(&str, &str)] = &[
    ("act", "action"),
    ("avail", "available"),
    ("avty", "availability"),
    ("bri", "brightness"),
    ("cls", "close"),
    ("clr", "color"),
    ("clrm", "color_mode"),
    ("clsd", "closed"),
    ("cmd", "command"),
    ("cod", "code"),
    ("curr", "current"),
    ("dir", "direction"),
    ("dly", "delay"),
    ("fwd", "forward"),
    ("fx", "effect"),
    ("hi", "high"),
    ("hum", "humidity"),
    ("img", "image"),
    ("inst", "install"),
    ("jam", "jammed"),
    ("k", "kelvin"),
    ("lo", "low"),
    ("loc", "locate"),
    ("mirs", "mireds"),
    ("opnd", "opened"),
    ("osc", "oscillation"),
    ("paus", "pause"),
    ("pct", "percentage"),
    ("pl", "payload"),
    ("pos", "position"),
    ("pow", "power"),
    ("pr", "preset"),
    ("prs", "press"),
    ("req", "required"),
    ("rev", "reverse"),
    ("rng", "range"),
    ("rst", "reset"),
    ("scl", "scale"),
    ("spd", "speed"),
    ("stat", "state"),
    ("strt", "start"),
    ("temp", "temperature"),
    ("tpl", "template"),
    ("trig", "trigger"),
    ("t", "topic"),
    ("unlk", "unlock"),
    ("val", "value"),
    ("whit", "white"),
];

/// Expands the abbreviations of a config's keys (and of its `device`, `origin` and
/// `availability` entries).
fn expand(config: Map<String, Value>) -> Map<String, Value> {
    config
        .into_iter()
        .map(|(k, v)| {
            let key = long_key(&k);
            let v = match (key.as_str(), v) {
                ("device" | "origin", Value::Object(o)) => Value::Object(expand(o)),
                ("availability", Value::Array(a)) => Value::Array(
                    a.into_iter()
                        .map(|e| match e {
                            Value::Object(o) => Value::Object(expand(o)),
                            other => other,
                        })
                        .collect(),
                ),
                (_, v) => v,
            };
            (key, v)
        })
        .collect()
}

fn long_key(key: &str) -> String {
    if let Some((_, long)) = WHOLE.iter().find(|(short, _)| *short == key) {
        return (*long).into();
    }
    if !key.contains('_') {
        return key.into();
    }
    // `temp` is `temperature` except in a colour temperature (`clr_temp_*` →
    // `color_temp_*`), which keeps Home Assistant's short name.
    let (head, rest) = match key.strip_prefix("clr_temp_") {
        Some(rest) => ("color_temp_", rest),
        None => ("", key),
    };
    // `temp` is also a whole word of long keys (`min_temp`, `color_temp_kelvin`): it is
    // expanded only in a key with another abbreviated word.
    let expand = |w: &str| WORDS.iter().find(|(s, _)| *s == w).map(|(_, l)| *l);
    let abbreviated = rest.split('_').any(|w| w != "temp" && expand(w).is_some());
    let words: Vec<&str> = rest
        .split('_')
        .map(|w| match expand(w) {
            Some(_) if w == "temp" && !abbreviated => w,
            Some(long) => long,
            None => w,
        })
        .collect();
    format!("{head}{}", words.join("_"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abbreviations_and_base_topic() {
        let payload = r#"{"~": "homeassistant/light/kitchen", "cmd_t": "~/set", "stat_t": "~/state",
            "avty_t": "status/~", "bri_cmd_t": "~/bri", "pl_not_avail": "down",
            "dev": {"ids": "x", "mf": "Bla"}}"#;
        let e = entities(
            "homeassistant",
            "homeassistant/light/kitchen/config",
            payload,
        )
        .unwrap()
        .unwrap();
        let c = &e[0].config;
        assert_eq!(c["command_topic"], "homeassistant/light/kitchen/set");
        assert_eq!(c["state_topic"], "homeassistant/light/kitchen/state");
        assert_eq!(
            c["availability_topic"],
            "status/homeassistant/light/kitchen"
        );
        assert_eq!(
            c["brightness_command_topic"],
            "homeassistant/light/kitchen/bri"
        );
        assert_eq!(c["payload_not_available"], "down");
        assert_eq!(c["device"]["manufacturer"], "Bla");
        assert!(!c.contains_key("~"));
    }

    /// Every abbreviation of Home Assistant 2025.12 (entity, device, origin) and its
    /// documentation, and each long key left as it is.
    #[test]
    fn every_documented_abbreviation() {
        let table: Map<String, Value> = serde_json::from_str(include_str!(
            "../../tests/fixtures/homeassistant/abbreviations.json"
        ))
        .unwrap();
        let wrong: Vec<_> = table
            .iter()
            .filter(|(short, long)| long.as_str() != Some(long_key(short).as_str()))
            .map(|(short, long)| format!("{short} → {} (not {long})", long_key(short)))
            .collect();
        assert!(wrong.is_empty(), "{wrong:#?}");
        // A long key stays as it is (`color_temp_command_topic`, `min_temp`).
        let changed: Vec<_> = table
            .values()
            .filter_map(Value::as_str)
            .filter(|long| long_key(long) != *long)
            .collect();
        assert!(changed.is_empty(), "{changed:#?}");
    }

    #[test]
    fn device_based_components() {
        let payload = r#"{"dev": {"ids": "ea33", "name": "Kitchen"}, "o": {"name": "x"},
            "stat_t": "kitchen/state", "cmps": {
                "t1": {"p": "sensor", "dev_cla": "temperature", "unit_of_meas": "°C",
                       "val_tpl": "{{ value_json.temperature }}", "uniq_id": "t1"},
                "gone": {"p": "sensor"}}}"#;
        let e = entities(
            "homeassistant",
            "homeassistant/device/kitchen/config",
            payload,
        )
        .unwrap()
        .unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(
            (e[0].component.as_str(), e[0].object_id.as_str()),
            ("sensor", "t1")
        );
        assert_eq!(e[0].config["state_topic"], "kitchen/state");
        assert_eq!(so_name(&e[0]), "temperature");
    }

    #[test]
    fn not_config_topics() {
        assert!(entities("homeassistant", "homeassistant/light/kitchen/state", "{}").is_none());
        assert!(entities("homeassistant", "other/light/kitchen/config", "{}").is_none());
    }
}
