//! The inspection API over HTTP, under `/sim/`: read what packages did, and act as
//! other participants. It takes no credential: the simulator is a development tool and
//! listens on loopback unless told otherwise.

use super::handle::SimHandle;
use super::participant::Participant;
use super::shared::Shared;
use super::state::{Faults, SimError};
use crate::constellation::model::{OutgoingMessage, Scope, SenderType, SoFilter, StateObjectPush};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::time::Duration;

pub(super) fn router() -> Router<Shared> {
    Router::new()
        .route("/stateobjects", get(state_objects).post(push_state_object))
        .route("/logs", get(logs))
        .route("/descriptors", get(descriptors))
        .route("/subscriptions", get(subscriptions))
        .route("/subscriptions/{id}", delete(expire_subscription))
        .route("/stats", get(stats))
        .route(
            "/settings/{sentinel}/{package}",
            get(settings).put(set_settings),
        )
        .route("/events", get(super::console::events))
        .route("/faults", get(faults).put(set_faults))
        .route("/send", axum::routing::post(send))
        .route("/inbox/{sentinel}/{package}", get(inbox))
        .route("/configuration", get(configuration))
}

fn handle(shared: Shared) -> SimHandle {
    SimHandle::from(shared)
}

fn participant(text: &str) -> Result<Participant, SimError> {
    Participant::parse(text)
        .ok_or_else(|| SimError::bad_request(format!("{text:?} is not `Sentinel/Package`")))
}

fn any(q: &HashMap<String, String>, k: &str) -> String {
    q.get(k).cloned().unwrap_or_else(|| "*".into())
}

async fn state_objects(
    State(s): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let filter = SoFilter {
        sentinel: any(&q, "sentinel"),
        package: any(&q, "package"),
        name: any(&q, "name"),
        type_name: any(&q, "type"),
    };
    Json(handle(s).state_objects(&filter)).into_response()
}

/// `POST /sim/stateobjects`: a real package's push, `From` naming it.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct PushAs {
    from: String,
    name: String,
    value: Value,
    #[serde(rename = "Type")]
    type_name: Option<String>,
    lifetime: Option<i64>,
    metadatas: Option<Map<String, Value>>,
}

async fn push_state_object(State(s): State<Shared>, Json(p): Json<PushAs>) -> Response {
    let result = participant(&p.from).and_then(|from| {
        handle(s).push_state_object(
            &from,
            StateObjectPush {
                name: p.name,
                value: p.value,
                type_name: p.type_name,
                lifetime: p.lifetime,
                metadatas: p.metadatas,
            },
        )
    });
    result.map(|()| StatusCode::NO_CONTENT).into_response()
}

async fn logs(State(s): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    let who = match (q.get("sentinel"), q.get("package")) {
        (Some(sentinel), Some(package)) => Some(Participant {
            sentinel: sentinel.clone(),
            package: package.clone(),
        }),
        _ => None,
    };
    Json(handle(s).logs(who.as_ref())).into_response()
}

async fn descriptors(State(s): State<Shared>) -> Response {
    Json(handle(s).descriptors()).into_response()
}

async fn subscriptions(State(s): State<Shared>) -> Response {
    Json(handle(s).subscriptions()).into_response()
}

async fn expire_subscription(State(s): State<Shared>, Path(id): Path<String>) -> Response {
    if handle(s).expire_subscription(&id) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        SimError::not_found(format!("no subscription {id}")).into_response()
    }
}

async fn stats(State(s): State<Shared>) -> Response {
    Json(handle(s).stats()).into_response()
}

async fn set_settings(
    State(s): State<Shared>,
    Path((sentinel, package)): Path<(String, String)>,
    Json(settings): Json<Map<String, Value>>,
) -> Response {
    handle(s).set_settings(&Participant { sentinel, package }, settings);
    StatusCode::NO_CONTENT.into_response()
}

/// `GET /sim/settings/<sentinel>/<package>`.
async fn settings(
    State(s): State<Shared>,
    Path((sentinel, package)): Path<(String, String)>,
) -> Response {
    Json(s.lock().settings(&Participant { sentinel, package })).into_response()
}

async fn faults(State(s): State<Shared>) -> Response {
    Json(s.lock().faults.clone()).into_response()
}

async fn set_faults(State(s): State<Shared>, Json(f): Json<Faults>) -> Response {
    handle(s).set_faults(f);
    StatusCode::NO_CONTENT.into_response()
}

/// `POST /sim/send`: a message from `From`, of sender type `SenderType` (default: HTTP
/// consumer for `Consumer/…`, HTTP package otherwise).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct SendAs {
    from: String,
    sender_type: Option<SenderType>,
    scope: Scope,
    key: String,
    #[serde(default)]
    data: Value,
}

async fn send(State(s): State<Shared>, Json(m): Json<SendAs>) -> Response {
    let result = participant(&m.from).and_then(|from| {
        let sender = m.sender_type.unwrap_or(if from.is_consumer() {
            SenderType::ConsumerHttp
        } else {
            SenderType::ConstellationHttp
        });
        let msg = OutgoingMessage {
            scope: m.scope,
            key: m.key,
            data: m.data,
        };
        handle(s).send(&from, sender, msg)
    });
    result
        .map(|n| Json(json!({ "Delivered": n })))
        .into_response()
}

#[derive(Deserialize)]
struct InboxQuery {
    timeout: Option<u64>,
}

async fn inbox(
    State(s): State<Shared>,
    Path((sentinel, package)): Path<(String, String)>,
    Query(q): Query<InboxQuery>,
) -> Response {
    let timeout = Duration::from_millis(q.timeout.unwrap_or(0).min(120_000));
    let who = Participant { sentinel, package };
    Json(handle(s).inbox(&who, timeout).await).into_response()
}

/// `GET /sim/configuration`: the configuration in effect, the configuration file the
/// Management API edits (in effect after `configuration/reload`), the reloads so far.
async fn configuration(State(s): State<Shared>) -> Response {
    Json(s.lock().configuration_view()).into_response()
}
