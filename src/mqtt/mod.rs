//! The MQTT side: the embedded broker and the adapter's connection to a broker.

pub mod connection;
pub mod embedded;

use bytes::Bytes;
use rumqttc::v5::mqttbytes::v5::PublishProperties;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::AsyncClient;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Publishes on the adapter's connection without ever waiting: a publish that finds
/// the request queue full (the broker unreachable for long) is dropped, counted and
/// logged, so that no caller is ever blocked by the broker.
#[derive(Clone)]
pub struct Publisher {
    client: AsyncClient,
    dropped: Arc<AtomicU64>,
}

impl Publisher {
    fn new(client: AsyncClient) -> Self {
        Self {
            client,
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Publishes at QoS 1.
    pub fn publish(&self, topic: &str, payload: impl Into<Bytes>, retain: bool) {
        self.publish_with(topic, payload.into(), retain, None);
    }

    /// Publishes at QoS 1 with MQTT 5 properties.
    pub fn publish_with(
        &self,
        topic: &str,
        payload: Bytes,
        retain: bool,
        properties: Option<PublishProperties>,
    ) {
        let result = match properties {
            Some(p) => {
                self.client
                    .try_publish_with_properties(topic, QoS::AtLeastOnce, retain, payload, p)
            }
            None => self
                .client
                .try_publish(topic, QoS::AtLeastOnce, retain, payload),
        };
        if let Err(e) = result {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::warn!(topic, error = %e, dropped_total = n, "MQTT publish dropped");
        }
    }
}
