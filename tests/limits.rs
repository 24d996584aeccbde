//! Bounds on what devices can make the adapter hold: live packages.

mod common;

use common::mqtt::*;
use constellation_mqtt::sim::World;

#[tokio::test]
async fn a_flood_of_package_names_past_max_packages_is_refused_and_counted() {
    const MAX: usize = 5;
    let h = Harness::embedded(World::open("demo"), |c| {
        c.constellation.max_packages = MAX;
    })
    .await;
    let d = h.device("flood").await;
    d.publish("constellation/Keep/Existing/stateobject/X", "0")
        .await;
    h.state_object_arrives("Keep", "Existing", "X").await;
    d.subscribe("constellation/Flood/+/error").await;
    for i in 0..100 {
        d.publish(&format!("constellation/Flood/P{i}/stateobject/X"), "1")
            .await;
    }
    // The last one is refused, on its own error topic, with the count so far.
    let refusal = d.expect("constellation/Flood/P99/error", |_| true).await;
    assert!(
        refusal.payload.contains("max_packages") && refusal.payload.contains("96 refused so far"),
        "{}",
        refusal.payload
    );
    let adapter = h.adapter.as_ref().unwrap();
    assert_eq!(adapter.registry.packages().len(), MAX);
    let text = common::metrics_text(adapter.http.unwrap()).await;
    assert!(
        text.contains("constellation_mqtt_refused_total{reason=\"too_many_packages\"} 96"),
        "{text}"
    );
    // Many more names cost nothing lasting: each is refused, none is kept. A live
    // package costs tens of KiB (20 000 of them: hundreds of MB); what grows here is the
    // embedded broker's logs of the flood and its refusals (4 MB segments, at most 4 per
    // filter: about 30 MB measured).
    let flood = h.device("flood-more").await;
    d.client
        .unsubscribe("constellation/Flood/+/error")
        .await
        .unwrap();
    d.subscribe("constellation/Flood/Last/error").await;
    let before = common::rss_kib();
    for i in 100..20_100 {
        flood
            .publish(&format!("constellation/Flood/P{i}/stateobject/X"), "1")
            .await;
    }
    flood
        .publish("constellation/Flood/Last/stateobject/X", "1")
        .await;
    let refusal = d.expect("constellation/Flood/Last/error", |_| true).await;
    assert!(
        refusal.payload.contains("20097 refused so far"),
        "{}",
        refusal.payload
    );
    let grown = common::rss_kib().saturating_sub(before);
    eprintln!("20 000 refused package names: resident memory grew by {grown} KiB");
    assert!(grown < 64 * 1024, "memory grew by {grown} KiB");
    // The live packages are unaffected.
    d.publish("constellation/Keep/Existing/stateobject/X", "1")
        .await;
    value_arrives(&h, "Keep", "Existing", 1).await;
}

#[tokio::test]
async fn an_idle_package_is_released_and_rejoins_on_its_next_publish() {
    let h = Harness::embedded(World::open("demo"), |c| {
        c.constellation.package_idle_s = 1;
        c.packages.push(constellation_mqtt::config::PackageConfig {
            sentinel: "Kept".into(),
            package: "Configured".into(),
            ..Default::default()
        });
    })
    .await;
    let d = h.device("sleepy").await;
    // In groups of its device's choosing: released, it would leave them.
    d.publish("constellation/Kept/Grouped/groups", r#"["Hall"]"#)
        .await;
    d.publish("constellation/Idle/One/stateobject/X", "1").await;
    h.state_object_arrives("Idle", "One", "X").await;
    let adapter = h.adapter.as_ref().unwrap();
    let live = |name: &str| {
        adapter
            .registry
            .packages()
            .iter()
            .any(|(id, _)| id.to_string() == name)
    };
    common::wait_for(
        "the idle package to be released",
        std::time::Duration::from_secs(15),
        || async { (!live("Idle/One")).then_some(()) },
    )
    .await;
    // Idle longer, but holding what a release would lose.
    assert!(live("Kept/Configured") && live("Kept/Grouped"));
    let text = common::metrics_text(adapter.http.unwrap()).await;
    assert!(
        text.contains("constellation_mqtt_packages_released_total 1"),
        "{text}"
    );
    d.publish("constellation/Idle/One/stateobject/X", "2").await;
    value_arrives(&h, "Idle", "One", 2).await;
    assert!(live("Idle/One"));
}

/// Waits until StateObject `X` of `sentinel/package` holds `value`.
async fn value_arrives(h: &Harness, sentinel: &str, package: &str, value: i64) {
    let handle = h.sim.handle();
    common::wait_for("the update", std::time::Duration::from_secs(15), || async {
        handle
            .state_object(sentinel, package, "X")
            .filter(|so| so.value == serde_json::json!(value))
    })
    .await;
}

/// Messages that reach a package while the broker takes nothing (stalled: its process
/// stopped) are far more than the connection's request queue holds; none is dropped:
/// they wait, in order, and are all published once the broker resumes.
#[tokio::test]
async fn messages_delivered_while_the_broker_stalls_are_all_published_in_order() {
    const N: usize = 6_000;
    let mut world = World::open("demo");
    world.max_queued_messages = 100_000;
    let mosquitto = Mosquitto::start_with(free_port(), "max_queued_messages 0\n").await;
    let h = Harness::external_on(world, mosquitto, None, |_| {}).await;
    let d = h.device("stalled").await;
    d.subscribe("constellation/Stall/Device/callback/#").await;
    d.publish("constellation/Stall/Device/stateobject/Up", "1")
        .await;
    h.state_object_arrives("Stall", "Device", "Up").await;
    let polling = || {
        h.sim.handle().subscriptions().into_iter().any(|s| {
            s.owner.contains("Stall/Device")
                && s.kind == constellation_mqtt::sim::SubKind::Messages
                && s.polling > 0
        })
    };
    common::wait_for(
        "the package's message poll",
        std::time::Duration::from_secs(15),
        || async { polling().then_some(()) },
    )
    .await;
    let broker = h.mosquitto.as_ref().expect("Mosquitto");
    broker.signal("STOP");
    let sender = common::client(&h.sim);
    let me = constellation_mqtt::constellation::Identity::consumer("Sender", "demo");
    for i in 0..N {
        let message = constellation_mqtt::constellation::model::OutgoingMessage {
            scope: constellation_mqtt::constellation::model::Scope {
                kind: constellation_mqtt::constellation::model::ScopeType::Package,
                args: vec!["Stall/Device".into()],
                saga_id: None,
            },
            key: "Ping".into(),
            data: serde_json::json!(i),
        };
        sender.send_message(&me, &message).await.unwrap();
    }
    // Every message taken by the adapter's long polls while the broker is stopped.
    common::wait_for(
        "the adapter to take every message",
        std::time::Duration::from_secs(60),
        || async {
            let queued: usize = h
                .sim
                .handle()
                .subscriptions()
                .iter()
                .filter(|s| s.owner.contains("Stall/Device"))
                .map(|s| s.queued)
                .sum();
            (queued == 0).then_some(())
        },
    )
    .await;
    broker.signal("CONT");
    let mut next = 0;
    let all = async {
        while next < N {
            let Some(r) = d.recv().await else { break };
            if r.topic == "constellation/Stall/Device/callback/Ping" {
                let message: serde_json::Value = serde_json::from_str(&r.payload).unwrap();
                assert_eq!(message["Data"], serde_json::json!(next), "in order");
                next += 1;
            }
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(120), all).await;
    assert_eq!(next, N, "messages published");
}
