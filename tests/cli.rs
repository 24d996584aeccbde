//! The binary: `check` against a simulator (good key, bad key, server down, bad file)
//! and `sim` serving the spec's requests until SIGTERM.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_constellation-mqtt");

fn config_file(dir: &tempfile::TempDir, url: &str, salon_key: &str) -> std::path::PathBuf {
    let path = dir.path().join("topics.toml");
    let text = format!(
        r#"[constellation]
url = "{url}"
request_timeout_ms = 2000

[[packages]]
sentinel = "Salon"
package = "Temperature"
access_key = "{salon_key}"

[[packages]]
sentinel = "Garage"
package = "Door"
access_key = "door-key"
"#
    );
    std::fs::write(&path, text).unwrap();
    path
}

async fn check(path: &std::path::Path) -> (bool, String, String) {
    let path = path.to_owned();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(["check", "--config"])
            .arg(&path)
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn row<'a>(table: &'a str, package: &str) -> Vec<&'a str> {
    table
        .lines()
        .find(|l| l.starts_with(package))
        .unwrap_or_else(|| panic!("no row for {package} in\n{table}"))
        .split_whitespace()
        .collect()
}

#[tokio::test]
async fn check_passes_when_every_credential_is_accepted() {
    let sim = start(world()).await;
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, err) = check(&config_file(&dir, sim.url().as_str(), SALON_KEY)).await;
    assert!(ok, "{out}{err}");
    assert_eq!(row(&out, "Salon/Temperature")[1..3], ["yes", "accepted"]);
    assert_eq!(row(&out, "Garage/Door")[1..3], ["yes", "accepted"]);
}

#[tokio::test]
async fn check_fails_on_a_refused_credential() {
    let sim = start(world()).await;
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, _) = check(&config_file(&dir, sim.url().as_str(), "wrong")).await;
    assert!(!ok);
    assert_eq!(row(&out, "Salon/Temperature")[1..3], ["yes", "refused"]);
    assert_eq!(row(&out, "Garage/Door")[1..3], ["yes", "accepted"]);
}

#[tokio::test]
async fn check_fails_when_the_server_is_down() {
    let mut sim = start(world()).await;
    let url = sim.url();
    sim.stop().await;
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, _) = check(&config_file(&dir, url.as_str(), SALON_KEY)).await;
    assert!(!ok);
    assert_eq!(row(&out, "Salon/Temperature")[1..3], ["no", "-"]);
}

#[tokio::test]
async fn check_reports_every_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("topics.toml");
    std::fs::write(&path, "[constellation]\nurl = \"nope\"\n[mqtt]\nqos = 7\n").unwrap();
    let (ok, _, err) = check(&path).await;
    assert!(!ok);
    let file = path.display().to_string();
    assert!(
        err.contains(&format!("{file}: key `constellation.url`")),
        "{err}"
    );
    assert!(err.contains(&format!("{file}: key `mqtt.qos`")), "{err}");
}

#[tokio::test]
async fn sim_serves_until_sigterm_then_exits_cleanly() {
    let mut child = Command::new(BIN)
        .args(["sim", "--listen", "127.0.0.1:0"])
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    });
    let line = within("the simulator's banner", line).await.unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"));
    // The spec's curl example, in the open world's key.
    let resp = http().get(format!(
        "{url}rest/constellation/PushStateObject?SentinelName=S&PackageName=P&AccessKey=demo&name=T&value=21"
    ))
    .send()
    .await
    .unwrap();
    assert_eq!(resp.status(), 204);
    let sos: serde_json::Value = http()
        .get(format!("{url}sim/stateobjects"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sos[0]["Value"], serde_json::json!(21));

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = within("exit", tokio::task::spawn_blocking(move || child.wait()))
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn run_projects_devices_until_sigterm_then_says_offline() {
    use common::mqtt::{broker_toml, free_port, Device};
    let sim = start(constellation_mqtt::sim::World::open("demo")).await;
    let dir = tempfile::tempdir().unwrap();
    let (v4, v5) = (free_port(), free_port());
    let broker = dir.path().join("rumqttd.toml");
    std::fs::write(&broker, broker_toml(v4, v5, 1 << 20)).unwrap();
    let config = dir.path().join("topics.toml");
    std::fs::write(
        &config,
        format!(
            "[constellation]\nurl = \"{}\"\naccess_key = \"${{TEST_KEY}}\"\n[mqtt]\nbroker_config = {:?}\n",
            sim.url(),
            broker.display().to_string()
        ),
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&config)
        .env("TEST_KEY", "demo")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let status_topic = "constellation/_adapter/status";
    wait_for("the broker", std::time::Duration::from_secs(20), || async {
        tokio::net::TcpStream::connect(("127.0.0.1", v4))
            .await
            .ok()
            .map(drop)
    })
    .await;
    let device = Device::connect("cli-device", v4).await;
    device.subscribe(status_topic).await;
    device.expect(status_topic, |p| p == "online").await;
    device
        .publish("constellation/Cli/Run/stateobject/X", "7")
        .await;
    let handle = sim.handle();
    wait_for("the SO", std::time::Duration::from_secs(15), || async {
        handle.state_object("Cli", "Run", "X").map(drop)
    })
    .await;
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    device.expect(status_topic, |p| p == "offline").await;
    let status = within("exit", tokio::task::spawn_blocking(move || child.wait()))
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
}
