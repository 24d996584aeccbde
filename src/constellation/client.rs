//! The typed REST client: one method per action of the spec, over one set of keep-alive
//! connections: the lean [`Wire`] for `http://` servers, reqwest (rustls) for `https://`.

use super::model::{
    LogLevel, OutgoingMessage, ReceivedMessage, SoFilter, StateObject, StateObjectPush,
};
use super::pipeline::Pipeline;
use super::wire::{timed_out, Terms, Wire};
use super::{Error, Identity};
use bytes::Bytes;
use futures_util::future::Either;
use futures_util::FutureExt;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use url::Url;

/// Told of every request's outcome: its action, the HTTP status (`None` when no answer
/// came: time-out, connection failure) and the time to the answer.
pub trait RequestObserver: Send + Sync {
    fn answered(&self, action: &'static str, status: Option<u16>, elapsed: Duration);
    /// A request of `action` that may not be repeated was sent twice: written on a kept
    /// connection that closed unanswered, then on a new one (the server may have taken
    /// both).
    fn resent(&self, _action: &'static str) {}
    /// The server's answer to `action` was not that action's ([`Error::BadAnswer`]).
    fn bad_answer(&self, _action: &'static str) {}
}

/// How to reach the server.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// The server's root URI, e.g. `http://127.0.0.1:8088/`.
    pub url: Url,
    /// Time limit of an ordinary request.
    pub request_timeout: Duration,
    /// The `timeout` passed to `GetMessages` and `GetStateObjects`.
    pub long_poll_timeout: Duration,
    /// Repeatable requests written on one connection before their answers come
    /// (HTTP/1.1 pipelining, `http://` servers only); 1: each request alone.
    pub pipeline: usize,
}

impl ClientOptions {
    /// Options with the defaults of `configuration.md` (5 s requests, 60 s long polls,
    /// 16 requests pipelined).
    pub fn new(url: Url) -> Self {
        Self {
            url,
            request_timeout: Duration::from_secs(5),
            long_poll_timeout: Duration::from_secs(60),
            pipeline: 16,
        }
    }
}

/// A Constellation REST client. Cheap to clone: clones share their connections.
///
/// Credentials travel as headers, so keys stay out of URLs and access logs, unless a
/// name is not printable ASCII (then all three go in the query string).
#[derive(Clone)]
pub struct Client {
    transport: Transport,
    base: Url,
    /// The path of the REST interface's actions: `<base path>rest/constellation/`.
    actions: Arc<str>,
    request_timeout: Duration,
    long_poll_timeout: Duration,
    observer: Option<Arc<dyn RequestObserver>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base.as_str())
            .field("request_timeout", &self.request_timeout)
            .field("long_poll_timeout", &self.long_poll_timeout)
            .finish_non_exhaustive()
    }
}

/// How requests reach the server.
#[derive(Clone)]
enum Transport {
    /// `http://`: requests written and answers read in the caller's task, or pipelined.
    Wire(Arc<Lean>),
    /// `https://`: reqwest over rustls.
    Tls(reqwest::Client),
}

/// A request on its way: the action, the identity, the query, the body.
struct Call<'a> {
    action: &'static str,
    identity: &'a Identity,
    method: Method,
    query: Vec<(&'static str, &'a str)>,
    body: Option<Vec<u8>>,
    timeout: Duration,
    /// A Management API path (`sentinels/<name>/packages`), instead of the action.
    management: Option<Vec<String>>,
    terms: Terms,
}

