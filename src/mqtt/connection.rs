//! The adapter's MQTT connection (rumqttc, MQTT 5), to the embedded broker over loopback
//! or to an external broker: a persistent session, every filter subscribed again at each
//! connection (retained topics replayed only where the session lacks the filter), capped
//! exponential backoff between reconnections, and the adapter's status.

use super::{Publisher, Subscriptions};
use crate::constellation::Backoff;
use crate::metrics::Metrics;
use crate::secret::Secret;
use rumqttc::v5::mqttbytes::v5::{LastWill, Packet, Publish, SubscribeReasonCode};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, Event, EventLoop, MqttOptions};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How to connect.
#[derive(Clone)]
pub struct ConnectOptions {
    pub host: String,
    pub port: u16,
    /// `Some` for `mqtts://`.
    pub tls: Option<rumqttc::TlsConfiguration>,
    pub client_id: String,
    pub credentials: Option<Login>,
    /// Where the connection's state and reconnections are counted.
    pub metrics: Arc<Metrics>,
    pub keep_alive: Duration,
    /// The largest packet either way.
    pub max_packet_size: u32,
    /// Filters subscribed at every connection (with those added later through
    /// [`Publisher::subscribe`]).
    pub subscriptions: Vec<String>,
    pub qos: QoS,
    /// Retained `online` while connected, `offline` as last will and at shutdown.
    pub status_topic: String,
}

/// A username and password to log in with.
#[derive(Debug, Clone, PartialEq)]
pub struct Login {
    pub username: String,
    pub password: Secret,
}

/// The most QoS 1 publishes of the adapter unacknowledged at once, whatever the
/// broker allows.
const MAX_OUTGOING_INFLIGHT: u16 = 1024;

/// Requests (acknowledgements, publishes) written together before a flush.
const MAX_REQUEST_BATCH: usize = 64;

/// Publishes received from the broker, in arrival order.
pub type Inbound = mpsc::Receiver<Publish>;

/// Connects (in the background: the returned task reconnects for ever, with backoff,
/// until `shutdown`, when it publishes `offline` and disconnects).
pub fn connect(
    options: ConnectOptions,
    shutdown: CancellationToken,
) -> (Publisher, Inbound, JoinHandle<()>) {
    let mut mqtt = MqttOptions::new(&options.client_id, &options.host, options.port);
    // Small publishes (callbacks, errors) must not wait for Nagle's algorithm.
    let mut network = rumqttc::NetworkOptions::new();
    network.set_tcp_nodelay(true);
    // Publishes are acknowledged after their commit: without an immediate TCP
    // acknowledgement, a broker using Nagle's algorithm (Mosquitto's default) holds each
    // next publish until then (patched rumqttc, vendor/README.md).
    network.set_tcp_quickack(true);
    mqtt.set_network_options(network);
    // rumqttc allocates a slot per in-flight packet id up to this bound when it
    // connects (65 535 by default: ≈ 14 MB); brokers allow far fewer (rumqttd's
    // `max_inflight_count`, Mosquitto's receive maximum of 20).
    mqtt.set_outgoing_inflight_upper_limit(MAX_OUTGOING_INFLIGHT);
    // Publishes are acknowledged by the journal once their work is kept, in arrival
    // order ([`crate::journal`]): the broker keeps what this process has not taken.
    mqtt.set_manual_acks(true);
    // A burst of acknowledgements goes out in one write, not one each (patched rumqttc,
    // vendor/README.md).
    mqtt.set_max_request_batch(MAX_REQUEST_BATCH);
    mqtt.set_clean_start(false)
        .set_session_expiry_interval(Some(7 * 24 * 3600))
        .set_keep_alive(options.keep_alive)
        .set_max_packet_size(Some(options.max_packet_size))
        .set_last_will(LastWill::new(
            &options.status_topic,
            "offline",
            QoS::AtLeastOnce,
            true,
            None,
        ));
    if let Some(login) = &options.credentials {
        mqtt.set_credentials(&login.username, login.password.expose());
    }
    if let Some(tls) = options.tls.clone() {
        crate::tls::install_crypto_provider();
        mqtt.set_transport(rumqttc::Transport::tls_with_config(tls));
    }
    let (client, eventloop) = AsyncClient::new(mqtt, 4096);
    let subscriptions = Subscriptions::new(options.subscriptions.clone(), options.qos);
    let publisher = Publisher::new(client.clone(), subscriptions.clone());
    let (tx, rx) = mpsc::channel(4096);
    let task = tokio::spawn(drive(
        client,
        eventloop,
        options,
        subscriptions,
        tx,
        shutdown,
    ));
    (publisher, rx, task)
}

