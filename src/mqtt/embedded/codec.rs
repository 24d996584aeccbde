//! The codec of the embedded broker's MQTT 3.1.1 listeners.

use rumqttd::protocol::{v4::V4, Packet, Protocol};

/// rumqttd's MQTT 3.1.1 codec, minus a crash: its writer panics (`unreachable!`) on any
/// packet that carries MQTT 5 properties, which is what an MQTT 5 publisher's message
/// (user properties, a response topic…) is when routed to a 3.1.1 subscriber; the panic
/// also poisons the broker's shared state. A 3.1.1 link has no properties to send, so
/// this codec drops them before writing, as an MQTT 3.1.1 broker does.
#[derive(Clone)]
pub(super) struct V4WithoutProperties;

impl Protocol for V4WithoutProperties {
    fn read_mut(
        &mut self,
        stream: &mut bytes::BytesMut,
        max_size: usize,
    ) -> Result<Packet, rumqttd::protocol::Error> {
        V4.read_mut(stream, max_size)
    }

    fn write(
        &self,
        packet: Packet,
        buffer: &mut bytes::BytesMut,
    ) -> Result<usize, rumqttd::protocol::Error> {
        let packet = match packet {
            Packet::Publish(p, _) => Packet::Publish(p, None),
            Packet::PubAck(p, _) => Packet::PubAck(p, None),
            Packet::PubRec(p, _) => Packet::PubRec(p, None),
            Packet::PubRel(p, _) => Packet::PubRel(p, None),
            Packet::PubComp(p, _) => Packet::PubComp(p, None),
            Packet::Subscribe(p, _) => Packet::Subscribe(p, None),
            Packet::SubAck(p, _) => Packet::SubAck(p, None),
            Packet::Unsubscribe(p, _) => Packet::Unsubscribe(p, None),
            Packet::UnsubAck(p, _) => Packet::UnsubAck(p, None),
            Packet::Disconnect(p, _) => Packet::Disconnect(p, None),
            Packet::Connect(c, _, will, _, login) => Packet::Connect(c, None, will, None, login),
            other => other,
        };
        V4.write(packet, buffer)
    }
}
