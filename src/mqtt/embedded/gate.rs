//! The embedded broker's gate: which device publishes the broker takes, and when the
//! adapter has been given everything the broker took.
//!
//! The embedded broker acknowledges a device's publish itself, in this process: what it
//! acknowledged must reach the journal. So while the journal cannot be written, and
//! from the moment shutdown starts, it refuses QoS 1 and 2 publishes before
//! acknowledging them (an MQTT 5 client is disconnected with *quota exceeded* or
//! *server shutting down*, an MQTT 3.1.1 client sees its connection close; either keeps
//! the publish and sends it again). At shutdown the adapter then takes everything the
//! broker acknowledged before the gate closed ([`Gate::drained`]) and journals it.

use crate::metrics::Metrics;
use rumqttd::protocol::{DisconnectReasonCode, QoS};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use tokio::sync::Notify;

/// Decides for the embedded broker's router; shared with the adapter.
pub struct Gate {
    metrics: Arc<Metrics>,
    /// The adapter's own client id: its publishes always pass.
    adapter: OnceLock<String>,
    shutting_down: AtomicBool,
    /// The router has seen the adapter publish since shutdown started: every device
    /// publish it took came before.
    marker_seen: AtomicBool,
    drained: AtomicBool,
    wake: Notify,
}

impl Gate {
    /// A gate that refuses publishes while `metrics` says the journal cannot be written.
    pub fn new(metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(Self {
            metrics,
            adapter: OnceLock::new(),
            shutting_down: AtomicBool::new(false),
            marker_seen: AtomicBool::new(false),
            drained: AtomicBool::new(false),
            wake: Notify::new(),
        })
    }

    /// The adapter's client id (set once, before it connects).
    pub fn set_adapter(&self, client_id: &str) {
        let _ = self.adapter.set(client_id.to_owned());
    }

    /// Shutdown starts: no device publish at QoS 1 or 2 is taken any more. The adapter
    /// publishes once after this (any topic), then waits for [`Gate::drained`].
    pub fn close(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    /// Resolves once the adapter has received and acknowledged every publish the broker
    /// took before [`Gate::close`].
    pub async fn drained(&self) {
        loop {
            let woken = self.wake.notified();
            if self.drained.load(Ordering::SeqCst) {
                return;
            }
            woken.await;
        }
    }

    fn is_adapter(&self, client_id: &str) -> bool {
        self.adapter.get().is_some_and(|a| a == client_id)
    }
}

impl rumqttd::PublishGate for Gate {
    fn refuse(&self, client_id: &str, qos: QoS) -> Option<DisconnectReasonCode> {
        if self.is_adapter(client_id) {
            if self.shutting_down.load(Ordering::SeqCst) {
                self.marker_seen.store(true, Ordering::SeqCst);
            }
            return None;
        }
        if qos == QoS::AtMostOnce {
            return None;
        }
        if self.shutting_down.load(Ordering::SeqCst) {
            return Some(DisconnectReasonCode::ServerShuttingDown);
        }
        if !self.metrics.is_journal_writable() {
            return Some(DisconnectReasonCode::QuotaExceeded);
        }
        None
    }

    fn caught_up(&self, client_id: &str) {
        if self.is_adapter(client_id) && self.marker_seen.load(Ordering::SeqCst) {
            self.drained.store(true, Ordering::SeqCst);
            self.wake.notify_one();
        }
    }
}
