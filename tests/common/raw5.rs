//! An MQTT 5 client that sends and reads packets as they are, for checking a broker's
//! protocol behaviour (acknowledgements are the test's to send, or `Raw5::settle`'s).

use bytes::BytesMut;
use rumqttc::v5::mqttbytes::v5::{
    ConnAck, Connect, ConnectProperties, Disconnect, DisconnectProperties, DisconnectReasonCode,
    Filter, LastWill, Packet, PubAck, PubComp, PubRec, PubRel, Publish, PublishProperties,
    Subscribe, SubscribeProperties,
};
use rumqttc::v5::mqttbytes::QoS;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a packet the test waits for may take.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// A raw MQTT 5 connection.
pub struct Raw5 {
    stream: TcpStream,
    read: BytesMut,
    next_pkid: u16,
    /// Publishes received while waiting for something else.
    pub received: Vec<Publish>,
    /// Whether `recv_publish` and the waits acknowledge incoming QoS 1/2 publishes.
    pub auto_ack: bool,
}

/// What a CONNECT carries besides the client id.
#[derive(Default, Clone)]
pub struct Options {
    /// Keep-alive in seconds (0: off).
    pub keep_alive: u16,
    /// Clean start.
    pub clean_start: bool,
    /// CONNECT properties.
    pub properties: Option<ConnectProperties>,
    /// The will.
    pub will: Option<LastWill>,
}

impl Options {
    /// Clean start, keep-alive off: as the Paho interoperability suite connects.
    pub fn clean() -> Self {
        Self {
            clean_start: true,
            ..Self::default()
        }
    }

    /// With a session expiry interval.
    pub fn expiring(mut self, seconds: u32) -> Self {
        self.properties
            .get_or_insert_with(ConnectProperties::new)
            .session_expiry_interval = Some(seconds);
        self
    }

    /// Resuming a session (clean start off).
    pub fn resume(mut self) -> Self {
        self.clean_start = false;
        self
    }
}

/// Properties of a publish with user properties `pairs`.
pub fn user_properties(pairs: &[(&str, &str)]) -> PublishProperties {
    PublishProperties {
        user_properties: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..PublishProperties::default()
    }
}

impl Raw5 {
    /// Connects to `port` as `client_id`; the CONNACK is returned as it came.
    pub async fn connect(port: u16, client_id: &str, options: Options) -> (Raw5, ConnAck) {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("the broker accepts TCP");
        stream.set_nodelay(true).ok();
        let mut raw = Raw5 {
            stream,
            read: BytesMut::with_capacity(8 * 1024),
            next_pkid: 0,
            received: Vec::new(),
            auto_ack: true,
        };
        let connect = Connect {
            keep_alive: options.keep_alive,
            client_id: client_id.to_string(),
            clean_start: options.clean_start,
            properties: options.properties,
        };
        raw.send(Packet::Connect(connect, options.will, None)).await;
        match raw.recv().await {
            Some(Packet::ConnAck(ack)) => (raw, ack),
            other => panic!("{client_id}: expected a CONNACK, got {other:?}"),
        }
    }

    /// Writes `packet`.
    pub async fn send(&mut self, packet: Packet) {
        let mut out = BytesMut::new();
        packet.write(&mut out, None).expect("an encodable packet");
        self.stream.write_all(&out).await.expect("the broker reads");
    }

    /// The next packet, `None` when the connection closes or nothing comes within
    /// `DEADLINE`.
    pub async fn recv(&mut self) -> Option<Packet> {
        self.recv_within(DEADLINE).await
    }

