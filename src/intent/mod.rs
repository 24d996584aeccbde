//! What a device asks of Constellation, one module per intent, each from its decoding
//! (a native publish's payload) to its REST call, as mini-redis keeps a command's parse
//! and apply together. Rules, commands and discovery make the same [`Intent`]s from
//! other layouts; the package's uplink worker carries them out against a [`Target`].

mod declare;
mod get_settings;
mod groups;
mod kinds;
mod payload;
mod purge;
mod push_state_object;
mod respond;
mod send_message;
mod status;
mod subscribe;
mod target;
mod write_log;

pub use kinds::{AvailabilityMode, Intent};
pub use target::{Failure, Target};

use crate::native::Kind;

/// Decodes a payload of `kind` for `package`; `user_properties` are the MQTT 5 ones.
pub fn decode(
    kind: &Kind,
    package: &str,
    payload: &[u8],
    user_properties: &[(String, String)],
) -> Result<Intent, String> {
    match kind {
        Kind::StateObject(name) if payload.is_empty() => Ok(purge::one(name)),
        Kind::StateObject(name) => push_state_object::decode_value(name, payload, user_properties),
        Kind::StateObjectFull => push_state_object::decode_full(payload),
        Kind::Purge => purge::decode(payload),
        Kind::Log(level) => write_log::decode(level.as_deref(), payload),
        Kind::Message => send_message::decode(payload),
        Kind::Response(saga_id) => respond::decode(saga_id, payload),
        Kind::Descriptor => declare::decode(package, payload),
        Kind::Subscribe => subscribe::decode(payload),
        Kind::Groups => groups::decode(payload),
        Kind::SettingsGet => Ok(Intent::GetSettings { force: true }),
        Kind::Status => status::decode(payload),
    }
}

impl Intent {
    /// Whether it is carried out without a request (nothing to bound or retry).
    pub fn is_local(&self) -> bool {
        matches!(self, Self::Subscribe(_) | Self::Groups(_))
    }

    /// Carries the intent out for `target`.
    pub async fn apply(&self, target: &impl Target) -> Result<(), Failure> {
        match self {
            Self::PushStateObject(so) => push_state_object::apply(target, so).await,
            Self::Purge { name, type_name } => purge::apply(target, name, type_name).await,
            Self::WriteLog { level, message } => write_log::apply(target, *level, message).await,
            Self::SendMessage(message) => send_message::apply(target, message).await,
            Self::Declare(descriptor) => declare::apply(target, descriptor).await,
            Self::Respond { saga_id, data } => respond::apply(target, saga_id, data).await,
            Self::GetSettings { force } => get_settings::apply(target, *force).await,
            Self::Availability {
                topic,
                online,
                mode,
            } => {
                let online = target.report_availability(topic, *online, mode);
                status::apply(target, online).await
            }
            Self::Status(online) => status::apply(target, *online).await,
            Self::Subscribe(filters) => {
                target.set_device_filters(filters);
                Ok(())
            }
            Self::Groups(groups) => {
                target.set_device_groups(groups);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::constellation::model::LogLevel;
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