/// What each action's answer may be, and whether it may reach the server twice without
/// harm: a log or a message would be written twice, a long poll's messages taken twice
/// (the first answer lost), a new subscription made twice. Management requests are
/// never repeated.
fn terms(action: &str) -> Terms {
    const SMALL: usize = 4 * 1024;
    const LISTS: usize = 64 * 1024 * 1024;
    let (max_body, repeatable) = match action {
        "CheckAccess"
        | "PushStateObject"
        | "PurgeStateObjects"
        | "DeclarePackageDescriptor"
        | "SubscribeToStateObjects"
        | "SubscribeToMessageGroup" => (SMALL, true),
        "WriteLog" | "SendMessage" | "SubscribeToMessage" => (SMALL, false),
        "GetSettings" => (4 * 1024 * 1024, true),
        "RequestStateObjects" => (LISTS, true),
        "GetMessages" | "GetStateObjects" => (LISTS, false),
        _ => (16 * 1024 * 1024, false),
    };
    Terms {
        max_body,
        repeatable,
    }
}

impl Client {
    /// A client for the server at `options.url`.
    pub fn new(options: ClientOptions) -> Result<Self, reqwest::Error> {
        let mut base = options.url;
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let transport = match Wire::for_url(&base) {
            Some(wire) => Transport::Wire(Arc::new(Lean {
                pipeline: (options.pipeline > 1)
                    .then(|| Pipeline::new(wire.endpoint().clone(), options.pipeline)),
                wire,
            })),
            None => {
                crate::tls::install_crypto_provider();
                Transport::Tls(
                    reqwest::Client::builder()
                        .tcp_nodelay(true)
                        .pool_idle_timeout(Duration::from_secs(90))
                        .connect_timeout(options.request_timeout)
                        .build()?,
                )
            }
        };
        Ok(Self {
            transport,
            actions: format!("{}rest/constellation/", base.path()).into(),
            base,
            request_timeout: options.request_timeout,
            long_poll_timeout: options.long_poll_timeout,
            observer: None,
        })
    }

