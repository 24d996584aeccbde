//! Payload decoding: a publish's kind and bytes become an [`Intent`], or a reason why not.

use super::Kind;
use crate::constellation::model::{
    json_or_text, LogLevel, OutgoingMessage, ScopeType, SoFilter, StateObjectPush,
};
use serde_json::{Map, Value};

/// What a device asked for, ready for its package worker (and, as JSON, as the
/// journal keeps it).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Intent {
    /// Push a StateObject. A type, lifetime or metadata left unset here is filled from
    /// the configuration, then by inference, by the router.
    PushStateObject(StateObjectPush),
    /// Purge the package's StateObjects matching a name and a type (`*` = any).
    Purge {
        name: String,
        type_name: String,
    },
    WriteLog {
        level: LogLevel,
        message: String,
    },
    /// Send a message from this package; a saga id stays in its scope.
    SendMessage(OutgoingMessage),
    /// Answer a saga this package received.
    Respond {
        saga_id: String,
        data: Value,
    },
    /// Declare the package descriptor (its `PackageName` already forced).
    Declare(Value),
    /// The package's whole StateObject filter set (empty: none).
    Subscribe(Vec<SoFilter>),
    /// The package's whole set of message groups (empty: none).
    Groups(Vec<String>),
    /// Fetch the settings and publish them: always when `force` (a device asked), else
    /// only when they changed (the periodic refresh).
    GetSettings {
        force: bool,
    },
    /// The device's availability.
    Status(bool),
    /// The device's availability as one of the topics `mode` combines says it.
    Availability {
        topic: String,
        online: bool,
        mode: AvailabilityMode,
    },
}

/// How several availability topics make a device's availability (Home Assistant's
/// `availability_mode`; without one, the latest report wins).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AvailabilityMode {
    /// Online when each of these topics last said online.
    All(Vec<String>),
    /// Online when one of these topics last said online.
    Any(Vec<String>),
}

impl AvailabilityMode {
    /// The availability from the last report of each topic (a topic that has said
    /// nothing yet is offline).
    pub fn combine(&self, reports: &std::collections::HashMap<String, bool>) -> bool {
        let online = |t: &String| reports.get(t).copied().unwrap_or(false);
        match self {
            Self::All(topics) => topics.iter().all(online),
            Self::Any(topics) => topics.iter().any(online),
        }
    }
}

