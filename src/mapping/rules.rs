//! `[[map]]` rules compiled into a [`Mapper`]: topic patterns with captures and Jinja
//! templates, applied to each publish of another layout.

use super::pattern::Pattern;
use super::remembered::Remembered;
use super::template::{compile, environment, reportable};
use super::values::{coerce, fits, flatten, lookup, rendered, truthy};
use crate::config::{Availability, MapRule};
use crate::constellation::model::StateObjectPush;
use crate::intent::{AvailabilityMode, Intent};
use crate::names::check_segment;
use crate::native::PackageId;
use minijinja::Environment;
use serde_json::{Map, Value};

/// The compiled rules.
pub struct Mapper {
    env: Environment<'static>,
    rules: Vec<Rule>,
    /// The StateObjects the rules read.
    states: Remembered,
}

struct Rule {
    pattern: Pattern,
    sentinel: String,
    package: String,
    explode: Option<Vec<String>>,
    stateobjects: Vec<(String, Source, Meta)>,
    availability: Option<Avail>,
    availability_mode: Option<AvailabilityMode>,
    continue_matching: bool,
    reads: Vec<String>,
}

enum Source {
    /// The name of a compiled template.
    Template(String),
    Path(String),
    Payload,
}

enum Avail {
    Payloads { online: String, offline: String },
    Template(String),
}

#[derive(Clone, Default)]
struct Meta {
    type_name: Option<String>,
    lifetime: Option<i64>,
    metadata: Map<String, Value>,
    map: Map<String, Value>,
    map_only: bool,
    strict: bool,
    reset: Option<String>,
}

/// A publish a rule matched but could not use (reported on the package's `error`).
#[derive(Debug, PartialEq)]
pub struct MapError {
    /// The package, when the rule got as far as naming it.
    pub package: Option<PackageId>,
    pub reason: String,
}

impl Mapper {
    /// Compiles `rules`; every problem comes back as (key, reason), keys as in the file.
    pub fn new(rules: &[MapRule]) -> Result<Self, Vec<(String, String)>> {
        let mut env = environment();
        let mut errors = Vec::new();
        let compiled: Vec<Rule> = rules
            .iter()
            .enumerate()
            .filter_map(|(i, r)| compile_rule(&mut env, &mut errors, i, r))
            .collect();
        if errors.is_empty() {
            Ok(Self {
                env,
                states: Remembered::new(compiled.iter().flat_map(|r| r.reads.clone())),
                rules: compiled,
            })
        } else {
            Err(errors)
        }
    }

    /// What `topic` with `payload` means, rule by rule (first match wins unless the
    /// rule says `continue`). A template that touches something this payload lacks
    /// gives no update, and no error.
    pub fn map(&self, topic: &str, payload: &[u8]) -> Vec<Result<(PackageId, Intent), MapError>> {
        let mut out = Vec::new();
        for rule in &self.rules {
            let Some(captures) = rule.pattern.captures(topic) else {
                continue;
            };
            self.apply(rule, topic, &captures, payload, &mut out);
            if !rule.continue_matching {
                break;
            }
        }
        self.states.observe(out.iter().flatten());
        out
    }

    /// Takes over the values `old` remembered (the rules were recompiled).
    pub fn adopt(&self, old: &Mapper) {
        self.states.adopt(&old.states);
    }

