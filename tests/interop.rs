//! The embedded broker as any MQTT client meets it: the behaviours the Eclipse Paho
//! interoperability suite (`interoperability/client_test.py`, `client_test5.py`) checks,
//! checked here from the MQTT specification against the built binary's broker with the
//! shipped values, connecting as that suite does (keep-alive 0). Each test names the
//! Paho test it corresponds to; the suite itself is run as BENCHMARKS.md says.

mod common;

use common::binary;
use common::mqtt::Device;
use common::mqtt::Mosquitto;
use common::raw5::{user_properties, Options, Raw5};
use constellation_mqtt::sim::World;
use rumqttc::v5::mqttbytes::v5::{
    ConnectProperties, ConnectReturnCode, DisconnectProperties, DisconnectReasonCode, Filter,
    Packet, PubAck, PublishProperties, RetainForwardRule, SubscribeProperties,
};
use rumqttc::v5::mqttbytes::QoS;
use std::process::Child;
use std::time::Duration;

/// A quiet spell long enough for a broker on loopback to have sent what it would send.
const QUIET: Duration = Duration::from_millis(500);

/// A broker under test: the built binary's embedded broker (shipped values), or
/// Mosquitto as the yardstick, on free ports.
struct Broker {
    v4: u16,
    v5: u16,
    _process: Process,
}

enum Process {
    Adapter {
        child: Child,
        _dir: tempfile::TempDir,
        _sim: constellation_mqtt::sim::Simulator,
    },
    Mosquitto {
        _broker: Mosquitto,
    },
}

impl Broker {
    async fn embedded() -> Broker {
        let sim = common::start(World::open("demo")).await;
        let dir = tempfile::tempdir().unwrap();
        let url = sim.url().to_string();
        let path = dir.path().to_path_buf();
        let (child, v4, v5) =
            tokio::task::spawn_blocking(move || binary::run_shipped_broker(&path, &url))
                .await
                .unwrap();
        Broker {
            v4,
            v5,
            _process: Process::Adapter {
                child,
                _dir: dir,
                _sim: sim,
            },
        }
    }

    async fn mosquitto() -> Broker {
        let port = common::mqtt::free_port();
        Broker {
            v4: port,
            v5: port,
            _process: Process::Mosquitto {
                _broker: Mosquitto::start(port).await,
            },
        }
    }

