//! The adapter's HTTP listener during real runs: `/metrics` figures move as they
//! should, `/readyz` follows the server, `/healthz` and `/status` answer.

mod common;

use common::mqtt::*;
use common::*;
use constellation_mqtt::sim::{Faults, World};
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

fn http_addr(h: &Harness) -> SocketAddr {
    h.adapter
        .as_ref()
        .and_then(|a| a.http)
        .expect("the adapter's HTTP listener")
}

async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    constellation_mqtt::tls::install_crypto_provider();
    let resp = reqwest::get(format!("http://{addr}{path}"))
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

async fn get_json(addr: SocketAddr, path: &str) -> (u16, Value) {
    let (status, text) = get(addr, path).await;
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"));
    (status, value)
}

/// `/metrics` as series (`name{labels}`) → value.
async fn scrape(addr: SocketAddr) -> HashMap<String, f64> {
    let (status, text) = get(addr, "/metrics").await;
    assert_eq!(status, 200);
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

fn value(m: &HashMap<String, f64>, series: &str) -> f64 {
    m.get(series).copied().unwrap_or(0.0)
}

/// Every `refused_total` series with a value.
fn refusals(m: &HashMap<String, f64>) -> HashMap<String, f64> {
    m.iter()
        .filter(|(k, _)| k.starts_with("constellation_mqtt_refused_total"))
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

#[tokio::test]
async fn metrics_count_publishes_refusals_requests_and_connections() {
    let h = Harness::embedded(World::open("demo"), |_| {}).await;
    let addr = http_addr(&h);
    let d = h.device("observed").await;
    d.subscribe("constellation/Obs/Dev/error").await;

    d.publish("constellation/Obs/Dev/stateobject/T", "21").await;
    let handle = h.sim.handle();
    wait_for("the SO", Duration::from_secs(15), || async {
        handle.state_object("Obs", "Dev", "T").map(drop)
    })
    .await;
    let m = wait_for("the push counted", Duration::from_secs(15), || async {
        let m = scrape(addr).await;
        let push =
            "constellation_mqtt_rest_requests_total{action=\"PushStateObject\",status=\"2xx\"}";
        (value(&m, push) >= 1.0).then_some(m)
    })
    .await;
    assert_eq!(
        value(
            &m,
            "constellation_mqtt_publishes_received_total{kind=\"stateobject\"}"
        ),
        1.0
    );
    assert_eq!(value(&m, "constellation_mqtt_mqtt_connected"), 1.0);
    assert_eq!(value(&m, "constellation_mqtt_constellation_reachable"), 1.0);
    assert_eq!(value(&m, "constellation_mqtt_packages"), 1.0);
    assert!(
        value(
            &m,
            "constellation_mqtt_rest_request_duration_seconds_count{action=\"PushStateObject\"}"
        ) >= 1.0,
        "{m:?}"
    );
    let before = refusals(&m);
    assert!(before.values().all(|v| *v == 0.0), "{before:?}");

    // A payload that is not UTF-8: exactly one refusal, counted under its reason.
    d.publish("constellation/Obs/Dev/stateobject/T", vec![0xff, 0xfe])
        .await;
    d.expect("constellation/Obs/Dev/error", |_| true).await;
    let after = refusals(&scrape(addr).await);
    assert_eq!(
        after,
        HashMap::from([(
            "constellation_mqtt_refused_total{reason=\"invalid_payload\"}".to_owned(),
            1.0
        )]),
    );

    // A malformed native topic: one more, under its own reason.
    d.publish("constellation/Obs/Dev/teleport", "x").await;
    d.expect("constellation/Obs/Dev/error", |p| p.contains("teleport"))
        .await;
    let m = scrape(addr).await;
    assert_eq!(
        value(
            &m,
            "constellation_mqtt_refused_total{reason=\"invalid_topic\"}"
        ),
        1.0
    );
    assert_eq!(
        value(
            &m,
            "constellation_mqtt_refused_total{reason=\"invalid_payload\"}"
        ),
        1.0
    );
}

#[tokio::test]
async fn readyz_follows_the_server_and_healthz_the_process() {
    let h = Harness::embedded(World::open("demo"), |c| c.http.readiness_s = 1).await;
    let addr = http_addr(&h);
    let (status, health) = get_json(addr, "/healthz").await;
    assert_eq!((status, health["status"].as_str()), (200, Some("up")));
    wait_for("ready", Duration::from_secs(15), || async {
        let (status, body) = get_json(addr, "/readyz").await;
        (status == 200 && body["ready"] == true).then_some(())
    })
    .await;

    // The server answers 500 to everything: not ready, saying why.
    let handle = h.sim.handle();
    handle.set_faults(Faults {
        delay_ms: 0,
        status: Some(500),
        management_status: None,
        lie: None,
    });
    let body = wait_for("not ready", Duration::from_secs(15), || async {
        let (status, body) = get_json(addr, "/readyz").await;
        (status == 503).then_some(body)
    })
    .await;
    assert_eq!(body["ready"], false);
    assert_eq!(body["mqtt"]["connected"], true);
    let reasons = body["reasons"].to_string();
    assert!(reasons.contains("Constellation last answered"), "{body}");
    let m = scrape(addr).await;
    assert_eq!(value(&m, "constellation_mqtt_constellation_reachable"), 0.0);

    handle.set_faults(Faults::default());
    wait_for("ready again", Duration::from_secs(15), || async {
        let (status, _) = get_json(addr, "/readyz").await;
        (status == 200).then_some(())
    })
    .await;
}

#[tokio::test]
async fn status_shows_each_package_with_its_last_publish_and_error() {
    let h = Harness::embedded(World::open("demo"), |c| {
        c.packages.push(constellation_mqtt::config::PackageConfig {
            sentinel: "Obs".into(),
            package: "Refused".into(),
            access_key: Some("not-the-key".into()),
            ..Default::default()
        });
    })
    .await;
    let addr = http_addr(&h);
    let d = h.device("status").await;
    d.publish("constellation/Obs/Fine/stateobject/X", "1").await;
    d.publish("constellation/Obs/Refused/stateobject/X", "1")
        .await;
    let body = wait_for(
        "both packages in /status",
        Duration::from_secs(15),
        || async {
            let (_, body) = get_json(addr, "/status").await;
            let packages = body["packages"].as_array()?.clone();
            let find = |name: &str| packages.iter().find(|p| p["package"] == name).cloned();
            let fine = find("Obs/Fine")?;
            let refused = find("Obs/Refused")?;
            (fine["last_publish"].is_string() && refused["last_error"].is_string())
                .then_some((fine, refused, body))
        },
    )
    .await;
    let (fine, refused, body) = body;
    assert_eq!(body["mqtt"]["connected"], true);
    assert_eq!(fine["last_error"], Value::Null, "{fine}");
    assert_eq!(fine["queued"], 0);
    // The first refusal ("… credential refused …"), or a job after it during the hold
    // ("Constellation refused the credential of …; not retried for … s").
    let error = refused["last_error"].as_str().unwrap();
    assert!(
        error.contains("credential refused") || error.contains("refused the credential"),
        "{refused}"
    );
    assert!(refused["refusals"].as_u64().unwrap() >= 1, "{refused}");
}

#[tokio::test]
async fn the_listener_is_off_with_an_empty_address() {
    let h = Harness::embedded(World::open("demo"), |c| c.http.listen = String::new()).await;
    assert!(h.adapter.as_ref().unwrap().http.is_none());
}
