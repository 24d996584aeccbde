//! The REST client against the simulator over real HTTP: every action, every failure class.

mod common;

use common::http::{scripted, scripted_server};
use common::*;
use constellation_mqtt::constellation::model::{
    LogLevel, OutgoingMessage, ScopeType, SenderType, SoFilter, StateObjectPush, RESPONSE_KEY,
};
use constellation_mqtt::constellation::{retry_transient, Backoff, Error, Identity};
use constellation_mqtt::sim::Faults;
use serde_json::{json, Value};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn to_package(args: &[&str], key: &str, data: Value) -> OutgoingMessage {
    OutgoingMessage {
        data,
        ..message(ScopeType::Package, args, key)
    }
}

#[tokio::test]
async fn check_access_accepts_sentinel_package_and_consumer_keys() {
    let sim = start(world()).await;
    let c = client(&sim);
    c.check_access(&salon_temp()).await.unwrap();
    c.check_access(&garage_temp()).await.unwrap();
    c.check_access(&consumer("Tester")).await.unwrap();
}

#[tokio::test]
async fn wrong_key_is_an_auth_error() {
    let sim = start(world()).await;
    let c = client(&sim);
    for id in [
        Identity::new("Salon", "Temperature", "wrong"),
        Identity::new("Nowhere", "Temperature", SALON_KEY),
        Identity::consumer("Tester", SALON_KEY),
        // A package's own key is not valid for its sentinel's other packages.
        Identity::new("Garage", "Door", "garage-temp-key"),
    ] {
        let err = c.check_access(&id).await.unwrap_err();
        assert!(
            matches!(
                err,
                Error::Auth {
                    status: Some(401),
                    ..
                }
            ),
            "{id}: {err:?}"
        );
        assert!(err.to_string().contains(&id.to_string()), "{err}");
    }
}

#[tokio::test]
async fn push_request_and_purge_state_objects() {
    let sim = start(world()).await;
    let c = client(&sim);
    let me = salon_temp();
    c.push_state_object(&me, &push("Temperature", json!(21.5)))
        .await
        .unwrap();
    c.push_state_object(
        &me,
        &StateObjectPush {
            type_name: Some("TempHum".into()),
            lifetime: Some(600),
            metadatas: Some(json!({"Room": "Salon"}).as_object().unwrap().clone()),
            ..push("Both", json!({"T": 21.5, "H": 40}))
        },
    )
    .await
    .unwrap();
    let all = c
        .request_state_objects(&me, &SoFilter::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    let temp = all.iter().find(|s| s.name == "Temperature").unwrap();
    assert_eq!(temp.type_name.as_deref(), Some("System.Double"));
    assert_eq!(temp.unique_id, "Salon/Temperature/Temperature");
    assert_eq!(temp.lifetime, 0);
    let both = all.iter().find(|s| s.name == "Both").unwrap();
    assert_eq!(both.type_name.as_deref(), Some("TempHum"));
    assert_eq!(both.lifetime, 600);
    assert_eq!(both.metadatas.as_ref().unwrap()["Room"], json!("Salon"));
    assert!(!both.is_expired);

    c.purge_state_objects(&me, "Temperature", "*")
        .await
        .unwrap();
    let left = c
        .request_state_objects(&me, &SoFilter::default())
        .await
        .unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].name, "Both");
}

#[tokio::test]
async fn purge_touches_only_the_callers_own_state_objects() {
    let sim = start(world()).await;
    let c = client(&sim);
    c.push_state_object(&salon_temp(), &push("T", json!(1)))
        .await
        .unwrap();
    c.push_state_object(&garage_temp(), &push("T", json!(2)))
        .await
        .unwrap();
    c.purge_state_objects(&salon_temp(), "*", "*")
        .await
        .unwrap();
    let left = sim.handle().state_objects(&SoFilter::default());
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].sentinel_name, "Garage");
}