    /// This client, telling `observer` of every request's outcome.
    pub fn with_observer(mut self, observer: Arc<dyn RequestObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    fn observe(&self, action: &'static str, status: Option<u16>, started: Instant) {
        if let Some(o) = &self.observer {
            o.answered(action, status, started.elapsed());
        }
    }

    /// `CheckAccess`: whether the server accepts this credential.
    pub async fn check_access(&self, id: &Identity) -> Result<(), Error> {
        self.done(self.get("CheckAccess", id)).await
    }

    /// `PushStateObject` (POST form, which carries metadata).
    pub async fn push_state_object(
        &self,
        id: &Identity,
        so: &StateObjectPush,
    ) -> Result<(), Error> {
        self.done(self.post("PushStateObject", id, so)?).await
    }

    /// `PurgeStateObjects` of this package's SOs matching `name` and `type` (`*` = any).
    pub async fn purge_state_objects(
        &self,
        id: &Identity,
        name: &str,
        type_name: &str,
    ) -> Result<(), Error> {
        let mut call = self.get("PurgeStateObjects", id);
        call.query = vec![("name", name), ("type", type_name)];
        self.done(call).await
    }

    /// `WriteLog`.
    pub async fn write_log(
        &self,
        id: &Identity,
        level: LogLevel,
        message: &str,
    ) -> Result<(), Error> {
        let mut call = self.get("WriteLog", id);
        call.query = vec![("message", message), ("level", level.as_str())];
        self.done(call).await
    }

    /// `GetSettings`: the package's settings.
    pub async fn get_settings(&self, id: &Identity) -> Result<Map<String, Value>, Error> {
        self.json(self.get("GetSettings", id)).await
    }

    /// `SendMessage` (POST form).
    pub async fn send_message(&self, id: &Identity, msg: &OutgoingMessage) -> Result<(), Error> {
        self.done(self.post("SendMessage", id, msg)?).await
    }

    /// `SubscribeToMessage`, renewing `existing` when given; returns the subscription id.
    pub async fn subscribe_to_message(
        &self,
        id: &Identity,
        existing: Option<&str>,
    ) -> Result<String, Error> {
        let mut call = self.get("SubscribeToMessage", id);
        call.query.extend(existing.map(|s| ("subscriptionId", s)));
        self.subscription_id(call).await
    }

    /// `SubscribeToMessageGroup`: joins `group`, on `existing` when given.
    pub async fn subscribe_to_message_group(
        &self,
        id: &Identity,
        group: &str,
        existing: Option<&str>,
    ) -> Result<String, Error> {
        let mut call = self.get("SubscribeToMessageGroup", id);
        call.query.push(("group", group));
        call.query.extend(existing.map(|s| ("subscriptionId", s)));
        self.subscription_id(call).await
    }

    /// `GetMessages`: long-polls a message subscription (`limit` 0 = no limit).
    pub async fn get_messages(
        &self,
        id: &Identity,
        subscription: &str,
        limit: u32,
    ) -> Result<Vec<ReceivedMessage>, Error> {
        let limit = limit.to_string();
        let timeout = self.long_poll_timeout.as_millis().to_string();
        let call = self.long_poll("GetMessages", id, subscription, &timeout, &limit);
        self.json_over(call, alone).await
    }

    /// `RequestStateObjects`: the SOs matching `filter` now.
    pub async fn request_state_objects(
        &self,
        id: &Identity,
        filter: &SoFilter,
    ) -> Result<Vec<StateObject>, Error> {
        let mut call = self.get("RequestStateObjects", id);
        call.query.extend(filter.query());
        self.json(call).await
    }

    /// `SubscribeToStateObjects`: adds `filter` to `existing`, or to a new subscription.
    pub async fn subscribe_to_state_objects(
        &self,
        id: &Identity,
        existing: Option<&str>,
        filter: &SoFilter,
    ) -> Result<String, Error> {
        let mut call = self.get("SubscribeToStateObjects", id);
        call.query.extend(existing.map(|s| ("subscriptionId", s)));
        call.query.extend(filter.query());
        self.subscription_id(call).await
    }

    /// `GetStateObjects`: long-polls an SO subscription; each SO once, at its latest value.
    pub async fn get_state_objects(
        &self,
        id: &Identity,
        subscription: &str,
        limit: u32,
    ) -> Result<Vec<StateObject>, Error> {
        /// Each item wraps the SO; other properties are ignored, as the spec says.
        #[derive(serde::Deserialize)]
        struct Item {
            #[serde(rename = "StateObject")]
            state_object: StateObject,
        }
        let limit = limit.to_string();
        let timeout = self.long_poll_timeout.as_millis().to_string();
        let call = self.long_poll("GetStateObjects", id, subscription, &timeout, &limit);
        let items: Vec<Item> = self.json_over(call, alone).await?;
        Ok(items.into_iter().map(|i| i.state_object).collect())
    }

    /// `DeclarePackageDescriptor`.
    pub async fn declare_package_descriptor(
        &self,
        id: &Identity,
        descriptor: &Value,
    ) -> Result<(), Error> {
        self.done(self.post("DeclarePackageDescriptor", id, descriptor)?)
            .await
    }

    fn get<'a>(&self, action: &'static str, identity: &'a Identity) -> Call<'a> {
        Call {
            action,
            identity,
            method: Method::GET,
            query: Vec::new(),
            body: None,
            timeout: self.request_timeout,
            management: None,
            terms: terms(action),
        }
    }

    /// A Management API request (`rest/management/<segments>`) as `identity`;
    /// `action` names it in errors.
    pub(super) async fn management(
        &self,
        action: &'static str,
        identity: &Identity,
        method: Method,
        segments: &[&str],
        query: Vec<(&'static str, &str)>,
        body: Option<&Value>,
    ) -> Result<bytes::Bytes, Error> {
        let mut call = match body {
            Some(body) => self.post(action, identity, body)?,
            None => self.get(action, identity),
        };
        call.method = method;
        call.query = query;
        call.management = Some(segments.iter().map(|s| (*s).to_owned()).collect());
        self.send(call).await
    }

    fn post<'a>(
        &self,
        action: &'static str,
        identity: &'a Identity,
        body: &impl Serialize,
    ) -> Result<Call<'a>, Error> {
        let body = serde_json::to_vec(body).map_err(|e| Error::Protocol {
            action,
            reason: format!("cannot serialise the body: {e}"),
        })?;
        Ok(Call {
            method: Method::POST,
            body: Some(body),
            ..self.get(action, identity)
        })
    }

