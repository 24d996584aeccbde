//! `[[command]]`: MessageCallbacks of mapped packages carried out as MQTT publishes,
//! with sagas answered from the device's reply, or with an error after a time-out.

use super::remembered::Remembered;
use super::template::{compile, environment};
use super::values::rendered;
use crate::config::CommandRule;
use crate::constellation::model::ReceivedMessage;
use crate::intent::Intent;
use crate::mqtt::topic_matches as matches;
use crate::native::PackageId;
use minijinja::Environment;
use serde_json::{json, Map, Value};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The compiled commands, the StateObjects they read, and the sagas waiting for a
/// device's answer.
pub struct Commands {
    env: Environment<'static>,
    rules: Vec<Command>,
    pending: Mutex<Vec<Pending>>,
    /// The StateObjects the commands read.
    states: Remembered,
}

struct Command {
    sentinel: String,
    package: String,
    key: String,
    /// Each publish: the names of its compiled topic and payload templates.
    publishes: Vec<(String, String)>,
    /// A publish whose payload renders to nothing is skipped (a command with steps).
    skip_empty: bool,
    reads: Vec<String>,
    /// The answer's topic, template source (checked at load) and time-out.
    response: Option<(String, String, Duration)>,
    callback: Value,
    qos: Option<u8>,
}

/// A saga waiting for a device's answer. It keeps its template's source, so that it
/// survives its command being recompiled (a device's discovery config changing).
struct Pending {
    package: PackageId,
    saga_id: String,
    topic: String,
    template: String,
    deadline: Instant,
}

/// A command to publish.
pub struct Invocation {
    /// Each publish (topic, payload), in order.
    pub publishes: Vec<(String, Vec<u8>)>,
    /// When a saga waits for the device's answer: how long.
    pub timeout: Option<Duration>,
    /// The command's own QoS, if it has one.
    pub qos: Option<u8>,
}

fn fill(text: &str, package: &PackageId) -> String {
    text.replace("{sentinel}", &package.sentinel)
        .replace("{package}", &package.package)
}