#[tokio::test]
async fn write_log_records_level_and_text() {
    let sim = start(world()).await;
    let c = client(&sim);
    let me = salon_temp();
    c.write_log(&me, LogLevel::Info, "started").await.unwrap();
    c.write_log(&me, LogLevel::Warn, "hot, 30 °C & rising")
        .await
        .unwrap();
    c.write_log(&me, LogLevel::Error, "sensor lost")
        .await
        .unwrap();
    let logs = sim.handle().logs(Some(&participant(&me)));
    let got: Vec<_> = logs.iter().map(|l| (l.level, l.message.as_str())).collect();
    assert_eq!(
        got,
        [
            (LogLevel::Info, "started"),
            (LogLevel::Warn, "hot, 30 °C & rising"),
            (LogLevel::Error, "sensor lost")
        ]
    );
}

#[tokio::test]
async fn get_settings_returns_the_declared_settings() {
    let sim = start(world()).await;
    let c = client(&sim);
    let settings = c.get_settings(&salon_temp()).await.unwrap();
    assert_eq!(
        Value::Object(settings),
        json!({"Interval": 10, "Unit": "C"})
    );
    sim.handle().set_settings(
        &participant(&salon_temp()),
        json!({"Interval": 5}).as_object().unwrap().clone(),
    );
    let settings = c.get_settings(&salon_temp()).await.unwrap();
    assert_eq!(Value::Object(settings), json!({"Interval": 5}));
    assert!(c.get_settings(&salon_light()).await.unwrap().is_empty());
}

#[tokio::test]
async fn send_subscribe_and_get_messages() {
    let sim = start(world()).await;
    let c = client(&sim);
    let me = salon_temp();
    let sub = c.subscribe_to_message(&me, None).await.unwrap();
    assert_eq!(
        serde_json::to_string(&sub).unwrap().len(),
        38,
        "a quoted GUID"
    );
    c.send_message(
        &consumer("Tester"),
        &to_package(&["Temperature"], "SetTarget", json!(21)),
    )
    .await
    .unwrap();
    let msgs = c.get_messages(&me, &sub, 0).await.unwrap();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].key, "SetTarget");
    assert_eq!(msgs[0].data, json!(21));
    assert_eq!(msgs[0].scope.kind, ScopeType::Package);
    assert_eq!(msgs[0].sender.kind, SenderType::ConsumerHttp);
    assert_eq!(msgs[0].sender.friendly_name, "Consumer/Tester");
    // Renewing keeps the id.
    assert_eq!(c.subscribe_to_message(&me, Some(&sub)).await.unwrap(), sub);
}

#[tokio::test]
async fn a_saga_round_trip_through_the_client() {
    let sim = start(world()).await;
    let c = client(&sim);
    let me = salon_temp();
    let sub = c.subscribe_to_message(&me, None).await.unwrap();
    let tester = participant(&consumer("Tester"));
    let mut request = to_package(&["Salon/Temperature"], "GetTarget", Value::Null);
    request.scope.saga_id = Some("saga-1".into());
    sim.handle()
        .send(&tester, SenderType::ConsumerHub, request)
        .unwrap();
    let msgs = c.get_messages(&me, &sub, 0).await.unwrap();
    let sender = &msgs[0].sender;
    assert_eq!(msgs[0].scope.saga_id.as_deref(), Some("saga-1"));
    let mut response = to_package(&[sender.reply_address()], RESPONSE_KEY, json!(21));
    response.scope.saga_id = Some("saga-1".into());
    c.send_message(&me, &response).await.unwrap();
    let answer = within(
        "the saga response",
        sim.handle()
            .saga_response(&tester, "saga-1", Duration::from_secs(10)),
    )
    .await
    .expect("a response");
    assert_eq!(answer.data, json!(21));
    assert_eq!(answer.sender.friendly_name, "Salon/Temperature");
    assert_eq!(answer.sender.kind, SenderType::ConstellationHttp);
}

#[tokio::test]
async fn message_groups_through_the_client() {
    let sim = start(world()).await;
    let c = client(&sim);
    let me = salon_light();
    let sub = c
        .subscribe_to_message_group(&me, "Lights", None)
        .await
        .unwrap();
    let same = c
        .subscribe_to_message_group(&me, "Night", Some(&sub))
        .await
        .unwrap();
    assert_eq!(same, sub);
    let mut msg = to_package(&["Night"], "Off", Value::Null);
    msg.scope.kind = ScopeType::Group;
    c.send_message(&consumer("Tester"), &msg).await.unwrap();
    let msgs = c.get_messages(&me, &sub, 0).await.unwrap();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].scope.kind, ScopeType::Group);
}

