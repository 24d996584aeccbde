//! The simulated server's runtime state and the semantics of every action.
//!
//! Everything here is synchronous and runs under one mutex held for microseconds; the
//! HTTP layer ([`super::rest`]) does the waiting. Messages are routed to subscriptions
//! at send time; StateObject subscriptions keep an ordered set of names (conflation:
//! a fetch returns each SO once, at its value at fetch time).

use super::participant::Participant;
use super::routing::{self, Recipient};
use super::world::{CredentialDecl, PackageDecl, World};
use crate::constellation::model::{
    infer_type, LogLevel, OutgoingMessage, ReceivedMessage, ReceivedScope, ScopeType, Sender,
    SenderType, SoFilter, StateObject, StateObjectPush,
};
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::Notify;

/// A refusal, with the status and `{"Message": …}` body the spec gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct SimError {
    pub status: StatusCode,
    pub message: String,
}

impl SimError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
    pub(super) fn unauthorized(m: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, m)
    }
    pub(super) fn forbidden(m: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, m)
    }
    pub(super) fn bad_request(m: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, m)
    }
    pub(super) fn not_found(m: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, m)
    }
    fn lost(id: &str) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("subscription {id} is unknown or expired: subscribe again"),
        )
    }
}

/// The kinds of subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SubKind {
    Messages,
    StateObjects,
}

/// What keeps a subscription alive, shared by both kinds.
#[derive(Debug)]
struct Liveness {
    notify: Arc<Notify>,
    last_seen: Instant,
    polling: u32,
    /// Inspection inboxes never expire.
    pinned: bool,
}

impl Liveness {
    fn new(pinned: bool) -> Self {
        Self {
            notify: Arc::new(Notify::new()),
            last_seen: Instant::now(),
            polling: 0,
            pinned,
        }
    }
    fn expired(&self, now: Instant, expiry: Duration) -> bool {
        !self.pinned && self.polling == 0 && now.duration_since(self.last_seen) > expiry
    }
}

/// A message subscription: direct messages (package, sentinel, all, other) and groups.
#[derive(Debug)]
struct MessageSub {
    pub owner: Participant,
    /// Receives messages addressed to its owner, not only to its groups.
    pub direct: bool,
    pub groups: BTreeSet<String>,
    queue: VecDeque<ReceivedMessage>,
    dropped: u64,
    live: Liveness,
}

/// A StateObject subscription: its filters and the SOs updated since the last fetch.
#[derive(Debug)]
struct SoSub {
    owner: Participant,
    filters: Vec<SoFilter>,
    pending: VecDeque<String>,
    pending_set: HashSet<String>,
    live: Liveness,
}

#[derive(Debug)]
struct StoredSo {
    so: StateObject,
    updated: Instant,
    /// Set once subscribers were told the SO expired.
    expiry_announced: bool,
}

impl StoredSo {
    fn is_expired(&self, now: Instant) -> bool {
        self.so.lifetime > 0 && now.duration_since(self.updated).as_secs() >= self.so.lifetime
    }
    fn view(&self, now: Instant) -> StateObject {
        StateObject {
            is_expired: self.is_expired(now),
            ..self.so.clone()
        }
    }
}

/// One `WriteLog` as recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LogEntry {
    pub sentinel_name: String,
    pub package_name: String,
    pub level: LogLevel,
    pub message: String,
    pub date: String,
}

/// A subscription as the inspection API shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SubscriptionInfo {
    pub id: String,
    pub kind: SubKind,
    pub owner: String,
    pub groups: Vec<String>,
    pub filters: Vec<SoFilter>,
    pub queued: usize,
    pub dropped: u64,
    pub polling: u32,
}

/// Requests seen, by action and status, and by caller.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Stats {
    pub total: u64,
    pub by_action: BTreeMap<String, BTreeMap<u16, u64>>,
    pub by_caller: BTreeMap<String, u64>,
    /// Management API requests that change something, by method and path
    /// (`POST sentinels`, `DELETE sentinels/S/packages/P`).
    pub management_changes: BTreeMap<String, u64>,
}

