//! [`SimHandle`]: the simulator inspected and driven in process.

use super::participant::Participant;
use super::rest::long_poll;
use super::shared::Shared;
use super::state::{Faults, LogEntry, SimError, Stats, SubKind, SubscriptionInfo};
use crate::constellation::model::{
    OutgoingMessage, ReceivedMessage, SenderType, SoFilter, StateObject, StateObjectPush,
    RESPONSE_KEY,
};
use serde_json::{Map, Value};
use std::time::Duration;

/// Inspects and drives a running simulator in process; the same operations are offered
/// over HTTP under `/sim/` (see the README).
#[derive(Clone)]
pub struct SimHandle(Shared);

impl From<Shared> for SimHandle {
    fn from(shared: Shared) -> Self {
        Self(shared)
    }
}

impl SimHandle {
    /// The StateObjects matching `filter`, as they are now.
    pub fn state_objects(&self, filter: &SoFilter) -> Vec<StateObject> {
        self.0.lock().query_sos(filter)
    }

    /// One StateObject by its sentinel, package and name.
    pub fn state_object(&self, sentinel: &str, package: &str, name: &str) -> Option<StateObject> {
        let filter = SoFilter {
            sentinel: sentinel.into(),
            package: package.into(),
            name: name.into(),
            type_name: "*".into(),
        };
        self.state_objects(&filter).into_iter().next()
    }

    /// Every StateObject pushed from now on, as it is stored: for observers in the same
    /// process (load tests, tools). A receiver that falls 65 536 pushes behind skips.
    pub fn updates(&self) -> tokio::sync::broadcast::Receiver<StateObject> {
        self.0.lock().updates.subscribe()
    }

    /// Logs written by `sentinel/package` (or by everyone with `None`), oldest first.
    pub fn logs(&self, package: Option<&Participant>) -> Vec<LogEntry> {
        self.0.lock().logs(package)
    }

    /// The latest descriptor of each package, by `Sentinel/Package`.
    pub fn descriptors(&self) -> std::collections::BTreeMap<String, Value> {
        self.0.lock().descriptors()
    }

    /// Every live subscription.
    pub fn subscriptions(&self) -> Vec<SubscriptionInfo> {
        self.0.lock().subscriptions()
    }

    /// Requests seen so far.
    pub fn stats(&self) -> Stats {
        self.0.lock().stats.clone()
    }

    /// Replaces a package's settings.
    pub fn set_settings(&self, package: &Participant, settings: Map<String, Value>) {
        self.0.lock().set_settings(package, settings);
    }

    /// Sets the faults injected into the REST interface.
    pub fn set_faults(&self, faults: Faults) {
        self.0.lock().faults = faults;
    }

    /// The configuration in effect and the configuration file (the Management API's),
    /// as `GET /sim/configuration` shows them.
    pub fn configuration(&self) -> Value {
        self.0.lock().configuration_view()
    }

    /// Configuration reloads so far.
    pub fn reloads(&self) -> u64 {
        self.0.lock().reloads
    }

    /// Expires a subscription now; returns whether it existed.
    pub fn expire_subscription(&self, id: &str) -> bool {
        self.0.lock().remove_subscription(id)
    }

    /// Pushes a StateObject as `package`, like a real package would.
    pub fn push_state_object(
        &self,
        package: &Participant,
        push: StateObjectPush,
    ) -> Result<(), SimError> {
        self.0.lock().push_so(package, push)
    }

    /// Purges `package`'s StateObjects matching `name` and `type` (`*` = any), as its
    /// `PurgeStateObjects` would; returns how many.
    pub fn purge_state_objects(&self, package: &Participant, name: &str, type_name: &str) -> usize {
        self.0.lock().purge_sos(package, name, type_name)
    }

    /// Sends a message as `from` (a package or `Consumer/<name>`), appearing as a sender
    /// of type `sender`. Answers to `from` (sagas) are kept in its inbox, which exists
    /// from this call on. Returns how many subscriptions the message reached.
    pub fn send(
        &self,
        from: &Participant,
        sender: SenderType,
        msg: OutgoingMessage,
    ) -> Result<usize, SimError> {
        let mut state = self.0.lock();
        state.inbox(from);
        state.send_message(from, sender, msg)
    }

    /// Waits up to `timeout` for messages in `who`'s inbox and takes them all.
    pub async fn inbox(&self, who: &Participant, timeout: Duration) -> Vec<ReceivedMessage> {
        let id = self.0.lock().inbox(who);
        long_poll(&self.0, who, SubKind::Messages, &id, timeout, 0)
            .await
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| serde_json::from_value(m).ok())
            .collect()
    }

    /// Waits up to `timeout` for the `__Response` of saga `saga_id` in `who`'s inbox;
    /// other messages taken meanwhile are discarded.
    pub async fn saga_response(
        &self,
        who: &Participant,
        saga_id: &str,
        timeout: Duration,
    ) -> Option<ReceivedMessage> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return None;
            }
            let found = self
                .inbox(who, left)
                .await
                .into_iter()
                .find(|m| m.key == RESPONSE_KEY && m.scope.saga_id.as_deref() == Some(saga_id));
            if found.is_some() {
                return found;
            }
        }
    }
}
