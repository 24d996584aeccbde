//! Clients that misbehave on purpose against an MQTT listener: connect-and-drop with a
//! repeated client id, random bytes, truncated and oversized packets. Shared by the
//! hostile-client test and `examples/hostile.rs` (which measures memory around it).

use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// A small deterministic generator (xorshift64*): the same mix on every run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// MQTT's variable-length encoding of a remaining length.
pub fn remaining_length(mut len: usize, out: &mut Vec<u8>) {
    loop {
        let mut byte = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if len == 0 {
            break;
        }
    }
}

/// A CONNECT of MQTT `version` 4 (3.1.1) or 5, clean session, for `client_id`.
pub fn connect_packet(version: u8, client_id: &[u8]) -> Vec<u8> {
    let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', version, 0x02, 0, 60];
    if version == 5 {
        body.push(0); // no properties
    }
    body.extend_from_slice(&(client_id.len() as u16).to_be_bytes());
    body.extend_from_slice(client_id);
    let mut packet = vec![0x10];
    remaining_length(body.len(), &mut packet);
    packet.extend(body);
    packet
}

/// One hostile input, as bytes to write before dropping the connection.
pub fn hostile_input(rng: &mut Rng, version: u8) -> Vec<u8> {
    match rng.below(7) {
        // The same client id, connecting and dropping at once.
        0 | 1 => connect_packet(version, b"cloned-device"),
        // Random bytes, of random length.
        2 => {
            let len = 1 + rng.below(512) as usize;
            rng.bytes(len)
        }
        // A random packet type and flags with a plausible length and random body.
        3 => {
            let len = rng.below(200) as usize;
            let mut p = vec![rng.next() as u8];
            remaining_length(len, &mut p);
            p.extend(rng.bytes(len));
            p
        }
        // Truncated: a CONNECT announcing more than it sends.
        4 => {
            let mut p = connect_packet(version, b"truncated");
            let cut = 2 + rng.below(p.len() as u64 - 2) as usize;
            p.truncate(cut);
            p[1] = 0x7f;
            p
        }
        // Connected, then a publish on a topic whose first character is multi-byte
        // (rumqttd's router matched topics by slicing their first byte).
        5 => {
            let mut p = connect_packet(version, format!("unicode-{}", rng.next()).as_bytes());
            let topic = "Ѩ/x".as_bytes();
            let mut body = (topic.len() as u16).to_be_bytes().to_vec();
            body.extend_from_slice(topic);
            if version == 5 {
                body.push(0); // no properties
            }
            body.extend_from_slice(b"1");
            p.push(0x30);
            remaining_length(body.len(), &mut p);
            p.extend(body);
            p
        }
        // Oversized: the largest remaining length MQTT can say, then a few bytes.
        _ => {
            let mut p = vec![0x30, 0xff, 0xff, 0xff, 0x7f];
            p.extend(rng.bytes(64));
            p
        }
    }
}

/// What a burst did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Burst {
    pub connections: u64,
}

/// For `duration`, `workers` clients in parallel each connect to one of `targets`
/// (address, MQTT version), write one hostile input and drop the connection (closed or
/// reset).
pub async fn burst(targets: &[(SocketAddr, u8)], workers: usize, duration: Duration) -> Burst {
    let until = Instant::now() + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..workers {
        let targets = targets.to_vec();
        tasks.spawn(async move {
            let mut rng = Rng::new(0x5eed + w as u64);
            let mut n = 0u64;
            while Instant::now() < until {
                let (addr, version) = targets[rng.below(targets.len() as u64) as usize];
                let input = hostile_input(&mut rng, version);
                if let Ok(Ok(mut stream)) =
                    tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(addr)).await
                {
                    // Half of them reset the connection rather than close it.
                    if rng.below(2) == 0 {
                        let _ = stream.set_zero_linger();
                    }
                    let _ = stream.write_all(&input).await;
                    n += 1;
                }
            }
            n
        });
    }
    let mut total = Burst::default();
    while let Some(n) = tasks.join_next().await {
        total.connections += n.unwrap_or(0);
    }
    total
}
