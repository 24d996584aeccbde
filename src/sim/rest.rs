//! The Constellation REST interface over HTTP: `/rest/constellation/<Action>`.

use super::participant::Participant;
use super::shared::Shared;
use super::state::{Lie, SimError, SubKind};
use crate::constellation::model::{
    json_or_text, LogLevel, OutgoingMessage, Scope, ScopeType, SenderType, SoFilter,
    StateObjectPush,
};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;

/// Every action, in the spelling the spec gives it.
const ACTIONS: &[&str] = &[
    "CheckAccess",
    "PushStateObject",
    "PurgeStateObjects",
    "WriteLog",
    "GetSettings",
    "SendMessage",
    "SubscribeToMessage",
    "SubscribeToMessageGroup",
    "GetMessages",
    "RequestStateObjects",
    "SubscribeToStateObjects",
    "GetStateObjects",
    "DeclarePackageDescriptor",
];

/// A successful answer.
enum Reply {
    Ok,
    NoContent,
    Json(Value),
}

impl IntoResponse for SimError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "Message": self.message }))).into_response()
    }
}

/// Query parameters, with names matched in any case as the server does.
pub(super) struct Params(HashMap<String, String>);

impl Params {
    pub(super) fn parse(query: Option<&str>) -> Self {
        let pairs = url::form_urlencoded::parse(query.unwrap_or("").as_bytes());
        Self(
            pairs
                .map(|(k, v)| (k.to_ascii_lowercase(), v.into_owned()))
                .collect(),
        )
    }
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(&name.to_ascii_lowercase()).map(String::as_str)
    }
    fn required(&self, name: &str) -> Result<&str, SimError> {
        self.get(name)
            .ok_or_else(|| SimError::bad_request(format!("missing parameter `{name}`")))
    }
    fn or_any(&self, name: &str) -> &str {
        self.get(name).filter(|v| !v.is_empty()).unwrap_or("*")
    }
    fn number<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, SimError> {
        match self.get(name) {
            None | Some("") => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| SimError::bad_request(format!("`{name}` is not a number: {v:?}"))),
        }
    }
    fn filter(&self) -> SoFilter {
        SoFilter {
            sentinel: self.or_any("sentinel").into(),
            package: self.or_any("package").into(),
            name: self.or_any("name").into(),
            type_name: self.or_any("type").into(),
        }
    }
}

/// A credential part from its header, else from the query string.
pub(super) fn credential<'a>(
    headers: &'a HeaderMap,
    params: &'a Params,
    name: &str,
) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .or_else(|| params.get(name))
}

pub(super) fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, SimError> {
    serde_json::from_slice(body)
        .map_err(|e| SimError::bad_request(format!("invalid JSON body: {e}")))
}

/// The handler of every action.
pub(super) async fn handle(
    State(shared): State<Shared>,
    Path(action): Path<String>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let Some(action) = ACTIONS.iter().find(|a| a.eq_ignore_ascii_case(&action)) else {
        return SimError::not_found(format!("unknown action {action}")).into_response();
    };
    let faults = shared.lock().faults.clone();
    if faults.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.delay_ms)).await;
    }
    if let Some(status) = faults.status {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        shared.lock().record(action, None, status);
        return SimError {
            status,
            message: "fault injected by the simulator".into(),
        }
        .into_response();
    }
    if let Some(lie) = &faults.lie {
        shared.lock().record(action, None, StatusCode::OK);
        let body = match lie {
            Lie::Garbage => "<html><body>502 Bad Gateway (a proxy's page)</body></html>".to_owned(),
            Lie::Huge(n) => format!("\"{}\"", "x".repeat(n.saturating_sub(2))),
        };
        return (StatusCode::OK, body).into_response();
    }
    let params = Params::parse(query.as_deref());
    let who = shared.lock().authenticate(
        credential(&headers, &params, "SentinelName"),
        credential(&headers, &params, "PackageName"),
        credential(&headers, &params, "AccessKey"),
    );
    let result = match &who {
        Ok(who) => dispatch(&shared, action, &method, who, &params, &body).await,
        Err(e) => Err(e.clone()),
    };
    let response = match result {
        Ok(Reply::Ok) => StatusCode::OK.into_response(),
        Ok(Reply::NoContent) => StatusCode::NO_CONTENT.into_response(),
        Ok(Reply::Json(v)) => Json(v).into_response(),
        Err(e) => e.into_response(),
    };
    shared
        .lock()
        .record(action, who.as_ref().ok(), response.status());
    response
}

