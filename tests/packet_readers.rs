//! The embedded broker's packet readers (rumqttd's, as patched in `vendor/`) on any
//! input: an error for the connection, never a panic. The inputs are arbitrary bytes,
//! packets of every type with arbitrary bodies, and the hostile clients' mix.

mod common;

use bytes::BytesMut;
use common::hostile::{hostile_input, remaining_length, Rng};
use proptest::prelude::*;
use rumqttd::protocol::{v4::V4, v5::V5, Protocol};

/// Reads packets from `input` as a connection would, until it is used up or an error
/// (which ends the connection).
fn read_all(protocol: &mut impl Protocol, input: &[u8]) {
    let mut stream = BytesMut::from(input);
    for _ in 0..input.len() + 1 {
        if protocol.read_mut(&mut stream, 1 << 20).is_err() || stream.is_empty() {
            return;
        }
    }
}

fn both(input: &[u8]) {
    read_all(&mut V4, input);
    read_all(&mut V5, input);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(input in proptest::collection::vec(any::<u8>(), 0..2048)) {
        both(&input);
    }

    #[test]
    fn every_packet_type_with_an_arbitrary_body(
        first in any::<u8>(),
        body in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut packet = vec![first];
        remaining_length(body.len(), &mut packet);
        packet.extend(body);
        both(&packet);
    }

    #[test]
    fn the_hostile_mix(seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        for version in [4, 5] {
            let input = hostile_input(&mut rng, version);
            both(&input);
        }
    }
}

#[test]
fn a_connack_or_unsuback_from_a_client_is_an_error_not_a_panic() {
    // rumqttd 0.20.0 reached `unreachable!()` on these two in its MQTT 5 reader.
    for packet in [
        [0x20u8, 0x03, 0x00, 0x00, 0x00],
        [0xb0, 0x03, 0x00, 0x01, 0x00],
    ] {
        let mut stream = BytesMut::from(&packet[..]);
        assert!(V5.read_mut(&mut stream, 1024).is_err(), "{packet:?}");
    }
}