    fn apply(
        &self,
        rule: &Rule,
        topic: &str,
        captures: &[(String, String)],
        payload: &[u8],
        out: &mut Vec<Result<(PackageId, Intent), MapError>>,
    ) {
        let fill = |t: &str| {
            captures
                .iter()
                .fold(t.to_owned(), |s, (k, v)| s.replace(&format!("{{{k}}}"), v))
        };
        let package = PackageId::new(fill(&rule.sentinel), fill(&rule.package));
        for name in [&package.sentinel, &package.package] {
            if let Err(reason) = check_segment(name) {
                out.push(Err(MapError { package: None, reason: format!("rule for {topic:?} names the package {package}, whose name {name:?} {reason}") }));
                return;
            }
        }
        let Ok(text) = std::str::from_utf8(payload) else {
            out.push(Err(MapError {
                package: Some(package),
                reason: "the payload is not UTF-8 text".into(),
            }));
            return;
        };
        let value_json: Option<Value> = serde_json::from_str(text).ok();
        let mut context = Map::new();
        context.insert("value".into(), Value::String(text.to_owned()));
        context.insert("topic".into(), Value::String(topic.to_owned()));
        if let Some(v) = &value_json {
            context.insert("value_json".into(), v.clone());
        }
        for (k, v) in captures {
            context.insert(k.clone(), Value::String(v.clone()));
        }
        if !rule.reads.is_empty() {
            let states = self.states.of(&package, &rule.reads);
            context.insert("states".into(), Value::Object(states));
        }
        let runaway = std::cell::RefCell::new(Vec::new());
        let render = |name: &str| -> Option<String> {
            let rendered = self.env.get_template(name).and_then(|t| t.render(&context));
            rendered
                .inspect_err(|e| {
                    if let Some(reason) = reportable(name, e) {
                        runaway.borrow_mut().push(reason);
                    } else {
                        tracing::debug!(%topic, template = name, error = %e, "no update from this payload");
                    }
                })
                .ok()
        };
        if let Some(avail) = &rule.availability {
            let online = match avail {
                Avail::Payloads { online, .. } if text.trim() == online => Some(true),
                Avail::Payloads { offline, .. } if text.trim() == offline => Some(false),
                Avail::Payloads { .. } => None,
                Avail::Template(t) => render(t).and_then(|r| truthy(&rendered(&r))),
            };
            if let Some(online) = online {
                let intent = match &rule.availability_mode {
                    Some(mode) => Intent::Availability {
                        topic: topic.to_owned(),
                        online,
                        mode: mode.clone(),
                    },
                    None => Intent::Status(online),
                };
                out.push(Ok((package.clone(), intent)));
            }
        }
        if let (Some(skip), Some(Value::Object(obj))) = (&rule.explode, &value_json) {
            for (path, value) in flatten(obj) {
                if !skip.contains(&path) {
                    out.push(Ok((package.clone(), push(path, value, &Meta::default()))));
                }
            }
        }
        for (name, source, meta) in &rule.stateobjects {
            let Some((value, as_text)) = source_value(source, meta, &render, &value_json, text)
            else {
                continue;
            };
            if meta.reset.is_some() && meta.reset == as_text {
                out.push(Ok((package.clone(), push(fill(name), Value::Null, meta))));
                continue;
            }
            if let Some(value) = meta.mapped(value, as_text, topic, name) {
                out.push(Ok((package.clone(), push(fill(name), value, meta))));
            }
        }
        for reason in runaway.into_inner() {
            out.push(Err(MapError {
                package: Some(package.clone()),
                reason: format!("{topic}: {reason}"),
            }));
        }
    }
}

impl Mapper {
    /// The StateObject types the rules give `package`: those with a `type` and a name
    /// without captures, from rules whose sentinel and package can name it.
    pub fn types(&self, package: &PackageId) -> Vec<(String, String)> {
        self.rules
            .iter()
            .filter(|r| {
                could_name(&r.sentinel, &package.sentinel)
                    && could_name(&r.package, &package.package)
            })
            .flat_map(|r| &r.stateobjects)
            .filter(|(name, _, _)| !name.contains('{'))
            .filter_map(|(name, _, meta)| Some((name.clone(), meta.type_name.clone()?)))
            .collect()
    }
}

/// Whether a name template (`{device}`, `Tasmota`, `esp-{node}`) can give `name`: its
/// literal pieces, in order, anchored at both ends.
fn could_name(template: &str, name: &str) -> bool {
    let mut pieces = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        pieces.push(&rest[..open]);
        match rest[open..].find('}') {
            Some(close) => rest = &rest[open + close + 1..],
            None => return template == name,
        }
    }
    if pieces.is_empty() {
        return template == name;
    }
    pieces.push(rest);
    let (first, last) = (pieces[0], pieces[pieces.len() - 1]);
    if !name.starts_with(first) || !name[first.len()..].ends_with(last) {
        return false;
    }
    let mut middle = &name[first.len()..name.len() - last.len()];
    for piece in &pieces[1..pieces.len() - 1] {
        match middle.find(piece) {
            Some(i) => middle = &middle[i + piece.len()..],
            None => return false,
        }
    }
    true
}

