//! Zero-touch provisioning, end to end against the simulator in its strict mode (no open
//! keys: a package is refused, 401, until its sentinel and instance are declared
//! through the Management API and the configuration reloaded, as on a real server).

mod common;

use common::console::*;
use common::mqtt::*;
use common::*;
use constellation_mqtt::config::{Config, Preset};
use constellation_mqtt::sim::{Faults, World};
use serde_json::{json, Value};
use std::time::Duration;

const T: Duration = Duration::from_secs(20);
const MANAGEMENT_KEY: &str = "management-key";

/// A strict world: nothing but a management credential.
fn strict() -> World {
    World::default().with_management_key("Admin", MANAGEMENT_KEY)
}

/// The Zigbee2MQTT preset, provisioning on for the `Zigbee` sentinel.
fn provisioned(c: &mut Config) {
    c.preset = vec![Preset {
        kind: "zigbee2mqtt".into(),
        ..Preset::default()
    }];
    c.provisioning.enabled = true;
    c.provisioning.access_key = Some(MANAGEMENT_KEY.into());
    c.provisioning.sentinels = vec!["Zigbee".into()];
}

/// Zigbee2MQTT's device list with `n` temperature sensors `sensor01`… (and the
/// coordinator).
fn devices(n: usize) -> String {
    let mut list = vec![
        json!({"friendly_name": "Coordinator", "type": "Coordinator",
        "ieee_address": "0x00", "definition": null}),
    ];
    for i in 1..=n {
        list.push(json!({"friendly_name": format!("sensor{i:02}"), "type": "EndDevice",
            "ieee_address": format!("0x{i:02x}"), "definition": {"model": "WSDCGQ01LM", "exposes": [
                {"type": "numeric", "name": "temperature", "property": "temperature", "unit": "°C"}]}}));
    }
    Value::Array(list).to_string()
}

/// Announces `n` devices, each with a retained state `temperature = 20 + i`.
async fn announce(d: &Device, n: usize) {
    d.publish_retained("zigbee2mqtt/bridge/devices", devices(n))
        .await;
    for i in 1..=n {
        d.publish_retained(
            &format!("zigbee2mqtt/sensor{i:02}"),
            json!({"temperature": 20 + i}).to_string(),
        )
        .await;
    }
}

