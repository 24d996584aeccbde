//! The intents, as data: what a device asked for, as the journal keeps it.

use crate::constellation::model::{LogLevel, OutgoingMessage, SoFilter, StateObjectPush};
use serde_json::Value;

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
