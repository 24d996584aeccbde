//! Publishes that found the connection's request queue full: kept in order, within a
//! bound, and handed to the connection as room appears, so that a burst (thousands of
//! packages starting at once, each publishing its settings) loses nothing.

use bytes::Bytes;
use rumqttc::v5::mqttbytes::v5::PublishProperties;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::AsyncClient;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// At most this many bytes (topics and payloads) wait; beyond, publishes are dropped.
const MAX_BYTES: usize = 16 * 1024 * 1024;

/// A publish waiting for room.
pub(crate) struct Pending {
    pub topic: String,
    pub qos: QoS,
    pub retain: bool,
    pub payload: Bytes,
    pub properties: Option<PublishProperties>,
}

impl Pending {
    fn size(&self) -> usize {
        self.topic.len() + self.payload.len()
    }
}

/// The waiting publishes, drained by one task (see [`Overflow::new`]).
#[derive(Clone)]
pub(crate) struct Overflow {
    shared: Arc<Shared>,
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Notify,
}

#[derive(Default)]
struct Queue {
    publishes: VecDeque<Pending>,
    bytes: usize,
    /// A publish taken from the queue is being handed to the connection.
    handing_over: bool,
}

impl Overflow {
    /// An empty overflow whose task hands its publishes to `client`, waiting for room,
    /// until the connection's event loop is gone.
    pub(crate) fn new(client: AsyncClient) -> Self {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            wake: Notify::new(),
        });
        tokio::spawn(drain(client, shared.clone()));
        Self { shared }
    }

    /// Whether publishes wait: a new one must then queue behind them, to keep order.
    pub(crate) fn is_waiting(&self) -> bool {
        let queue = self.lock();
        queue.handing_over || !queue.publishes.is_empty()
    }

    /// Queues `publish`; false (and `publish` dropped) when the bound is reached.
    pub(crate) fn push(&self, publish: Pending) -> bool {
        let mut queue = self.lock();
        if queue.bytes + publish.size() > MAX_BYTES {
            return false;
        }
        queue.bytes += publish.size();
        queue.publishes.push_back(publish);
        drop(queue);
        self.shared.wake.notify_one();
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.shared.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

async fn drain(client: AsyncClient, shared: Arc<Shared>) {
    let overflow = Overflow { shared };
    loop {
        let next = {
            let mut queue = overflow.lock();
            let next = queue.publishes.pop_front();
            queue.handing_over = next.is_some();
            if let Some(p) = &next {
                queue.bytes -= p.size();
            }
            next
        };
        let Some(p) = next else {
            overflow.shared.wake.notified().await;
            continue;
        };
        let sent = match p.properties {
            Some(props) => {
                client
                    .publish_with_properties(p.topic.as_str(), p.qos, p.retain, p.payload, props)
                    .await
            }
            None => {
                client
                    .publish(p.topic.as_str(), p.qos, p.retain, p.payload)
                    .await
            }
        };
        if let Err(e) = sent {
            // Awaiting room, `publish` fails only when the event loop is gone.
            tracing::warn!(topic = %p.topic, error = %e, "MQTT publish dropped: the connection is gone");
            return;
        }
    }
}
