//! `constellation-mqtt demo`: the simulator, the embedded broker, the adapter and a few
//! simulated devices in one process, printing what reaches Constellation.

use crate::adapter::Adapter;
use crate::config::Config;
use crate::constellation::model::SoFilter;
use crate::constellation::{Client, ClientOptions, Identity};
use crate::sim::{Simulator, World};
use rumqttc::{AsyncClient, MqttOptions, QoS};
use std::net::SocketAddr;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The devices the demo simulates: (sentinel, package).
const DEVICES: [(&str, &str); 3] = [
    ("Salon", "Thermometer"),
    ("Garage", "Door"),
    ("Kitchen", "Light"),
];

/// Runs the demo until `shutdown`.
pub async fn run(
    broker_config: &std::path::Path,
    shutdown: CancellationToken,
) -> Result<(), String> {
    let sim = match Simulator::start(
        World::open("demo"),
        SocketAddr::from(([127, 0, 0, 1], 8088)),
    )
    .await
    {
        Ok(sim) => sim,
        Err(_) => Simulator::start_local(World::open("demo"))
            .await
            .map_err(|e| format!("simulator: {e}"))?,
    };
    let mut config = Config::default();
    config.constellation.url = sim.url().to_string();
    config.constellation.access_key = Some("demo".into());
    config.mqtt.broker_config = broker_config.to_owned();
    let adapter = Adapter::start(config, shutdown.clone())
        .await
        .map_err(|e| e.to_string())?;
    let broker = adapter
        .broker
        .clone()
        .ok_or_else(|| "the demo needs the embedded broker".to_string())?;
    let device_port = broker.v4.first().map_or(1883, |a| a.port());
    println!(
        "Constellation simulator: {}  (inspect: {}sim/stateobjects)",
        sim.url(),
        sim.url()
    );
    println!(
        "MQTT broker: 127.0.0.1:{device_port} (MQTT 3.1.1), {} (MQTT 5)",
        broker.adapter_addr
    );
    println!("Try: mosquitto_pub -p {device_port} -t constellation/Salon/Thermometer/stateobject/Temperature -m 22.5");
    println!("Press Ctrl-C to stop.\n");

    tokio::spawn(watch(sim.url(), shutdown.clone()));
    for (i, (sentinel, package)) in DEVICES.into_iter().enumerate() {
        tokio::spawn(device(i, sentinel, package, device_port, shutdown.clone()));
    }
    adapter.wait().await;
    drop(sim);
    Ok(())
}

/// A simulated device: announces itself, then publishes a value every two seconds.
async fn device(
    index: usize,
    sentinel: &'static str,
    package: &'static str,
    port: u16,
    stop: CancellationToken,
) {
    let base = format!("constellation/{sentinel}/{package}");
    let mut options = MqttOptions::new(format!("demo-{package}"), "127.0.0.1", port);
    options.set_last_will(rumqttc::LastWill::new(
        format!("{base}/status"),
        "offline",
        QoS::AtLeastOnce,
        true,
    ));
    let (client, mut eventloop) = AsyncClient::new(options, 64);
    tokio::spawn(async move {
        loop {
            if eventloop.poll().await.is_err() {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    });
    let _ = client
        .publish(format!("{base}/status"), QoS::AtLeastOnce, true, "online")
        .await;
    let _ = client
        .publish(
            format!("{base}/log"),
            QoS::AtLeastOnce,
            false,
            format!("{package} started"),
        )
        .await;
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    for n in 0u64.. {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let (name, value) = match index {
            0 => (
                "Temperature",
                format!("{:.1}", 20.0 + ((n as f64) * 0.7).sin() * 2.0),
            ),
            1 => ("Open", (n % 4 < 2).to_string()),
            _ => ("Brightness", ((n * 17) % 101).to_string()),
        };
        let _ = client
            .publish(
                format!("{base}/stateobject/{name}"),
                QoS::AtLeastOnce,
                false,
                value,
            )
            .await;
    }
}

/// Prints every StateObject update the simulated server sees, as a consumer would.
async fn watch(url: url::Url, stop: CancellationToken) {
    let Ok(client) = Client::new(ClientOptions {
        url,
        request_timeout: Duration::from_secs(5),
        long_poll_timeout: Duration::from_secs(10),
    }) else {
        return;
    };
    let me = Identity::consumer("Demo", "demo");
    let mut sub = None;
    loop {
        let poll = async {
            let id = match &sub {
                Some(id) => id,
                None => sub.insert(
                    client
                        .subscribe_to_state_objects(&me, None, &SoFilter::default())
                        .await?,
                ),
            };
            client.get_state_objects(&me, id, 0).await
        };
        let sos = tokio::select! {
            _ = stop.cancelled() => return,
            r = poll => r,
        };
        let sos = sos.unwrap_or_else(|e| {
            tracing::debug!(error = %e, "demo watcher: subscribing again");
            sub = None;
            Vec::new()
        });
        for so in sos {
            println!(
                "Constellation ← {}: {} = {} ({})",
                format_args!("{}/{}", so.sentinel_name, so.package_name),
                so.name,
                so.value,
                so.type_name.as_deref().unwrap_or("untyped")
            );
        }
    }
}
