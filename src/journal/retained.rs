//! The embedded broker's retained messages, kept in the journal so that a restarted
//! adapter's broker starts with them (rumqttd itself keeps nothing on disk).

use super::op::{Op, PendingRetained, Record};
use crate::lock::lock;
use rumqttd::protocol::{Publish, PublishProperties, QoS};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// The retained messages found in the journal, by topic.
#[derive(Debug, Default)]
pub struct RetainedMessages(Vec<(String, Record)>);

impl RetainedMessages {
    pub(super) fn push(&mut self, topic: &str, record: Record) {
        self.0.push((topic.to_owned(), record));
    }

    /// Each topic and its message.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&str, &Record)> {
        self.0
            .iter()
            .map(|(topic, record)| (topic.as_str(), record))
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The properties of a retained publish worth keeping (a topic alias and subscription
/// identifiers belong to one connection). An expiry interval starts again at restart.
#[derive(Serialize, Deserialize, Default)]
struct Properties {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    payload_format_indicator: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message_expiry_interval: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    response_topic: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    correlation_data: Option<Vec<u8>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    user_properties: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content_type: Option<String>,
}

impl Properties {
    fn of(p: &PublishProperties) -> Self {
        Self {
            payload_format_indicator: p.payload_format_indicator,
            message_expiry_interval: p.message_expiry_interval,
            response_topic: p.response_topic.clone(),
            correlation_data: p.correlation_data.as_ref().map(|d| d.to_vec()),
            user_properties: p.user_properties.clone(),
            content_type: p.content_type.clone(),
        }
    }

    fn into_publish_properties(self) -> PublishProperties {
        PublishProperties {
            payload_format_indicator: self.payload_format_indicator,
            message_expiry_interval: self.message_expiry_interval,
            topic_alias: None,
            response_topic: self.response_topic,
            correlation_data: self.correlation_data.map(Into::into),
            user_properties: self.user_properties,
            subscription_identifiers: Vec::new(),
            content_type: self.content_type,
        }
    }
}

/// The journal as the broker's [`rumqttd::RetainedStore`].
pub(super) struct Sink {
    ops: mpsc::UnboundedSender<Op>,
    pending: Arc<PendingRetained>,
    /// Handed to the router once, when it starts.
    recovered: Mutex<RetainedMessages>,
}

impl Sink {
    pub(super) fn new(
        ops: mpsc::UnboundedSender<Op>,
        pending: Arc<PendingRetained>,
        recovered: RetainedMessages,
    ) -> Self {
        Self {
            ops,
            pending,
            recovered: Mutex::new(recovered),
        }
    }

    /// Keeps the change of `topic` with those pending, waking the writer if needed.
    fn changed(&self, topic: &str, message: Option<Record>) {
        if self.pending.set(topic, message) {
            let _ = self.ops.send(Op::RetainedChanged);
        }
    }
}

impl rumqttd::RetainedStore for Sink {
    fn load(&self) -> Vec<(Publish, Option<PublishProperties>)> {
        let recovered = std::mem::take(&mut *lock(&self.recovered));
        recovered
            .0
            .into_iter()
            .map(|(topic, r)| {
                let qos = match r.qos {
                    0 => QoS::AtMostOnce,
                    2 => QoS::ExactlyOnce,
                    _ => QoS::AtLeastOnce,
                };
                let publish = Publish::new(topic.into_bytes(), r.payload, true).with_qos(qos);
                // A record this adapter wrote; anything unreadable is kept without them.
                let properties = (!r.properties.is_empty())
                    .then(|| serde_json::from_slice::<Properties>(&r.properties).ok())
                    .flatten()
                    .map(Properties::into_publish_properties);
                (publish, properties)
            })
            .collect()
    }

    fn retain(&self, topic: &str, publish: &Publish, properties: Option<&PublishProperties>) {
        let properties = properties
            .map(|p| serde_json::to_vec(&Properties::of(p)).unwrap_or_default())
            .unwrap_or_default();
        let record = Record {
            payload: publish.payload.to_vec(),
            qos: publish.qos() as u8,
            properties,
        };
        self.changed(topic, Some(record));
    }

    fn clear(&self, topic: &str) {
        self.changed(topic, None);
    }
}