    /// A long poll's request time limit is the poll's own time-out plus the ordinary one,
    /// so that an answer the server sends at its time-out is never cut off.
    fn long_poll<'a>(
        &self,
        action: &'static str,
        identity: &'a Identity,
        subscription: &'a str,
        timeout_ms: &'a str,
        limit: &'a str,
    ) -> Call<'a> {
        Call {
            query: vec![
                ("subscriptionId", subscription),
                ("timeout", timeout_ms),
                ("limit", limit),
            ],
            timeout: self.long_poll_timeout + self.request_timeout,
            ..self.get(action, identity)
        }
    }

    async fn subscription_id(&self, call: Call<'_>) -> Result<String, Error> {
        let (action, identity) = (call.action, call.identity.to_string());
        match self.json::<Option<String>>(call).await? {
            Some(id) if !id.is_empty() => Ok(id),
            _ => Err(Error::Auth {
                action,
                identity,
                status: None,
                message: "the server answered no subscription id".into(),
            }),
        }
    }

    /// Sends a call whose answer is the JSON of a `T`. (A combinator, not an `async
    /// fn`, nor are `done` and `send`: the call would be kept, unused, while the answer
    /// is awaited, and an `async` block would hold the request twice.)
    fn json<'a, T: DeserializeOwned>(
        &'a self,
        call: Call<'a>,
    ) -> impl Future<Output = Result<T, Error>> + 'a {
        self.json_over(call, over_wire)
    }

    /// [`Client::json`], `over` the lean transport ([`over_wire`], or [`alone`] for a
    /// long poll).
    fn json_over<'a, T: DeserializeOwned, F: Future<Output = Result<Answered, Failure>> + 'a>(
        &'a self,
        call: Call<'a>,
        over: impl FnOnce(&'a Lean, Encoded) -> F + 'a,
    ) -> impl Future<Output = Result<T, Error>> + 'a {
        let action = call.action;
        self.send_over(call, over).map(move |sent| {
            let body = sent?;
            serde_json::from_slice(&body)
                .map_err(|e| self.bad_answer(action, format!("{e} in body {}", preview(&body))))
        })
    }

    /// Sends a call whose success carries nothing to read: its body must be empty, or
    /// JSON (a server may answer `null` or `true`).
    fn done<'a>(&'a self, call: Call<'a>) -> impl Future<Output = Result<(), Error>> + 'a {
        let action = call.action;
        self.send(call).map(move |sent| {
            let body = sent?;
            if body.trim_ascii().is_empty()
                || serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_ok()
            {
                return Ok(());
            }
            Err(self.bad_answer(action, format!("not JSON: {}", preview(&body))))
        })
    }

    /// A [`Error::BadAnswer`] to `action`, counted.
    fn bad_answer(&self, action: &'static str, reason: String) -> Error {
        if let Some(o) = &self.observer {
            o.bad_answer(action);
        }
        Error::BadAnswer { action, reason }
    }

    /// Sends the call and maps the answer to the spec's failure classes.
    fn send<'a>(&'a self, call: Call<'a>) -> impl Future<Output = Result<Bytes, Error>> + 'a {
        self.send_over(call, over_wire)
    }

    /// [`Client::send`], `over` the lean transport as given. Only the encoded request
    /// lives while the answer is awaited: a long poll waits for minutes, and every
    /// package has one.
    fn send_over<'a, F: Future<Output = Result<Answered, Failure>> + 'a>(
        &'a self,
        call: Call<'a>,
        over: impl FnOnce(&'a Lean, Encoded) -> F + 'a,
    ) -> impl Future<Output = Result<Bytes, Error>> + 'a {
        let (action, identity) = (call.action, call.identity);
        let subscription = call
            .query
            .iter()
            .find(|(k, _)| *k == "subscriptionId")
            .map(|(_, v)| *v);
        let answer = match &self.transport {
            Transport::Wire(lean) => self
                .encode(&lean.wire, call)
                .map(|request| Either::Left(over(lean, request))),
            // Boxed: reqwest's futures would enlarge every request's, long polls' too.
            Transport::Tls(http) => self.parts(&call).map(|parts| {
                let answer = async move { over_reqwest(http, &self.base, &call, parts).await };
                Either::Right(Box::pin(answer) as Pending<'a>)
            }),
        };
        let answer = answer.unwrap_or_else(|reason| Either::Right(unsendable(reason)));
        let started = Instant::now();
        answer.map(move |answer| {
            if !matches!(answer, Err(Failure::Unsendable(_))) {
                self.observe(action, answer.as_ref().ok().map(|a| a.0), started);
            }
            self.answered(action, identity, subscription, answer)
        })
    }

    /// What an answer to `action` (as `identity`, on long poll `subscription`) means.
    fn answered(
        &self,
        action: &'static str,
        identity: &Identity,
        subscription: Option<&str>,
        answer: Result<Answered, Failure>,
    ) -> Result<Bytes, Error> {
        let protocol = |reason: String| Error::Protocol { action, reason };
        let (status, body, resent) = match answer {
            Ok(answer) => answer,
            Err(Failure::Unsendable(reason)) => return Err(Error::Protocol { action, reason }),
            Err(Failure::Transport(reason)) => return Err(Error::Transient { action, reason }),
            Err(Failure::BadAnswer(reason)) => return Err(self.bad_answer(action, reason)),
        };
        if resent {
            if let Some(o) = &self.observer {
                o.resent(action);
            }
        }
        let status = StatusCode::from_u16(status)
            .map_err(|_| protocol(format!("HTTP status {status} out of range")))?;
        if status.is_success() {
            return Ok(body);
        }
        let message = server_message(&body);
        Err(match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Error::Auth {
                action,
                identity: identity.to_string(),
                status: Some(status.as_u16()),
                message,
            },
            StatusCode::BAD_REQUEST => Error::BadRequest { action, message },
            StatusCode::INTERNAL_SERVER_ERROR
                if matches!(action, "GetMessages" | "GetStateObjects") =>
            {
                Error::SubscriptionLost {
                    action,
                    subscription: subscription.unwrap_or_default().to_owned(),
                }
            }
            s if s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS => Error::Transient {
                action,
                reason: format!("HTTP {s}: {message}"),
            },
            s => Error::Protocol {
                action,
                reason: format!("HTTP {s}: {message}"),
            },
        })
    }

    /// The path, query string and headers of `call`, for reqwest.
    fn parts<'a>(&self, call: &Call<'a>) -> Result<Parts<'a>, String> {
        let mut path = String::new();
        self.write_path(&mut path, call)?;
        let credentials = Credentials::of(call.identity);
        let mut query = String::new();
        write_query(&mut query, call, &credentials);
        let mut headers: Vec<(&'static str, &'a str)> = Vec::with_capacity(4);
        headers.extend(credentials.headers());
        if call.body.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        Ok(Parts {
            path,
            query: (!query.is_empty()).then_some(query),
            headers,
        })
    }

    /// Appends the path of `call` to `out`.
    fn write_path(&self, out: &mut String, call: &Call<'_>) -> Result<(), String> {
        match &call.management {
            None => {
                out.push_str(&self.actions);
                out.push_str(call.action);
            }
            Some(segments) => {
                let mut url = self
                    .base
                    .join("rest/management/")
                    .map_err(|e| e.to_string())?;
                url.path_segments_mut()
                    .map_err(|()| "the server URL cannot have a path".to_owned())?
                    .pop_if_empty()
                    .extend(segments);
                out.push_str(url.path());
            }
        }
        Ok(())
    }

    /// `call` written as HTTP/1.1 for the lean transport, everything else dropped: the
    /// head is written in place, with no path, query or header list made first.
    fn encode(&self, wire: &Wire, call: Call<'_>) -> Result<Encoded, String> {
        use std::fmt::Write;
        let body = call.body.as_deref().unwrap_or_default();
        let mut head = String::with_capacity(256 + body.len());
        let _ = write!(head, "{} ", call.method);
        self.write_path(&mut head, &call)?;
        let credentials = Credentials::of(call.identity);
        let before_query = head.len();
        head.push('?');
        write_query(&mut head, &call, &credentials);
        if head.len() == before_query + 1 {
            head.truncate(before_query);
        }
        let _ = write!(head, " HTTP/1.1\r\nHost: {}\r\n", wire.authority());
        // Header values are printable ASCII (`Credentials::of` checked): no line break
        // splits the head.
        for (name, value) in credentials.headers() {
            let _ = write!(head, "{name}: {value}\r\n");
        }
        if call.body.is_some() {
            let _ = write!(
                head,
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            );
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body);
        Ok(Encoded {
            bytes,
            timeout: call.timeout,
            terms: call.terms,
        })
    }
}

