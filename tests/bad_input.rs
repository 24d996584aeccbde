//! Every bad input is answered on the package's `error` topic with a clear reason, and
//! the next well-formed publish still works, for that package and the others.

mod common;

use common::mqtt::*;
use common::*;
use constellation_mqtt::sim::World;
use serde_json::{json, Value};
use std::time::Duration;

const BASE: &str = "constellation/Bad/Dev";

/// Publishes `payload` on `topic`, expects an error on `error_topic` containing `reason`,
/// then checks that a well-formed publish of the same package still lands.
async fn refused(
    h: &Harness,
    d: &Device,
    topic: &str,
    payload: &[u8],
    error_topic: &str,
    reason: &str,
) {
    d.publish(topic, payload.to_vec()).await;
    let e = d
        .expect(error_topic, |p| p.contains(&json!(topic).to_string()))
        .await;
    let body: Value = serde_json::from_str(&e.payload).unwrap();
    assert_eq!(body["topic"], json!(topic));
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains(reason),
        "{topic}: {error:?} lacks {reason:?}"
    );
    assert!(body["payload"].as_str().unwrap().len() <= 256);
    assert!(!e.retain);

    let marker = format!("after {topic}");
    d.publish(
        &format!("{BASE}/stateobject/Alive"),
        json!(marker).to_string(),
    )
    .await;
    let handle = h.sim.handle();
    wait_for(&marker, Duration::from_secs(15), || async {
        handle
            .state_object("Bad", "Dev", "Alive")
            .filter(|so| so.value == json!(marker))
    })
    .await;
}

#[tokio::test]
async fn every_bad_input_is_answered_and_nothing_stops() {
    let h = Harness::embedded(World::open("demo"), |c| {
        c.mqtt.max_payload_bytes = 1024;
        c.constellation.allow = vec!["Bad/*".into(), "Other/*".into()];
    })
    .await;
    let d = h.device("bad").await;
    d.subscribe("constellation/+/+/error").await;
    d.subscribe("constellation/_adapter/error").await;
    let err = format!("{BASE}/error");
    let cases: &[(&str, &[u8], &str)] = &[
        ("stateobject/", b"1", "StateObject name is empty"),
        ("teleport", b"x", "unknown topic kind"),
        ("log/a/b", b"x", "unknown topic kind"),
        ("log/loud", b"x", "unknown log level"),
        ("log", b"", "log message is empty"),
        ("log", b"\xff\xfe\xfd", "not UTF-8"),
        ("stateobject/T", b"\xc3\x28", "not UTF-8"),
        ("stateobject", b"{\"Value\": 1}", "expected a StateObject"),
        ("stateobject", b"not json", "expected a StateObject"),
        (
            "stateobject",
            b"{\"Name\": \"a+b\", \"Value\": 1}",
            "wildcard",
        ),
        (
            "stateobject",
            b"{\"Name\": \"T\", \"Value\": 1, \"Lifetime\": -3}",
            "negative lifetime",
        ),
        ("message", b"{\"Key\": \"K\"", "expected"),
        (
            "message",
            b"{\"Scope\": {\"Type\": \"Moon\"}, \"Key\": \"K\"}",
            "unknown scope type",
        ),
        (
            "message",
            b"{\"Scope\": {\"Type\": \"Package\", \"Args\": []}, \"Key\": \"K\"}",
            "needs at least one",
        ),
        (
            "message",
            b"{\"Scope\": {\"Type\": \"All\"}, \"Key\": \"\"}",
            "Key is empty",
        ),
        ("descriptor", b"[1, 2]", "descriptor is a JSON object"),
        ("descriptor", b"{", "expected a package descriptor"),
        ("purge", b"{\"Nom\": 1}", "expected"),
        ("subscribe", b"{\"Pkg\": \"X\"}", "expected an SO filter"),
        ("groups", b"[\"\"]", "non-empty string"),
        ("status", b"sleepy", "not online/offline"),
        ("response/nope", b"42", "unknown or expired saga id"),
    ];
    for (tail, payload, reason) in cases {
        refused(&h, &d, &format!("{BASE}/{tail}"), payload, &err, reason).await;
    }
    let big = vec![b'x'; 1025];
    refused(
        &h,
        &d,
        &format!("{BASE}/log"),
        &big,
        &err,
        "exceeds the limit of 1024 bytes",
    )
    .await;
    refused(
        &h,
        &d,
        "constellation/$Bad/Dev/log",
        b"x",
        "constellation/$Bad/Dev/error",
        "reserved by brokers",
    )
    .await;
    refused(
        &h,
        &d,
        "constellation/Bad/_Dev/log",
        b"x",
        "constellation/Bad/_Dev/error",
        "reserved for the adapter",
    )
    .await;
    refused(
        &h,
        &d,
        "constellation/Bad",
        b"x",
        "constellation/_adapter/error",
        "is not constellation/<sentinel>/<package>/<kind>",
    )
    .await;
    refused(
        &h,
        &d,
        "constellation/Stranger/Dev/log",
        b"x",
        "constellation/Stranger/Dev/error",
        "not admitted by constellation.allow",
    )
    .await;
}

