//! What the journal's handle asks of its writer.

use crate::native::PackageId;
use rumqttc::v5::mqttbytes::QoS;
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
    /// Acknowledge a publish once everything before it is kept.
    Ack(Ack),
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

/// What acknowledging a publish needs of it: its packet id and QoS (not its topic or
/// payload, which may be large and wait here while the journal cannot be written).
#[derive(Debug, Clone, Copy)]
pub(super) struct Ack {
    pub pkid: u16,
    pub qos: QoS,
}