/// A package's credentials, and where they go: in headers, which carry printable ASCII
/// only; names beyond it (`Salle à manger`) go in the query string, percent-encoded,
/// which the REST interface also reads.
struct Credentials<'a> {
    pairs: [(&'static str, &'a str); 3],
    in_headers: bool,
}

impl<'a> Credentials<'a> {
    fn of(id: &'a Identity) -> Self {
        let pairs = [
            ("SentinelName", id.sentinel.as_str()),
            ("PackageName", id.package.as_str()),
            ("AccessKey", id.access_key.as_str()),
        ];
        let in_headers = pairs
            .iter()
            .all(|(_, v)| v.bytes().all(|b| (0x20..0x7f).contains(&b)));
        Self { pairs, in_headers }
    }

    /// The credentials that go in headers (all or none).
    fn headers(&self) -> &[(&'static str, &'a str)] {
        if self.in_headers {
            &self.pairs
        } else {
            &[]
        }
    }

    /// The credentials that go in the query string (all or none).
    fn in_query(&self) -> &[(&'static str, &'a str)] {
        if self.in_headers {
            &[]
        } else {
            &self.pairs
        }
    }
}

/// Appends the query string of `call` (its parameters, then the credentials that do not
/// go in headers), percent-encoded, to `out`; nothing when there are none.
fn write_query(out: &mut String, call: &Call<'_>, credentials: &Credentials<'_>) {
    let start = out.len();
    url::form_urlencoded::Serializer::for_suffix(out, start)
        .extend_pairs(call.query.iter().chain(credentials.in_query()))
        .finish();
}