impl Stats {
    /// Requests for `action` answered with `status`.
    pub fn count(&self, action: &str, status: u16) -> u64 {
        self.by_action
            .get(action)
            .and_then(|m| m.get(&status))
            .copied()
            .unwrap_or(0)
    }

    /// Requests for `action`, whatever the answer.
    pub fn count_action(&self, action: &str) -> u64 {
        self.by_action.get(action).map_or(0, |m| m.values().sum())
    }
}

/// Faults injected into the REST interface (not the inspection API).
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Faults {
    /// Every REST request is held this long before it is handled.
    pub delay_ms: u64,
    /// Every REST request is answered with this status instead.
    pub status: Option<u16>,
    /// Every Management API request is answered with this status instead.
    pub management_status: Option<u16>,
    /// Every REST request is answered `200 OK` with a body that is not the action's,
    /// and not carried out: a lying server, or a proxy's page.
    pub lie: Option<Lie>,
}

/// How the simulator lies ([`Faults::lie`]).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lie {
    /// A body that is not JSON (an HTML page).
    Garbage,
    /// A JSON string of this many bytes: valid, but larger than any action's answer.
    Huge(usize),
}

/// The whole mutable state of the simulated server.
pub(super) struct State {
    /// The configuration in effect (as last reloaded).
    world: World,
    /// The configuration file: what the Management API edits, in effect after
    /// `configuration/reload`.
    pub configuration: World,
    /// Configuration reloads so far.
    pub reloads: u64,
    packages: HashMap<Participant, PackageDecl>,
    /// The packages the configuration in effect declares (others were declared at run
    /// time: by an open key, or by settings set through the inspection API).
    configured: HashSet<Participant>,
    sentinel_keys: HashMap<String, Vec<String>>,
    credentials: HashMap<String, CredentialDecl>,
    connection_ids: HashMap<Participant, String>,
    sos: BTreeMap<String, StoredSo>,
    msg_subs: HashMap<String, MessageSub>,
    so_subs: HashMap<String, SoSub>,
    logs: Vec<LogEntry>,
    descriptors: BTreeMap<String, Value>,
    pub stats: Stats,
    pub faults: Faults,
    /// Every StateObject push, for in-process observers (see `SimHandle::updates`).
    pub updates: tokio::sync::broadcast::Sender<StateObject>,
    /// Every log line, for the console.
    pub log_events: tokio::sync::broadcast::Sender<LogEntry>,
}

