//! Access keys and passwords never show: not in `Debug` of the configuration, not in
//! the log of a run (at `debug`, with a credential the server refuses), not in `check`.

mod common;

use common::mqtt::free_port;
use common::*;
use constellation_mqtt::sim::World;
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_constellation-mqtt");
const ACCESS_KEY: &str = "ak-7f3e9c1d-secret";
const WRONG_KEY: &str = "wk-2b8a4e6f-secret";
const ADAPTER_PASSWORD: &str = "ap-5d1c7a9b-secret";
const DEVICE_PASSWORD: &str = "dp-9e4f2a6c-secret";
const SECRETS: [&str; 4] = [ACCESS_KEY, WRONG_KEY, ADAPTER_PASSWORD, DEVICE_PASSWORD];

fn assert_no_secret(what: &str, text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "{what} shows {secret}:\n{text}");
    }
}

/// The files of a run: the adapter's password comes from the environment, the
/// device's is in the broker file, the access keys in `topics.toml`.
fn write_files(dir: &std::path::Path, url: &str, v4: u16, v5: u16) -> std::path::PathBuf {
    let broker = mqtt::broker_toml(v4, v5, 1 << 20).replace(
        "dynamic_filters = true",
        &format!(
            "dynamic_filters = true\n    auth = {{ adapter = \"${{CM_SECRET_TEST_PASSWORD}}\", device = \"{DEVICE_PASSWORD}\" }}"
        ),
    );
    std::fs::write(dir.join("rumqttd.toml"), broker).unwrap();
    let path = dir.join("topics.toml");
    std::fs::write(
        &path,
        format!(
            r#"[constellation]
url = "{url}"
access_key = "{ACCESS_KEY}"
[http]
listen = "127.0.0.1:0"
[mqtt]
broker_config = "rumqttd.toml"
username = "adapter"
password = "${{CM_SECRET_TEST_PASSWORD}}"
[[packages]]
sentinel = "Secret"
package = "Refused"
access_key = "{WRONG_KEY}"
"#
        ),
    )
    .unwrap();
    path
}

#[test]
fn debug_output_of_the_configuration_shows_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_files(dir.path(), "http://127.0.0.1:9/", 21883, 21884);
    std::env::set_var("CM_SECRET_TEST_PASSWORD", ADAPTER_PASSWORD);
    let setup = constellation_mqtt::setup::load(&path).expect("valid");
    assert_no_secret("Debug of the configuration", &format!("{setup:?}"));
    let broker = constellation_mqtt::mqtt::embedded::load(
        setup.mqtt.broker_config.as_deref(),
        setup.mqtt.max_payload_bytes,
    )
    .expect("valid");
    assert_no_secret(
        "Debug of the broker's configuration",
        &format!("{broker:?}"),
    );
    assert!(format!("{broker:?}").contains("v4-1"), "{broker:?}");
}

#[tokio::test]
async fn a_run_logs_no_secret() {
    let sim = start(World::open(ACCESS_KEY)).await;
    let dir = tempfile::tempdir().unwrap();
    let (v4, v5) = (free_port(), free_port());
    let path = write_files(dir.path(), sim.url().as_str(), v4, v5);
    let log = dir.path().join("run.log");
    let mut run = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&path)
        .env("CM_SECRET_TEST_PASSWORD", ADAPTER_PASSWORD)
        .env("RUST_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();

    // A device logs in, waits for the adapter, publishes for an accepted package and
    // for the refused one.
    let device = mqtt::Device::connect_as(
        "secret-device",
        v4,
        Some(("device".into(), DEVICE_PASSWORD.into())),
    )
    .await;
    device.wait_adapter_online("constellation").await;
    device
        .publish("constellation/Secret/Accepted/stateobject/X", "1")
        .await;
    device
        .publish("constellation/Secret/Refused/stateobject/X", "2")
        .await;
    let handle = sim.handle();
    wait_for(
        "the accepted package's value",
        Duration::from_secs(30),
        || async { handle.state_object("Secret", "Accepted", "X").map(drop) },
    )
    .await;
    wait_for(
        "the refusal in the log",
        Duration::from_secs(30),
        || async {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            text.contains("Secret/Refused").then_some(())
        },
    )
    .await;
    run.kill().unwrap();
    run.wait().unwrap();
    assert_no_secret("the log of `run`", &std::fs::read_to_string(&log).unwrap());

    // Off the runtime's thread: the simulator in this process answers `check`.
    let out = tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(["check", "--config"])
            .arg(&path)
            .env("CM_SECRET_TEST_PASSWORD", ADAPTER_PASSWORD)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("Refused"),
        "check reports the refused package: {text}"
    );
    assert_no_secret("`check`", &text);
}