async fn dispatch(
    shared: &Shared,
    action: &str,
    method: &Method,
    who: &Participant,
    params: &Params,
    body: &[u8],
) -> Result<Reply, SimError> {
    let post = check_method(action, method)?;
    let id = || params.required("subscriptionId");
    let existing = params.get("subscriptionId").filter(|s| !s.is_empty());
    let mut state = shared.lock();
    match action {
        "CheckAccess" => Ok(Reply::Ok),
        "PushStateObject" => {
            let push = if post {
                json_body(body)?
            } else {
                push_of(params)?
            };
            state.push_so(who, push).map(|()| Reply::NoContent)
        }
        "PurgeStateObjects" => {
            state.purge_sos(who, params.or_any("name"), params.or_any("type"));
            Ok(Reply::NoContent)
        }
        "WriteLog" => {
            let message = params.required("message")?.to_owned();
            let level = match params.get("level") {
                None | Some("") => LogLevel::Info,
                Some(l) => LogLevel::parse(l)
                    .ok_or_else(|| SimError::bad_request(format!("unknown log level {l:?}")))?,
            };
            state.write_log(who, level, message);
            Ok(Reply::NoContent)
        }
        "GetSettings" => Ok(Reply::Json(Value::Object(state.settings(who)))),
        "SendMessage" => {
            let msg = if post {
                json_body(body)?
            } else {
                message_of(params)?
            };
            let sender = if who.is_consumer() {
                SenderType::ConsumerHttp
            } else {
                SenderType::ConstellationHttp
            };
            state
                .send_message(who, sender, msg)
                .map(|_| Reply::NoContent)
        }
        "SubscribeToMessage" => Ok(Reply::Json(state.subscribe_messages(who, existing).into())),
        "SubscribeToMessageGroup" => {
            let group = params.required("group")?;
            state
                .subscribe_group(who, group, existing)
                .map(|id| Reply::Json(id.into()))
        }
        "RequestStateObjects" => {
            let sos = state.request_sos(who, &params.filter())?;
            Ok(Reply::Json(serde_json::to_value(sos).unwrap_or_default()))
        }
        "SubscribeToStateObjects" => state
            .subscribe_sos(who, existing, params.filter())
            .map(|id| Reply::Json(id.into())),
        "GetMessages" | "GetStateObjects" => {
            let kind = if action == "GetMessages" {
                SubKind::Messages
            } else {
                SubKind::StateObjects
            };
            let id = id()?.to_owned();
            let timeout = params.number("timeout", 60_000u64)?.clamp(1_000, 120_000);
            let limit = params.number("limit", 0usize)?;
            drop(state);
            long_poll(
                shared,
                who,
                kind,
                &id,
                Duration::from_millis(timeout),
                limit,
            )
            .await
            .map(|items| Reply::Json(Value::Array(items)))
        }
        "DeclarePackageDescriptor" => match json_body::<Value>(body)? {
            descriptor @ Value::Object(_) => {
                state.declare_descriptor(who, descriptor);
                Ok(Reply::NoContent)
            }
            _ => Err(SimError::bad_request(
                "a package descriptor is a JSON object",
            )),
        },
        other => Err(SimError::not_found(format!("unknown action {other}"))),
    }
}

/// Whether the request is a POST, when `action` takes its `method`: GET for every
/// action, POST for `PushStateObject` and `SendMessage` too, POST only for
/// `DeclarePackageDescriptor`.
fn check_method(action: &str, method: &Method) -> Result<bool, SimError> {
    let post = *method == Method::POST;
    let posts_only = action == "DeclarePackageDescriptor";
    let may_post = matches!(action, "PushStateObject" | "SendMessage") || posts_only;
    if (post && !may_post)
        || (!post && posts_only)
        || !matches!(*method, Method::GET | Method::POST)
    {
        return Err(SimError {
            status: StatusCode::METHOD_NOT_ALLOWED,
            message: format!("{action} does not take {method}"),
        });
    }
    Ok(post)
}

/// `PushStateObject`'s GET form: `name`, `value`, `type`?, `lifetime`?.
fn push_of(params: &Params) -> Result<StateObjectPush, SimError> {
    Ok(StateObjectPush {
        name: params.required("name")?.to_owned(),
        value: json_or_text(params.required("value")?),
        type_name: params.get("type").map(str::to_owned),
        lifetime: Some(params.number("lifetime", 0i64)?),
        metadatas: None,
    })
}

/// `SendMessage`'s GET form: `scope`, `args`? (comma-separated), `sagaId`?, `key`,
/// `data`?.
fn message_of(params: &Params) -> Result<OutgoingMessage, SimError> {
    let scope = params.required("scope")?;
    let kind = ScopeType::from_name(scope)
        .ok_or_else(|| SimError::bad_request(format!("unknown scope type {scope:?}")))?;
    let args = params
        .get("args")
        .map(|a| {
            a.split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Ok(OutgoingMessage {
        scope: Scope {
            kind,
            args,
            saga_id: params.get("sagaId").map(str::to_owned),
        },
        key: params.required("key")?.to_owned(),
        data: params.get("data").map(json_or_text).unwrap_or(Value::Null),
    })
}

/// Holds the request until the subscription has something or `timeout` passes.
pub(super) async fn long_poll(
    shared: &Shared,
    who: &Participant,
    kind: SubKind,
    id: &str,
    timeout: Duration,
    limit: usize,
) -> Result<Vec<Value>, SimError> {
    let notify = shared.lock().begin_poll(who, kind, id)?;
    /// Ends the poll even when the client goes away mid-wait.
    struct EndPoll<'a>(&'a Shared, &'a Participant, SubKind, &'a str);
    impl Drop for EndPoll<'_> {
        fn drop(&mut self) {
            self.0.lock().end_poll(self.1, self.2, self.3);
        }
    }
    let _end = EndPoll(shared, who, kind, id);
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let items = shared.lock().take(who, kind, id, limit)?;
        if !items.is_empty() || tokio::time::Instant::now() >= deadline {
            return Ok(items);
        }
        tokio::select! {
            _ = notify.notified() => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
}
