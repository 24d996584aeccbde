//! Topic parsing: which package a topic belongs to and what kind of publish it is.

use crate::names::check_segment;
use std::fmt;

/// A virtual package: `sentinel/package`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PackageId {
    pub sentinel: String,
    pub package: String,
}

impl PackageId {
    /// A package id from its two names.
    pub fn new(sentinel: impl Into<String>, package: impl Into<String>) -> Self {
        Self {
            sentinel: sentinel.into(),
            package: package.into(),
        }
    }
}

impl fmt::Display for PackageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.sentinel, self.package)
    }
}

/// The device → Constellation kinds of the spec's table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// `stateobject/<name>`; the name is everything after `stateobject/`.
    StateObject(String),
    /// `stateobject`: the full JSON form.
    StateObjectFull,
    Purge,
    /// `log` or `log/<level>`.
    Log(Option<String>),
    Message,
    /// `response/<sagaId>`.
    Response(String),
    Descriptor,
    Subscribe,
    Groups,
    SettingsGet,
    Status,
}

impl Kind {
    /// The kind's name in figures (`stateobject`, `log`, `message`…).
    pub fn label(&self) -> &'static str {
        match self {
            Self::StateObject(_) | Self::StateObjectFull => "stateobject",
            Self::Purge => "purge",
            Self::Log(_) => "log",
            Self::Message => "message",
            Self::Response(_) => "response",
            Self::Descriptor => "descriptor",
            Self::Subscribe => "subscribe",
            Self::Groups => "groups",
            Self::SettingsGet => "settings_get",
            Self::Status => "status",
        }
    }
}

/// What a topic under the prefix is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Topic {
    /// A device's publish to act on.
    Device(PackageId, Kind),
    /// A topic the adapter itself publishes (callbacks, settings, errors, its status…):
    /// nothing to do.
    Downlink,
    /// `<prefix>/_send` or under it (not the adapter's own `response/…` and `error`): a
    /// message to send to Constellation.
    Send,
    /// Not under the prefix.
    Foreign,
    /// Under the prefix but malformed; `error_topic` is where to say so.
    Invalid { error_topic: String, reason: String },
}