#[tokio::test]
async fn state_object_subscriptions_through_the_client() {
    let sim = start(world()).await;
    let c = client(&sim);
    let watcher = salon_light();
    let filter = SoFilter {
        package: "Temperature".into(),
        ..SoFilter::default()
    };
    let sub = c
        .subscribe_to_state_objects(&watcher, None, &filter)
        .await
        .unwrap();
    let door = SoFilter {
        package: "Door".into(),
        ..SoFilter::default()
    };
    assert_eq!(
        c.subscribe_to_state_objects(&watcher, Some(&sub), &door)
            .await
            .unwrap(),
        sub
    );
    c.push_state_object(&garage_temp(), &push("T", json!(1)))
        .await
        .unwrap();
    c.push_state_object(&garage_door(), &push("Open", json!(true)))
        .await
        .unwrap();
    c.push_state_object(&salon_light(), &push("On", json!(true)))
        .await
        .unwrap();
    let sos = c.get_state_objects(&watcher, &sub, 0).await.unwrap();
    let names: Vec<_> = sos.iter().map(|s| s.unique_id.as_str()).collect();
    assert_eq!(names, ["Garage/Temperature/T", "Garage/Door/Open"]);
}

#[tokio::test]
async fn declare_package_descriptor() {
    let sim = start(world()).await;
    let c = client(&sim);
    let descriptor = json!({
        "PackageName": "Temperature",
        "MessageCallbacks": [{"MessageKey": "SetTarget", "Parameters": []}],
        "MessageCallbackTypes": [],
        "StateObjectTypes": []
    });
    c.declare_package_descriptor(&salon_temp(), &descriptor)
        .await
        .unwrap();
    assert_eq!(sim.handle().descriptors()["Salon/Temperature"], descriptor);
}

#[tokio::test]
async fn an_expired_subscription_is_a_subscription_lost_error() {
    let sim = start(world()).await;
    let c = client(&sim);
    let me = salon_temp();
    let sub = c.subscribe_to_message(&me, None).await.unwrap();
    assert!(sim.handle().expire_subscription(&sub));
    let err = c.get_messages(&me, &sub, 0).await.unwrap_err();
    assert_eq!(
        err,
        Error::SubscriptionLost {
            action: "GetMessages",
            subscription: sub.clone()
        }
    );
    let sos = c
        .get_state_objects(&me, "00000000-0000-0000-0000-000000000000", 0)
        .await
        .unwrap_err();
    assert!(matches!(sos, Error::SubscriptionLost { .. }), "{sos:?}");
    // Subscribing again with the old id brings it back.
    assert_eq!(c.subscribe_to_message(&me, Some(&sub)).await.unwrap(), sub);
    assert!(c.get_messages(&me, &sub, 0).await.unwrap().is_empty());
}

#[tokio::test]
async fn malformed_requests_are_bad_request_errors() {
    let sim = start(world()).await;
    let c = client(&sim);
    let err = c
        .push_state_object(&salon_temp(), &push("", json!(1)))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::BadRequest { .. }), "{err:?}");
    let err = c
        .push_state_object(
            &salon_temp(),
            &StateObjectPush {
                lifetime: Some(-1),
                ..push("x", json!(1))
            },
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("negative lifetime"), "{err}");
    let err = c
        .send_message(&salon_temp(), &to_package(&[], "K", Value::Null))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::BadRequest { .. }), "{err:?}");
}