/// The MQTT filters the rules need (invalid patterns, refused at load, need none).
pub(super) fn filters(rules: &[MapRule]) -> impl Iterator<Item = String> + '_ {
    rules
        .iter()
        .filter_map(|r| Pattern::new(&r.topic).ok())
        .map(|p| p.filter())
}

fn push(name: String, value: Value, meta: &Meta) -> Intent {
    Intent::PushStateObject(StateObjectPush {
        name,
        value: coerce(value, meta.type_name.as_deref()),
        type_name: meta.type_name.clone(),
        lifetime: meta.lifetime,
        metadatas: (!meta.metadata.is_empty()).then(|| meta.metadata.clone()),
    })
}

/// The value a StateObject's source gives, and the text the map is looked up with first
/// (a template's rendering as it is, the way Home Assistant compares `payload_on`);
/// none when its template gives no update.
fn source_value(
    source: &Source,
    meta: &Meta,
    render: &impl Fn(&str) -> Option<String>,
    value_json: &Option<Value>,
    text: &str,
) -> Option<(Value, Option<String>)> {
    match source {
        // Text as rendered when text is declared; else what the text reads as.
        Source::Template(t) => {
            let r = render(t)?;
            if meta.type_name.as_deref() == Some("System.String") {
                let text = r.trim().to_owned();
                Some((Value::String(text.clone()), Some(text)))
            } else {
                Some((rendered(&r), Some(r.trim().to_owned())))
            }
        }
        Source::Path(p) => Some((
            value_json.as_ref().and_then(|v| lookup(v, p))?.clone(),
            None,
        )),
        Source::Payload => Some((
            value_json
                .clone()
                .unwrap_or_else(|| Value::String(text.to_owned())),
            Some(text.trim().to_owned()),
        )),
    }
}

impl Meta {
    /// `value` through the map (looked up by `as_text` first); none when `map_only`
    /// and the map names neither, or when `strict` and it is empty or not of the type.
    fn mapped(
        &self,
        value: Value,
        as_text: Option<String>,
        topic: &str,
        name: &str,
    ) -> Option<Value> {
        let mapped = as_text
            .and_then(|t| self.map.get(&t))
            .or_else(|| match &value {
                Value::String(s) => self.map.get(s),
                other => self.map.get(&other.to_string()),
            })
            .cloned();
        let value = match mapped {
            Some(v) => v,
            None if self.map_only => {
                tracing::debug!(%topic, stateobject = %name, %value, "no update: the value is none of the rule's map");
                return None;
            }
            None => value,
        };
        if self.strict && !fits(&value, self.type_name.as_deref()) {
            tracing::debug!(%topic, stateobject = %name, %value, "no update: the value is empty or not of the declared type");
            return None;
        }
        Some(value)
    }
}

/// Rule `i` compiled into `env` (its problems added to `errors`); none when its topic
/// is not a pattern.
fn compile_rule(
    env: &mut Environment<'static>,
    errors: &mut Vec<(String, String)>,
    i: usize,
    r: &MapRule,
) -> Option<Rule> {
    let key = |k: &str| format!("map[{i}].{k}");
    let pattern = Pattern::new(&r.topic)
        .map_err(|e| errors.push((key("topic"), e)))
        .ok();
    let stateobjects = stateobjects_of(env, errors, i, r);
    let availability = match &r.availability {
        Some(Availability::Payloads { online, offline }) => Some(Avail::Payloads {
            online: online.clone(),
            offline: offline.clone(),
        }),
        Some(Availability::Template(t)) => {
            compile(env, errors, key("availability"), t).map(Avail::Template)
        }
        None => None,
    };
    if !r.explode
        && r.stateobjects.is_empty()
        && r.stateobject.is_none()
        && r.availability.is_none()
    {
        errors.push((
            key("topic"),
            "the rule does nothing: add explode, stateobjects, stateobject or availability".into(),
        ));
    }
    for (field, text) in [("sentinel", &r.sentinel), ("package", &r.package)] {
        if text.is_empty() {
            errors.push((key(field), "is empty".into()));
        }
    }
    Some(Rule {
        pattern: pattern?,
        sentinel: r.sentinel.clone(),
        package: r.package.clone(),
        explode: r.explode.then(|| r.skip.clone()),
        stateobjects,
        availability,
        availability_mode: r.availability_mode.clone(),
        continue_matching: r.continue_matching,
        reads: r.reads.clone(),
    })
}

