//! `constellation-mqtt demo`: the simulator, the embedded broker, the adapter and a few
//! simulated devices in one process, printing what reaches Constellation.

use crate::adapter::Adapter;
use crate::config::Config;
use crate::constellation::model::{OutgoingMessage, Scope, ScopeType, SenderType, SoFilter};
use crate::constellation::{Client, ClientOptions, Identity};
use crate::mqtt::embedded;
use crate::narrate;
use crate::setup::Setup;
use crate::sim::{Participant, SimHandle, Simulator, World};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use std::net::SocketAddr;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The devices the demo simulates: (sentinel, package).
const DEVICES: [(&str, &str); 3] = [
    ("Salon", "Thermometer"),
    ("Garage", "Door"),
    ("Kitchen", "Light"),
];

/// Runs the demo until `shutdown`, with the embedded broker of `broker_config` (its
/// compiled-in defaults without one; a listener whose port is taken moves to a free one).
pub async fn run(
    broker_config: Option<&std::path::Path>,
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
    // The demo's world lives in memory; so does its work.
    config.storage.durability = crate::config::Durability::Memory;
    // Constellation → MQTT too: the Salon's StateObjects exported, announced to Home
    // Assistant.
    config.constellation.identity = Some(crate::config::IdentityConfig {
        sentinel: "Consumer".into(),
        package: "Demo".into(),
        access_key: None,
    });
    config.export = vec![crate::config::ExportConfig {
        filter: crate::config::OneOrMany::One(SoFilter {
            sentinel: "Salon".into(),
            ..SoFilter::default()
        }),
        ..crate::config::ExportConfig::default()
    }];
    config.export[0].homeassistant_discovery = true;
    if std::net::TcpListener::bind(&config.http.listen).is_err() {
        narrate!(
            "HTTP: {} is taken; listening on a free port instead",
            config.http.listen
        );
        config.http.listen = "127.0.0.1:0".into();
    }
    let mut broker_config =
        embedded::load(broker_config, config.mqtt.max_payload_bytes).map_err(|e| e.to_string())?;
    for (from, to) in embedded::move_taken_listeners(&mut broker_config.settings) {
        narrate!("MQTT: {from} is taken; listening on {to} instead");
    }
    let setup = Setup::new(config).map_err(|e| format!("{e:?}"))?;
    let adapter = Adapter::launch_with(setup, Some(broker_config), shutdown.clone())
        .await
        .map_err(|e| e.to_string())?;
    let broker = adapter
        .broker
        .clone()
        .ok_or_else(|| "the demo needs the embedded broker".to_string())?;
    let device_port = broker.v4.first().map_or(1883, |a| a.port());
    narrate!(
        "Console: {}  (the simulated Constellation, live)",
        sim.url()
    );
    narrate!(
        "Constellation simulator: {}  (inspect: {}sim/stateobjects, {}sim/configuration)",
        sim.url(),
        sim.url(),
        sim.url()
    );
    narrate!(
        "  open world (AccessKey=demo); `constellation-mqtt sim --strict` refuses packages until \
         they are provisioned through its Management API ({}rest/management/)",
        sim.url()
    );
    narrate!(
        "MQTT broker: 127.0.0.1:{device_port} (MQTT 3.1.1), {} (MQTT 5)",
        broker.adapter_addr
    );
    if let Some(http) = adapter.http {
        narrate!("Adapter: http://{http}/metrics, /status, /readyz, /healthz; status page http://{http}/");
    }
    narrate!("Try: mosquitto_pub -p {device_port} -t constellation/Salon/Thermometer/stateobject/Temperature -m 22.5");
    narrate!("Press Ctrl-C to stop.\n");

    tokio::spawn(watch(sim.url(), shutdown.clone()));
    tokio::spawn(exported(device_port, shutdown.clone()));
    tokio::spawn(console(sim.handle(), shutdown.clone()));
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
    let answers = client.clone();
    let callbacks = format!("{base}/callback/");
    tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    if let Some(key) = p.topic.strip_prefix(&callbacks) {
                        answer(
                            &answers,
                            &format!("constellation/{sentinel}/{package}"),
                            key,
                            &p.payload,
                        )
                        .await;
                    }
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
            }
        }
    });
    let _ = client
        .subscribe(format!("{base}/callback/#"), QoS::AtLeastOnce)
        .await;
    let _ = client
        .publish(format!("{base}/status"), QoS::AtLeastOnce, true, "online")
        .await;
    // Its callback, for the console's forms (each answered by `answer`).
    let callback = match index {
        0 => {
            serde_json::json!({"MessageKey": "GetTemperature", "Description": "the current temperature", "Parameters": []})
        }
        1 => {
            serde_json::json!({"MessageKey": "Open", "Description": "opens the door", "Parameters": [{"Name": "open", "TypeName": "System.Boolean"}]})
        }
        _ => {
            serde_json::json!({"MessageKey": "SetBrightness", "Description": "0..100", "Parameters": [{"Name": "brightness", "TypeName": "System.Int32"}]})
        }
    };
    let descriptor = serde_json::json!({"PackageName": package, "MessageCallbacks": [callback]});
    let _ = client
        .publish(
            format!("{base}/descriptor"),
            QoS::AtLeastOnce,
            true,
            descriptor.to_string(),
        )
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