#[tokio::test]
async fn refused_permissions_are_auth_errors_with_403() {
    let sim = start(world()).await;
    let c = client(&sim);
    let me = restricted();
    c.check_access(&me).await.unwrap();
    let errors = [
        c.send_message(&me, &to_package(&["Door"], "K", Value::Null))
            .await
            .unwrap_err(),
        c.request_state_objects(&me, &SoFilter::default())
            .await
            .unwrap_err(),
        c.subscribe_to_state_objects(&me, None, &SoFilter::default())
            .await
            .unwrap_err(),
        c.subscribe_to_message_group(&me, "Other", None)
            .await
            .unwrap_err(),
    ];
    for err in errors {
        assert!(
            matches!(
                err,
                Error::Auth {
                    status: Some(403),
                    ..
                }
            ),
            "{err:?}"
        );
    }
    c.subscribe_to_message_group(&me, "Allowed", None)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_server_that_is_not_listening_is_transient() {
    let mut sim = start(world()).await;
    let url = sim.url();
    sim.stop().await;
    let err = client_at(url)
        .check_access(&salon_temp())
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
}

#[tokio::test]
async fn server_errors_are_transient_and_other_statuses_protocol_errors() {
    let sim = start(world()).await;
    let c = client(&sim);
    for (status, transient) in [(500, true), (503, true), (429, true), (404, false)] {
        sim.handle().set_faults(Faults {
            status: Some(status),
            ..Faults::default()
        });
        let err = c
            .write_log(&salon_temp(), LogLevel::Info, "x")
            .await
            .unwrap_err();
        assert_eq!(err.is_transient(), transient, "{status}: {err:?}");
        if !transient {
            assert!(matches!(err, Error::Protocol { .. }), "{err:?}");
        }
    }
}

#[tokio::test]
async fn a_slow_server_is_a_transient_time_out() {
    let sim = start(world()).await;
    sim.handle().set_faults(Faults {
        delay_ms: 2_000,
        status: None,
        management_status: None,
        lie: None,
    });
    let c = constellation_mqtt::constellation::Client::new(
        constellation_mqtt::constellation::ClientOptions {
            request_timeout: Duration::from_millis(200),
            long_poll_timeout: Duration::from_secs(1),
            ..constellation_mqtt::constellation::ClientOptions::new(sim.url())
        },
    )
    .unwrap();
    let err = c.check_access(&salon_temp()).await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
}

/// A minimal HTTP server that answers every request with `body`: not a Constellation.
async fn garbage_server(body: &'static str) -> url::Url {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(reply.as_bytes()).await;
            });
        }
    });
    url::Url::parse(&format!("http://{addr}/")).unwrap()
}

#[tokio::test]
async fn a_garbage_body_is_a_bad_answer_never_a_success() {
    let c = client_at(garbage_server("<html>surprise</html>").await);
    let err = c.get_settings(&salon_temp()).await.unwrap_err();
    assert!(matches!(err, Error::BadAnswer { .. }), "{err:?}");
    assert!(err.to_string().contains("surprise"), "{err}");
    let err = c
        .subscribe_to_message(&salon_temp(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::BadAnswer { .. }), "{err:?}");
    // An action with nothing to read is not taken as done either.
    let err = c
        .write_log(&salon_temp(), LogLevel::Info, "x")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::BadAnswer { .. }), "{err:?}");
    assert!(err.is_transient(), "kept and retried: {err:?}");
}

#[tokio::test]
async fn an_empty_or_json_success_of_a_write_is_done() {
    for body in ["", "null", "true", "{}"] {
        let c = client_at(garbage_server(body).await);
        c.write_log(&salon_temp(), LogLevel::Info, "x")
            .await
            .unwrap_or_else(|e| panic!("{body:?}: {e}"));
    }
}

#[tokio::test]
async fn a_null_subscription_id_is_an_auth_error() {
    let c = client_at(garbage_server("null").await);
    let err = c
        .subscribe_to_message(&salon_temp(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Auth { status: None, .. }), "{err:?}");
}

