//! What the journal's handle asks of its writer.

use crate::native::PackageId;
use rumqttc::v5::mqttbytes::QoS;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;

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
    /// The embedded broker's retained messages changed: see [`PendingRetained`].
    RetainedChanged,
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

/// Retained messages changed and not yet handed to the writer, the latest per topic:
/// however fast devices change them, and however long the journal cannot be written,
/// this holds no more than the broker's own retained set.
#[derive(Default)]
pub(super) struct PendingRetained(Mutex<HashMap<String, Option<Record>>>);

impl PendingRetained {
    /// Records the change of `topic`; true when nothing was pending before (the writer
    /// is to be woken).
    pub(super) fn set(&self, topic: &str, message: Option<Record>) -> bool {
        let mut pending = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let first = pending.is_empty();
        pending.insert(topic.to_owned(), message);
        first
    }

    /// Every pending change, as operations; none pending after.
    pub(super) fn take(&self) -> Vec<Op> {
        let mut pending = self.0.lock().unwrap_or_else(|e| e.into_inner());
        pending
            .drain()
            .map(|(topic, message)| Op::Retain { topic, message })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retained_changes_are_kept_once_per_topic() {
        let pending = PendingRetained::default();
        let record = |n: u8| Record {
            payload: vec![n],
            qos: 1,
            properties: Vec::new(),
        };
        assert!(
            pending.set("a", Some(record(0))),
            "the first wakes the writer"
        );
        for n in 1..=200 {
            assert!(!pending.set("a", Some(record(n))));
        }
        assert!(!pending.set("b", None));
        let mut ops = pending.take();
        ops.sort_by_key(|op| match op {
            Op::Retain { topic, .. } => topic.clone(),
            _ => String::new(),
        });
        assert!(matches!(&ops[..], [
            Op::Retain { topic: a, message: Some(m) },
            Op::Retain { topic: b, message: None },
        ] if a == "a" && m.payload == [200] && b == "b"));
        assert!(pending.take().is_empty());
        assert!(
            pending.set("a", None),
            "empty again: the next wakes the writer"
        );
    }
}