/// Parses `topic` against the native scheme under `prefix`.
pub fn parse_topic(prefix: &str, topic: &str) -> Topic {
    let Some(rest) = topic.strip_prefix(prefix).and_then(|r| r.strip_prefix('/')) else {
        return Topic::Foreign;
    };
    let mut levels = rest.splitn(3, '/');
    let sentinel = levels.next().unwrap_or_default();
    if sentinel == "_adapter" {
        return Topic::Downlink;
    }
    if sentinel == "_send" {
        let own = rest.starts_with("_send/response/") || rest == "_send/error";
        return if own { Topic::Downlink } else { Topic::Send };
    }
    let (Some(package), Some(tail)) = (levels.next(), levels.next()) else {
        return Topic::Invalid {
            error_topic: super::errors::adapter_error_topic(prefix),
            reason: format!("topic {topic:?} is not {prefix}/<sentinel>/<package>/<kind>"),
        };
    };
    // No topic can be built from a name with a wildcard (a broker would not forward
    // such a publish anyway): the adapter's error topic then.
    let invalid = |reason: String| Topic::Invalid {
        error_topic: if [sentinel, package].iter().any(|n| n.contains(['+', '#'])) {
            super::errors::adapter_error_topic(prefix)
        } else {
            super::errors::error_topic(prefix, sentinel, package)
        },
        reason,
    };
    for (what, name) in [("sentinel", sentinel), ("package", package)] {
        if let Err(reason) = check_segment(name) {
            return invalid(format!("the {what} name {name:?} {reason}"));
        }
    }
    let (kind, arg) = match tail.split_once('/') {
        Some((k, a)) => (k, Some(a)),
        None => (tail, None),
    };
    let kind = match (kind, arg) {
        ("stateobject", None) => Kind::StateObjectFull,
        ("stateobject", Some("")) => return invalid("the StateObject name is empty".into()),
        ("stateobject", Some(name)) => Kind::StateObject(name.to_owned()),
        ("purge", None) => Kind::Purge,
        ("log", None) => Kind::Log(None),
        ("log", Some(level)) if !level.contains('/') => Kind::Log(Some(level.to_owned())),
        ("message", None) => Kind::Message,
        ("response", Some(saga)) if !saga.is_empty() && !saga.contains('/') => {
            Kind::Response(saga.to_owned())
        }
        ("descriptor", None) => Kind::Descriptor,
        ("subscribe", None) => Kind::Subscribe,
        ("groups", None) => Kind::Groups,
        ("settings", Some("get")) => Kind::SettingsGet,
        ("status", None) => Kind::Status,
        ("callback" | "saga" | "so", Some(_)) | ("settings" | "error", None) => {
            return Topic::Downlink
        }
        _ => return invalid(format!("unknown topic kind {tail:?}")),
    };
    Topic::Device(PackageId::new(sentinel, package), kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(topic: &str) -> (PackageId, Kind) {
        match parse_topic("constellation", topic) {
            Topic::Device(p, k) => (p, k),
            other => panic!("{topic}: {other:?}"),
        }
    }

    fn reason(topic: &str) -> String {
        match parse_topic("constellation", topic) {
            Topic::Invalid { reason, .. } => reason,
            other => panic!("{topic}: {other:?}"),
        }
    }

    #[test]
    fn every_uplink_kind_parses() {
        let p = PackageId::new("S", "P");
        let cases = [
            ("stateobject/Temp", Kind::StateObject("Temp".into())),
            (
                "stateobject//intelcpu/load/0",
                Kind::StateObject("/intelcpu/load/0".into()),
            ),
            ("stateobject", Kind::StateObjectFull),
            ("purge", Kind::Purge),
            ("log", Kind::Log(None)),
            ("log/WARNING", Kind::Log(Some("WARNING".into()))),
            ("message", Kind::Message),
            ("response/abc", Kind::Response("abc".into())),
            ("descriptor", Kind::Descriptor),
            ("subscribe", Kind::Subscribe),
            ("groups", Kind::Groups),
            ("settings/get", Kind::SettingsGet),
            ("status", Kind::Status),
        ];
        for (tail, kind) in cases {
            assert_eq!(
                device(&format!("constellation/S/P/{tail}")),
                (p.clone(), kind)
            );
        }
    }

    #[test]
    fn the_adapters_own_topics_are_ignored() {
        for t in [
            "constellation/_adapter/status",
            "constellation/S/P/error",
            "constellation/S/P/settings",
            "constellation/S/P/callback/Key",
            "constellation/S/P/saga/1",
            "constellation/S/P/so/A/B/C",
        ] {
            assert_eq!(parse_topic("constellation", t), Topic::Downlink, "{t}");
        }
        assert_eq!(
            parse_topic("constellation", "tele/x/SENSOR"),
            Topic::Foreign
        );
        assert_eq!(
            parse_topic("constellation", "constellationX/S/P/log"),
            Topic::Foreign
        );
    }

    #[test]
    fn malformed_topics_are_explained() {
        assert!(reason("constellation/S/P/teleport").contains("unknown topic kind"));
        assert!(reason("constellation/S/P/stateobject/").contains("name is empty"));
        assert!(reason("constellation/S").contains("is not"));
        assert!(reason("constellation/S/P").contains("is not"));
        assert!(reason("constellation/$S/P/log").contains("`$`"));
        assert!(reason("constellation/S/_P/log").contains("`_`"));
        assert!(reason("constellation//P/log").contains("empty"));
        assert!(reason("constellation/S/P/log/a/b").contains("unknown topic kind"));
        match parse_topic("constellation", "constellation/S/P/nope") {
            Topic::Invalid { error_topic, .. } => {
                assert_eq!(error_topic, "constellation/S/P/error")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_prefix_may_have_several_levels() {
        assert_eq!(
            parse_topic("home/c", "home/c/S/P/log"),
            Topic::Device(PackageId::new("S", "P"), Kind::Log(None))
        );
    }
}