    /// The next packet, `None` when the connection closes or nothing comes within
    /// `wait`.
    pub async fn recv_within(&mut self, wait: Duration) -> Option<Packet> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match Packet::read(&mut self.read, None) {
                Ok(packet) => return Some(packet),
                Err(rumqttc::v5::mqttbytes::Error::InsufficientBytes(_)) => {}
                Err(e) => panic!("the broker sent a malformed packet: {e:?}"),
            }
            let read = tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.read));
            match read.await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return None,
                Ok(Ok(_)) => {}
            }
        }
    }

    fn pkid(&mut self) -> u16 {
        self.next_pkid = self.next_pkid % u16::MAX + 1;
        self.next_pkid
    }

    /// Acknowledges `publish` as its QoS asks (QoS 2: PUBREC; the PUBREL is answered
    /// when it comes).
    async fn ack(&mut self, publish: &Publish) {
        match publish.qos {
            QoS::AtMostOnce => {}
            QoS::AtLeastOnce => {
                self.send(Packet::PubAck(PubAck::new(publish.pkid, None)))
                    .await
            }
            QoS::ExactlyOnce => {
                self.send(Packet::PubRec(PubRec::new(publish.pkid, None)))
                    .await
            }
        }
    }

    /// Handles a packet met while waiting for another: publishes are kept (and
    /// acknowledged when `auto_ack`), PUBRELs completed; anything else is returned.
    async fn absorb(&mut self, packet: Packet) -> Option<Packet> {
        match packet {
            Packet::Publish(publish) => {
                if self.auto_ack {
                    self.ack(&publish).await;
                }
                self.received.push(publish);
                None
            }
            Packet::PubRel(rel) => {
                self.send(Packet::PubComp(PubComp::new(rel.pkid, None)))
                    .await;
                None
            }
            other => Some(other),
        }
    }

    /// Waits for a packet other than a publish or PUBREL; `None` if the connection
    /// closes or nothing comes in time.
    pub async fn expect_other(&mut self) -> Option<Packet> {
        loop {
            let packet = self.recv().await?;
            if let Some(other) = self.absorb(packet).await {
                return Some(other);
            }
        }
    }

    /// Publishes and completes the exchange its QoS asks for.
    pub async fn publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
        properties: Option<PublishProperties>,
    ) {
        let mut publish = Publish::new(topic, qos, payload.to_vec(), properties);
        publish.retain = retain;
        if qos != QoS::AtMostOnce {
            publish.pkid = self.pkid();
        }
        self.send(Packet::Publish(publish)).await;
        match qos {
            QoS::AtMostOnce => {}
            QoS::AtLeastOnce => match self.expect_other().await {
                Some(Packet::PubAck(_)) => {}
                other => panic!("expected a PUBACK, got {other:?}"),
            },
            QoS::ExactlyOnce => {
                let pkid = match self.expect_other().await {
                    Some(Packet::PubRec(rec)) => rec.pkid,
                    other => panic!("expected a PUBREC, got {other:?}"),
                };
                self.send(Packet::PubRel(PubRel::new(pkid, None))).await;
                match self.expect_other().await {
                    Some(Packet::PubComp(_)) => {}
                    other => panic!("expected a PUBCOMP, got {other:?}"),
                }
            }
        }
    }

    /// Subscribes and waits for the SUBACK.
    pub async fn subscribe(
        &mut self,
        filters: Vec<Filter>,
        properties: Option<SubscribeProperties>,
    ) {
        let mut subscribe = Subscribe::new_many(filters, properties);
        subscribe.pkid = self.pkid();
        self.send(Packet::Subscribe(subscribe)).await;
        match self.expect_other().await {
            Some(Packet::SubAck(_)) => {}
            other => panic!("expected a SUBACK, got {other:?}"),
        }
    }

    /// Subscribes to one filter at `qos`.
    pub async fn subscribe_to(&mut self, filter: &str, qos: QoS) {
        self.subscribe(vec![Filter::new(filter, qos)], None).await;
    }

    /// Waits until `count` publishes have been received (those already kept count).
    pub async fn wait_publishes(&mut self, count: usize) -> &[Publish] {
        while self.received.len() < count {
            let packet = self
                .recv()
                .await
                .unwrap_or_else(|| panic!("{count} publishes expected, {:?} came", self.received));
            if let Some(other) = self.absorb(packet).await {
                panic!("a publish expected, got {other:?}");
            }
        }
        &self.received
    }

    /// Reads for `quiet` (a bounded wait for what must *not* come), keeping publishes.
    pub async fn settle(&mut self, quiet: Duration) {
        while let Some(packet) = self.recv_within(quiet).await {
            if let Some(other) = self.absorb(packet).await {
                panic!("only publishes expected, got {other:?}");
            }
        }
    }

    /// Sends DISCONNECT (normal), with `properties`.
    pub async fn disconnect_with(mut self, properties: Option<DisconnectProperties>) {
        let disconnect = Disconnect {
            reason_code: DisconnectReasonCode::NormalDisconnection,
            properties,
        };
        self.send(Packet::Disconnect(disconnect)).await;
        // The broker closes; read until it has.
        while self.recv_within(DEADLINE).await.is_some() {}
    }

    /// Sends DISCONNECT (normal).
    pub async fn disconnect(self) {
        self.disconnect_with(None).await;
    }
}
