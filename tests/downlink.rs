//! Constellation → device end to end: callbacks by every scope in both payload forms,
//! sagas both ways, settings, StateObject links, groups, renewal of lost subscriptions.

mod common;

use common::mqtt::*;
use common::*;
use constellation_mqtt::config::{CallbackPayload, Config, PackageConfig, SoPayload};
use constellation_mqtt::constellation::model::{
    OutgoingMessage, ScopeType, SenderType, SoFilter, RESPONSE_KEY,
};
use constellation_mqtt::sim::{Faults, PackageDecl, Participant, SubKind, World};
use serde_json::{json, Value};
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

fn who(s: &str, p: &str) -> Participant {
    Participant {
        sentinel: s.into(),
        package: p.into(),
    }
}

fn declare(
    c: &mut Config,
    package: &str,
    callback: CallbackPayload,
    so: SoPayload,
    f: impl FnOnce(&mut PackageConfig),
) {
    let mut p = PackageConfig {
        sentinel: "Salon".into(),
        package: package.into(),
        access_key: None,
        callback_payload: callback,
        so_payload: so,
        subscribe: Vec::new(),
        groups: Vec::new(),
        settings: Default::default(),
        stateobjects: Default::default(),
    };
    f(&mut p);
    c.packages.push(p);
}

fn world() -> World {
    World::open("demo")
        .with_package(
            "Salon",
            None,
            PackageDecl::new("Thermo")
                .with_key("demo")
                .with_settings(json!({"Interval": 10})),
        )
        .with_package("Salon", None, PackageDecl::new("Lamp").with_key("demo"))
}

/// Thermo gets whole messages, Lamp gets `Data` alone and values of SOs, in group Lights.
async fn harness(tweak: impl FnOnce(&mut Config)) -> Harness {
    Harness::embedded(world(), |c| {
        declare(
            c,
            "Thermo",
            CallbackPayload::Message,
            SoPayload::Object,
            |_| {},
        );
        declare(c, "Lamp", CallbackPayload::Data, SoPayload::Value, |p| {
            p.groups = vec!["Lights".into()];
            p.subscribe = vec![SoFilter {
                package: "CPU".into(),
                ..SoFilter::default()
            }];
        });
        tweak(c);
    })
    .await
}

/// The adapter's message subscription of `owner`, once it is being polled (and, with
/// `group`, has joined it).
async fn polled(h: &Harness, owner: &str, kind: SubKind, group: Option<&str>) -> String {
    let handle = h.sim.handle();
    wait_for(&format!("{owner} polling"), T, || async {
        handle
            .subscriptions()
            .into_iter()
            .find(|s| {
                s.owner == owner
                    && s.kind == kind
                    && s.polling > 0
                    && group.is_none_or(|g| s.groups.iter().any(|x| x == g))
            })
            .map(|s| s.id)
    })
    .await
}

/// Sends `msg` from `from` (a `Consumer/<name>` or package) as a sender of type `sender`.
fn send(h: &Harness, from: &str, sender: SenderType, msg: OutgoingMessage) {
    let from = Participant::parse(from).unwrap();
    h.sim.handle().send(&from, sender, msg).unwrap();
}

/// A message with data, in a saga when `saga` is given.
fn msg(
    kind: ScopeType,
    args: &[&str],
    key: &str,
    data: Value,
    saga: Option<&str>,
) -> OutgoingMessage {
    let mut m = message(kind, args, key);
    m.data = data;
    m.scope.saga_id = saga.map(str::to_owned);
    m
}

/// Collects payloads on `topic` until one passes `last`.
async fn collect(d: &Device, topic: &str, last: impl Fn(&str) -> bool) -> Vec<String> {
    let mut got = Vec::new();
    loop {
        let r = d.expect(topic, |_| true).await;
        assert!(!r.retain, "callbacks are never retained");
        let done = last(&r.payload);
        got.push(r.payload);
        if done {
            return got;
        }
    }
}

