//! Constellation away for a while under a steady load: nothing accepted is lost, what
//! finds the storage full is refused and reported, and delivery resumes as soon as the
//! server is back (the shared probe), not when each package's backoff runs out.

mod common;

use common::mqtt::*;
use common::wait_for;
use constellation_mqtt::sim::{Faults, Participant, World};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

const PACKAGES: usize = 4;

#[tokio::test]
async fn a_long_outage_under_load_loses_nothing_accepted_and_resumes_at_once() {
    let h = Harness::embedded(World::open("demo"), |c| {
        // Room for about a hundred logs: the outage outgrows it.
        c.storage.max_bytes = 40_000;
    })
    .await;
    let handle = h.sim.handle();
    let d = h.device("steady").await;
    let refused = tokio::spawn({
        let d = h.device("error-reader").await;
        d.subscribe("constellation/Out/+/error").await;
        async move {
            let mut refused = BTreeSet::new();
            while let Some(e) = d.recv().await {
                let body: Value = serde_json::from_str(&e.payload).unwrap();
                let error = body["error"].as_str().unwrap_or_default();
                assert!(error.contains("storage full"), "{body}");
                let payload = body["payload"].as_str().unwrap().to_owned();
                if payload == "end" {
                    break;
                }
                refused.insert((body["topic"].as_str().unwrap().to_owned(), payload));
            }
            refused
        }
    });

    handle.set_faults(Faults {
        delay_ms: 0,
        status: Some(503),
        management_status: None,
        lie: None,
    });
    // Long enough that each package's own backoff grows past 5 s (100 ms doubling:
    // the eighth wait begins 9.5–12.7 s into the outage and lasts 9.6–12.8 s).
    let outage = Instant::now();
    let mut i = 0u32;
    while outage.elapsed() < Duration::from_secs(14) {
        for p in 0..PACKAGES {
            d.publish(&format!("constellation/Out/P{p}/log"), format!("line {i}"))
                .await;
            d.publish(
                &format!("constellation/Out/P{p}/stateobject/Counter"),
                i.to_string(),
            )
            .await;
        }
        i += 1;
        // Pacing of the load, not a synchronisation.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let published = i;
    // A marker, refused too (the storage is full), that ends the error reader.
    d.publish("constellation/Out/P0/log", "end").await;
    let refused = common::within("the refusals", refused).await.unwrap();
    assert!(
        refused.len() > 100,
        "the outage outgrew storage.max_bytes: {} refused",
        refused.len()
    );

    handle.set_faults(Faults::default());
    let back = Instant::now();
    let mut accepted: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for p in 0..PACKAGES {
        let topic = format!("constellation/Out/P{p}/log");
        accepted.insert(
            p,
            (0..published)
                .map(|i| format!("line {i}"))
                .filter(|line| !refused.contains(&(topic.clone(), line.clone())))
                .collect(),
        );
    }
    for p in 0..PACKAGES {
        let who = Participant::parse(&format!("Out/P{p}")).unwrap();
        let delivered = wait_for("every accepted log", Duration::from_secs(60), || async {
            let logs: Vec<String> = handle
                .logs(Some(&who))
                .into_iter()
                .map(|l| l.message)
                .filter(|m| m.starts_with("line "))
                .collect();
            (logs.len() >= accepted[&p].len()).then_some(logs)
        })
        .await;
        assert_eq!(
            delivered, accepted[&p],
            "P{p}: in order, none lost, none extra"
        );
        let so = handle.state_object("Out", &format!("P{p}"), "Counter");
        assert_eq!(
            so.map(|so| so.value),
            Some(json!(published - 1)),
            "P{p}: StateObjects still conflate to the last value"
        );
    }
    let resumed = back.elapsed();
    eprintln!("delivery drained {resumed:?} after the server came back");
    // Each package's own backoff alone could not resume before 5 s (see above).
    assert!(
        resumed < Duration::from_secs(4),
        "resumed {resumed:?} after the server came back"
    );
    let metrics = common::metrics_text(h.adapter.as_ref().unwrap().http.unwrap()).await;
    // The marker was refused too.
    let count = refused.len() + 1;
    assert!(
        metrics.contains(&format!(
            "constellation_mqtt_refused_total{{reason=\"storage_full\"}} {count}"
        )),
        "{metrics}"
    );
}
