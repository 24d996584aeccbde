//! The simulator's console in the browser: `GET /` serves one page (its script and
//! styles inline: no build step, nothing from the internet) that reads the inspection
//! API and follows `GET /sim/events`, a server-sent event stream of StateObject updates
//! (`stateobject`) and logs (`log`).

use super::shared::Shared;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse};
use futures_util::stream::{self, Stream};
use std::convert::Infallible;
use tokio::sync::broadcast::error::RecvError;

/// The page.
const PAGE: &str = include_str!("console.html");

/// `GET /`.
pub(super) async fn page() -> impl IntoResponse {
    Html(PAGE)
}

/// `GET /sim/events`: every StateObject push and log line from now on.
pub(super) async fn events(
    State(s): State<Shared>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let receivers = {
        let state = s.lock();
        (state.updates.subscribe(), state.log_events.subscribe())
    };
    let stream = stream::unfold(receivers, |(mut sos, mut logs)| async move {
        let event = tokio::select! {
            so = sos.recv() => match so {
                Ok(so) => Event::default().event("stateobject").json_data(so),
                Err(RecvError::Lagged(n)) => Ok(Event::default().event("lagged").data(n.to_string())),
                Err(RecvError::Closed) => return None,
            },
            log = logs.recv() => match log {
                Ok(log) => Event::default().event("log").json_data(log),
                Err(RecvError::Lagged(n)) => Ok(Event::default().event("lagged").data(n.to_string())),
                Err(RecvError::Closed) => return None,
            },
        };
        let event = event.unwrap_or_else(|e| Event::default().comment(e.to_string()));
        Some((Ok(event), (sos, logs)))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
