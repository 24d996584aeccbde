//! The Management API over HTTP: `/rest/management/<action>`, as Constellation's "REST
//! Management" interface. It edits the configuration file ([`super::configuration`]);
//! `configuration/reload` puts it in effect.

use super::configuration as conf;
use super::rest::{credential, json_body as body, Params};
use super::shared::Shared;
use super::state::SimError;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

/// The sentinel name of Management API callers.
const MANAGEMENT: &str = "Management";

/// The handler of every Management API action.
pub(super) async fn handle(
    State(shared): State<Shared>,
    Path(path): Path<String>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    bytes: Bytes,
) -> Response {
    let params = Params::parse(query.as_deref());
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let action = format!("management/{}", segments.first().copied().unwrap_or(""));
    let faults = shared.lock().faults.clone();
    if faults.delay_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(faults.delay_ms)).await;
    }
    let result = match faults.management_status {
        Some(status) => Err(SimError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            message: "fault injected by the simulator".into(),
        }),
        None => {
            let sentinel = credential(&headers, &params, "SentinelName");
            let key = credential(&headers, &params, "AccessKey").unwrap_or_default();
            let mut state = shared.lock();
            if sentinel != Some(MANAGEMENT) || !state.management_key(key) {
                Err(SimError::unauthorized(
                    "the Management API needs SentinelName=Management and a credential with EnableManagementAPI",
                ))
            } else {
                let deploy = params.get("deployConfiguration") == Some("true");
                let include_keys = params.get("includeAccessKeys") == Some("true");
                match (&method, segments.as_slice()) {
                    (&Method::GET, ["configuration", "reload"]) => {
                        state.reload();
                        tracing::info!(
                            deploy,
                            reloads = state.reloads,
                            "simulator: configuration reloaded"
                        );
                        Ok(Some(json!(true)))
                    }
                    _ => act(
                        &mut state.configuration,
                        &method,
                        &segments,
                        include_keys,
                        &bytes,
                    ),
                }
            }
        }
    };
    let response = match result {
        Ok(Some(Value::Null)) => StatusCode::OK.into_response(),
        Ok(Some(v)) => Json(v).into_response(),
        Ok(None) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    };
    let mut state = shared.lock();
    state.record(&action, None, response.status());
    if method != Method::GET {
        let change = format!("{method} {}", segments.join("/"));
        *state.stats.management_changes.entry(change).or_default() += 1;
    }
    response
}

/// One edit or read of the configuration file.
fn act(
    world: &mut super::World,
    method: &Method,
    segments: &[&str],
    include_keys: bool,
    bytes: &[u8],
) -> Result<Option<Value>, SimError> {
    let done = |r: Result<(), SimError>| r.map(|()| None);
    match (method.as_str(), segments) {
        // 200 with no body, as the REST interface's CheckAccess.
        ("GET", ["CheckAccess"]) => Ok(Some(Value::Null)),
        ("GET", ["server", "version"]) => Ok(Some(json!({"Version": "1.8-simulator"}))),
        ("GET", ["credentials"]) => Ok(Some(conf::credentials(world, include_keys))),
        ("POST", ["credentials"]) => done(conf::add_credential(world, body(bytes)?)),
        ("DELETE", ["credentials", name]) => done(conf::delete_credential(world, name)),
        ("GET", ["sentinels"]) => Ok(Some(conf::sentinels(world))),
        ("POST", ["sentinels"]) => done(conf::add_sentinel(world, body(bytes)?)),
        ("DELETE", ["sentinels", s]) => done(conf::delete_sentinel(world, s)),
        ("GET", ["sentinels", s, "packages"]) => conf::packages(world, s).map(Some),
        ("POST", ["sentinels", s, "packages"]) => done(conf::add_package(world, s, body(bytes)?)),
        ("GET", ["sentinels", s, "packages", p]) => conf::get_package(world, s, p).map(Some),
        ("DELETE", ["sentinels", s, "packages", p]) => done(conf::delete_package(world, s, p)),
        ("GET", ["sentinels", s, "packages", p, "settings"]) => {
            conf::settings(world, s, p).map(Some)
        }
        ("POST", ["sentinels", s, "packages", p, "settings"]) => {
            done(conf::set_settings(world, s, p, body(bytes)?))
        }
        ("GET", ["sentinels", s, "packages", p, "groups"]) => conf::groups(world, s, p).map(Some),
        ("POST", ["sentinels", s, "packages", p, "groups"]) => {
            done(conf::set_groups(world, s, p, body(bytes)?))
        }
        _ => Err(SimError::not_found(format!(
            "no Management API action {method} {}",
            segments.join("/")
        ))),
    }
}
