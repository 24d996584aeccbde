//! The adapter's HTTP listener: `/metrics` (Prometheus text), `/healthz` (the process
//! answers), `/readyz` (MQTT connected and Constellation answering), `/status` (every
//! package, as JSON).

use crate::dispatch::Registry;
use crate::package::PackageState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// What the pages read.
#[derive(Clone)]
struct Observed {
    registry: Registry,
    readiness: Duration,
    started: Instant,
}

/// Serves the pages on `listener` until `shutdown`; returns the address it listens on.
pub fn serve(
    listener: TcpListener,
    registry: Registry,
    readiness: Duration,
    shutdown: CancellationToken,
) -> std::io::Result<SocketAddr> {
    let addr = listener.local_addr()?;
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/status", get(status))
        .route("/", get(page))
        .with_state(Observed {
            registry,
            readiness,
            started: Instant::now(),
        });
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "HTTP listener stopped");
        }
    });
    Ok(addr)
}

/// `GET /`: the status page, a human view of `/status` refreshing every second.
async fn page() -> impl IntoResponse {
    axum::response::Html(include_str!("status.html"))
}

async fn metrics(State(o): State<Observed>) -> impl IntoResponse {
    let text = o.registry.metrics().encode(o.registry.snapshot());
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
}

async fn healthz(State(o): State<Observed>) -> Json<Value> {
    Json(json!({ "status": "up", "uptime_s": o.started.elapsed().as_secs() }))
}

async fn readyz(State(o): State<Observed>) -> (StatusCode, Json<Value>) {
    let metrics = o.registry.metrics();
    let mqtt = metrics.is_mqtt_connected();
    let answered = metrics.since_constellation_answered();
    let constellation = answered.is_some_and(|ago| ago <= o.readiness);
    let mut reasons = Vec::new();
    if !mqtt {
        reasons.push("the MQTT connection is down".to_owned());
    }
    if !constellation {
        reasons.push(match answered {
            None => "Constellation has not answered yet".to_owned(),
            Some(ago) => format!(
                "Constellation last answered {} s ago (more than readiness_s = {})",
                ago.as_secs(),
                o.readiness.as_secs()
            ),
        });
    }
    let journal = metrics.journal_problem();
    if let Some(problem) = &journal {
        reasons.push(format!(
            "the journal cannot be written ({problem}): devices' QoS 1 and 2 publishes wait or are refused"
        ));
    }
    let ready = reasons.is_empty();
    let body = json!({
        "ready": ready,
        "mqtt": { "connected": mqtt },
        "journal": { "writable": journal.is_none(), "problem": journal },
        "constellation": {
            "answered_s_ago": answered.map(|a| a.as_secs_f64()),
            "readiness_s": o.readiness.as_secs(),
        },
        "reasons": reasons,
    });
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body))
}

async fn status(State(o): State<Observed>) -> Json<Value> {
    let packages: Vec<Value> = o
        .registry
        .packages()
        .into_iter()
        .map(|(id, p)| {
            let mut v = package_json(&p);
            v["package"] = json!(id.to_string());
            v
        })
        .collect();
    let learned: Vec<String> = o
        .registry
        .learned()
        .iter()
        .map(ToString::to_string)
        .collect();
    Json(json!({
        "mqtt": { "connected": o.registry.metrics().is_mqtt_connected() },
        "packages": packages,
        "learned": learned,
    }))
}

/// One package's state; `state` sums it up: `refused` (its credential), `backlog`
/// (work queued), `idle`.
fn package_json(p: &PackageState) -> Value {
    let state = if p.refusals > 0 && p.queued > 0 {
        "refused"
    } else if p.queued > 0 {
        "backlog"
    } else {
        "idle"
    };
    json!({
        "state": state,
        "online": p.online,
        "queued": p.queued,
        "high_water": p.high_water,
        "dropped": p.dropped,
        "refusals": p.refusals,
        "sagas_pending": p.sagas_pending,
        "groups": p.groups,
        "last_publish": p.last_publish.map(|t| humantime::format_rfc3339_millis(t).to_string()),
        "last_publish_s_ago": p.last_publish
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .map(|d| d.as_secs_f64()),
        "last_error": p.last_error,
    })
}
