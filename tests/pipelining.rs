//! HTTP/1.1 pipelining of repeatable requests: several share a connection's write and
//! read, none is lost or sent twice when a connection closes under them, and requests
//! that may not be repeated still go alone.

mod common;

use common::http::{gathering_server, scripted_server, Seen};
use common::*;
use constellation_mqtt::constellation::model::{LogLevel, SoFilter};
use constellation_mqtt::constellation::{Client, ClientOptions};
use futures_util::future::join_all;
use serde_json::json;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

const OK: &[&[u8]] = &[b"HTTP/1.1 204 No Content\r\n\r\n"];
const CLOSE: &[&[u8]] = &[b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"];

/// `n` pushes at once, of values 0..n, all of which must succeed.
async fn pushes(c: &Client, n: usize) {
    let id = salon_temp();
    let all = (0..n).map(|v| {
        let so = push("T", json!(v));
        let id = &id;
        async move { c.push_state_object(id, &so).await }
    });
    for (v, done) in join_all(all).await.into_iter().enumerate() {
        done.unwrap_or_else(|e| panic!("push {v}: {e}"));
    }
}

/// How many requests the server saw carrying the push of `v`.
fn seen_push(seen: &Seen, v: usize) -> usize {
    let requests = seen.requests.lock().unwrap();
    let body = format!("\"Value\":{v}}}");
    requests.iter().filter(|r| r.ends_with(&body)).count()
}

#[tokio::test]
async fn pushes_at_once_are_written_together_on_one_connection() {
    // The server answers the 8 after the first only once all 8 have come: a client that
    // waited for each answer before the next request would time out.
    let (url, seen) = gathering_server(8).await;
    let c = client_at(url);
    pushes(&c, 1).await;
    pushes(&c, 8).await;
    assert_eq!(seen.connections.load(Ordering::SeqCst), 1);
    assert_eq!(seen.requests.lock().unwrap().len(), 9);
    for v in 1..8 {
        assert_eq!(seen_push(&seen, v), 1, "push {v}");
    }
}

#[tokio::test]
async fn a_connection_closed_amid_a_pipeline_leaves_nothing_unsent() {
    // Closed without a word after 3 answers: the requests written behind them go again
    // on a new connection, and every push arrives.
    let (url, seen) = scripted_server(OK, 3).await;
    let c = client_at(url);
    pushes(&c, 1).await;
    pushes(&c, 20).await;
    for v in 0..20 {
        assert!(seen_push(&seen, v) >= 1, "push {v} never arrived");
    }
    assert!(seen.connections.load(Ordering::SeqCst) >= 7);
}

#[tokio::test]
async fn a_server_that_closes_each_connection_gets_each_push_once_and_alone() {
    // Announced (`Connection: close`) or not, a server that answers once per connection
    // gets every push exactly once, each on a new connection that carries it alone: a
    // new connection is not pipelined on before it has served a request.
    for answer in [CLOSE, OK] {
        let (url, seen) = scripted_server(answer, 1).await;
        let c = client_at(url);
        pushes(&c, 8).await;
        for v in 0..8 {
            assert_eq!(seen_push(&seen, v), 1, "push {v}");
        }
        assert_eq!(seen.connections.load(Ordering::SeqCst), 8);
        assert_eq!(seen.early.load(Ordering::SeqCst), 0);
    }
}

#[tokio::test]
async fn requests_that_may_not_be_repeated_and_all_without_pipelining_go_alone() {
    // A log written twice would show twice: each goes alone on a connection.
    let (url, seen) = scripted_server(OK, 100).await;
    let c = client_at(url);
    let id = salon_temp();
    c.write_log(&id, LogLevel::Info, "first").await.unwrap();
    let logs = (0..8).map(|i| {
        let (c, id) = (&c, &id);
        async move { c.write_log(id, LogLevel::Info, &i.to_string()).await }
    });
    for done in join_all(logs).await {
        done.unwrap();
    }
    assert_eq!(seen.connections.load(Ordering::SeqCst), 8);
    // `pipeline = 1`: pushes too.
    let (url, seen) = scripted_server(OK, 100).await;
    let c = Client::new(ClientOptions {
        pipeline: 1,
        ..ClientOptions::new(url)
    })
    .unwrap();
    pushes(&c, 1).await;
    pushes(&c, 8).await;
    assert_eq!(seen.connections.load(Ordering::SeqCst), 8);
}

#[tokio::test]
async fn pipelined_answers_reach_their_own_callers() {
    // Against the simulator: 16 callers at once, each pushing its own StateObject and
    // reading it back, 20 times; pipelined on shared connections, every answer must be
    // the one to its own request, and each caller's pushes land in order.
    let sim = start(world()).await;
    let c = Arc::new(client_at(sim.url()));
    let id = salon_temp();
    let callers = (0..16).map(|k| {
        let (c, id) = (c.clone(), id.clone());
        async move {
            let name = format!("S{k}");
            let filter = SoFilter {
                name: name.clone(),
                ..SoFilter::default()
            };
            for v in 0..20 {
                c.push_state_object(&id, &push(&name, json!(v)))
                    .await
                    .unwrap();
                let read = c.request_state_objects(&id, &filter).await.unwrap();
                let read: Vec<_> = read.iter().map(|so| (&so.name, &so.value)).collect();
                assert_eq!(read, [(&name, &json!(v))], "caller {k}");
            }
        }
    });
    join_all(callers).await;
}

#[tokio::test]
async fn a_server_that_takes_requests_and_never_answers_fails_each_after_two_tries() {
    // Each connection reads one request and closes unanswered: a push is written twice
    // (the second on a new connection), then fails as a transient error, never looping.
    let (url, seen) = common::http::scripted(OK, 0, true).await;
    let c = client_at(url);
    let failed = c
        .push_state_object(&salon_temp(), &push("T", json!(1)))
        .await;
    assert!(
        matches!(
            failed,
            Err(constellation_mqtt::constellation::Error::Transient { .. })
        ),
        "{failed:?}"
    );
    assert_eq!(seen_push(&seen, 1), 2);
}

#[tokio::test]
async fn a_request_never_waits_behind_another_ones_answer() {
    // Eight callers, each starting once the one before has reached the server, which
    // answers nobody until all eight are being served at once, each connection one
    // request at a time (as servers do): every request must have gone on a connection
    // of its own, none queued behind an unanswered one.
    let (url, seen) = common::http::barrier_server(8, false).await;
    let c = Arc::new(client_at(url));
    one_by_one(&c, &seen, 0, None).await;
    assert_eq!(seen.connections.load(Ordering::SeqCst), 8);
}

#[tokio::test]
async fn a_request_waits_behind_a_quick_server_only_while_it_stays_quick() {
    // The first push is answered at once: its connection's server is quick, and a
    // request may wait there behind another's answer for up to 1 ms. Each of the eight
    // callers then starts 5 ms after the one before reached the server, held: the
    // connection's round has lasted too long, and the next push goes elsewhere.
    let (url, seen) = common::http::barrier_server(8, true).await;
    let c = Arc::new(client_at(url));
    pushes(&c, 1).await;
    one_by_one(&c, &seen, 1, Some(Duration::from_millis(5))).await;
    assert_eq!(seen.connections.load(Ordering::SeqCst), 8);
}

/// Eight pushes, each started once the one before reached the server (which had seen
/// `before` requests first) and `then` later; all must succeed.
async fn one_by_one(c: &Arc<Client>, seen: &Seen, before: usize, then: Option<Duration>) {
    let mut callers = Vec::new();
    for v in 0..8 {
        let c = c.clone();
        callers.push(tokio::spawn(async move {
            c.push_state_object(&salon_temp(), &push("T", json!(v)))
                .await
        }));
        let what = format!("push {v} to reach the server");
        wait_for(&what, Duration::from_secs(5), || async {
            (seen.requests.lock().unwrap().len() > before + v).then_some(())
        })
        .await;
        if let Some(then) = then {
            // Not a synchronisation: the time that makes the held round too long.
            tokio::time::sleep(then).await;
        }
    }
    for caller in callers {
        caller.await.unwrap().unwrap();
    }
}
