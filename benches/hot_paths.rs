//! Micro-benchmarks of the per-publish hot path: topic parsing, payload decoding,
//! queueing with conflation, and the request body. `cargo bench --bench hot_paths`.

use constellation_mqtt::constellation::model::StateObjectPush;
use constellation_mqtt::native::{decode, parse_topic, Intent, Kind};
use constellation_mqtt::package::{Job, Origin, PackageQueue};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

fn topics(c: &mut Criterion) {
    c.bench_function("parse_topic stateobject", |b| {
        b.iter(|| {
            parse_topic(
                black_box("constellation"),
                black_box("constellation/Salon/Thermo/stateobject/Temperature"),
            )
        })
    });
    c.bench_function("parse_topic foreign", |b| {
        b.iter(|| parse_topic(black_box("constellation"), black_box("tele/tasmota/SENSOR")))
    });
}

fn payloads(c: &mut Criterion) {
    let so = Kind::StateObject("Temperature".into());
    c.bench_function("decode stateobject number", |b| {
        b.iter(|| decode(&so, "Thermo", black_box(b"21.5"), &[]))
    });
    c.bench_function("decode stateobject text", |b| {
        b.iter(|| decode(&so, "Thermo", black_box(b"living room"), &[]))
    });
    let message = br#"{"Scope": {"Type": "Package", "Args": ["Nest"]}, "Key": "SetTemp", "Data": 21, "SagaId": "s1"}"#;
    c.bench_function("decode message", |b| {
        b.iter(|| decode(&Kind::Message, "Thermo", black_box(message), &[]))
    });
}

fn queueing(c: &mut Criterion) {
    let job = |v: u64| Job {
        intent: Intent::PushStateObject(StateObjectPush {
            name: format!("S{}", v % 100),
            value: v.into(),
            type_name: None,
            lifetime: None,
            metadatas: None,
        }),
        origin: Origin {
            topic: "constellation/Salon/Thermo/stateobject/S".into(),
            payload: String::new(),
        },
    };
    c.bench_function("queue push (conflating over 100 names) + pop", |b| {
        let mut q = PackageQueue::new(10_000, 1 << 30);
        let mut n = 0u64;
        b.iter(|| {
            n += 1;
            let _ = q.push(job(n), 64, Some(n));
            if n.is_multiple_of(10) {
                black_box(q.pop());
            }
        })
    });
}

fn bodies(c: &mut Criterion) {
    let push = StateObjectPush {
        name: "Temperature".into(),
        value: 21.5.into(),
        type_name: Some("System.Double".into()),
        lifetime: Some(600),
        metadatas: None,
    };
    c.bench_function("PushStateObject body", |b| {
        b.iter(|| serde_json::to_vec(black_box(&push)))
    });
}

criterion_group!(hot_paths, topics, payloads, queueing, bodies);
criterion_main!(hot_paths);
