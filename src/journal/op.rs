//! What the journal's handle asks of its writer.

use crate::native::PackageId;
use rumqttc::v5::mqttbytes::v5::Publish;
use std::sync::Arc;

/// What the journal is asked to do, in order.
pub(super) enum Op {
    /// Keep `record` of `package` as job `key` (replacing it).
    Put {
        package: Arc<PackageId>,
        key: u64,
        record: Vec<u8>,
    },
    /// Job `key` is done.
    Delete { key: u64 },
    /// Acknowledge `publish` once everything before it is kept.
    Ack(Box<Publish>),
    /// The embedded broker's retained message of `topic` (none: cleared).
    Retain {
        topic: String,
        message: Option<Record>,
    },
}

/// One retained message as the journal keeps it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Record {
    pub payload: Vec<u8>,
    pub qos: u8,
    /// Its MQTT 5 properties as JSON (`retained::Properties`); empty when it had none.
    pub properties: Vec<u8>,
}