/// A consumer says `Hello` with `n` to the group `Salon`; `thermo` must get it.
async fn hello_salon(h: &Harness, thermo: &Device, n: i32) {
    send(
        h,
        "Consumer/Web",
        SenderType::ConsumerHttp,
        msg(ScopeType::Group, &["Salon"], "Hello", json!(n), None),
    );
    thermo
        .expect("constellation/Salon/Thermo/callback/Hello", |p| {
            data_of(p) == json!(n)
        })
        .await;
}

fn data_of(payload: &str) -> Value {
    serde_json::from_str::<Value>(payload).unwrap()["Data"].clone()
}

#[tokio::test]
async fn every_scope_reaches_the_device_exactly_once_in_both_payload_forms() {
    let h = harness(|_| {}).await;
    let thermo = h.device("thermo").await;
    thermo
        .subscribe("constellation/Salon/Thermo/callback/#")
        .await;
    let lamp = h.device("lamp").await;
    lamp.subscribe("constellation/Salon/Lamp/callback/#").await;
    polled(&h, "Salon/Thermo", SubKind::Messages, None).await;
    polled(&h, "Salon/Lamp", SubKind::Messages, Some("Lights")).await;

    let c = "Consumer/Console";
    let http = SenderType::ConsumerHttp;
    send(
        &h,
        c,
        http,
        msg(
            ScopeType::Package,
            &["Thermo"],
            "Ping",
            json!("by name"),
            None,
        ),
    );
    send(
        &h,
        c,
        http,
        msg(
            ScopeType::Package,
            &["Salon/Thermo"],
            "Ping",
            json!("by instance"),
            None,
        ),
    );
    send(
        &h,
        c,
        http,
        msg(
            ScopeType::Sentinel,
            &["Salon"],
            "Ping",
            json!("by sentinel"),
            None,
        ),
    );
    send(
        &h,
        c,
        http,
        msg(
            ScopeType::Group,
            &["Lights"],
            "Ping",
            json!("by group"),
            None,
        ),
    );
    send(
        &h,
        c,
        http,
        msg(ScopeType::All, &[], "Ping", json!("to all"), None),
    );
    send(
        &h,
        c,
        http,
        msg(ScopeType::Other, &[], "Ping", json!("to others"), None),
    );
    send(
        &h,
        c,
        http,
        msg(
            ScopeType::Package,
            &["Thermo", "Lamp"],
            "Ping",
            json!("end"),
            None,
        ),
    );

    // One topic per key, so order is kept and "end" comes last: what came before it
    // is everything, exactly once.
    let got = collect(&thermo, "constellation/Salon/Thermo/callback/Ping", |p| {
        data_of(p) == json!("end")
    })
    .await;
    let data: Vec<Value> = got.iter().map(|p| data_of(p)).collect();
    assert_eq!(
        data,
        [
            json!("by name"),
            json!("by instance"),
            json!("by sentinel"),
            json!("to all"),
            json!("to others"),
            json!("end")
        ]
    );
    let first: Value = serde_json::from_str(&got[0]).unwrap();
    assert_eq!(first["Key"], json!("Ping"));
    assert_eq!(
        first["Scope"],
        json!({"Scope": 2, "Args": ["Thermo"], "SagaId": null})
    );
    assert_eq!(first["Sender"]["FriendlyName"], json!("Consumer/Console"));
    assert_eq!(first["Sender"]["Type"], json!(1));

    let got = collect(&lamp, "constellation/Salon/Lamp/callback/Ping", |p| {
        p == "\"end\""
    })
    .await;
    assert_eq!(
        got,
        [
            "\"by sentinel\"",
            "\"by group\"",
            "\"to all\"",
            "\"to others\"",
            "\"end\""
        ]
    );

    // Another key, another topic.
    send(
        &h,
        c,
        http,
        msg(
            ScopeType::Package,
            &["Lamp"],
            "SetBrightness",
            json!(80),
            None,
        ),
    );
    assert_eq!(
        lamp.expect("constellation/Salon/Lamp/callback/SetBrightness", |_| true)
            .await
            .payload,
        "80"
    );
}

