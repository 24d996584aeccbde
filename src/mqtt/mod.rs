//! The MQTT side: the embedded broker and the adapter's connection to a broker.

pub mod connection;
pub mod embedded;
mod overflow;

use bytes::Bytes;
use overflow::{Overflow, Pending};
use rumqttc::v5::mqttbytes::v5::{Filter, PublishProperties, RetainForwardRule};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::AsyncClient;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Whether `topic` matches the MQTT filter `filter` (`+` one level, `#` the rest; a
/// topic starting with `$` matches no wildcard at its first level). rumqttc's own
/// `mqttbytes::matches` slices the topic's first byte and panics when it is part of a
/// multi-byte character, which any device can publish: this one never panics.
pub fn topic_matches(topic: &str, filter: &str) -> bool {
    let mut topics = topic.split('/');
    let mut first = true;
    for f in filter.split('/') {
        if f == "#" {
            return !(first && topic.starts_with('$'));
        }
        match topics.next() {
            Some(t) if f == "+" => {
                if first && t.starts_with('$') {
                    return false;
                }
            }
            Some(t) if t == f => {}
            _ => return false,
        }
        first = false;
    }
    topics.next().is_none()
}

/// The QoS of `mqtt.qos` or a command's `qos` (validated to 0, 1 or 2).
pub fn qos_of(level: u8) -> QoS {
    match level {
        0 => QoS::AtMostOnce,
        2 => QoS::ExactlyOnce,
        _ => QoS::AtLeastOnce,
    }
}

/// Publishes on the adapter's connection without ever waiting: a publish that finds
/// the request queue full waits in order in a bounded overflow (16 MiB); one that finds
/// that full too (the broker unreachable for long) is dropped, counted and logged, so
/// that no caller is ever blocked by the broker.
#[derive(Clone)]
pub struct Publisher {
    client: AsyncClient,
    overflow: Overflow,
    dropped: Arc<AtomicU64>,
    subscriptions: Subscriptions,
}

/// Every filter the adapter subscribes, shared with the connection so that each
/// reconnection subscribes them all again.
#[derive(Clone)]
pub(crate) struct Subscriptions {
    /// The filters given at the start, then those added.
    filters: Arc<Mutex<Vec<String>>>,
    /// How many were given at the start: those are never unsubscribed.
    fixed: usize,
    qos: QoS,
}

impl Subscriptions {
    pub(crate) fn new(filters: Vec<String>, qos: QoS) -> Self {
        Self {
            fixed: filters.len(),
            filters: Arc::new(Mutex::new(filters)),
            qos,
        }
    }

    /// The filters as SUBSCRIBE entries (no local: the adapter's own publishes do not
    /// come back to it), with the retained topics they match sent again (`replay`) or
    /// only where the subscription is new.
    pub(crate) fn entries(&self, replay: bool) -> Vec<Filter> {
        let rule = || {
            if replay {
                RetainForwardRule::OnEverySubscribe
            } else {
                RetainForwardRule::OnNewSubscribe
            }
        };
        self.lock()
            .iter()
            .map(|f| Filter {
                nolocal: true,
                retain_forward_rule: rule(),
                ..Filter::new(f, self.qos)
            })
            .collect()
    }

    /// Whether a publish on `topic`, or on every topic of a filter, already reaches
    /// the adapter.
    pub(crate) fn covers(&self, filter: &str) -> bool {
        self.lock().iter().any(|f| topic_matches(filter, f))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.filters.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Publisher {
    /// The connection's client, for the journal's acknowledgements (which must wait for
    /// room rather than be dropped).
    pub fn client(&self) -> AsyncClient {
        self.client.clone()
    }

    fn new(client: AsyncClient, subscriptions: Subscriptions) -> Self {
        Self {
            overflow: Overflow::new(client.clone()),
            client,
            dropped: Arc::new(AtomicU64::new(0)),
            subscriptions,
        }
    }

    /// Subscribes `filter` from now on, unless a filter already subscribed covers it
    /// (then the broker would deliver its publishes twice).
    pub fn subscribe(&self, filter: &str) {
        if self.subscriptions.covers(filter) {
            return;
        }
        self.subscriptions.lock().push(filter.to_owned());
        let entry = Filter {
            nolocal: true,
            ..Filter::new(filter, self.subscriptions.qos)
        };
        if let Err(e) = self.client.try_subscribe_many([entry]) {
            tracing::error!(filter, error = %e, "MQTT: cannot subscribe (retried at the next connection)");
        }
    }

    /// Unsubscribes `filter` if [`Publisher::subscribe`] subscribed it (never one of
    /// those given at the start).
    pub fn unsubscribe(&self, filter: &str) {
        let fixed = self.subscriptions.fixed;
        let mut filters = self.subscriptions.lock();
        let Some(i) = filters.iter().skip(fixed).position(|f| f == filter) else {
            return;
        };
        filters.remove(fixed + i);
        drop(filters);
        if let Err(e) = self.client.try_unsubscribe(filter) {
            tracing::warn!(filter, error = %e, "MQTT: cannot unsubscribe (gone at the next connection without a session)");
        }
    }

    /// How many filters the adapter subscribes.
    pub fn filters(&self) -> usize {
        self.subscriptions.lock().len()
    }

    /// Publishes at the adapter's QoS (`mqtt.qos`, that of its subscriptions too).
    pub fn publish(&self, topic: &str, payload: impl Into<Bytes>, retain: bool) {
        self.publish_with(topic, payload.into(), retain, None);
    }

    /// Publishes a command, not retained, at its own QoS or the adapter's.
    pub fn publish_command(&self, topic: &str, payload: impl Into<Bytes>, qos: Option<u8>) {
        let qos = qos.map_or(self.subscriptions.qos, qos_of);
        self.send(topic, qos, payload.into(), false, None);
    }

    /// Publishes at `qos`, or the adapter's QoS.
    pub fn publish_at(
        &self,
        topic: &str,
        payload: impl Into<Bytes>,
        retain: bool,
        qos: Option<u8>,
    ) {
        let qos = qos.map_or(self.subscriptions.qos, qos_of);
        self.send(topic, qos, payload.into(), retain, None);
    }

    /// Publishes at the adapter's QoS with MQTT 5 properties.
    pub fn publish_with(
        &self,
        topic: &str,
        payload: Bytes,
        retain: bool,
        properties: Option<PublishProperties>,
    ) {
        self.send(topic, self.subscriptions.qos, payload, retain, properties);
    }

    fn send(
        &self,
        topic: &str,
        qos: QoS,
        payload: Bytes,
        retain: bool,
        properties: Option<PublishProperties>,
    ) {
        if !self.overflow.is_waiting() {
            let sent = match &properties {
                Some(p) => self.client.try_publish_with_properties(
                    topic,
                    qos,
                    retain,
                    payload.clone(),
                    p.clone(),
                ),
                None => self.client.try_publish(topic, qos, retain, payload.clone()),
            };
            if sent.is_ok() {
                return;
            }
        }
        let pending = Pending {
            topic: topic.to_owned(),
            qos,
            retain,
            payload,
            properties,
        };
        if !self.overflow.push(pending) {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::warn!(
                topic,
                dropped_total = n,
                "MQTT publish dropped: the broker takes nothing and 16 MiB already wait"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::topic_matches;

    #[test]
    fn filters_match_as_mqtt_says() {
        for (topic, filter, expected) in [
            ("a/b/c", "a/b/c", true),
            ("a/b/c", "a/+/c", true),
            ("a/b/c", "a/#", true),
            ("a", "a/#", true),
            ("a/b", "a/+", true),
            ("a/b/c", "a/+", false),
            ("a/b", "a/b/c", false),
            ("a//b", "a/+/b", true),
            ("$SYS/x", "#", false),
            ("$SYS/x", "+/x", false),
            ("$SYS/x", "$SYS/#", true),
            ("Ѩ/x", "#", true),
            ("Ѩ/x", "Ѩ/+", true),
            ("", "#", true),
            ("a/+", "a/+", true),
        ] {
            assert_eq!(topic_matches(topic, filter), expected, "{topic} ~ {filter}");
        }
    }
}