#[tokio::test]
async fn retry_transient_waits_out_an_outage_and_stops_on_final_errors() {
    let sim = start(world()).await;
    let c = client(&sim);
    let handle = sim.handle();
    handle.set_faults(Faults {
        status: Some(503),
        ..Faults::default()
    });
    let cancel = CancellationToken::new();
    let mut backoff = Backoff::new(Duration::from_millis(10), Duration::from_millis(50));
    let attempts = std::sync::atomic::AtomicU32::new(0);
    let me = salon_temp();
    let result = within(
        "retry",
        retry_transient(&mut backoff, &cancel, || {
            if attempts.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 3 {
                handle.set_faults(Faults::default());
            }
            c.check_access(&me)
        }),
    )
    .await;
    result.unwrap();
    assert_eq!(attempts.into_inner(), 4);
    assert_eq!(sim.handle().stats().count("CheckAccess", 503), 3);

    let wrong = Identity::new("Salon", "Temperature", "wrong");
    let err = retry_transient(&mut backoff, &cancel, || c.check_access(&wrong))
        .await
        .unwrap_err();
    assert!(err.is_auth());
    assert_eq!(
        sim.handle().stats().count("CheckAccess", 401),
        1,
        "no retry"
    );
}

#[tokio::test]
async fn chunked_answers_with_trailers_are_read_whole() {
    let (url, _) = scripted_server(
        &[
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"3\r\n{\"a\r\n",
            b"6;ext=1\r\n\": [1,\r\n3\r\n2]}\r\n0\r\n",
            b"X-Trailer: yes\r\n\r\n",
        ],
        10,
    )
    .await;
    let c = client_at(url);
    for _ in 0..3 {
        let settings = c.get_settings(&salon_temp()).await.unwrap();
        assert_eq!(Value::Object(settings), json!({"a": [1, 2]}));
    }
}

#[tokio::test]
async fn an_answer_that_runs_to_the_end_of_the_connection_is_read_whole() {
    let (url, seen) = scripted_server(&[b"HTTP/1.0 200 OK\r\n\r\n{\"b\":", b"true}"], 1).await;
    let c = client_at(url);
    for _ in 0..2 {
        let settings = c.get_settings(&salon_temp()).await.unwrap();
        assert_eq!(Value::Object(settings), json!({"b": true}));
    }
    assert_eq!(
        seen.connections.load(std::sync::atomic::Ordering::SeqCst),
        2
    );
}

