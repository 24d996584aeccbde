//! The embedded broker of `run` (its shipped values) against clients that misbehave on
//! purpose, on both listeners: it must not panic, must not keep what they cost, and a
//! normal device must still get through.

mod common;

use common::hostile::burst;
use common::mqtt::Harness;
use common::wait_for;
use constellation_mqtt::sim::World;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long the hostile mix runs.
const BURST: Duration = Duration::from_secs(10);
/// What the process may keep after the burst, over its RSS before it (KiB): measured
/// +0.3 to +0.8 MiB for ≈ 2 800 connections (debug build); a connection that kept even 3 KiB
/// would exceed it.
const RSS_GROWTH_KIB: u64 = 8 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_broker_survives_hostile_clients_on_both_listeners() {
    let panics = Arc::new(AtomicU64::new(0));
    let counted = panics.clone();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        counted.fetch_add(1, Ordering::Relaxed);
        default_hook(info);
    }));

    let h = Harness::embedded_shipped(World::open("demo")).await;
    let targets: Vec<(SocketAddr, u8)> = vec![
        (SocketAddr::from(([127, 0, 0, 1], h.port)), 4),
        (SocketAddr::from(([127, 0, 0, 1], h.v5_port)), 5),
    ];
    // Warm up with one round of normal traffic, then take the baseline.
    let warm = h.device("warm-up").await;
    warm.publish("constellation/Hostile/WarmUp/stateobject/X", "1")
        .await;
    h.state_object_arrives("Hostile", "WarmUp", "X").await;
    let before = common::rss_kib();

    let done = burst(&targets, 16, BURST).await;
    assert!(done.connections > 1_000, "the burst ran: {done:?}");

    // A normal device on each listener still gets its StateObject through.
    let v4 = h.device("after-v4").await;
    v4.publish("constellation/Hostile/After/stateobject/V4", "4")
        .await;
    let mut options = rumqttc::v5::MqttOptions::new("after-v5", "127.0.0.1", h.v5_port);
    // Not rumqttc's default of 65 535 in-flight slots (≈ 14 MB allocated up front).
    options.set_outgoing_inflight_upper_limit(10);
    let (v5, mut eventloop) = rumqttc::v5::AsyncClient::new(options, 10);
    tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
    v5.publish(
        "constellation/Hostile/After/stateobject/V5",
        rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
        false,
        "5",
    )
    .await
    .unwrap();
    for name in ["V4", "V5"] {
        h.state_object_arrives("Hostile", "After", name).await;
    }
    let after = common::rss_kib();
    let _ = std::panic::take_hook();
    assert_eq!(panics.load(Ordering::Relaxed), 0, "no panic in the broker");
    eprintln!(
        "hostile burst: {} connections; RSS {before} KiB before, {after} KiB after",
        done.connections
    );
    assert!(
        after <= before + RSS_GROWTH_KIB,
        "RSS grew from {before} KiB to {after} KiB"
    );
}

#[tokio::test]
async fn at_max_connections_new_clients_are_refused_and_the_adapter_keeps_its_slot() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const MAX: usize = 12;
    let h = Harness::embedded(World::open("demo"), |c| {
        let path = c.mqtt.broker_config.clone().expect("a broker file");
        let text = std::fs::read_to_string(&path).unwrap().replace(
            "max_connections = 1000",
            &format!("max_connections = {MAX}"),
        );
        std::fs::write(&path, text).unwrap();
    })
    .await;
    let addr = SocketAddr::from(([127, 0, 0, 1], h.port));
    // Many more clients than the limit, each gone (reset) right after its CONNECT,
    // before the broker answers: none may keep its slot.
    for i in 0..20 * MAX {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.set_zero_linger().unwrap();
        let id = format!("gone-{i}");
        s.write_all(&common::hostile::connect_packet(4, id.as_bytes()))
            .await
            .unwrap();
    }
    // Twice the limit of clients that connect and stay; each either gets its CONNACK
    // or is closed without one, none waits for ever.
    let mut held = Vec::new();
    let (mut accepted, mut refused) = (0, 0);
    for i in 0..2 * MAX {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let id = format!("holder-{i}");
        s.write_all(&common::hostile::connect_packet(4, id.as_bytes()))
            .await
            .unwrap();
        let mut ack = [0u8; 4];
        match common::within("a CONNACK or a close", s.read(&mut ack)).await {
            Ok(4) if ack[0] == 0x20 && ack[3] == 0 => {
                accepted += 1;
                held.push(s);
            }
            Ok(_) | Err(_) => refused += 1,
        }
    }
    assert!(
        accepted < MAX && refused > MAX,
        "{accepted} accepted, {refused} refused"
    );
    // The adapter kept its connection: once the holders leave, a device's StateObject
    // goes through it.
    drop(held);
    let late = wait_for(
        "a device once there is room",
        Duration::from_secs(15),
        || async {
            tokio::time::timeout(
                Duration::from_secs(2),
                common::mqtt::Device::connect_as("late", h.port, None),
            )
            .await
            .ok()
        },
    )
    .await;
    late.publish("constellation/Limits/Late/stateobject/X", "1")
        .await;
    h.state_object_arrives("Limits", "Late", "X").await;
}