/// The StateObjects rule `i` gives: its `stateobjects`, then its single `stateobject`.
fn stateobjects_of(
    env: &mut Environment<'static>,
    errors: &mut Vec<(String, String)>,
    i: usize,
    r: &MapRule,
) -> Vec<(String, Source, Meta)> {
    let key = |k: &str| format!("map[{i}].{k}");
    let mut stateobjects = Vec::new();
    for (name, so) in &r.stateobjects {
        let k = key(&format!("stateobjects.{name:?}"));
        let source = match (&so.value, &so.path) {
            (Some(v), None) => compile(env, errors, format!("{k}.value"), v).map(Source::Template),
            (None, Some(p)) => Some(Source::Path(p.clone())),
            _ => {
                errors.push((
                    k,
                    "needs exactly one of `value` (a template) or `path`".into(),
                ));
                None
            }
        };
        let meta = Meta {
            type_name: so.type_name.clone(),
            lifetime: so.lifetime,
            metadata: so.metadata.clone(),
            map: so.map.clone(),
            map_only: so.map_only,
            strict: so.strict,
            reset: so.reset.clone(),
        };
        stateobjects.extend(source.map(|source| (name.clone(), source, meta)));
    }
    if let Some(name) = &r.stateobject {
        let source = match &r.value {
            Some(v) => compile(env, errors, key("value"), v).map(Source::Template),
            None => Some(Source::Payload),
        };
        let meta = Meta {
            type_name: r.type_name.clone(),
            lifetime: r.lifetime,
            metadata: r.metadata.clone(),
            map: r.map.clone(),
            map_only: r.map_only,
            strict: r.strict,
            reset: r.reset.clone(),
        };
        stateobjects.extend(source.map(|source| (name.clone(), source, meta)));
    } else if r.value.is_some() {
        errors.push((key("value"), "`value` goes with `stateobject`".into()));
    }
    stateobjects
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MappedStateObject;

    #[test]
    fn name_templates() {
        assert!(could_name("{device}", "kitchen"));
        assert!(could_name("Tasmota", "Tasmota"));
        assert!(!could_name("Tasmota", "ESPHome"));
        assert!(could_name("esp-{node}-x", "esp-a-x"));
        assert!(!could_name("esp-{node}", "tasmota"));
        assert!(could_name("{a}.{b}", "x.y"));
        assert!(!could_name("{a}.{b}", "xy"));
    }

    #[test]
    fn a_path_and_a_template_on_the_same_payload() {
        let mut sos = std::collections::BTreeMap::new();
        sos.insert(
            "Power".to_string(),
            MappedStateObject {
                path: Some("ENERGY.Power".into()),
                type_name: Some("System.Double".into()),
                ..MappedStateObject::default()
            },
        );
        let rules = vec![MapRule {
            topic: "tele/{device}/SENSOR".into(),
            sentinel: "Tasmota".into(),
            package: "{device}".into(),
            stateobjects: sos,
            ..MapRule::default()
        }];
        let m = Mapper::new(&rules).unwrap();
        let out = m.map("tele/pow1/SENSOR", br#"{"ENERGY":{"Power":2635}}"#);
        assert_eq!(out.len(), 1, "{out:?}");
    }
}