#[tokio::test]
async fn keep_alive_connections_are_reused_and_replaced_when_the_server_closed_them() {
    const OK: &[&[u8]] = &[b"HTTP/1.1 204 No Content\r\n\r\n"];
    // Kept: one connection for every request.
    let (url, seen) = scripted_server(OK, 100).await;
    let c = client_at(url);
    for _ in 0..5 {
        c.write_log(&salon_temp(), LogLevel::Info, "x")
            .await
            .unwrap();
    }
    assert_eq!(
        seen.connections.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    // Closed by the server after each answer, unannounced: each request still succeeds,
    // on a new connection, and reaches the server once.
    let (url, seen) = scripted_server(OK, 1).await;
    let c = client_at(url);
    for _ in 0..5 {
        c.write_log(&salon_temp(), LogLevel::Info, "x")
            .await
            .unwrap();
    }
    assert_eq!(seen.requests.lock().unwrap().len(), 5);
}

#[tokio::test]
async fn bytes_after_an_answer_close_its_connection() {
    const EXTRA: &[&[u8]] = &[b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}HTTP/1.1 200 OK\r\n"];
    let (url, seen) = scripted_server(EXTRA, 100).await;
    let c = client_at(url);
    for _ in 0..3 {
        let settings = c.get_settings(&salon_temp()).await.unwrap();
        assert!(settings.is_empty());
    }
    // Never reused: the stray bytes would be taken for the next answer.
    assert_eq!(
        seen.connections.load(std::sync::atomic::Ordering::SeqCst),
        3
    );
}

#[tokio::test]
async fn ambiguous_or_oversized_answers_are_bad_answers() {
    for pieces in [
        &[b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}" as &[u8]]
            as &'static [&'static [u8]],
        &[b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"],
        // Over a write's small limit (4 KiB), by length and by chunks.
        &[b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n"],
        &[b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1388\r\n"],
    ] {
        let (url, _) = scripted_server(pieces, 1).await;
        let err = client_at(url)
            .write_log(&salon_temp(), LogLevel::Info, "x")
            .await
            .unwrap_err();
        assert!(matches!(err, Error::BadAnswer { .. }), "{pieces:?}: {err:?}");
    }
}

/// A kept connection closed after a request was written: a repeatable action is sent
/// again silently; one that is not (WriteLog) is sent once more too, and counted as a
/// possible duplicate.
#[tokio::test]
async fn a_request_written_to_a_closing_connection_is_sent_again_once_and_counted() {
    const OK: &[&[u8]] = &[b"HTTP/1.1 204 No Content\r\n\r\n"];
    let metrics = std::sync::Arc::new(constellation_mqtt::metrics::Metrics::new());
    let (url, seen) = scripted(OK, 1, true).await;
    let c = client_at(url).with_observer(metrics.clone());
    for message in ["one", "two", "three"] {
        c.write_log(&salon_temp(), LogLevel::Info, message)
            .await
            .unwrap();
    }
    // A repeatable request goes on its own (pipelined) connection: the first opens it,
    // the second is written to it as the server closes it, and is sent again.
    for _ in 0..2 {
        c.check_access(&salon_temp()).await.unwrap();
    }
    let requests = seen.requests.lock().unwrap().clone();
    let count = |what: &str| requests.iter().filter(|r| r.contains(what)).count();
    assert_eq!(count("message=one"), 1);
    assert_eq!(count("message=two"), 2, "sent again once");
    assert_eq!(count("message=three"), 2, "sent again once");
    assert_eq!(count("CheckAccess"), 3, "the second sent again once");
    let text = metrics.encode(Default::default());
    assert!(
        text.contains("constellation_mqtt_requests_resent_total{action=\"WriteLog\"} 2"),
        "{text}"
    );
    assert!(
        !text.contains("requests_resent_total{action=\"CheckAccess\"}"),
        "{text}"
    );
}

#[tokio::test]
async fn broken_answers_are_transient_errors() {
    for pieces in [
        &[b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}" as &[u8]]
            as &'static [&'static [u8]],
        &[b"HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\n{}"],
        &[b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n{}"],
        &[b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"],
        &[b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}XX"],
        &[b"SMTP ready\r\n\r\n"],
        &[b"HTTP/1.1 200 OK\r\n"],
    ] {
        let (url, _) = scripted_server(pieces, 1).await;
        let err = client_at(url)
            .get_settings(&salon_temp())
            .await
            .unwrap_err();
        assert!(err.is_transient(), "{pieces:?}: {err:?}");
    }
}

#[tokio::test]
async fn requests_carry_host_credentials_and_length_on_the_wire() {
    let (url, seen) = scripted_server(&[b"HTTP/1.1 204 No Content\r\n\r\n"], 10).await;
    let port = url.port().unwrap();
    let c = client_at(url);
    let push = StateObjectPush {
        name: "Temp".into(),
        value: json!(21.5),
        type_name: None,
        lifetime: None,
        metadatas: None,
    };
    c.push_state_object(&salon_temp(), &push).await.unwrap();
    let accented = Identity::new("Salle à manger", "Lampe", "k&y");
    c.write_log(&accented, LogLevel::Warn, "a b").await.unwrap();
    let requests = seen.requests.lock().unwrap().clone();
    let body = serde_json::to_string(&push).unwrap();
    assert!(
        requests[0].starts_with("POST /rest/constellation/PushStateObject HTTP/1.1\r\n"),
        "{}",
        requests[0]
    );
    for line in [
        format!("Host: 127.0.0.1:{port}\r\n"),
        "SentinelName: Salon\r\n".into(),
        "Content-Type: application/json\r\n".into(),
        format!("Content-Length: {}\r\n", body.len()),
    ] {
        assert!(requests[0].contains(&line), "{line:?} in {}", requests[0]);
    }
    assert!(requests[0].ends_with(&format!("\r\n\r\n{body}")));
    // Names beyond printable ASCII: every credential in the query, percent-encoded.
    assert!(
        requests[1].starts_with(
            "GET /rest/constellation/WriteLog?message=a+b&level=Warn&SentinelName=Salle+%C3%A0+manger&PackageName=Lampe&AccessKey=k%26y HTTP/1.1\r\n"
        ),
        "{}",
        requests[1]
    );
    assert!(!requests[1].contains("SentinelName:"));
}