impl Commands {
    /// Compiles `rules`; problems as (key, reason).
    pub fn new(rules: &[CommandRule]) -> Result<Self, Vec<(String, String)>> {
        let mut env = environment();
        let mut errors = Vec::new();
        let mut compiled = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            let key = |k: &str| format!("command[{i}].{k}");
            let mut publishes = Vec::new();
            let mut complete = true;
            let steps = r.steps.iter().map(|s| (&s.topic, &s.payload));
            for (j, (topic, payload)) in std::iter::once((&r.topic, &r.payload))
                .chain(steps)
                .enumerate()
            {
                let at = |k: &str| match j {
                    0 => key(k),
                    _ => key(&format!("steps[{}].{k}", j - 1)),
                };
                let topic_name = compile(&mut env, &mut errors, at("topic"), topic);
                let payload_name = compile(&mut env, &mut errors, at("payload"), payload);
                match (topic_name, payload_name) {
                    (Some(t), Some(p)) => publishes.push((t, p)),
                    _ => complete = false,
                }
                if topic.contains(['+', '#']) {
                    errors.push((
                        at("topic"),
                        format!("{topic:?}: a command topic cannot have wildcards"),
                    ));
                }
            }
            let response = r.response.as_ref().and_then(|resp| {
                compile(&mut env, &mut errors, key("response.value"), &resp.value).map(|_| {
                    (
                        resp.topic.clone(),
                        resp.value.clone(),
                        Duration::from_millis(resp.timeout_ms),
                    )
                })
            });
            for (field, text) in [
                ("sentinel", &r.sentinel),
                ("package", &r.package),
                ("key", &r.key),
                ("topic", &r.topic),
            ] {
                if text.is_empty() {
                    errors.push((key(field), "is empty".into()));
                }
            }
            if let Some(qos) = r.qos.filter(|q| *q > 2) {
                errors.push((key("qos"), format!("{qos} is not an MQTT QoS (0, 1 or 2)")));
            }
            let parameters: Vec<Value> = r
                .parameters
                .iter()
                .map(|p| {
                    json!({"Name": p.name, "TypeName": p.type_name, "Description": p.description,
                                "Type": 2, "IsOptional": false, "DefaultValue": null})
                })
                .collect();
            let callback = json!({"MessageKey": r.key, "Description": r.description,
                                  "ResponseType": r.response.as_ref().map(|_| "System.Object"),
                                  "Parameters": parameters});
            if complete {
                compiled.push(Command {
                    sentinel: r.sentinel.clone(),
                    package: r.package.clone(),
                    key: r.key.clone(),
                    publishes,
                    skip_empty: !r.steps.is_empty(),
                    reads: r.reads.clone(),
                    response,
                    callback,
                    qos: r.qos,
                });
            }
        }
        if errors.is_empty() {
            Ok(Self {
                env,
                states: Remembered::new(compiled.iter().flat_map(|c| c.reads.clone())),
                rules: compiled,
                pending: Mutex::new(Vec::new()),
            })
        } else {
            Err(errors)
        }
    }

    fn for_package<'a>(&'a self, package: &'a PackageId) -> impl Iterator<Item = &'a Command> {
        self.rules.iter().filter(move |c| {
            c.sentinel == package.sentinel && (c.package == "*" || c.package == package.package)
        })
    }

    /// The MessageCallbacks (descriptor entries) of `package`'s commands.
    pub fn callbacks(&self, package: &PackageId) -> Vec<Value> {
        self.for_package(package)
            .map(|c| c.callback.clone())
            .collect()
    }

    /// Whether a command of `package` takes `key`.
    pub fn takes(&self, package: &PackageId, key: &str) -> bool {
        self.for_package(package).any(|c| c.key == key)
    }

    /// Takes over the sagas `old` still waits for and the values it knew (its commands
    /// were recompiled).
    pub fn adopt(&self, old: &Commands) {
        let waiting = std::mem::take(&mut *old.lock());
        self.lock().extend(waiting);
        self.states.adopt(&old.states);
    }

    /// Remembers the values mapped for StateObjects a command reads.
    pub fn observe<'a>(&self, intents: impl IntoIterator<Item = &'a (PackageId, Intent)>) {
        self.states.observe(intents);
    }

    /// The publishes that carry out `message` for `package`, if a command takes its key;
    /// a saga is then remembered until the device answers or the time-out.
    pub fn invoke(
        &self,
        package: &PackageId,
        message: &ReceivedMessage,
    ) -> Option<Result<Invocation, String>> {
        let command = self.for_package(package).find(|c| c.key == message.key)?;
        // `value` is `data` under the name Home Assistant's `command_template`s use.
        // `saga_id` can serve as a correlation id (Zigbee2MQTT's `transaction`).
        let states = self.states.of(package, &command.reads);
        let context = json!({"data": message.data, "value": message.data, "key": message.key,
                             "sentinel": package.sentinel, "package": package.package,
                             "sender": message.sender.friendly_name,
                             "saga_id": message.scope.saga_id, "states": states});
        let render = |name: &str| self.env.get_template(name).and_then(|t| t.render(&context));
        let mut publishes = Vec::new();
        for (topic, payload) in &command.publishes {
            let (topic, payload) = match (render(topic), render(payload)) {
                (Ok(t), Ok(p)) => (fill(&t, package), p),
                (Err(e), _) | (_, Err(e)) => {
                    return Some(Err(format!("command {}: {e}", command.key)))
                }
            };
            if command.skip_empty && payload.is_empty() {
                continue;
            }
            if topic.is_empty() || topic.contains(['+', '#']) {
                return Some(Err(format!(
                    "command {}: cannot publish on {topic:?}",
                    command.key
                )));
            }
            publishes.push((topic, payload.into_bytes()));
        }
        if publishes.is_empty() {
            // Every step skipped: no saga waits for an answer that cannot come.
            return Some(Err(format!(
                "command {}: nothing to publish for this data",
                command.key
            )));
        }
        let saga = message.scope.saga_id.as_ref().filter(|s| !s.is_empty());
        let timeout = match (saga, &command.response) {
            (Some(saga), Some((topic, template, timeout))) => {
                self.lock().push(Pending {
                    package: package.clone(),
                    saga_id: saga.clone(),
                    topic: fill(topic, package),
                    template: template.clone(),
                    deadline: Instant::now() + *timeout,
                });
                Some(*timeout)
            }
            _ => None,
        };
        Some(Ok(Invocation {
            publishes,
            timeout,
            qos: command.qos,
        }))
    }

    /// The saga answers a device's publish gives: the first pending saga whose
    /// response topic (a filter) matches and whose template renders something for this
    /// payload (with `saga_id` set), per package.
    pub fn answers(&self, topic: &str, payload: &[u8]) -> Vec<(PackageId, Intent)> {
        let mut pending = self.lock();
        if !pending.iter().any(|p| matches(topic, &p.topic)) {
            return Vec::new();
        }
        let Ok(text) = std::str::from_utf8(payload) else {
            return Vec::new();
        };
        let mut context = Map::new();
        context.insert("value".into(), Value::String(text.to_owned()));
        context.insert("topic".into(), Value::String(topic.to_owned()));
        if let Ok(v) = serde_json::from_str::<Value>(text) {
            context.insert("value_json".into(), v);
        }
        let mut out = Vec::new();
        let mut i = 0;
        while i < pending.len() {
            let p = &pending[i];
            context.insert("saga_id".into(), Value::String(p.saga_id.clone()));
            let answer = (matches(topic, &p.topic) && p.deadline > Instant::now())
                .then(|| self.env.render_str(&p.template, &context).ok())
                .flatten()
                .filter(|text| !text.trim().is_empty());
            match answer {
                Some(text)
                    if !out
                        .iter()
                        .any(|(pkg, _): &(PackageId, Intent)| *pkg == p.package) =>
                {
                    let p = pending.remove(i);
                    out.push((
                        p.package,
                        Intent::Respond {
                            saga_id: p.saga_id,
                            data: rendered(&text),
                        },
                    ));
                }
                _ => i += 1,
            }
        }
        out
    }

    /// If saga `saga_id` of `package` is still unanswered, forgets it and gives the
    /// error answer.
    pub fn time_out(&self, package: &PackageId, saga_id: &str) -> Option<Intent> {
        let mut pending = self.lock();
        let i = pending
            .iter()
            .position(|p| p.package == *package && p.saga_id == saga_id)?;
        let p = pending.remove(i);
        Some(Intent::Respond {
            saga_id: p.saga_id,
            data: json!({"Error": format!("no answer from the device on {} in time", p.topic)}),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Pending>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The MQTT filters the commands' answers need.
pub fn filters(rules: &[CommandRule]) -> Vec<String> {
    rules
        .iter()
        .filter_map(|r| r.response.as_ref())
        .map(|resp| {
            resp.topic
                .replace("{sentinel}", "+")
                .replace("{package}", "+")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CommandRule;
    use crate::constellation::model::{ReceivedScope, ScopeType, Sender, SenderType};

    #[test]
    fn renders_topic_and_payload() {
        let rules = vec![CommandRule {
            sentinel: "T".into(),
            package: "*".into(),
            key: "Power".into(),
            topic: "cmnd/{package}/POWER".into(),
            payload: "{{ data }}".into(),
            ..CommandRule::default()
        }];
        let c = Commands::new(&rules).unwrap();
        let msg = ReceivedMessage {
            key: "Power".into(),
            data: json!("TOGGLE"),
            scope: ReceivedScope {
                kind: ScopeType::Package,
                args: vec![],
                saga_id: None,
            },
            sender: Sender {
                kind: SenderType::ConsumerHttp,
                friendly_name: "C/x".into(),
                connection_id: None,
            },
            extra: Map::new(),
        };
        let inv = c.invoke(&PackageId::new("T", "sw"), &msg).unwrap().unwrap();
        assert_eq!(
            inv.publishes,
            [("cmnd/sw/POWER".to_string(), b"TOGGLE".to_vec())]
        );
    }

    /// A command with steps skips a publish rendering to nothing; with nothing left it
    /// is an error (no saga is left waiting).
    #[test]
    fn steps_rendering_nothing_are_skipped() {
        let rules = vec![CommandRule {
            sentinel: "T".into(),
            package: "*".into(),
            key: "Fade".into(),
            topic: "a".into(),
            payload: "{% if data > 1 %}{{ data }}{% endif %}".into(),
            steps: vec![crate::config::CommandStep {
                topic: "b".into(),
                payload: "{% if data > 2 %}on{% endif %}".into(),
            }],
            ..CommandRule::default()
        }];
        let c = Commands::new(&rules).unwrap();
        let msg = |data: Value| ReceivedMessage {
            key: "Fade".into(),
            data,
            scope: ReceivedScope {
                kind: ScopeType::Package,
                args: vec![],
                saga_id: Some("s1".into()),
            },
            sender: Sender {
                kind: SenderType::ConsumerHttp,
                friendly_name: "C/x".into(),
                connection_id: None,
            },
            extra: Map::new(),
        };
        let p = PackageId::new("T", "x");
        let publishes = |d| c.invoke(&p, &msg(d)).unwrap().map(|i| i.publishes);
        assert_eq!(
            publishes(json!(3)),
            Ok(vec![
                ("a".into(), b"3".to_vec()),
                ("b".into(), b"on".to_vec())
            ])
        );
        assert_eq!(publishes(json!(2)), Ok(vec![("a".into(), b"2".to_vec())]));
        assert!(publishes(json!(1)).is_err());
    }
}
