//! A SUBSCRIBE lost with the connection (sent, never acknowledged) is made again when
//! the adapter reconnects, even though the broker kept its session.

mod common;

use common::mqtt::*;
use common::wait_for;
use constellation_mqtt::config::Preset;
use constellation_mqtt::sim::World;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A TCP relay between the adapter and the broker that can swallow what the adapter
/// sends (noting whether a SUBSCRIBE went by) and cut its connections.
struct Relay {
    port: u16,
    swallow: Arc<AtomicBool>,
    swallowed_subscribe: Arc<AtomicBool>,
    cuts: watch::Sender<u64>,
}

impl Relay {
    async fn start(upstream: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let swallow = Arc::new(AtomicBool::new(false));
        let swallowed_subscribe = Arc::new(AtomicBool::new(false));
        let cuts = watch::channel(0).0;
        let (sw, seen, rx) = (
            swallow.clone(),
            swallowed_subscribe.clone(),
            cuts.subscribe(),
        );
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(broker) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                    continue;
                };
                let mut cut = rx.clone();
                cut.mark_unchanged();
                let (sw, seen) = (sw.clone(), seen.clone());
                tokio::spawn(async move {
                    let (mut from_client, mut to_client) = client.into_split();
                    let (mut from_broker, mut to_broker) = broker.into_split();
                    let upward = async {
                        let mut frames = Frames::default();
                        let mut buf = vec![0; 64 * 1024];
                        loop {
                            let n = from_client.read(&mut buf).await?;
                            if n == 0 {
                                return Ok::<_, std::io::Error>(());
                            }
                            if sw.load(Ordering::SeqCst) {
                                if frames.feed(&buf[..n]).contains(&0x82) {
                                    seen.store(true, Ordering::SeqCst);
                                }
                            } else {
                                frames.feed(&buf[..n]);
                                to_broker.write_all(&buf[..n]).await?;
                            }
                        }
                    };
                    let downward = tokio::io::copy(&mut from_broker, &mut to_client);
                    tokio::select! {
                        _ = upward => {}
                        _ = downward => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Self {
            port,
            swallow,
            swallowed_subscribe,
            cuts,
        }
    }

    /// Closes every connection; later ones are relayed faithfully.
    fn cut(&self) {
        self.swallow.store(false, Ordering::SeqCst);
        self.cuts.send_modify(|n| *n += 1);
    }
}

/// MQTT framing of a byte stream, to tell the packet types going by.
#[derive(Default)]
struct Frames {
    pending: Vec<u8>,
}

impl Frames {
    /// The first bytes (type and flags) of the packets completed by `bytes`.
    fn feed(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.pending.extend_from_slice(bytes);
        let mut types = Vec::new();
        loop {
            let Some((header, len)) = self.next_len() else {
                return types;
            };
            if self.pending.len() < header + len {
                return types;
            }
            types.push(self.pending[0]);
            self.pending.drain(..header + len);
        }
    }

    /// The fixed header's length and the remaining length, once both are in.
    fn next_len(&self) -> Option<(usize, usize)> {
        let mut len = 0usize;
        for (i, b) in self.pending.iter().skip(1).take(4).enumerate() {
            len |= usize::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Some((i + 2, len));
            }
        }
        None
    }
}

#[tokio::test]
async fn a_subscribe_lost_with_the_connection_is_made_again_into_the_kept_session() {
    let mosquitto = Mosquitto::start_persistent(free_port()).await;
    let relay = Relay::start(mosquitto.port).await;
    let relay_port = relay.port;
    let h = Harness::external_on(World::open("demo"), mosquitto, None, |c| {
        c.mqtt.url = format!("mqtt://127.0.0.1:{relay_port}");
        c.preset = vec![Preset {
            kind: "homeassistant".into(),
            ..Preset::default()
        }];
    })
    .await;
    relay.swallow.store(true, Ordering::SeqCst);
    let device = h.device("attic").await;
    // A state topic outside every filter the adapter has: it subscribes it.
    device
        .publish_retained(
            "homeassistant/sensor/attic/temperature/config",
            r#"{"name":"Temperature","stat_t":"attic/temperature","uniq_id":"attic01","dev":{"ids":["attic01"],"name":"Attic"}}"#,
        )
        .await;
    wait_for(
        "the swallowed SUBSCRIBE",
        Duration::from_secs(15),
        || async {
            relay
                .swallowed_subscribe
                .load(Ordering::SeqCst)
                .then_some(())
        },
    )
    .await;
    relay.cut();
    // Published until the adapter is back and subscribed (the first may come before).
    let handle = h.sim.handle();
    wait_for("the reading", Duration::from_secs(15), || async {
        device.publish("attic/temperature", "19.5").await;
        handle
            .state_object("HomeAssistant", "Attic", "Temperature")
            .map(drop)
    })
    .await;
}
