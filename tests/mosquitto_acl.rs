//! The shipped Mosquitto ACL example (`examples/mosquitto/`): each device publishes only
//! as its own package, the adapter everything.

mod common;

use common::mqtt::*;
use common::*;
use constellation_mqtt::sim::World;
use rumqttc::v5::mqttbytes::v5::{Packet, PubAckReason};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const ADAPTER_PASSWORD: &str = "adapter-pass";
const DEVICE_PASSWORD: &str = "thermometer-pass";

/// The example's `mosquitto.conf` on `port`, its `acl`, and a password file made with
/// `mosquitto_passwd` in `dir`.
fn example_conf(dir: &Path, port: u16) -> String {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/mosquitto");
    let passwd = dir.join("constellation.passwd");
    for (i, (user, password)) in [
        ("constellation-mqtt", ADAPTER_PASSWORD),
        ("salon-thermometer", DEVICE_PASSWORD),
    ]
    .into_iter()
    .enumerate()
    {
        let mut cmd = Command::new("mosquitto_passwd");
        cmd.arg("-b");
        if i == 0 {
            cmd.arg("-c");
        }
        let out =
            cmd.arg(&passwd).args([user, password]).output().expect(
                "mosquitto_passwd (Debian's mosquitto package; scripts/test.sh installs it)",
            );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    std::fs::read_to_string(example.join("mosquitto.conf"))
        .unwrap()
        .replace(
            "/etc/mosquitto/constellation.passwd",
            &passwd.display().to_string(),
        )
        .replace(
            "/etc/mosquitto/constellation.acl",
            &example.join("acl").display().to_string(),
        )
        .replace("listener 1883", &format!("listener {port} 127.0.0.1"))
}

/// A device logging in as `salon-thermometer` over MQTT 5, so that Mosquitto says in
/// each PUBACK whether the publish was authorised.
async fn thermometer(
    port: u16,
) -> (
    AsyncClient,
    tokio::sync::mpsc::UnboundedReceiver<PubAckReason>,
) {
    let mut options = MqttOptions::new(format!("thermometer-{}", free_port()), "127.0.0.1", port);
    options.set_credentials("salon-thermometer", DEVICE_PASSWORD);
    let (client, mut eventloop) = AsyncClient::new(options, 10);
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::PubAck(ack))) => {
                    let _ = tx.send(ack.reason);
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    });
    (client, rx)
}

#[tokio::test]
async fn a_device_cannot_publish_as_another_package_through_the_acl_example() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mosquitto = Mosquitto::start_conf(port, &example_conf(dir.path(), port)).await;
    let h = Harness::external_on(
        World::open("demo"),
        mosquitto,
        Some(("salon-thermometer", DEVICE_PASSWORD)),
        |c| {
            c.mqtt.username = Some("constellation-mqtt".into());
            c.mqtt.password = Some(ADAPTER_PASSWORD.into());
        },
    )
    .await; // the adapter logged in and is online (the device read its status)

    let (device, mut acks) = thermometer(port).await;
    let publish = |topic: &'static str, value: &'static str| {
        let device = device.clone();
        async move {
            device
                .publish(topic, QoS::AtLeastOnce, false, value)
                .await
                .unwrap();
        }
    };
    publish("constellation/Garage/Door/stateobject/Open", "true").await;
    let refused = within("the PUBACK", acks.recv()).await;
    assert_eq!(refused, Some(PubAckReason::NotAuthorized));
    publish(
        "constellation/Salon/Thermometer/stateobject/Temperature",
        "21.5",
    )
    .await;
    assert_eq!(
        within("the PUBACK", acks.recv()).await,
        Some(PubAckReason::Success)
    );

    h.state_object_arrives("Salon", "Thermometer", "Temperature")
        .await;
    let handle = h.sim.handle();
    // Mosquitto forwards in order: the refused publish, made first, never came.
    assert!(handle.state_object("Garage", "Door", "Open").is_none());

    // Without a password, nobody connects.
    let (anonymous, mut eventloop) =
        AsyncClient::new(MqttOptions::new("anonymous", "127.0.0.1", port), 10);
    let refused = within("the CONNACK", async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => return false,
                Ok(_) => {}
                Err(_) => return true,
            }
        }
    })
    .await;
    drop(anonymous);
    assert!(refused, "an anonymous client is refused");
}