#[tokio::test]
async fn a_consumer_saga_is_answered_by_the_device() {
    let h = harness(|_| {}).await;
    let thermo = h.device("thermo").await;
    thermo
        .subscribe("constellation/Salon/Thermo/callback/#")
        .await;
    polled(&h, "Salon/Thermo", SubKind::Messages, None).await;
    for (consumer, sender, saga) in [
        ("Consumer/Hub", SenderType::ConsumerHub, "saga-hub"),
        ("Consumer/Web", SenderType::ConsumerHttp, "saga-web"),
    ] {
        h.sim
            .handle()
            .inbox(&Participant::parse(consumer).unwrap(), Duration::ZERO)
            .await;
        send(
            &h,
            consumer,
            sender,
            msg(
                ScopeType::Package,
                &["Salon/Thermo"],
                "GetTemperature",
                Value::Null,
                Some(saga),
            ),
        );
        let call = thermo
            .expect("constellation/Salon/Thermo/callback/GetTemperature", |_| {
                true
            })
            .await;
        let call: Value = serde_json::from_str(&call.payload).unwrap();
        assert_eq!(call["Scope"]["SagaId"], json!(saga));
        thermo
            .publish(
                &format!("constellation/Salon/Thermo/response/{saga}"),
                "21.5",
            )
            .await;
        let answer = within(
            "the saga's answer",
            h.sim
                .handle()
                .saga_response(&Participant::parse(consumer).unwrap(), saga, T),
        )
        .await
        .unwrap_or_else(|| panic!("no answer to {saga}"));
        assert_eq!(answer.key, RESPONSE_KEY);
        assert_eq!(answer.data, json!(21.5));
        assert_eq!(answer.sender.friendly_name, "Salon/Thermo");
    }
    // A saga is answered once: the second answer is an error.
    thermo.subscribe("constellation/Salon/Thermo/error").await;
    thermo
        .publish("constellation/Salon/Thermo/response/saga-web", "again")
        .await;
    let e = thermo
        .expect("constellation/Salon/Thermo/error", |_| true)
        .await;
    assert!(
        e.payload.contains("unknown or expired saga id"),
        "{}",
        e.payload
    );
}

#[tokio::test]
async fn an_expired_saga_cannot_be_answered() {
    let h = harness(|c| c.constellation.saga_timeout_ms = 0).await;
    let thermo = h.device("thermo").await;
    thermo.subscribe("constellation/Salon/Thermo/#").await;
    polled(&h, "Salon/Thermo", SubKind::Messages, None).await;
    send(
        &h,
        "Consumer/Web",
        SenderType::ConsumerHttp,
        msg(
            ScopeType::Package,
            &["Thermo"],
            "Slow",
            Value::Null,
            Some("late"),
        ),
    );
    thermo
        .expect("constellation/Salon/Thermo/callback/Slow", |_| true)
        .await;
    thermo
        .publish("constellation/Salon/Thermo/response/late", "too late")
        .await;
    let e = thermo
        .expect("constellation/Salon/Thermo/error", |_| true)
        .await;
    assert!(
        e.payload
            .contains("unknown or expired saga id \\\"late\\\""),
        "{}",
        e.payload
    );
}