fn now_iso() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl State {
    pub fn new(world: World) -> Self {
        let mut state = Self {
            world: World::default(),
            configuration: world.clone(),
            reloads: 0,
            packages: HashMap::new(),
            configured: HashSet::new(),
            sentinel_keys: HashMap::new(),
            credentials: HashMap::new(),
            connection_ids: HashMap::new(),
            sos: BTreeMap::new(),
            msg_subs: HashMap::new(),
            so_subs: HashMap::new(),
            logs: Vec::new(),
            descriptors: BTreeMap::new(),
            stats: Stats::default(),
            faults: Faults::default(),
            updates: tokio::sync::broadcast::Sender::new(65_536),
            log_events: tokio::sync::broadcast::Sender::new(4_096),
        };
        state.apply(world);
        state
    }

    /// `configuration/reload`: the configuration file takes effect. Runtime state
    /// (StateObjects, subscriptions, logs) is kept; packages it no longer declares are
    /// refused from now on.
    pub fn reload(&mut self) {
        self.reloads += 1;
        self.apply(self.configuration.clone());
    }

    fn apply(&mut self, world: World) {
        for gone in self.configured.drain() {
            self.packages.remove(&gone);
        }
        self.credentials = world
            .credentials
            .iter()
            .map(|c| (c.name.clone(), c.clone()))
            .collect();
        self.sentinel_keys.clear();
        for s in &world.sentinels {
            let keys: Vec<String> = s
                .access_key
                .iter()
                .cloned()
                .chain(s.credential.as_deref().and_then(|c| self.key_of(c)))
                .collect();
            self.sentinel_keys.insert(s.name.clone(), keys);
            for p in &s.packages {
                let id = Participant {
                    sentinel: s.name.clone(),
                    package: p.name.clone(),
                };
                self.configured.insert(id.clone());
                self.packages.insert(id, p.clone());
            }
        }
        self.world = world;
    }

    /// The key of an enabled credential.
    fn key_of(&self, credential: &str) -> Option<String> {
        self.credentials
            .get(credential)
            .filter(|c| c.enable)
            .map(|c| c.access_key.clone())
    }

    /// The configuration in effect, the configuration file, and the reloads so far.
    pub fn configuration_view(&self) -> Value {
        json!({"InEffect": self.world, "File": self.configuration, "Reloads": self.reloads})
    }

    /// Whether `key` is a credential the Management API accepts.
    pub fn management_key(&self, key: &str) -> bool {
        self.credentials
            .values()
            .any(|c| c.enable && c.enable_management_api && c.access_key == key)
    }

    // ----- credentials -------------------------------------------------------------

    /// Checks a credential; an open world declares unknown packages on first use.
    pub fn authenticate(
        &mut self,
        sentinel: Option<&str>,
        package: Option<&str>,
        key: Option<&str>,
    ) -> Result<Participant, SimError> {
        let (Some(sentinel), Some(package), Some(key)) = (sentinel, package, key) else {
            return Err(SimError::unauthorized(
                "SentinelName, PackageName and AccessKey are required",
            ));
        };
        let who = Participant {
            sentinel: sentinel.into(),
            package: package.into(),
        };
        let refused = || SimError::unauthorized(format!("access denied for {}", who.key()));
        if who.is_consumer() {
            return if self.world.consumer_keys.iter().any(|k| k == key) {
                Ok(who)
            } else {
                Err(refused())
            };
        }
        match self.packages.get(&who) {
            Some(decl) => {
                let own = decl.access_key.as_deref() == Some(key)
                    || decl
                        .credential
                        .as_deref()
                        .and_then(|c| self.key_of(c))
                        .as_deref()
                        == Some(key);
                let sentinel_keys = self.sentinel_keys.get(sentinel);
                let by_sentinel = sentinel_keys.is_some_and(|keys| keys.iter().any(|k| k == key));
                if decl.enable && (own || by_sentinel) {
                    Ok(who)
                } else {
                    Err(refused())
                }
            }
            None if self.world.open_keys.iter().any(|k| k == key) => {
                let decl = PackageDecl::new(package.to_owned()).with_key(key.to_owned());
                self.packages.insert(who.clone(), decl);
                Ok(who)
            }
            None => Err(refused()),
        }
    }

    fn decl(&self, who: &Participant) -> Option<&PackageDecl> {
        self.packages.get(who)
    }

    fn connection_id(&mut self, who: &Participant) -> String {
        self.connection_ids
            .entry(who.clone())
            .or_insert_with(new_id)
            .clone()
    }

    // ----- StateObjects --------------------------------------------------------------

    /// `PushStateObject`.
    pub fn push_so(&mut self, who: &Participant, push: StateObjectPush) -> Result<(), SimError> {
        if push.name.is_empty() {
            return Err(SimError::bad_request("the StateObject name is empty"));
        }
        let lifetime = match push.lifetime.unwrap_or(0) {
            l if l < 0 => return Err(SimError::bad_request(format!("negative lifetime {l}"))),
            l => l.unsigned_abs(),
        };
        let type_name = push
            .type_name
            .filter(|t| !t.is_empty())
            .or_else(|| infer_type(&push.value).map(str::to_owned));
        let unique_id = format!("{}/{}", who.key(), push.name);
        let so = StateObject {
            sentinel_name: who.sentinel.clone(),
            package_name: who.package.clone(),
            name: push.name,
            unique_id: unique_id.clone(),
            type_name,
            value: push.value,
            metadatas: Some(push.metadatas.unwrap_or_default()),
            last_update: now_iso(),
            lifetime,
            is_expired: false,
        };
        self.notify_so(&so, &unique_id);
        if self.updates.receiver_count() > 0 {
            let _ = self.updates.send(so.clone());
        }
        self.sos.insert(
            unique_id,
            StoredSo {
                so,
                updated: Instant::now(),
                expiry_announced: false,
            },
        );
        Ok(())
    }

    fn notify_so(&mut self, so: &StateObject, unique_id: &str) {
        let now = Instant::now();
        let expiry = self.world.subscription_expiry();
        for sub in self.so_subs.values_mut() {
            if sub.live.expired(now, expiry) || !sub.filters.iter().any(|f| f.matches(so)) {
                continue;
            }
            if sub.pending_set.insert(unique_id.to_owned()) {
                sub.pending.push_back(unique_id.to_owned());
            }
            sub.live.notify.notify_one();
        }
    }

    /// `PurgeStateObjects` of the caller's own SOs; returns how many went.
    pub fn purge_sos(&mut self, who: &Participant, name: &str, type_name: &str) -> usize {
        let filter = SoFilter {
            sentinel: who.sentinel.clone(),
            package: who.package.clone(),
            name: name.into(),
            type_name: type_name.into(),
        };
        let before = self.sos.len();
        self.sos.retain(|_, s| !filter.matches(&s.so));
        before - self.sos.len()
    }

    /// The SOs matching `filter`, as they are now.
    pub fn query_sos(&self, filter: &SoFilter) -> Vec<StateObject> {
        let now = Instant::now();
        self.sos
            .values()
            .filter(|s| filter.matches(&s.so))
            .map(|s| s.view(now))
            .collect()
    }

    /// `RequestStateObjects`.
    pub fn request_sos(
        &self,
        who: &Participant,
        filter: &SoFilter,
    ) -> Result<Vec<StateObject>, SimError> {
        self.may_read_sos(who)?;
        Ok(self.query_sos(filter))
    }

    fn may_read_sos(&self, who: &Participant) -> Result<(), SimError> {
        match self.decl(who) {
            Some(d) if !d.can_read_stateobjects => Err(SimError::forbidden(format!(
                "{} may not read StateObjects",
                who.key()
            ))),
            _ => Ok(()),
        }
    }

    // ----- logs, settings, descriptors ----------------------------------------------

    /// `WriteLog`.
    pub fn write_log(&mut self, who: &Participant, level: LogLevel, message: String) {
        let entry = LogEntry {
            sentinel_name: who.sentinel.clone(),
            package_name: who.package.clone(),
            level,
            message,
            date: now_iso(),
        };
        let _ = self.log_events.send(entry.clone());
        self.logs.push(entry);
    }

    /// Logs of a package (or all with `None`), oldest first.
    pub fn logs(&self, who: Option<&Participant>) -> Vec<LogEntry> {
        self.logs
            .iter()
            .filter(|l| {
                who.is_none_or(|w| l.sentinel_name == w.sentinel && l.package_name == w.package)
            })
            .cloned()
            .collect()
    }

    /// `GetSettings`: a consumer or an undeclared package has none.
    pub fn settings(&self, who: &Participant) -> Map<String, Value> {
        self.decl(who)
            .map(|d| d.settings.clone())
            .unwrap_or_default()
    }

    /// Replaces a package's settings, declaring it if needed.
    pub fn set_settings(&mut self, who: &Participant, settings: Map<String, Value>) {
        self.packages
            .entry(who.clone())
            .or_insert_with(|| PackageDecl::new(who.package.clone()))
            .settings = settings;
    }

    /// `DeclarePackageDescriptor`.
    pub fn declare_descriptor(&mut self, who: &Participant, descriptor: Value) {
        self.descriptors.insert(who.key(), descriptor);
    }

    /// The latest descriptor of each package, by `Sentinel/Package`.
    pub fn descriptors(&self) -> BTreeMap<String, Value> {
        self.descriptors.clone()
    }

    // ----- messages ------------------------------------------------------------------

    /// `SendMessage`: routes the message to every subscription its scope reaches and
    /// returns how many that is.
    pub fn send_message(
        &mut self,
        who: &Participant,
        sender_type: SenderType,
        msg: OutgoingMessage,
    ) -> Result<usize, SimError> {
        if let Some(d) = self.decl(who) {
            if !d.can_send_messages {
                return Err(SimError::forbidden(format!(
                    "{} may not send messages",
                    who.key()
                )));
            }
        }
        if msg.key.is_empty() {
            return Err(SimError::bad_request("the message key is empty"));
        }
        let needs_args = matches!(
            msg.scope.kind,
            ScopeType::Package | ScopeType::Sentinel | ScopeType::Group
        );
        if needs_args && msg.scope.args.is_empty() {
            return Err(SimError::bad_request(format!(
                "scope {} needs at least one argument",
                msg.scope.kind
            )));
        }
        let received = ReceivedMessage {
            key: msg.key,
            data: msg.data,
            scope: ReceivedScope {
                kind: msg.scope.kind,
                args: msg.scope.args,
                saga_id: msg.scope.saga_id.filter(|s| !s.is_empty()),
            },
            sender: Sender {
                kind: sender_type,
                friendly_name: who.key(),
                connection_id: Some(self.connection_id(who)),
            },
            extra: Map::new(),
        };
        let now = Instant::now();
        let expiry = self.world.subscription_expiry();
        let limit = self.world.max_queued_messages.max(1);
        let mut delivered = 0;
        for sub in self.msg_subs.values_mut() {
            if sub.live.expired(now, expiry) {
                continue;
            }
            let static_groups = self.packages.get(&sub.owner).map(|d| d.groups.as_slice());
            let owner_conn = self.connection_ids.get(&sub.owner).map(String::as_str);
            if !routing::reaches(
                &received.scope,
                who,
                Recipient {
                    owner: &sub.owner,
                    direct: sub.direct,
                    groups: &sub.groups,
                },
                static_groups,
                owner_conn,
            ) {
                continue;
            }
            if sub.queue.len() >= limit {
                sub.queue.pop_front();
                sub.dropped += 1;
            }
            sub.queue.push_back(received.clone());
            sub.live.notify.notify_one();
            delivered += 1;
        }
        Ok(delivered)
    }

    /// `SubscribeToMessage`: renews `existing` when it is the caller's, recreates it
    /// under the same id when it expired, else creates a subscription.
    pub fn subscribe_messages(&mut self, who: &Participant, existing: Option<&str>) -> String {
        let id = self.message_sub(who, existing, false);
        if let Some(sub) = self.msg_subs.get_mut(&id) {
            sub.direct = true;
        }
        id
    }

    /// `SubscribeToMessageGroup`.
    pub fn subscribe_group(
        &mut self,
        who: &Participant,
        group: &str,
        existing: Option<&str>,
    ) -> Result<String, SimError> {
        if group.is_empty() {
            return Err(SimError::bad_request("the group name is empty"));
        }
        if let Some(allowed) = self.decl(who).and_then(|d| d.allowed_groups.as_ref()) {
            if !allowed.iter().any(|g| g == group) {
                return Err(SimError::forbidden(format!(
                    "{} may not join group {group}",
                    who.key()
                )));
            }
        }
        let id = self.message_sub(who, existing, false);
        if let Some(sub) = self.msg_subs.get_mut(&id) {
            sub.groups.insert(group.to_owned());
        }
        Ok(id)
    }

    /// The inspection inbox of a participant: a direct message subscription that never
    /// expires.
    pub fn inbox(&mut self, who: &Participant) -> String {
        let found = self
            .msg_subs
            .iter()
            .find(|(_, s)| s.owner == *who && s.live.pinned)
            .map(|(id, _)| id.clone());
        found.unwrap_or_else(|| {
            let id = self.message_sub(who, None, true);
            if let Some(sub) = self.msg_subs.get_mut(&id) {
                sub.direct = true;
            }
            id
        })
    }

    fn message_sub(&mut self, who: &Participant, existing: Option<&str>, pinned: bool) -> String {
        let id = self.reusable_id(who, existing, SubKind::Messages);
        let sub = self
            .msg_subs
            .entry(id.clone())
            .or_insert_with(|| MessageSub {
                owner: who.clone(),
                direct: false,
                groups: BTreeSet::new(),
                queue: VecDeque::new(),
                dropped: 0,
                live: Liveness::new(pinned),
            });
        sub.live.last_seen = Instant::now();
        id
    }

    /// The id a (re)subscription gets: `existing` when it is the caller's or free and
    /// well-formed, else a new one. A subscription that expired is swept first, so
    /// renewing it starts afresh under its old id.
    fn reusable_id(&mut self, who: &Participant, existing: Option<&str>, kind: SubKind) -> String {
        self.sweep_subscriptions(Instant::now());
        let Some(id) = existing.filter(|id| uuid::Uuid::parse_str(id).is_ok()) else {
            return new_id();
        };
        let owner = match kind {
            SubKind::Messages => self.msg_subs.get(id).map(|s| &s.owner),
            SubKind::StateObjects => self.so_subs.get(id).map(|s| &s.owner),
        };
        let taken_by_other = self.msg_subs.get(id).is_some_and(|s| s.owner != *who)
            || self.so_subs.get(id).is_some_and(|s| s.owner != *who);
        match owner {
            Some(o) if o == who => id.to_owned(),
            _ if taken_by_other => new_id(),
            _ => id.to_owned(),
        }
    }

    // ----- StateObject subscriptions --------------------------------------------------

    /// `SubscribeToStateObjects`: adds `filter` to `existing` (when it is the caller's),
    /// else to a new subscription.
    pub fn subscribe_sos(
        &mut self,
        who: &Participant,
        existing: Option<&str>,
        filter: SoFilter,
    ) -> Result<String, SimError> {
        self.may_read_sos(who)?;
        let id = self.reusable_id(who, existing, SubKind::StateObjects);
        let sub = self.so_subs.entry(id.clone()).or_insert_with(|| SoSub {
            owner: who.clone(),
            filters: Vec::new(),
            pending: VecDeque::new(),
            pending_set: HashSet::new(),
            live: Liveness::new(false),
        });
        sub.live.last_seen = Instant::now();
        if !sub.filters.contains(&filter) {
            sub.filters.push(filter);
        }
        Ok(id)
    }

    // ----- long polls ----------------------------------------------------------------

    /// Starts a long poll: checks the subscription is the caller's and alive, marks it
    /// polled (so it cannot expire meanwhile) and returns what wakes the poller.
    pub fn begin_poll(
        &mut self,
        who: &Participant,
        kind: SubKind,
        id: &str,
    ) -> Result<Arc<Notify>, SimError> {
        let now = Instant::now();
        let expiry = self.world.subscription_expiry();
        let live = self
            .liveness(kind, id, who)
            .ok_or_else(|| SimError::lost(id))?;
        if live.expired(now, expiry) {
            self.remove_subscription(id);
            return Err(SimError::lost(id));
        }
        live.polling += 1;
        Ok(live.notify.clone())
    }

    /// Ends a long poll begun with [`State::begin_poll`].
    pub fn end_poll(&mut self, who: &Participant, kind: SubKind, id: &str) {
        if let Some(live) = self.liveness(kind, id, who) {
            live.polling = live.polling.saturating_sub(1);
            live.last_seen = Instant::now();
        }
    }

    fn liveness(&mut self, kind: SubKind, id: &str, who: &Participant) -> Option<&mut Liveness> {
        match kind {
            SubKind::Messages => self
                .msg_subs
                .get_mut(id)
                .filter(|s| s.owner == *who)
                .map(|s| &mut s.live),
            SubKind::StateObjects => self
                .so_subs
                .get_mut(id)
                .filter(|s| s.owner == *who)
                .map(|s| &mut s.live),
        }
    }

    /// Takes up to `limit` (0 = all) queued items: messages as delivered, or
    /// `{"StateObject": …}` items at their current value.
    pub fn take(
        &mut self,
        who: &Participant,
        kind: SubKind,
        id: &str,
        limit: usize,
    ) -> Result<Vec<Value>, SimError> {
        let limit = if limit == 0 { usize::MAX } else { limit };
        match kind {
            SubKind::Messages => {
                let sub = self
                    .msg_subs
                    .get_mut(id)
                    .filter(|s| s.owner == *who)
                    .ok_or_else(|| SimError::lost(id))?;
                let n = sub.queue.len().min(limit);
                Ok(sub
                    .queue
                    .drain(..n)
                    .map(|m| serde_json::to_value(m).unwrap_or(Value::Null))
                    .collect())
            }
            SubKind::StateObjects => {
                let sub = self
                    .so_subs
                    .get_mut(id)
                    .filter(|s| s.owner == *who)
                    .ok_or_else(|| SimError::lost(id))?;
                let now = Instant::now();
                let mut out = Vec::new();
                while out.len() < limit {
                    let Some(uid) = sub.pending.pop_front() else {
                        break;
                    };
                    sub.pending_set.remove(&uid);
                    if let Some(stored) = self.sos.get(&uid) {
                        out.push(json!({ "StateObject": stored.view(now) }));
                    }
                }
                Ok(out)
            }
        }
    }

    // ----- housekeeping --------------------------------------------------------------

    /// Drops expired subscriptions and tells subscribers about SOs whose lifetime ran out.
    pub fn sweep(&mut self) {
        let now = Instant::now();
        self.sweep_subscriptions(now);
        let expired: Vec<(String, StateObject)> = self
            .sos
            .iter_mut()
            .filter(|(_, s)| !s.expiry_announced && s.is_expired(now))
            .map(|(uid, s)| {
                s.expiry_announced = true;
                (uid.clone(), s.view(now))
            })
            .collect();
        for (uid, so) in expired {
            self.notify_so(&so, &uid);
        }
    }

    fn sweep_subscriptions(&mut self, now: Instant) {
        let expiry = self.world.subscription_expiry();
        self.msg_subs.retain(|_, s| !s.live.expired(now, expiry));
        self.so_subs.retain(|_, s| !s.live.expired(now, expiry));
    }

    /// How often [`State::sweep`] should run.
    pub fn sweep_interval(&self) -> Duration {
        (self.world.subscription_expiry() / 4)
            .clamp(Duration::from_millis(10), Duration::from_millis(200))
    }

    /// Forgets a subscription at once, as if it had expired; its poller is woken so it
    /// answers 500. Returns whether it existed.
    pub fn remove_subscription(&mut self, id: &str) -> bool {
        let notify = match (self.msg_subs.remove(id), self.so_subs.remove(id)) {
            (Some(s), _) => Some(s.live.notify),
            (_, Some(s)) => Some(s.live.notify),
            _ => None,
        };
        notify.inspect(|n| n.notify_one()).is_some()
    }

    /// Every live subscription, for inspection.
    pub fn subscriptions(&self) -> Vec<SubscriptionInfo> {
        let msgs = self.msg_subs.iter().map(|(id, s)| SubscriptionInfo {
            id: id.clone(),
            kind: SubKind::Messages,
            owner: s.owner.key(),
            groups: s.groups.iter().cloned().collect(),
            filters: Vec::new(),
            queued: s.queue.len(),
            dropped: s.dropped,
            polling: s.live.polling,
        });
        let sos = self.so_subs.iter().map(|(id, s)| SubscriptionInfo {
            id: id.clone(),
            kind: SubKind::StateObjects,
            owner: s.owner.key(),
            groups: Vec::new(),
            filters: s.filters.clone(),
            queued: s.pending.len(),
            dropped: 0,
            polling: s.live.polling,
        });
        let mut all: Vec<_> = msgs.chain(sos).collect();
        all.sort_by(|a, b| (&a.owner, &a.id).cmp(&(&b.owner, &b.id)));
        all
    }

    /// Counts a request.
    pub fn record(&mut self, action: &str, caller: Option<&Participant>, status: StatusCode) {
        self.stats.total += 1;
        *self
            .stats
            .by_action
            .entry(action.to_owned())
            .or_default()
            .entry(status.as_u16())
            .or_default() += 1;
        if let Some(c) = caller {
            *self.stats.by_caller.entry(c.key()).or_default() += 1;
        }
    }
}