/// The configuration file's package instances of `sentinel`, by name.
fn instances(h: &Harness, sentinel: &str) -> Vec<Value> {
    let config = h.sim.handle().configuration();
    config["File"]["sentinels"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["name"] == sentinel)
        .flat_map(|s| s["packages"].as_array().cloned().unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn a_zigbee2mqtt_device_list_is_provisioned_in_few_reloads_and_both_ways_flow() {
    const N: usize = 40;
    let h = Harness::embedded(strict(), provisioned).await;
    let d = h.device("z2m").await;
    d.subscribe("zigbee2mqtt/+/set").await;
    announce(&d, N).await;
    for i in 1..=N {
        let so = h
            .state_object_arrives("Zigbee", &format!("sensor{i:02}"), "temperature")
            .await;
        assert_eq!(so.value.as_f64(), Some((20 + i) as f64));
    }
    // One reload per burst, at most one per reload_min_interval_ms: forty devices (and
    // the bridge) need a few, not forty.
    let reloads = h.sim.handle().reloads();
    assert!((1..=4).contains(&reloads), "{reloads} reloads");
    let zigbee = instances(&h, "Zigbee");
    assert_eq!(
        zigbee.len(),
        N + 1,
        "every device and the bridge, once each"
    );
    assert!(zigbee
        .iter()
        .all(|p| p["credential"] == "constellation-mqtt"));
    // The credential was created with the adapter's key.
    let config = h.sim.handle().configuration();
    let credential = config["File"]["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "constellation-mqtt")
        .cloned()
        .expect("the credential created");
    assert_eq!(credential["access_key"], "demo");
    assert_eq!(credential["enable_management_api"], false);

    // Messages reach a provisioned package.
    polled(&h, "Zigbee/sensor07").await;
    call(&h, "Zigbee/sensor07", "Set", json!({"state": "ON"}), None);
    let set = d.expect("zigbee2mqtt/sensor07/set", |_| true).await;
    assert_eq!(set.payload, r#"{"state":"ON"}"#);
    let errors = d.errors().await;
    assert!(errors.is_empty(), "{errors:?}");
}

#[tokio::test]
async fn without_provisioning_the_same_devices_are_refused_and_reported() {
    let h = Harness::embedded(strict(), |c| {
        provisioned(c);
        c.provisioning.enabled = false;
    })
    .await;
    let d = h.device("z2m").await;
    d.subscribe("constellation/Zigbee/sensor01/error").await;
    announce(&d, 3).await;
    let error = d
        .expect("constellation/Zigbee/sensor01/error", |p| {
            p.contains("credential refused")
        })
        .await;
    assert!(error.payload.contains("401"), "{}", error.payload);
    assert_eq!(h.sim.handle().reloads(), 0);
    assert!(instances(&h, "Zigbee").is_empty());
    assert_eq!(h.sim.handle().stats().count("management/sentinels", 200), 0);
}

#[tokio::test]
async fn a_refused_management_key_is_one_clear_error_and_the_rest_keeps_working() {
    // Salon/Known is declared: it works whatever provisioning does.
    let world = strict().with_package(
        "Salon",
        Some("demo"),
        constellation_mqtt::sim::PackageDecl::new("Known"),
    );
    let h = Harness::embedded(world, |c| {
        provisioned(c);
        c.provisioning.access_key = Some("not-the-key".into());
    })
    .await;
    let d = h.device("z2m").await;
    d.subscribe("constellation/_adapter/error").await;
    d.subscribe("constellation/Zigbee/sensor01/error").await;
    announce(&d, 1).await;
    // Reported on the adapter's error topic (at start, and for the burst).
    let error = d
        .expect("constellation/_adapter/error", |p| {
            p.contains("provisioning")
        })
        .await;
    assert!(
        error.payload.contains("credential refused"),
        "{}",
        error.payload
    );
    // The device's package is refused as without provisioning.
    d.expect("constellation/Zigbee/sensor01/error", |p| {
        p.contains("credential refused")
    })
    .await;
    d.publish("constellation/Salon/Known/stateobject/Temp", "21.5")
        .await;
    let so = h.state_object_arrives("Salon", "Known", "Temp").await;
    assert_eq!(so.value, json!(21.5));
    assert!(instances(&h, "Zigbee").is_empty());
}

#[tokio::test]
async fn a_sentinel_outside_the_globs_is_never_created() {
    let h = Harness::embedded(strict(), provisioned).await;
    let d = h.device("native").await;
    d.subscribe("constellation/Other/Thing/error").await;
    d.publish("constellation/Other/Thing/stateobject/Temp", "1")
        .await;
    let error = d
        .expect("constellation/Other/Thing/error", |p| {
            p.contains("credential refused")
        })
        .await;
    assert!(error.payload.contains("Other/Thing"), "{}", error.payload);
    assert!(
        error.payload.contains("provisioning.sentinels"),
        "{}",
        error.payload
    );
    assert!(instances(&h, "Other").is_empty());
    assert_eq!(h.sim.handle().reloads(), 0);
}

#[tokio::test]
async fn a_burst_while_the_management_api_answers_503_is_provisioned_once_it_recovers() {
    const N: usize = 10;
    let h = Harness::embedded(strict(), provisioned).await;
    let handle = h.sim.handle();
    handle.set_faults(Faults {
        management_status: Some(503),
        lie: None,
        ..Faults::default()
    });
    let d = h.device("z2m").await;
    announce(&d, N).await;
    // Failing for a while: the adapter keeps trying (and the packages' work waits).
    wait_for("the Management API tried and failing", T, || async {
        (handle.stats().count("management/sentinels", 503) >= 2).then_some(())
    })
    .await;
    assert!(instances(&h, "Zigbee").is_empty());
    handle.set_faults(Faults::default());
    for i in 1..=N {
        let so = h
            .state_object_arrives("Zigbee", &format!("sensor{i:02}"), "temperature")
            .await;
        assert_eq!(so.value.as_f64(), Some((20 + i) as f64), "nothing lost");
    }
    assert_eq!(
        instances(&h, "Zigbee").len(),
        N + 1,
        "no duplicate instance"
    );
}

#[tokio::test]
async fn a_name_the_server_rejects_is_reported_and_not_asked_again() {
    let h = Harness::embedded(strict(), |c| {
        provisioned(c);
        // Refused publishes go to the server again after a second.
        c.constellation.auth_retry_s = 1;
    })
    .await;
    let d = h.device("native").await;
    let topic = "constellation/Zigbee/kit:chen/error";
    d.subscribe(topic).await;
    d.publish("constellation/Zigbee/kit:chen/stateobject/T", "1")
        .await;
    let error = d.expect(topic, |_| true).await;
    assert!(error.payload.contains("not valid"), "{}", error.payload);
    let stats = || h.sim.handle().stats().count("management/sentinels", 400);
    assert_eq!(stats(), 1);
    // Once the hold is over, the server refuses the credential again: provisioning
    // answers from what it remembers.
    wait_for("a refusal past the hold", T, || async {
        d.publish("constellation/Zigbee/kit:chen/stateobject/T", "2")
            .await;
        let e = d.expect(topic, |_| true).await;
        e.payload.contains("not asked again").then_some(())
    })
    .await;
    assert_eq!(stats(), 1);
}

#[tokio::test]
async fn a_declared_package_is_provisioned_with_its_groups_and_settings() {
    let h = Harness::embedded(strict(), |c| {
        provisioned(c);
        c.packages.push(constellation_mqtt::config::PackageConfig {
            sentinel: "Zigbee".into(),
            package: "thermo".into(),
            groups: vec!["Sensors".into()],
            settings: json!({"Interval": 5}).as_object().cloned().unwrap(),
            ..Default::default()
        });
    })
    .await;
    let d = h.device("thermo").await;
    d.subscribe("constellation/Zigbee/thermo/settings").await;
    // Its settings, written with the instance, are in effect after the reload.
    let settings = d
        .expect("constellation/Zigbee/thermo/settings", |_| true)
        .await;
    assert_eq!(
        serde_json::from_str::<Value>(&settings.payload).unwrap(),
        json!({"Interval": 5})
    );
    let thermo = instances(&h, "Zigbee")
        .into_iter()
        .find(|p| p["name"] == "thermo")
        .expect("provisioned");
    assert_eq!(thermo["groups"], json!(["Sensors"]));
    assert_eq!(thermo["settings"], json!({"Interval": 5}));
}

/// `prune`: an instance the adapter created, gone (released, no publish) for
/// `prune_after_s`, is removed and the configuration reloaded; nothing else is.
#[tokio::test]
async fn prune_removes_only_the_adapters_own_instances_once_gone() {
    let world = strict().with_package(
        "Zigbee",
        Some("other-key"),
        constellation_mqtt::sim::PackageDecl::new("theirs"),
    );
    let h = Harness::embedded(world, |c| {
        provisioned(c);
        c.constellation.package_idle_s = 1;
        c.provisioning.prune = true;
        c.provisioning.prune_after_s = 1;
    })
    .await;
    let d = h.device("native").await;
    d.publish("constellation/Zigbee/passing/stateobject/T", "1")
        .await;
    h.state_object_arrives("Zigbee", "passing", "T").await;
    let names = || -> Vec<String> {
        instances(&h, "Zigbee")
            .iter()
            .filter_map(|p| p["name"].as_str().map(str::to_owned))
            .collect()
    };
    assert!(names().contains(&"passing".to_string()));
    wait_for("the gone instance pruned", T, || async {
        (!names().contains(&"passing".to_string())).then_some(())
    })
    .await;
    assert_eq!(names(), ["theirs"], "an instance it did not create stays");
    wait_for("the reload after pruning", T, || async {
        (h.sim.handle().reloads() >= 2).then_some(())
    })
    .await;
}

/// A server may take a moment to apply a reload: a package still refused right after
/// it was provisioned is retried with backoff for a while, not put on the credential
/// hold at once.
#[tokio::test]
async fn a_package_refused_just_after_its_provisioning_is_retried_until_the_server_applies_it() {
    let h = Harness::embedded(strict(), provisioned).await;
    let handle = h.sim.handle();
    // Every REST request refused (as a server still loading its configuration would).
    handle.set_faults(Faults {
        status: Some(401),
        ..Faults::default()
    });
    let d = h.device("native").await;
    d.publish("constellation/Zigbee/slow/stateobject/T", "7")
        .await;
    wait_for("provisioned, then refused again", T, || async {
        let refused = handle.stats().count("PushStateObject", 401);
        (handle.reloads() == 1 && refused >= 2).then_some(())
    })
    .await;
    handle.set_faults(Faults::default());
    let so = h.state_object_arrives("Zigbee", "slow", "T").await;
    assert_eq!(so.value, json!(7));
    assert_eq!(handle.reloads(), 1, "provisioned once");
}

/// Forty new packages over three new sentinels, arriving together: each sentinel is
/// added once (a second POST would replace it, and on a server that drops a replaced
/// sentinel's packages only the last would survive), and every package is provisioned.
#[tokio::test]
async fn a_batch_over_three_new_sentinels_adds_each_sentinel_once() {
    const SENTINELS: [&str; 3] = ["BatchA", "BatchB", "BatchC"];
    const N: usize = 40;
    let h = Harness::embedded(strict(), |c| {
        c.provisioning.enabled = true;
        c.provisioning.access_key = Some(MANAGEMENT_KEY.into());
        c.provisioning.sentinels = vec!["Batch*".into()];
    })
    .await;
    let d = h.device("batch").await;
    for i in 0..N {
        let sentinel = SENTINELS[i % SENTINELS.len()];
        d.publish(
            &format!("constellation/{sentinel}/P{i:02}/stateobject/T"),
            i.to_string(),
        )
        .await;
    }
    for i in 0..N {
        let sentinel = SENTINELS[i % SENTINELS.len()];
        let so = h
            .state_object_arrives(sentinel, &format!("P{i:02}"), "T")
            .await;
        assert_eq!(so.value.as_f64(), Some(i as f64));
    }
    let changes = h.sim.handle().stats().management_changes;
    assert_eq!(
        changes.get("POST sentinels").copied(),
        Some(SENTINELS.len() as u64),
        "{changes:?}"
    );
    for sentinel in SENTINELS {
        assert_eq!(
            instances(&h, sentinel).len(),
            N / 3 + usize::from(sentinel == "BatchA")
        );
    }
}
