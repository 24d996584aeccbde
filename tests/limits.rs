//! Bounds on what devices can make the adapter hold: live packages.

mod common;

use common::mqtt::*;
use constellation_mqtt::sim::World;

#[tokio::test]
async fn a_flood_of_package_names_past_max_packages_is_refused_and_counted() {
    const MAX: usize = 5;
    let h = Harness::embedded(World::open("demo"), |c| {
        c.constellation.max_packages = MAX;
    })
    .await;
    let d = h.device("flood").await;
    d.publish("constellation/Keep/Existing/stateobject/X", "0")
        .await;
    h.state_object_arrives("Keep", "Existing", "X").await;
    d.subscribe("constellation/Flood/+/error").await;
    for i in 0..100 {
        d.publish(&format!("constellation/Flood/P{i}/stateobject/X"), "1")
            .await;
    }
    // The last one is refused, on its own error topic, with the count so far.
    let refusal = d.expect("constellation/Flood/P99/error", |_| true).await;
    assert!(
        refusal.payload.contains("max_packages") && refusal.payload.contains("96 refused so far"),
        "{}",
        refusal.payload
    );
    let adapter = h.adapter.as_ref().unwrap();
    assert_eq!(adapter.dispatcher.packages().len(), MAX);
    let text = common::metrics_text(adapter.http.unwrap()).await;
    assert!(
        text.contains("constellation_mqtt_refused_total{reason=\"too_many_packages\"} 96"),
        "{text}"
    );
    // The live packages are unaffected.
    d.publish("constellation/Keep/Existing/stateobject/X", "1")
        .await;
    let handle = h.sim.handle();
    common::wait_for(
        "the existing package's update",
        std::time::Duration::from_secs(15),
        || async {
            handle
                .state_object("Keep", "Existing", "X")
                .filter(|so| so.value == serde_json::json!(1))
        },
    )
    .await;
}