#[tokio::test]
async fn a_rejected_request_is_answered_with_the_servers_reason() {
    // Garage/Door may not send messages: the server answers 403, a credential error.
    let world = World::default().with_package(
        "Garage",
        None,
        constellation_mqtt::sim::PackageDecl {
            can_send_messages: false,
            ..constellation_mqtt::sim::PackageDecl::new("Door").with_key("door-key")
        },
    );
    let h = Harness::embedded(world, |c| {
        c.constellation.access_key = Some("door-key".into())
    })
    .await;
    let d = h.device("door").await;
    d.subscribe("constellation/Garage/Door/error").await;
    d.publish(
        "constellation/Garage/Door/message",
        r#"{"Scope": {"Type": "All"}, "Key": "Open"}"#,
    )
    .await;
    let e = d.expect("constellation/Garage/Door/error", |_| true).await;
    assert!(e.payload.contains("may not send messages"), "{}", e.payload);
}

#[tokio::test]
async fn a_server_answering_500_delays_work_but_loses_none_and_blocks_no_one() {
    let h = Harness::embedded(World::open("demo"), |_| {}).await;
    let d = h.device("mixed").await;
    d.subscribe("constellation/Nobody/Known/error").await;
    h.sim.handle().set_faults(constellation_mqtt::sim::Faults {
        delay_ms: 0,
        status: Some(500),
        management_status: None,
        lie: None,
    });
    d.publish("constellation/Nobody/Known/log", "queued while failing")
        .await;
    wait_for(
        "the failing package to queue",
        Duration::from_secs(15),
        || async { h.package("Nobody", "Known").map(drop) },
    )
    .await;
    h.sim.handle().set_faults(Default::default());
    d.publish("constellation/Fine/Dev/stateobject/X", "1").await;
    let handle = h.sim.handle();
    wait_for("the healthy package", Duration::from_secs(15), || async {
        handle.state_object("Fine", "Dev", "X").map(drop)
    })
    .await;
    wait_for("the retried log", Duration::from_secs(15), || async {
        (handle.logs(None).len() == 1).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_topic_starting_with_a_multibyte_character_stops_nothing() {
    // rumqttc's topic matcher panics on such a topic (it slices the first byte); the
    // discovery presets match every foreign topic against their filters.
    let presets = |c: &mut constellation_mqtt::config::Config| {
        c.preset = vec![constellation_mqtt::config::Preset {
            kind: "homeassistant".into(),
            ..Default::default()
        }];
    };
    for h in [
        Harness::embedded(World::open("demo"), presets).await,
        Harness::external(World::open("demo"), presets).await,
    ] {
        let d = h.device("unicode").await;
        d.publish("Ѩ/x", "1").await;
        d.publish("éclairage/salon/state", "ON").await;
        d.publish("constellation/Still/Working/stateobject/X", "1")
            .await;
        h.state_object_arrives("Still", "Working", "X").await;
    }
}

/// Every error payload carries a stable `code` beside its text: the refused publish's
/// `refused_total` reason, or what Constellation or the adapter said.
#[tokio::test]
async fn error_payloads_carry_a_stable_code() {
    let world = World::open("demo").with_package(
        "Garage",
        None,
        constellation_mqtt::sim::PackageDecl {
            can_send_messages: false,
            ..constellation_mqtt::sim::PackageDecl::new("Door").with_key("demo")
        },
    );
    let h = Harness::embedded(world, |c| {
        c.mqtt.max_payload_bytes = 1024;
        c.constellation.allow = vec!["Bad/*".into(), "Garage/*".into()];
    })
    .await;
    let d = h.device("coded").await;
    d.subscribe("constellation/+/+/error").await;
    let cases: &[(&str, &[u8], &str)] = &[
        ("constellation/Bad/Dev/log/loud", b"x", "invalid_payload"),
        ("constellation/Bad/Dev/teleport", b"x", "invalid_topic"),
        ("constellation/Bad/Dev/log", &[b'x'; 2000], "oversized"),
        ("constellation/Elsewhere/Dev/log", b"x", "not_admitted"),
        ("constellation/Bad/Dev/response/nope", b"1", "unknown_saga"),
        (
            "constellation/Garage/Door/message",
            br#"{"Scope": {"Type": "All"}, "Key": "Open"}"#,
            "forbidden",
        ),
    ];
    for (topic, payload, code) in cases {
        d.publish(topic, payload.to_vec()).await;
        let levels: Vec<&str> = topic.split('/').take(3).collect();
        let error_topic = format!("{}/error", levels.join("/"));
        let e = d
            .expect(&error_topic, |p| p.contains(&json!(topic).to_string()))
            .await;
        let body: Value = serde_json::from_str(&e.payload).unwrap();
        assert_eq!(body["code"], json!(code), "{topic}: {body}");
        assert!(
            body["error"].as_str().is_some_and(|t| !t.is_empty()),
            "{body}"
        );
    }
}
