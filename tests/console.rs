//! The consoles in a real browser: headless Chromium (Debian's `chromium`, driven over
//! WebDriver by Debian's `chromedriver`; `scripts/test.sh` installs both when missing)
//! against the simulator's console (`/`) and the adapter's status page (`/`).
//!
//! Screenshots are written to a temporary directory and checked to be PNG images;
//! with `UPDATE_README_IMAGES=1` they also replace `docs/console.png` and
//! `docs/status.png`, the README's images.

mod common;

use common::mqtt::*;
use common::*;
use constellation_mqtt::sim::World;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

/// A headless Chromium session, its chromedriver stopped with it.
struct Browser {
    client: Client,
    driver: Child,
}

impl Browser {
    /// Clicks the element `css` selects.
    async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    /// Ends the session: Chromium quits (chromedriver, killed on drop, would leave it).
    async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

async fn browser() -> Browser {
    let port = free_port();
    let driver = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver (Debian's chromium-driver; scripts/test.sh installs it)");
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                        "--disable-dev-shm-usage", "--window-size=1400,1000"]}),
    );
    let url = format!("http://127.0.0.1:{port}");
    let client = wait_for("a Chromium session", T, || async {
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities.clone())
            .connect(&url)
            .await
            .ok()
    })
    .await;
    Browser { client, driver }
}

/// Waits until the text of the element at `css` satisfies `check`.
async fn text_of(b: &Browser, css: &str, check: impl Fn(&str) -> bool) -> String {
    wait_for(&format!("{css} in the page"), T, || async {
        let e = b.client.find(Locator::Css(css)).await.ok()?;
        let text = e.text().await.ok()?;
        check(&text).then_some(text)
    })
    .await
}

/// Takes a screenshot, checks it is a PNG image, keeps it as `name` (and, asked to,
/// as the README's image).
async fn screenshot(b: &Browser, name: &str) {
    let png = b.client.screenshot().await.expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(
        png.len() > 10_000,
        "a nearly empty image: {} bytes",
        png.len()
    );
    let dir = std::env::temp_dir().join("constellation-mqtt-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), &png).unwrap();
    if std::env::var_os("UPDATE_README_IMAGES").is_some() {
        let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::write(docs.join(name), &png).unwrap();
    }
}

/// A device of the native scheme declaring a callback with a parameter.
async fn thermometer(h: &Harness) -> Device {
    let d = h.device("thermometer").await;
    d.subscribe("constellation/Salon/Thermometer/callback/#")
        .await;
    let descriptor = json!({"PackageName": "Thermometer", "MessageCallbacks": [
        {"MessageKey": "SetTarget", "Description": "the target temperature",
         "Parameters": [{"Name": "target", "TypeName": "System.Double"}]}]});
    d.publish(
        "constellation/Salon/Thermometer/descriptor",
        descriptor.to_string(),
    )
    .await;
    d
}

#[tokio::test]
async fn the_console_shows_state_objects_live_and_a_callback_returns_its_saga_answer() {
    let h = Harness::embedded(World::open("demo"), |_| {}).await;
    let d = thermometer(&h).await;
    let b = browser().await;
    b.client.goto(h.sim.url().as_str()).await.unwrap();
    // Published after the page is open: it appears without a reload.
    text_of(&b, "#connection", |t| t == "live").await;
    d.publish(
        "constellation/Salon/Thermometer/stateobject/Temperature",
        "21.5",
    )
    .await;
    text_of(
        &b,
        r#"tr[data-key="Salon/Thermometer/Temperature"] td.value"#,
        |t| t == "21.5",
    )
    .await;
    d.publish("constellation/Salon/Thermometer/log", "calibrated")
        .await;
    text_of(&b, "#logs", |t| t.contains("calibrated")).await;

    // The callback's form, as a saga: the device gets it on MQTT, its answer is shown.
    let form =
        r#"div.package[data-package="Salon/Thermometer"] form.callback[data-key="SetTarget"]"#;
    text_of(&b, form, |t| t.contains("SetTarget")).await;
    let field = b
        .client
        .find(Locator::Css(&format!("{form} input[name=target]")))
        .await
        .unwrap();
    field.send_keys("22.5").await.unwrap();
    b.click(&format!("{form} input[name=__saga]")).await;
    b.click(&format!("{form} button")).await;
    let callback = d
        .expect("constellation/Salon/Thermometer/callback/SetTarget", |_| {
            true
        })
        .await;
    let message: Value = serde_json::from_str(&callback.payload).unwrap();
    assert_eq!(message["Data"], json!(22.5));
    let saga = message["Scope"]["SagaId"]
        .as_str()
        .expect("a saga")
        .to_owned();
    d.publish(
        &format!("constellation/Salon/Thermometer/response/{saga}"),
        r#"{"target":22.5}"#,
    )
    .await;
    text_of(&b, &format!("{form} output"), |t| {
        t == r#"answer: {"target":22.5}"#
    })
    .await;
    screenshot(&b, "console.png").await;
    b.close().await;
}

#[tokio::test]
async fn a_fault_switched_on_in_the_console_shows_the_package_waiting_on_the_status_page() {
    let h = Harness::embedded(World::open("demo"), |_| {}).await;
    let d = thermometer(&h).await;
    d.publish(
        "constellation/Salon/Thermometer/stateobject/Temperature",
        "20",
    )
    .await;
    h.state_object_arrives("Salon", "Thermometer", "Temperature")
        .await;
    let b = browser().await;
    b.client.goto(h.sim.url().as_str()).await.unwrap();
    text_of(&b, "#fault-state", |t| t == "no fault").await;
    b.client
        .execute(
            "document.querySelector('#fault-status').value = '503'",
            vec![],
        )
        .await
        .unwrap();
    b.click("#apply-faults").await;
    text_of(&b, "#fault-state", |t| t.contains("503")).await;
    d.publish(
        "constellation/Salon/Thermometer/stateobject/Temperature",
        "21",
    )
    .await;
    let http = h
        .adapter
        .as_ref()
        .and_then(|a| a.http)
        .expect("the adapter's HTTP listener");
    b.client.goto(&format!("http://{http}/")).await.unwrap();
    text_of(
        &b,
        r#"tr[data-package="Salon/Thermometer"] td.state"#,
        |t| t.starts_with("waiting"),
    )
    .await;
    text_of(&b, "#mqtt", |t| t == "connected").await;
    screenshot(&b, "status.png").await;
    // The fault off again: the work goes through.
    h.sim
        .handle()
        .set_faults(constellation_mqtt::sim::Faults::default());
    text_of(
        &b,
        r#"tr[data-package="Salon/Thermometer"] td.state"#,
        |t| t == "idle",
    )
    .await;
    let so = h
        .state_object_arrives("Salon", "Thermometer", "Temperature")
        .await;
    assert!(
        so.value == json!(21) || so.value == json!(21.0),
        "{:?}",
        so.value
    );
    b.close().await;
}