/// Decodes a payload of `kind` for `package`; `user_properties` are the MQTT 5 ones.
pub fn decode(
    kind: &Kind,
    package: &str,
    payload: &[u8],
    user_properties: &[(String, String)],
) -> Result<Intent, String> {
    Ok(match kind {
        Kind::StateObject(name) if payload.is_empty() => Intent::Purge {
            name: name.clone(),
            type_name: "*".into(),
        },
        Kind::StateObject(name) => {
            let mut push = StateObjectPush {
                name: name.clone(),
                value: json_or_text(text(payload)?),
                type_name: None,
                lifetime: None,
                metadatas: None,
            };
            apply_user_properties(&mut push, user_properties)?;
            Intent::PushStateObject(push)
        }
        Kind::StateObjectFull => {
            let push: StateObjectPush = json(payload, "a StateObject {\"Name\", \"Value\", …}")?;
            if push.name.is_empty() {
                return Err("the StateObject name is empty".into());
            }
            if push.name.contains(['+', '#']) {
                return Err(format!(
                    "the StateObject name {:?} contains an MQTT wildcard: it could not be followed on so/ topics",
                    push.name
                ));
            }
            if let Some(l) = push.lifetime.filter(|l| *l < 0) {
                return Err(format!("negative lifetime {l}"));
            }
            Intent::PushStateObject(push)
        }
        Kind::Purge if payload.is_empty() => Intent::Purge {
            name: "*".into(),
            type_name: "*".into(),
        },
        Kind::Purge => {
            #[derive(serde::Deserialize)]
            #[serde(rename_all = "PascalCase", deny_unknown_fields)]
            struct Purge {
                name: Option<String>,
                #[serde(rename = "Type")]
                type_name: Option<String>,
            }
            let p: Purge = json(payload, "empty, or {\"Name\"?, \"Type\"?}")?;
            Intent::Purge {
                name: p.name.unwrap_or_else(|| "*".into()),
                type_name: p.type_name.unwrap_or_else(|| "*".into()),
            }
        }
        Kind::Log(level) => {
            let level = match level {
                None => LogLevel::Info,
                Some(l) => LogLevel::parse(l).ok_or_else(|| {
                    format!("unknown log level {l:?} (info, warn, warning or error)")
                })?,
            };
            let message = text(payload)?;
            if message.is_empty() {
                return Err("the log message is empty".into());
            }
            Intent::WriteLog {
                level,
                message: message.to_owned(),
            }
        }
        Kind::Message => Intent::SendMessage(message(payload)?),
        Kind::Response(saga_id) => Intent::Respond {
            saga_id: saga_id.clone(),
            data: json_or_text(text(payload)?),
        },
        Kind::Descriptor => match json::<Value>(payload, "a package descriptor object")? {
            Value::Object(mut d) => {
                d.insert("PackageName".into(), Value::String(package.to_owned()));
                Intent::Declare(Value::Object(d))
            }
            _ => return Err("a package descriptor is a JSON object".into()),
        },
        Kind::Subscribe if payload.is_empty() => Intent::Subscribe(Vec::new()),
        Kind::Subscribe => {
            let expected = "an SO filter {\"Sentinel\"?, \"Package\"?, \"Name\"?, \"Type\"?} or an array of them";
            let filters = match json::<Value>(payload, expected)? {
                v @ Value::Array(_) => serde_json::from_value(v),
                v => serde_json::from_value(v).map(|f| vec![f]),
            }
            .map_err(|e| format!("expected {expected}: {e}"))?;
            Intent::Subscribe(filters)
        }
        Kind::Groups if payload.is_empty() => Intent::Groups(Vec::new()),
        Kind::Groups => {
            let body = text(payload)?;
            let groups = match serde_json::from_str::<Value>(body) {
                Ok(Value::Array(items)) => items
                    .into_iter()
                    .map(|g| match g {
                        Value::String(s) if !s.is_empty() => Ok(s),
                        other => Err(format!(
                            "a group name must be a non-empty string, not {other}"
                        )),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                Ok(Value::String(s)) => vec![s],
                Ok(other) => return Err(format!("expected an array of group names, not {other}")),
                Err(_) => vec![body.trim().to_owned()],
            };
            if groups.iter().any(String::is_empty) {
                return Err("a group name is empty".into());
            }
            Intent::Groups(groups)
        }
        Kind::SettingsGet => Intent::GetSettings { force: true },
        Kind::Status => {
            let body = text(payload)?.trim();
            match body.to_ascii_lowercase().as_str() {
                "online" | "true" | "1" => Intent::Status(true),
                "offline" | "false" | "0" => Intent::Status(false),
                _ => {
                    return Err(format!(
                        "status {body:?} is not online/offline, true/false or 1/0"
                    ))
                }
            }
        }
    })
}

fn text(payload: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(payload).map_err(|e| {
        format!(
            "the payload is not UTF-8 text (invalid byte at {})",
            e.valid_up_to()
        )
    })
}

fn json<T: serde::de::DeserializeOwned>(payload: &[u8], expected: &str) -> Result<T, String> {
    serde_json::from_str(text(payload)?).map_err(|e| format!("expected {expected}: {e}"))
}

/// A `message` payload: the REST body, a top-level `SagaId` moved into `Scope`.
fn message(payload: &[u8]) -> Result<OutgoingMessage, String> {
    let expected = "{\"Scope\": {\"Type\", \"Args\", \"SagaId\"?}, \"Key\", \"Data\"?}";
    let mut body: Map<String, Value> = json(payload, expected)?;
    if let Some(saga) = body.remove("SagaId") {
        if let Some(Value::Object(scope)) = body.get_mut("Scope") {
            scope.entry("SagaId").or_insert(saga);
        }
    }
    let msg: OutgoingMessage = serde_json::from_value(Value::Object(body))
        .map_err(|e| format!("expected {expected}: {e}"))?;
    if msg.key.is_empty() {
        return Err("the message Key is empty".into());
    }
    let needs_args = matches!(
        msg.scope.kind,
        ScopeType::Package | ScopeType::Sentinel | ScopeType::Group
    );
    if needs_args && msg.scope.args.is_empty() {
        return Err(format!(
            "scope {} needs at least one argument in Args",
            msg.scope.kind
        ));
    }
    Ok(msg)
}

/// MQTT 5 user properties `type`, `lifetime` and `metadata.<key>`.
fn apply_user_properties(
    push: &mut StateObjectPush,
    props: &[(String, String)],
) -> Result<(), String> {
    for (key, value) in props {
        match key.as_str() {
            "type" => push.type_name = Some(value.clone()),
            "lifetime" => {
                let l: i64 = value.parse().ok().filter(|l| *l >= 0).ok_or_else(|| {
                    format!("user property lifetime {value:?} is not a number of seconds")
                })?;
                push.lifetime = Some(l);
            }
            k => {
                if let Some(meta) = k.strip_prefix("metadata.") {
                    push.metadatas
                        .get_or_insert_with(Map::new)
                        .insert(meta.to_owned(), Value::String(value.clone()));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(kind: Kind, payload: &str) -> Intent {
        decode(&kind, "P", payload.as_bytes(), &[]).unwrap()
    }
    fn err(kind: Kind, payload: &[u8]) -> String {
        decode(&kind, "P", payload, &[]).unwrap_err()
    }

    #[test]
    fn state_object_values_are_json_or_text() {
        let so = |p| match ok(Kind::StateObject("T".into()), p) {
            Intent::PushStateObject(s) => s.value,
            other => panic!("{other:?}"),
        };
        assert_eq!(so("21.5"), json!(21.5));
        assert_eq!(so("{\"a\":1}"), json!({"a": 1}));
        assert_eq!(so("hello world"), json!("hello world"));
        assert_eq!(
            ok(Kind::StateObject("T".into()), ""),
            Intent::Purge {
                name: "T".into(),
                type_name: "*".into()
            }
        );
        assert!(err(Kind::StateObject("T".into()), b"\xff\xfe").contains("not UTF-8"));
    }

    #[test]
    fn user_properties_set_type_lifetime_and_metadata() {
        let props = [
            ("type".to_string(), "System.Single".to_string()),
            ("lifetime".to_string(), "60".to_string()),
            ("metadata.Unit".to_string(), "C".to_string()),
        ];
        let Intent::PushStateObject(p) =
            decode(&Kind::StateObject("T".into()), "P", b"1", &props).unwrap()
        else {
            panic!()
        };
        assert_eq!(p.type_name.as_deref(), Some("System.Single"));
        assert_eq!(p.lifetime, Some(60));
        assert_eq!(p.metadatas.unwrap()["Unit"], json!("C"));
        let bad = [("lifetime".to_string(), "-1".to_string())];
        assert!(decode(&Kind::StateObject("T".into()), "P", b"1", &bad).is_err());
    }

    #[test]
    fn a_top_level_saga_id_moves_into_the_scope() {
        let Intent::SendMessage(m) = ok(
            Kind::Message,
            r#"{"Scope": {"Type": "Package", "Args": ["X"]}, "Key": "K", "Data": 1, "SagaId": "s1"}"#,
        ) else {
            panic!()
        };
        assert_eq!(m.scope.saga_id.as_deref(), Some("s1"));
        assert!(err(
            Kind::Message,
            b"{\"Scope\": {\"Type\": \"Package\"}, \"Key\": \"K\"}"
        )
        .contains("needs at least one"));
        assert!(err(
            Kind::Message,
            b"{\"Scope\": {\"Type\": \"Moon\"}, \"Key\": \"K\"}"
        )
        .contains("unknown scope"));
        assert!(err(Kind::Message, b"not json").contains("expected"));
    }

    #[test]
    fn other_kinds() {
        assert_eq!(
            ok(Kind::Log(Some("WARNING".into())), "hot"),
            Intent::WriteLog {
                level: LogLevel::Warn,
                message: "hot".into()
            }
        );
        assert!(err(Kind::Log(Some("loud".into())), b"x").contains("unknown log level"));
        assert_eq!(
            ok(Kind::Groups, "[\"A\",\"B\"]"),
            Intent::Groups(vec!["A".into(), "B".into()])
        );
        assert_eq!(
            ok(Kind::Groups, "Solo"),
            Intent::Groups(vec!["Solo".into()])
        );
        assert!(err(Kind::Groups, b"[1]").contains("non-empty string"));
        assert_eq!(ok(Kind::Status, "Online"), Intent::Status(true));
        assert_eq!(ok(Kind::Status, "0"), Intent::Status(false));
        assert!(err(Kind::Status, b"maybe").contains("not online"));
        let Intent::Subscribe(f) = ok(Kind::Subscribe, "{\"Package\": \"HW\"}") else {
            panic!()
        };
        assert_eq!((f[0].package.as_str(), f[0].name.as_str()), ("HW", "*"));
        assert!(err(Kind::Subscribe, b"{\"Pkg\": 1}").contains("expected"));
        let Intent::Declare(d) = ok(Kind::Descriptor, "{\"PackageName\": \"Other\"}") else {
            panic!()
        };
        assert_eq!(d["PackageName"], json!("P"));
        assert_eq!(
            ok(Kind::Purge, "{\"Name\": \"T\"}"),
            Intent::Purge {
                name: "T".into(),
                type_name: "*".into()
            }
        );
        assert!(err(Kind::StateObjectFull, b"{\"Name\": \"\", \"Value\": 1}").contains("empty"));
        assert!(err(Kind::StateObjectFull, b"{\"Value\": 1}").contains("expected"));
    }
}