/// The path, query string and headers of a call.
struct Parts<'a> {
    path: String,
    query: Option<String>,
    headers: Vec<(&'static str, &'a str)>,
}

/// A call written for the lean transport.
struct Encoded {
    bytes: Vec<u8>,
    timeout: Duration,
    terms: Terms,
}

/// An answer awaited through reqwest, or a call that cannot be sent.
type Pending<'a> = Pin<Box<dyn Future<Output = Result<Answered, Failure>> + Send + 'a>>;

/// A call that cannot be expressed, as the answer it gets.
fn unsendable<'a>(reason: String) -> Pending<'a> {
    Box::pin(std::future::ready(Err(Failure::Unsendable(reason))))
}

/// A status, a body, and whether the request was sent twice.
type Answered = (u16, bytes::Bytes, bool);

/// Why no answer came.
enum Failure {
    /// The request cannot be expressed: retrying will not help.
    Unsendable(String),
    /// Connection, time-out: worth retrying.
    Transport(String),
    /// An answer broken at the HTTP level, or over the action's size limit.
    BadAnswer(String),
}

/// The lean transport: the connections of requests that go alone, and those that
/// carry repeatable requests pipelined (none with `pipeline = 1`).
struct Lean {
    wire: Wire,
    pipeline: Option<Pipeline>,
}