    async fn client(&self, id: &str) -> Raw5 {
        Raw5::connect(self.v5, id, Options::clean()).await.0
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Process::Adapter { child, .. } = self {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One test per broker for `check`: `<check>::embedded` and `<check>::mosquitto`.
macro_rules! on_both {
    ($($check:ident),* $(,)?) => {$(
        mod $check {
            #[tokio::test]
            async fn embedded() {
                super::$check(&super::Broker::embedded().await).await;
            }

            #[tokio::test]
            async fn mosquitto() {
                super::$check(&super::Broker::mosquitto().await).await;
            }
        }
    )*};
}

/// One test for `check` on the embedded broker only (Mosquitto 2.0.11 does not meet
/// it: each check says how).
macro_rules! on_embedded {
    ($($check:ident),* $(,)?) => {$(
        mod $check {
            #[tokio::test]
            async fn embedded() {
                super::$check(&super::Broker::embedded().await).await;
            }
        }
    )*};
}

on_both!(
    keep_alive_zero_connects_on_both_protocols,
    retained_messages_come_with_every_subscribe,
    retained_messages_keep_their_qos_and_properties,
    publishes_keep_their_qos_and_properties,
    a_session_receives_what_came_while_it_was_away,
    sessions_expire_as_their_interval_says,
    messages_expire_while_they_wait,
    subscription_options_are_honoured,
    request_response_properties_are_passed_on,
    server_topic_aliases_name_one_topic_each,
    nothing_larger_than_the_clients_maximum_packet_size_is_sent,
    in_flight_publishes_respect_the_clients_receive_maximum,
    publishes_carry_their_subscription_identifiers,
);

// Mosquitto 2.0.11 closes these connections without the DISCONNECT and its reason code
// that MQTT 5 asks for (MQTT-3.3.2-8, MQTT-3.3.4-9 with §4.13): its client sees only
// the connection close.
on_embedded!(
    client_topic_aliases_work_and_end_with_the_connection,
    a_client_over_the_brokers_receive_maximum_is_told,
);

fn filter(path: &str, qos: QoS) -> Filter {
    Filter::new(path, qos)
}

fn qos_set(received: &[rumqttc::v5::mqttbytes::v5::Publish]) -> Vec<QoS> {
    let mut qos: Vec<QoS> = received.iter().map(|p| p.qos).collect();
    qos.sort_by_key(|q| *q as u8);
    qos
}

/// Keep-alive 0 is "keep-alive off" (MQTT §3.1.2.10): such clients connect over
/// MQTT 3.1.1 and 5 (rumqttd refused them: no Paho test could connect).
async fn keep_alive_zero_connects_on_both_protocols(b: &Broker) {
    let (mut c, ack) = Raw5::connect(b.v5, "ka0", Options::clean()).await;
    assert_eq!(ack.code, ConnectReturnCode::Success);
    c.subscribe_to("interop/ka0", QoS::AtLeastOnce).await;
    c.publish("interop/ka0", b"x", QoS::AtLeastOnce, false, None)
        .await;
    assert_eq!(c.wait_publishes(1).await.len(), 1);

    let mut options = rumqttc::MqttOptions::new("ka0-v4", "127.0.0.1", b.v4);
    options.set_keep_alive(Duration::ZERO);
    let (_client, mut eventloop) = rumqttc::AsyncClient::new(options, 10);
    assert!(
        common::mqtt::connack(&mut eventloop).await,
        "v4 keep-alive 0 refused"
    );
}

/// MQTT-3.8.4-3: a SUBSCRIBE to a filter the client has already replaces the
/// subscription and sends the retained messages again (Home Assistant subscribes to
/// an availability topic again for each entity).
async fn retained_messages_come_with_every_subscribe(b: &Broker) {
    let publisher = Device::connect("retainer", b.v4).await;
    publisher
        .publish_retained("interop/avail/one", "online")
        .await;
    let d = Device::connect("resubscriber", b.v4).await;
    for round in 1..=3 {
        d.subscribe("interop/avail/#").await;
        let got = d.expect("interop/avail/one", |p| p == "online").await;
        assert!(got.retain, "round {round}: sent as retained");
    }
    let mut c = b.client("resubscriber5").await;
    for round in 1..=3 {
        c.subscribe_to("interop/avail/#", QoS::AtLeastOnce).await;
        let got = c.wait_publishes(round).await;
        assert!(got[round - 1].retain, "MQTT 5, round {round}");
    }
}

/// Paho `test_retained_message`: retained messages at QoS 0, 1 and 2 come back to a
/// QoS 2 subscription at their own QoS, with their user properties.
async fn retained_messages_keep_their_qos_and_properties(b: &Broker) {
    let mut c = b.client("retained-qos").await;
    let props = user_properties(&[("a", "2"), ("c", "3")]);
    for (topic, qos) in [
        ("interop/rq/q0", QoS::AtMostOnce),
        ("interop/rq/q1", QoS::AtLeastOnce),
        ("interop/rq/q2", QoS::ExactlyOnce),
    ] {
        c.publish(topic, b"r", qos, true, Some(props.clone())).await;
    }
    c.subscribe_to("interop/rq/+", QoS::ExactlyOnce).await;
    let got = c.wait_publishes(3).await.to_vec();
    assert_eq!(
        qos_set(&got),
        [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
    );
    for p in &got {
        let users = &p.properties.as_ref().unwrap().user_properties;
        assert_eq!(users, &props.user_properties, "{p:?}");
    }
}

/// Paho `test_user_properties`, `test_payload_format`: a publish is delivered at the
/// lower of its QoS and the subscription's (MQTT-3.8.4-8), its user properties, payload
/// format indicator and content type passed on.
async fn publishes_keep_their_qos_and_properties(b: &Broker) {
    let mut c = b.client("props").await;
    c.subscribe_to("interop/props", QoS::ExactlyOnce).await;
    let props = PublishProperties {
        payload_format_indicator: Some(1),
        content_type: Some("My name".into()),
        ..user_properties(&[("a", "2"), ("c", "3")])
    };
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        c.publish("interop/props", b"", qos, false, Some(props.clone()))
            .await;
    }
    let got = c.wait_publishes(3).await.to_vec();
    assert_eq!(
        qos_set(&got),
        [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
    );
    for p in &got {
        let p = p.properties.as_ref().unwrap();
        assert_eq!(p.user_properties, props.user_properties);
        assert_eq!(p.payload_format_indicator, Some(1));
        assert_eq!(p.content_type.as_deref(), Some("My name"));
    }
    // A QoS 1 subscription gets a QoS 2 publish at QoS 1.
    let mut low = b.client("props-low").await;
    low.subscribe_to("interop/props", QoS::AtLeastOnce).await;
    c.publish("interop/props", b"2", QoS::ExactlyOnce, false, None)
        .await;
    assert_eq!(low.wait_publishes(1).await[0].qos, QoS::AtLeastOnce);
}

/// Paho `test_offline_message_queueing`: a session with an expiry interval outlives
/// its connection; what its subscriptions match meanwhile is delivered when it resumes.
async fn a_session_receives_what_came_while_it_was_away(b: &Broker) {
    let (mut a, _) = Raw5::connect(b.v5, "offline", Options::clean().expiring(99_999)).await;
    a.subscribe_to("interop/offline/+", QoS::ExactlyOnce).await;
    a.disconnect().await;
    let mut p = b.client("offline-publisher").await;
    for (n, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
        .into_iter()
        .enumerate()
    {
        p.publish(&format!("interop/offline/{n}"), b"m", qos, false, None)
            .await;
    }
    let (mut a, ack) = Raw5::connect(b.v5, "offline", Options::default()).await;
    assert!(ack.session_present);
    a.wait_publishes(2).await;
    a.settle(QUIET).await;
    assert!((2..=3).contains(&a.received.len()), "{:?}", a.received);
}

/// Paho `test_session_expiry`: a session lasts as long as its expiry interval says,
/// 0 ending it with the connection; a DISCONNECT may change the interval.
async fn sessions_expire_as_their_interval_says(b: &Broker) {
    let id = "expiring";
    let present = |options: Options| async move {
        let (c, ack) = Raw5::connect(b.v5, id, options).await;
        c.disconnect().await;
        ack.session_present
    };
    // 0: gone with the connection.
    let (mut c, _) = Raw5::connect(b.v5, id, Options::clean().expiring(0)).await;
    c.subscribe_to("interop/expiry", QoS::AtLeastOnce).await;
    c.disconnect().await;
    assert!(!present(Options::default().expiring(0)).await);

    // 1 s: there at once, gone after it.
    let (mut c, _) = Raw5::connect(b.v5, id, Options::clean().expiring(1)).await;
    c.subscribe_to("interop/expiry", QoS::AtLeastOnce).await;
    c.disconnect().await;
    assert!(present(Options::default().expiring(1)).await);
    // What is checked is the expiry itself: a wait past it is the test.
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    assert!(!present(Options::default().expiring(0)).await);

    // A DISCONNECT that sets 0 ends the session then.
    let (mut c, _) = Raw5::connect(b.v5, id, Options::clean().expiring(60)).await;
    c.subscribe_to("interop/expiry", QoS::AtLeastOnce).await;
    c.disconnect_with(Some(DisconnectProperties {
        session_expiry_interval: Some(0),
        reason_string: None,
        user_properties: vec![],
        server_reference: None,
    }))
    .await;
    assert!(!present(Options::default()).await);
}

/// Paho `test_publication_expiry`: a message waiting for an absent session expires
/// after its interval; one delivered carries what is left of it.
async fn messages_expire_while_they_wait(b: &Broker) {
    let (mut a, _) = Raw5::connect(b.v5, "expiry-sub", Options::clean().expiring(99_999)).await;
    a.subscribe_to("interop/msg-expiry", QoS::ExactlyOnce).await;
    a.disconnect().await;
    let mut p = b.client("expiry-pub").await;
    for (interval, qos) in [
        (1, QoS::AtLeastOnce),
        (1, QoS::ExactlyOnce),
        (6, QoS::AtLeastOnce),
        (6, QoS::ExactlyOnce),
    ] {
        let props = PublishProperties {
            message_expiry_interval: Some(interval),
            ..PublishProperties::default()
        };
        p.publish("interop/msg-expiry", b"e", qos, false, Some(props))
            .await;
    }
    // What is checked is the expiry itself: a wait past the short interval is the test.
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    let (mut a, _) = Raw5::connect(b.v5, "expiry-sub", Options::default()).await;
    a.wait_publishes(2).await;
    a.settle(QUIET).await;
    assert_eq!(a.received.len(), 2, "{:?}", a.received);
    for m in &a.received {
        let left = m.properties.as_ref().unwrap().message_expiry_interval;
        assert!(left.is_some_and(|s| s < 6), "{m:?}");
    }
}

/// Paho `test_subscribe_options`: no local, retain as published, retain handling.
async fn subscription_options_are_honoured(b: &Broker) {
    // No local: the publisher's own subscription does not get it; another does.
    let mut a = b.client("nolocal-a").await;
    let mut other = b.client("nolocal-b").await;
    let nolocal = Filter {
        nolocal: true,
        ..filter("interop/opts", QoS::ExactlyOnce)
    };
    a.subscribe(vec![nolocal.clone()], None).await;
    other.subscribe(vec![nolocal], None).await;
    a.publish("interop/opts", b"nolocal", QoS::AtLeastOnce, false, None)
        .await;
    other.wait_publishes(1).await;
    a.settle(QUIET).await;
    assert!(a.received.is_empty(), "{:?}", a.received);
    // Many of its own in a row (more than one read of the broker's log) do not hold
    // back what another client publishes after them.
    for _ in 0..300 {
        a.publish("interop/opts", b"own", QoS::AtMostOnce, false, None)
            .await;
    }
    other
        .publish("interop/opts", b"theirs", QoS::AtLeastOnce, false, None)
        .await;
    let got = a.wait_publishes(1).await;
    assert_eq!(got[0].payload, "theirs");

    // Retain as published: the retain flag as it was published.
    let mut r = b.client("rap").await;
    let rap = Filter {
        preserve_retain: true,
        ..filter("interop/rap", QoS::ExactlyOnce)
    };
    r.subscribe(vec![rap], None).await;
    r.publish("interop/rap", b"no", QoS::AtLeastOnce, false, None)
        .await;
    r.publish("interop/rap", b"yes", QoS::AtLeastOnce, true, None)
        .await;
    let got = r.wait_publishes(2).await;
    assert_eq!(
        got.iter().map(|p| p.retain).collect::<Vec<_>>(),
        [false, true]
    );

    // Retain handling 1: retained messages for a new subscription only; 2: never.
    let mut h = b.client("handling").await;
    h.publish("interop/rh/x", b"kept", QoS::AtLeastOnce, true, None)
        .await;
    let rule = |rule| Filter {
        retain_forward_rule: rule,
        ..filter("interop/rh/+", QoS::ExactlyOnce)
    };
    h.subscribe(vec![rule(RetainForwardRule::OnNewSubscribe)], None)
        .await;
    h.wait_publishes(1).await;
    h.subscribe(vec![rule(RetainForwardRule::OnNewSubscribe)], None)
        .await;
    h.settle(QUIET).await;
    assert_eq!(h.received.len(), 1, "{:?}", h.received);
    let mut never = b.client("handling-never").await;
    never
        .subscribe(vec![rule(RetainForwardRule::Never)], None)
        .await;
    never
        .subscribe(vec![rule(RetainForwardRule::Never)], None)
        .await;
    never.settle(QUIET).await;
    assert!(never.received.is_empty(), "{:?}", never.received);
}

/// Paho `test_request_response`: response topic and correlation data reach the
/// responder as they were sent.
async fn request_response_properties_are_passed_on(b: &Broker) {
    let mut requester = b.client("requester").await;
    let mut responder = b.client("responder").await;
    responder
        .subscribe_to("interop/request", QoS::AtLeastOnce)
        .await;
    requester
        .subscribe_to("interop/response", QoS::AtLeastOnce)
        .await;
    let props = PublishProperties {
        response_topic: Some("interop/response".into()),
        correlation_data: Some("334".into()),
        ..PublishProperties::default()
    };
    requester
        .publish(
            "interop/request",
            b"request",
            QoS::AtLeastOnce,
            false,
            Some(props),
        )
        .await;
    let request = responder.wait_publishes(1).await[0].clone();
    let p = request.properties.unwrap();
    assert_eq!(p.response_topic.as_deref(), Some("interop/response"));
    assert_eq!(p.correlation_data.as_deref(), Some(&b"334"[..]));
    let answer = PublishProperties {
        correlation_data: p.correlation_data.clone(),
        ..PublishProperties::default()
    };
    responder
        .publish(
            "interop/response",
            b"response",
            QoS::AtLeastOnce,
            false,
            Some(answer),
        )
        .await;
    let got = requester.wait_publishes(1).await;
    assert_eq!(
        got[0]
            .properties
            .as_ref()
            .unwrap()
            .correlation_data
            .as_deref(),
        Some(&b"334"[..])
    );
}

/// Paho `test_client_topic_alias`: alias 0 is refused with *topic alias invalid*; an
/// alias set by a publish names its topic for later ones; aliases end with the
/// connection (an unknown one is a protocol error).
async fn client_topic_aliases_work_and_end_with_the_connection(b: &Broker) {
    let alias = |n| PublishProperties {
        topic_alias: Some(n),
        ..PublishProperties::default()
    };
    let mut c = b.client("alias").await;
    let mut publish = rumqttc::v5::mqttbytes::v5::Publish::new(
        "interop/alias",
        QoS::AtMostOnce,
        "0",
        Some(alias(0)),
    );
    publish.retain = false;
    c.send(Packet::Publish(publish)).await;
    match c.expect_other().await {
        Some(Packet::Disconnect(d)) => {
            assert_eq!(d.reason_code, DisconnectReasonCode::TopicAliasInvalid)
        }
        other => panic!("expected a DISCONNECT, got {other:?}"),
    }

    let (mut c, ack) = Raw5::connect(b.v5, "alias", Options::clean().expiring(99_999)).await;
    let max = ack.properties.and_then(|p| p.topic_alias_max).unwrap_or(0);
    assert!(max >= 1, "the broker takes topic aliases");
    c.subscribe_to("interop/alias", QoS::AtLeastOnce).await;
    c.publish(
        "interop/alias",
        b"1",
        QoS::AtLeastOnce,
        false,
        Some(alias(1)),
    )
    .await;
    c.publish("", b"2", QoS::AtLeastOnce, false, Some(alias(1)))
        .await;
    let got = c.wait_publishes(2).await;
    assert!(got.iter().all(|p| p.topic == "interop/alias"), "{got:?}");
    c.disconnect().await;

    let (mut c, ack) = Raw5::connect(b.v5, "alias", Options::default()).await;
    assert!(ack.session_present);
    c.publish("interop/alias", b"3", QoS::AtLeastOnce, false, None)
        .await;
    c.wait_publishes(1).await;
    let stale = rumqttc::v5::mqttbytes::v5::Publish::new("", QoS::AtMostOnce, "4", Some(alias(1)));
    c.send(Packet::Publish(stale)).await;
    match c.expect_other().await {
        Some(Packet::Disconnect(d)) => {
            assert_eq!(d.reason_code, DisconnectReasonCode::ProtocolError)
        }
        other => panic!("expected a DISCONNECT, got {other:?}"),
    }
}

/// Paho `test_server_topic_alias`, with a wildcard: an alias the broker gives names
/// one topic, not the subscription's filter.
async fn server_topic_aliases_name_one_topic_each(b: &Broker) {
    let options = Options {
        properties: Some(ConnectProperties {
            topic_alias_max: Some(10),
            ..ConnectProperties::new()
        }),
        ..Options::clean()
    };
    let (mut c, _) = Raw5::connect(b.v5, "server-alias", options).await;
    c.subscribe_to("interop/sa/+", QoS::AtLeastOnce).await;
    for topic in [
        "interop/sa/1",
        "interop/sa/2",
        "interop/sa/1",
        "interop/sa/2",
    ] {
        c.publish(topic, topic.as_bytes(), QoS::AtLeastOnce, false, None)
            .await;
    }
    let got = c.wait_publishes(4).await.to_vec();
    let mut names = std::collections::HashMap::new();
    for p in got {
        let alias = p.properties.as_ref().and_then(|p| p.topic_alias);
        let topic = match (p.topic.is_empty(), alias) {
            (false, Some(a)) => {
                names.insert(a, p.topic.clone());
                p.topic.clone()
            }
            (false, None) => p.topic.clone(),
            (true, Some(a)) => names.get(&a).cloned().expect("an alias set before"),
            (true, None) => panic!("an empty topic without an alias"),
        };
        assert_eq!(
            topic, p.payload,
            "the alias resolves to the topic published"
        );
    }
}

/// Paho `test_maximum_packet_size`: the broker sends nothing larger than the client's
/// Maximum Packet Size (MQTT-3.1.2-25), and keeps the connection.
async fn nothing_larger_than_the_clients_maximum_packet_size_is_sent(b: &Broker) {
    let options = Options {
        properties: Some(ConnectProperties {
            max_packet_size: Some(64),
            ..ConnectProperties::new()
        }),
        ..Options::clean()
    };
    let (mut c, _) = Raw5::connect(b.v5, "small", options).await;
    c.subscribe_to("interop/size", QoS::ExactlyOnce).await;
    c.publish("interop/size", &[b'.'; 32], QoS::AtMostOnce, false, None)
        .await;
    c.wait_publishes(1).await;
    c.publish("interop/size", &[b'.'; 64], QoS::AtLeastOnce, false, None)
        .await;
    c.publish("interop/size", b"after", QoS::AtLeastOnce, false, None)
        .await;
    let got = c.wait_publishes(2).await;
    assert_eq!(
        got[1].payload, "after",
        "the large one was not sent: {got:?}"
    );
}

/// Paho `test_flow_control1`: no more QoS 1 publishes in flight to a client than its
/// Receive Maximum.
async fn in_flight_publishes_respect_the_clients_receive_maximum(b: &Broker) {
    let options = Options {
        properties: Some(ConnectProperties {
            receive_maximum: Some(2),
            ..ConnectProperties::new()
        }),
        ..Options::clean()
    };
    let (mut c, _) = Raw5::connect(b.v5, "flow", options).await;
    c.subscribe_to("interop/flow", QoS::AtLeastOnce).await;
    let mut p = b.client("flow-publisher").await;
    for n in 0..3 {
        p.publish(
            "interop/flow",
            format!("{n}").as_bytes(),
            QoS::AtLeastOnce,
            false,
            None,
        )
        .await;
    }
    c.auto_ack = false;
    c.wait_publishes(2).await;
    c.settle(QUIET).await;
    assert_eq!(
        c.received.len(),
        2,
        "a third before any ack: {:?}",
        c.received
    );
    let first = c.received[0].pkid;
    c.send(Packet::PubAck(PubAck::new(first, None))).await;
    assert_eq!(c.wait_publishes(3).await[2].payload, "2");
}

/// Paho `test_flow_control2`: the CONNACK gives a Receive Maximum, and a client that
/// leaves more QoS 2 publishes unreleased is disconnected with *receive maximum
/// exceeded* (0x93), not left hanging.
async fn a_client_over_the_brokers_receive_maximum_is_told(b: &Broker) {
    let (mut c, ack) = Raw5::connect(b.v5, "flood", Options::clean()).await;
    let max = ack
        .properties
        .and_then(|p| p.receive_max)
        .expect("a receive maximum in the CONNACK");
    for pkid in 1..=max + 1 {
        let mut publish =
            rumqttc::v5::mqttbytes::v5::Publish::new("interop/flood", QoS::ExactlyOnce, "m", None);
        publish.pkid = pkid;
        c.send(Packet::Publish(publish)).await;
    }
    loop {
        match c.recv().await {
            Some(Packet::PubRec(_)) => {}
            Some(Packet::Disconnect(d)) => {
                assert_eq!(d.reason_code, DisconnectReasonCode::ReceiveMaximumExceeded);
                break;
            }
            other => panic!("expected PUBRECs, then a DISCONNECT; got {other:?}"),
        }
    }
}

/// Paho `test_subscribe_identifiers`: each publish carries the identifiers of the
/// subscriptions it is sent for. The broker sends one copy per matching subscription
/// (MQTT-3.3.4-5 allows it; the suite expects one copy with both identifiers).
async fn publishes_carry_their_subscription_identifiers(b: &Broker) {
    let mut c = b.client("sub-ids").await;
    let id = |n| {
        Some(SubscribeProperties {
            id: Some(n),
            user_properties: vec![],
        })
    };
    c.subscribe(vec![filter("interop/ids", QoS::AtLeastOnce)], id(2))
        .await;
    c.subscribe(vec![filter("interop/ids/#", QoS::AtLeastOnce)], id(3))
        .await;
    c.publish("interop/ids", b"x", QoS::AtLeastOnce, false, None)
        .await;
    c.wait_publishes(2).await;
    c.settle(QUIET).await;
    let mut ids: Vec<usize> = c
        .received
        .iter()
        .flat_map(|p| {
            p.properties
                .as_ref()
                .unwrap()
                .subscription_identifiers
                .clone()
        })
        .collect();
    ids.sort();
    assert_eq!(ids, [2, 3], "{:?}", c.received);
}