#[tokio::test]
async fn a_device_saga_gets_its_answer_on_saga_topic() {
    let h = harness(|_| {}).await;
    let lamp = h.device("lamp").await;
    lamp.subscribe("constellation/Salon/Lamp/saga/#").await;
    let console = who("Consumer", "Console");
    h.sim.handle().inbox(&console, Duration::ZERO).await;
    polled(&h, "Salon/Lamp", SubKind::Messages, None).await;
    lamp.publish(
        "constellation/Salon/Lamp/message",
        r#"{"Scope": {"Type": "Package", "Args": ["Consumer/Console"], "SagaId": "ask-1"}, "Key": "WhatTime", "Data": null}"#,
    )
    .await;
    let asked = within("the question", h.sim.handle().inbox(&console, T)).await;
    assert_eq!(asked[0].scope.saga_id.as_deref(), Some("ask-1"));
    let reply_to = asked[0].sender.reply_address().to_owned();
    send(
        &h,
        "Consumer/Console",
        SenderType::ConsumerHttp,
        msg(
            ScopeType::Package,
            &[&reply_to],
            RESPONSE_KEY,
            json!("noon"),
            Some("ask-1"),
        ),
    );
    let answer = lamp
        .expect("constellation/Salon/Lamp/saga/ask-1", |_| true)
        .await;
    assert_eq!(answer.payload, "\"noon\"", "Lamp takes Data alone");
}

#[tokio::test]
async fn mqtt5_devices_get_response_topic_and_correlation_data() {
    use rumqttc::v5::mqttbytes::v5::Packet;
    use rumqttc::v5::{AsyncClient, Event, MqttOptions};
    let h = harness(|_| {}).await;
    let (client, mut eventloop) =
        AsyncClient::new(MqttOptions::new("v5-thermo", "127.0.0.1", h.v5_port), 10);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(event) = eventloop.poll().await {
            if let Event::Incoming(Packet::Publish(p)) = event {
                let _ = tx.send(p);
            }
        }
    });
    client
        .subscribe(
            "constellation/Salon/Thermo/callback/#",
            rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
        )
        .await
        .unwrap();
    polled(&h, "Salon/Thermo", SubKind::Messages, None).await;
    // The device's subscription is in place once its own probe comes back (the adapter
    // ignores callback topics it did not publish).
    client
        .publish(
            "constellation/Salon/Thermo/callback/Ready",
            rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
            false,
            "probe",
        )
        .await
        .unwrap();
    let probe = within("the probe", rx.recv()).await.unwrap();
    assert_eq!(&probe.payload[..], b"probe");
    send(
        &h,
        "Consumer/Web",
        SenderType::ConsumerHttp,
        msg(
            ScopeType::Package,
            &["Thermo"],
            "Probe",
            Value::Null,
            Some("v5-saga"),
        ),
    );
    let p = within("the v5 callback", rx.recv()).await.unwrap();
    let props = p.properties.expect("MQTT 5 properties");
    assert_eq!(
        props.response_topic.as_deref(),
        Some("constellation/Salon/Thermo/response/v5-saga")
    );
    assert_eq!(props.correlation_data.as_deref(), Some(&b"v5-saga"[..]));
}

#[tokio::test]
async fn settings_are_retained_at_start_and_refreshed_when_they_change() {
    let h = harness(|c| c.constellation.settings_refresh_s = 1).await;
    // Published at package start…
    let d = h.device("thermo").await;
    d.subscribe("constellation/Salon/Thermo/settings").await;
    let first = d
        .expect("constellation/Salon/Thermo/settings", |_| true)
        .await;
    assert_eq!(
        serde_json::from_str::<Value>(&first.payload).unwrap(),
        json!({"Interval": 10})
    );
    // …and retained: a device subscribing later gets the broker's copy.
    let late = h.device("late").await;
    late.subscribe("constellation/Salon/Thermo/settings").await;
    let copy = late
        .expect("constellation/Salon/Thermo/settings", |_| true)
        .await;
    assert!(copy.retain, "{copy:?}");
    h.sim.handle().set_settings(
        &who("Salon", "Thermo"),
        json!({"Interval": 5}).as_object().unwrap().clone(),
    );
    d.expect("constellation/Salon/Thermo/settings", |p| {
        p == r#"{"Interval":5}"#
    })
    .await;
    assert_eq!(
        h.package("Salon", "Thermo").unwrap().settings.unwrap()["Interval"],
        json!(5)
    );
    // On request, always, even unchanged.
    d.publish("constellation/Salon/Thermo/settings/get", "")
        .await;
    d.expect("constellation/Salon/Thermo/settings", |p| {
        p == r#"{"Interval":5}"#
    })
    .await;
}