/// The request over the lean transport: pipelined when it may be, else alone.
async fn over_wire(lean: &Lean, r: Encoded) -> Result<Answered, Failure> {
    match &lean.pipeline {
        Some(pipeline) if r.terms.repeatable => {
            let timeout = r.timeout;
            let answer = pipeline.exchange(r.bytes, r.terms.max_body, timeout);
            let answer = tokio::time::timeout(timeout, answer).await;
            outcome(answer.unwrap_or_else(|_| Err(timed_out(timeout))))
        }
        // Boxed: reading its own answer takes room that a pipelined request would
        // carry unused, and a job's future past 1 KiB is one that malloc no longer
        // keeps at hand (a push costs 0.8 µs less).
        _ => Box::pin(alone(lean, r)).await,
    }
}

/// The request alone on a connection, its answer read in this future: a long poll's
/// way, which waits for minutes and would otherwise hold a box beside it.
async fn alone(lean: &Lean, r: Encoded) -> Result<Answered, Failure> {
    let answer = tokio::time::timeout(r.timeout, lean.wire.exchange(&r.bytes, r.terms)).await;
    outcome(answer.unwrap_or_else(|_| Err(timed_out(r.timeout))))
}

/// What an exchange's outcome is to the client.
fn outcome(answer: std::io::Result<super::wire::Answer>) -> Result<Answered, Failure> {
    match answer {
        Ok(answer) => Ok((answer.status, answer.body, answer.resent)),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            Err(Failure::BadAnswer(e.to_string()))
        }
        Err(e) => Err(Failure::Transport(e.to_string())),
    }
}

/// The request through reqwest (TLS servers).
async fn over_reqwest(
    http: &reqwest::Client,
    base: &Url,
    r: &Call<'_>,
    parts: Parts<'_>,
) -> Result<Answered, Failure> {
    let mut url = base.clone();
    url.set_path(&parts.path);
    url.set_query(parts.query.as_deref());
    let mut req = http.request(r.method.clone(), url).timeout(r.timeout);
    for (name, value) in parts.headers {
        req = req.header(name, value);
    }
    if let Some(body) = &r.body {
        req = req.body(body.clone());
    }
    // No URL in errors: it may carry an access key.
    let failure = |e: reqwest::Error| {
        let e = e.without_url();
        if e.is_builder() {
            Failure::Unsendable(error_chain(&e))
        } else {
            Failure::Transport(error_chain(&e))
        }
    };
    let mut resp = req.send().await.map_err(failure)?;
    let status = resp.status().as_u16();
    let limit = if (200..300).contains(&status) {
        r.terms.max_body
    } else {
        r.terms.max_body.max(64 * 1024)
    };
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(failure)? {
        if body.len() + chunk.len() > limit {
            return Err(Failure::BadAnswer(format!(
                "a body beyond this action's {limit} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, body.into(), false))
}

/// The `Message` of a `{"Message": ...}` error body, else the body itself.
fn server_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        #[serde(rename = "Message")]
        message: String,
    }
    serde_json::from_slice::<ErrorBody>(body)
        .map(|b| b.message)
        .unwrap_or_else(|_| preview(body))
}

/// At most 200 bytes of a body, lossily decoded, for error messages.
fn preview(body: &[u8]) -> String {
    let cut = &body[..body.len().min(200)];
    let mut s = String::from_utf8_lossy(cut).into_owned();
    if body.len() > cut.len() {
        s.push('…');
    }
    s
}

/// An error with its sources, which is where reqwest keeps the useful part.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}