/// Drives the event loop. Only `try_*` calls on the client here: awaiting a full
/// request channel in the task that empties it would deadlock.
async fn drive(
    client: AsyncClient,
    mut eventloop: EventLoop,
    options: ConnectOptions,
    subscriptions: Subscriptions,
    inbound: mpsc::Sender<Publish>,
    shutdown: CancellationToken,
) {
    // A broker is usually on the same network: reconnecting once a second at most is
    // cheap for it, and the adapter is back within a second of it.
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
    let mut connected = false;
    // Subscribing makes the broker replay retained topics (`subscribe`, `groups`,
    // `descriptor`…): done at this process's first connection even when the broker kept
    // the session, so that a restarted adapter rebuilds its state from them.
    let mut first_connection = true;
    // Made once and polled after the connection (see `adapter::Running::run`).
    let stopped = shutdown.cancelled();
    tokio::pin!(stopped);
    loop {
        let event = tokio::select! {
            biased;
            event = eventloop.poll() => event,
            () = &mut stopped => break,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                backoff.reset();
                connected = true;
                options.metrics.mqtt_connected(true);
                tracing::info!(
                    broker = %format!("{}:{}", options.host, options.port),
                    session_present = ack.session_present,
                    "MQTT connected"
                );
                // Every filter again, even into a kept session: one the broker refused
                // or never answered (a SUBSCRIBE lost with the connection) is retried.
                // Into a kept session, retained topics come only for filters it lacks.
                let replay = !ack.session_present || first_connection;
                first_connection = false;
                if let Err(e) = client.try_subscribe_many(subscriptions.entries(replay)) {
                    tracing::error!(error = %e, "MQTT: cannot subscribe");
                }
                if let Err(e) =
                    client.try_publish(&options.status_topic, QoS::AtLeastOnce, true, "online")
                {
                    tracing::warn!(error = %e, "MQTT: cannot publish the adapter's status");
                }
            }
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                let refused: Vec<_> = ack
                    .return_codes
                    .iter()
                    .filter(|code| !matches!(code, SubscribeReasonCode::Success(_)))
                    .collect();
                if !refused.is_empty() {
                    tracing::error!(
                        reasons = ?refused,
                        "MQTT: the broker refused {} of {} filters (its ACL?); retried at the next connection",
                        refused.len(),
                        ack.return_codes.len()
                    );
                }
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                // Back-pressure: while the router is busy, stop reading from the broker.
                if inbound.send(publish).await.is_err() {
                    break;
                }
            }
            Ok(_) => {}
            Err(e) => {
                let delay = backoff.next_delay();
                if connected {
                    tracing::warn!(error = %e, "MQTT connection lost; reconnecting");
                } else {
                    tracing::warn!(error = %e, ?delay, "MQTT connection failed; retrying");
                }
                connected = false;
                options.metrics.mqtt_connected(false);
                tokio::select! {
                    () = &mut stopped => break,
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
    if connected {
        say_goodbye(&client, &mut eventloop, &options.status_topic).await;
    }
}

/// Publishes `offline`, waits for the broker to take it (its PUBACK), and disconnects;
/// all within a bounded time.
async fn say_goodbye(client: &AsyncClient, eventloop: &mut EventLoop, status_topic: &str) {
    if client
        .try_publish(status_topic, QoS::AtLeastOnce, true, "offline")
        .is_err()
    {
        return;
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        let mut disconnecting = false;
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) if !disconnecting => {
                    disconnecting = client.try_disconnect().is_ok();
                    if !disconnecting {
                        break;
                    }
                }
                Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
}