#[tokio::test]
async fn state_object_links_publish_current_values_then_updates() {
    let h = harness(|_| {}).await;
    let cpu = who("HW", "CPU");
    let handle = h.sim.handle();
    handle
        .push_state_object(&cpu, push("/intelcpu/load/0", json!(12)))
        .unwrap();
    // Lamp follows CPU from its configuration, values only.
    let lamp = h.device("lamp").await;
    lamp.subscribe("constellation/Salon/Lamp/so/#").await;
    let topic = "constellation/Salon/Lamp/so/HW/CPU//intelcpu/load/0";
    let first = lamp.expect(topic, |_| true).await;
    assert_eq!(first.payload, "12");
    // Thermo subscribes by publishing, and gets whole objects.
    let thermo = h.device("thermo").await;
    thermo.subscribe("constellation/Salon/Thermo/so/#").await;
    thermo
        .publish(
            "constellation/Salon/Thermo/subscribe",
            r#"{"Package": "CPU"}"#,
        )
        .await;
    let so = thermo
        .expect(
            "constellation/Salon/Thermo/so/HW/CPU//intelcpu/load/0",
            |_| true,
        )
        .await;
    let so: Value = serde_json::from_str(&so.payload).unwrap();
    assert_eq!(
        (so["Value"].clone(), so["Name"].clone()),
        (json!(12), json!("/intelcpu/load/0"))
    );
    // Updates follow.
    polled(&h, "Salon/Thermo", SubKind::StateObjects, None).await;
    handle
        .push_state_object(&cpu, push("/intelcpu/load/0", json!(13)))
        .unwrap();
    lamp.expect(topic, |p| p == "13").await;
    thermo
        .expect(
            "constellation/Salon/Thermo/so/HW/CPU//intelcpu/load/0",
            |p| p.contains("\"Value\":13"),
        )
        .await;
    // A new filter set replaces the old one: a fresh subscription with exactly it.
    let mem = who("HW", "Mem");
    handle
        .push_state_object(&mem, push("Free", json!(512)))
        .unwrap();
    thermo
        .publish(
            "constellation/Salon/Thermo/subscribe",
            r#"[{"Package": "Mem"}]"#,
        )
        .await;
    thermo
        .expect("constellation/Salon/Thermo/so/HW/Mem/Free", |p| {
            p.contains("512")
        })
        .await;
    let mem_only = vec![SoFilter {
        package: "Mem".into(),
        ..SoFilter::default()
    }];
    wait_for("only the new filters polled", T, || async {
        let subs: Vec<_> = handle
            .subscriptions()
            .into_iter()
            .filter(|s| {
                s.owner == "Salon/Thermo" && s.kind == SubKind::StateObjects && s.polling > 0
            })
            .collect();
        (subs.len() == 1 && subs[0].filters == mem_only).then_some(())
    })
    .await;
    handle
        .push_state_object(&mem, push("Free", json!(500)))
        .unwrap();
    thermo
        .expect("constellation/Salon/Thermo/so/HW/Mem/Free", |p| {
            p.contains("500")
        })
        .await;
}