/// Prints each exported value, and the first Home Assistant config, as a dashboard
/// subscribed to them would see them.
async fn exported(port: u16, stop: CancellationToken) {
    let (client, mut eventloop) =
        AsyncClient::new(MqttOptions::new("demo-dashboard", "127.0.0.1", port), 64);
    let _ = client
        .subscribe("constellation-export/#", QoS::AtLeastOnce)
        .await;
    let _ = client.subscribe("homeassistant/#", QoS::AtLeastOnce).await;
    let mut announced = false;
    loop {
        let event = tokio::select! {
            e = eventloop.poll() => e,
            _ = stop.cancelled() => return,
        };
        match event {
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let payload = String::from_utf8_lossy(&p.payload);
                if p.topic.starts_with("homeassistant/") {
                    if !announced && p.topic.contains("/sensor/") && !payload.is_empty() {
                        narrate!("Home Assistant ← {}: {payload}", p.topic);
                        announced = true;
                    }
                } else if !p.topic.ends_with("/available") {
                    let value = serde_json::from_str::<serde_json::Value>(&payload)
                        .map(|so| so["Value"].to_string())
                        .unwrap_or_else(|_| payload.into_owned());
                    narrate!("MQTT ← {}: {value}", p.topic);
                }
            }
            Ok(_) => {}
            Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
}

/// Prints every StateObject update the simulated server sees, as a consumer would.
async fn watch(url: url::Url, stop: CancellationToken) {
    let Ok(client) = Client::new(ClientOptions {
        long_poll_timeout: Duration::from_secs(10),
        ..ClientOptions::new(url)
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
            narrate!(
                "Constellation ← {}: {} = {} ({})",
                format_args!("{}/{}", so.sentinel_name, so.package_name),
                so.name,
                so.value,
                so.type_name.as_deref().unwrap_or("untyped")
            );
        }
    }
}

/// A simulated device's MessageCallback: prints the call and answers a saga.
async fn answer(client: &AsyncClient, base: &str, key: &str, payload: &[u8]) {
    let Ok(message) = serde_json::from_slice::<serde_json::Value>(payload) else {
        return;
    };
    narrate!("device   ← {base}/callback/{key}: {}", message["Data"]);
    if let Some(saga) = message["Scope"]["SagaId"].as_str() {
        let reply = format!("{base}/response/{saga}");
        let value = "21.5";
        narrate!("device   → {reply}: {value}");
        let _ = client.publish(reply, QoS::AtLeastOnce, false, value).await;
    }
}

/// A console (a hub consumer of the simulated server) calling a device's
/// MessageCallback in a saga every five seconds, and printing the answer.
async fn console(sim: SimHandle, stop: CancellationToken) {
    let me = Participant {
        sentinel: "Consumer".into(),
        package: "Console".into(),
    };
    // The first call once the devices had time to join.
    let period = Duration::from_secs(5);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    for n in 1u64.. {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let saga = format!("demo-{n}");
        let call = OutgoingMessage {
            scope: Scope {
                kind: ScopeType::Package,
                args: vec!["Salon/Thermometer".into()],
                saga_id: Some(saga.clone()),
            },
            key: "GetTemperature".into(),
            data: serde_json::Value::Null,
        };
        narrate!("Constellation → Salon/Thermometer: GetTemperature (saga {saga})");
        if sim.send(&me, SenderType::ConsumerHub, call).is_err() {
            continue;
        }
        match sim.saga_response(&me, &saga, Duration::from_secs(5)).await {
            Some(answer) => narrate!("Constellation ← saga {saga} answered: {}", answer.data),
            None => narrate!("Constellation: saga {saga} unanswered"),
        }
    }
}