#[tokio::test]
async fn a_state_object_changed_while_a_link_starts_is_not_lost() {
    // Every request held 300 ms: a StateObject pushed just after the current values
    // were read must reach the device, through the subscription made before them (read
    // first and subscribed after, it fell between the two).
    let h = harness(|_| {}).await;
    let thermo = h.device("thermo").await;
    thermo.subscribe("constellation/Salon/Thermo/so/#").await;
    let handle = h.sim.handle();
    // Lamp's link, made at start, is done first.
    polled(&h, "Salon/Lamp", SubKind::StateObjects, None).await;
    let before = handle.stats().count_action("RequestStateObjects");
    handle.set_faults(Faults {
        delay_ms: 300,
        ..Faults::default()
    });
    thermo
        .publish(
            "constellation/Salon/Thermo/subscribe",
            r#"{"Package": "CPU"}"#,
        )
        .await;
    wait_for("the current values read", T, || async {
        (handle.stats().count_action("RequestStateObjects") > before).then_some(())
    })
    .await;
    handle
        .push_state_object(&who("HW", "CPU"), push("Fan", json!(1200)))
        .unwrap();
    handle.set_faults(Faults::default());
    thermo
        .expect("constellation/Salon/Thermo/so/HW/CPU/Fan", |p| {
            p.contains("\"Value\":1200")
        })
        .await;
}

#[tokio::test]
async fn lost_subscriptions_are_renewed_and_groups_rejoined() {
    let h = harness(|_| {}).await;
    let lamp = h.device("lamp").await;
    lamp.subscribe("constellation/Salon/Lamp/#").await;
    let handle = h.sim.handle();
    let messages = polled(&h, "Salon/Lamp", SubKind::Messages, Some("Lights")).await;
    let stateobjects = polled(&h, "Salon/Lamp", SubKind::StateObjects, None).await;
    assert!(handle.expire_subscription(&messages));
    assert!(handle.expire_subscription(&stateobjects));
    // Renewed under the same ids, with the group joined again.
    let renewed = polled(&h, "Salon/Lamp", SubKind::Messages, Some("Lights")).await;
    assert_eq!(renewed, messages);
    polled(&h, "Salon/Lamp", SubKind::StateObjects, None).await;
    send(
        &h,
        "Consumer/Web",
        SenderType::ConsumerHttp,
        msg(ScopeType::Group, &["Lights"], "Off", json!(true), None),
    );
    lamp.expect("constellation/Salon/Lamp/callback/Off", |p| p == "true")
        .await;
    handle
        .push_state_object(&who("HW", "CPU"), push("Load", json!(1)))
        .unwrap();
    lamp.expect("constellation/Salon/Lamp/so/HW/CPU/Load", |p| p == "1")
        .await;
}

#[tokio::test]
async fn groups_published_by_a_device_are_joined_and_replaced() {
    let h = harness(|_| {}).await;
    let thermo = h.device("thermo").await;
    thermo
        .subscribe("constellation/Salon/Thermo/callback/#")
        .await;
    thermo
        .publish(
            "constellation/Salon/Thermo/groups",
            r#"["Sensors", "Salon"]"#,
        )
        .await;
    polled(&h, "Salon/Thermo", SubKind::Messages, Some("Sensors")).await;
    hello_salon(&h, &thermo, 1).await;
    // Leaving Sensors: a fresh subscription with Salon only.
    thermo
        .publish("constellation/Salon/Thermo/groups", "Salon")
        .await;
    let handle = h.sim.handle();
    wait_for("a subscription in Salon only", T, || async {
        handle
            .subscriptions()
            .into_iter()
            .find(|s| s.owner == "Salon/Thermo" && s.polling > 0 && s.groups == ["Salon"])
            .map(drop)
    })
    .await;
    hello_salon(&h, &thermo, 2).await;
}

#[tokio::test]
async fn polls_resume_after_constellation_was_down() {
    let mut h = harness(|_| {}).await;
    let lamp = h.device("lamp").await;
    lamp.subscribe("constellation/Salon/Lamp/callback/#").await;
    let id = polled(&h, "Salon/Lamp", SubKind::Messages, Some("Lights")).await;
    h.sim.stop().await;
    let handle = h.sim.handle();
    wait_for("the poll to end with the server", T, || async {
        handle
            .subscriptions()
            .iter()
            .any(|s| s.id == id && s.polling == 0)
            .then_some(())
    })
    .await;
    h.sim.restart().await.unwrap();
    polled(&h, "Salon/Lamp", SubKind::Messages, Some("Lights")).await;
    send(
        &h,
        "Consumer/Web",
        SenderType::ConsumerHttp,
        msg(ScopeType::Package, &["Lamp"], "Back", json!(1), None),
    );
    lamp.expect("constellation/Salon/Lamp/callback/Back", |p| p == "1")
        .await;
}

#[tokio::test]
async fn a_restarted_adapter_rebuilds_links_and_groups_from_retained_topics() {
    let mut h =
        Harness::external(world(), |c| c.mqtt.client_id = "restarting-adapter".into()).await;
    let d = h.device("thermo").await;
    for (topic, payload) in [
        ("constellation/Salon/Thermo/groups", r#"["Kitchen"]"#),
        (
            "constellation/Salon/Thermo/subscribe",
            r#"{"Package": "Mem"}"#,
        ),
    ] {
        d.client
            .publish(topic, rumqttc::QoS::AtLeastOnce, true, payload)
            .await
            .unwrap();
    }
    polled(&h, "Salon/Thermo", SubKind::Messages, Some("Kitchen")).await;
    h.stop_adapter().await;
    // A new adapter process with the same session: the broker kept the session, the
    // adapter subscribes anyway to get the retained topics again.
    for s in h.sim.handle().subscriptions() {
        h.sim.handle().expire_subscription(&s.id);
    }
    h.start_adapter().await;
    polled(&h, "Salon/Thermo", SubKind::Messages, Some("Kitchen")).await;
    let handle = h.sim.handle();
    wait_for("the SO link rebuilt", T, || async {
        handle
            .subscriptions()
            .into_iter()
            .find(|s| s.owner == "Salon/Thermo" && s.kind == SubKind::StateObjects && s.polling > 0)
            .filter(|s| s.filters[0].package == "Mem")
            .map(drop)
    })
    .await;
}

#[tokio::test]
async fn a_refused_group_or_link_is_reported_and_the_rest_keeps_working() {
    let world = world().with_package(
        "Salon",
        None,
        PackageDecl {
            allowed_groups: Some(vec!["Allowed".into()]),
            can_read_stateobjects: false,
            ..PackageDecl::new("Guarded").with_key("demo")
        },
    );
    let h = Harness::embedded(world, |c| {
        declare(
            c,
            "Guarded",
            CallbackPayload::Data,
            SoPayload::Value,
            |_| {},
        )
    })
    .await;
    let d = h.device("guarded").await;
    d.subscribe("constellation/Salon/Guarded/#").await;
    d.publish(
        "constellation/Salon/Guarded/groups",
        r#"["Allowed", "Forbidden"]"#,
    )
    .await;
    d.publish(
        "constellation/Salon/Guarded/subscribe",
        r#"[{"Package": "CPU"}]"#,
    )
    .await;
    // Both refusals are said on the package's error topic.
    let mut said = Vec::new();
    while said.len() < 2 {
        let r = d
            .expect("constellation/Salon/Guarded/error", |_| true)
            .await;
        said.push(r.payload);
    }
    let said = said.join("\n");
    assert!(said.contains("group \\\"Forbidden\\\" refused"), "{said}");
    assert!(said.contains("StateObject link refused"), "{said}");

    // Its allowed group and its own messages still reach it.
    polled(&h, "Salon/Guarded", SubKind::Messages, Some("Allowed")).await;
    send(
        &h,
        "Consumer/Web",
        SenderType::ConsumerHttp,
        msg(ScopeType::Group, &["Allowed"], "ToGroup", json!(1), None),
    );
    d.expect("constellation/Salon/Guarded/callback/ToGroup", |p| p == "1")
        .await;
    send(
        &h,
        "Consumer/Web",
        SenderType::ConsumerHttp,
        msg(ScopeType::Package, &["Guarded"], "Direct", json!(2), None),
    );
    d.expect("constellation/Salon/Guarded/callback/Direct", |p| p == "2")
        .await;
}

#[tokio::test]
async fn declared_groups_and_links_stay_in_force_when_the_device_publishes_its_own() {
    // Lamp declares group Lights and a link to CPU's StateObjects (see `harness`).
    let h = harness(|_| {}).await;
    let d = h.device("lamp").await;
    d.subscribe("constellation/Salon/Lamp/so/#").await;
    d.publish("constellation/Salon/Lamp/groups", r#"["Extra"]"#)
        .await;
    d.publish(
        "constellation/Salon/Lamp/subscribe",
        r#"{"Package": "Disk"}"#,
    )
    .await;
    let handle = h.sim.handle();
    wait_for("both groups and both links", T, || async {
        let subs = handle.subscriptions();
        let messages = subs
            .iter()
            .find(|s| s.owner == "Salon/Lamp" && s.kind == SubKind::Messages && s.polling > 0)?;
        let sos = subs.iter().find(|s| {
            s.owner == "Salon/Lamp" && s.kind == SubKind::StateObjects && s.polling > 0
        })?;
        let groups: Vec<&str> = messages.groups.iter().map(String::as_str).collect();
        let packages: Vec<&str> = sos.filters.iter().map(|f| f.package.as_str()).collect();
        (groups.contains(&"Lights")
            && groups.contains(&"Extra")
            && packages.contains(&"CPU")
            && packages.contains(&"Disk"))
        .then_some(())
    })
    .await;
    // Both links deliver.
    for (package, value) in [("CPU", 1), ("Disk", 2)] {
        handle
            .push_state_object(&who("HW", package), push("Load", json!(value)))
            .unwrap();
        d.expect(
            &format!("constellation/Salon/Lamp/so/HW/{package}/Load"),
            |p| p == value.to_string(),
        )
        .await;
    }
}

#[tokio::test]
async fn a_purged_or_no_longer_followed_state_object_clears_its_retained_topic() {
    let h = harness(|_| {}).await;
    let watcher = h.device("so-watcher").await;
    watcher.subscribe("constellation/Salon/+/so/#").await;
    let cpu = h.device("hw-cpu").await;
    cpu.publish("constellation/HW/CPU/stateobject/Load", "5")
        .await;
    // Lamp follows CPU (declared): it gets the value, retained.
    let lamp_topic = "constellation/Salon/Lamp/so/HW/CPU/Load";
    watcher.expect(lamp_topic, |p| p == "5").await;

    // Thermo follows CPU by its own `subscribe`, then moves on to Disk only: its CPU
    // topic is cleared.
    let thermo = h.device("thermo").await;
    thermo
        .publish(
            "constellation/Salon/Thermo/subscribe",
            r#"{"Package": "CPU"}"#,
        )
        .await;
    let thermo_topic = "constellation/Salon/Thermo/so/HW/CPU/Load";
    watcher
        .expect(thermo_topic, |p| p.contains("\"Value\":5"))
        .await;
    thermo
        .publish(
            "constellation/Salon/Thermo/subscribe",
            r#"{"Package": "Disk"}"#,
        )
        .await;
    // (Live subscribers get it with retain off, as MQTT forwards; the late subscriber
    // below shows the retained copy is gone.)
    let cleared = watcher.expect(thermo_topic, |_| true).await;
    assert_eq!(cleared.payload, "");

    // CPU purges Load through the adapter: Lamp's retained copy is cleared.
    cpu.publish("constellation/HW/CPU/stateobject/Load", "")
        .await;
    let cleared = watcher.expect(lamp_topic, |_| true).await;
    assert_eq!(cleared.payload, "");
    // A new device subscribing now finds nothing retained there.
    let late = h.device("late").await;
    late.subscribe("constellation/Salon/Lamp/so/#").await;
    cpu.publish("constellation/HW/CPU/stateobject/Load", "6")
        .await;
    let first = late
        .expect("constellation/Salon/Lamp/so/HW/CPU/Load", |_| true)
        .await;
    assert_eq!(first.payload, "6", "nothing stale was retained");
}
