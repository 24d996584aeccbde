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

/// Sends SIGTERM to `child`; the future ends when it has exited, and asserts it exited
/// cleanly.
fn terminate(mut child: std::process::Child) -> impl std::future::Future<Output = ()> {
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    async move {
        let status = within("exit", tokio::task::spawn_blocking(move || child.wait()))
            .await
            .unwrap()
            .unwrap();
        assert!(status.success(), "{status:?}");
    }
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
    // It says what to do: start the server, or the simulator on its address.
    let listen = format!(
        "constellation-mqtt sim --listen {}:{}",
        url.host_str().unwrap(),
        url.port().unwrap()
    );
    assert!(out.contains(&listen), "{out}");
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

/// Starts `constellation-mqtt sim` with `args` on an ephemeral port: the child and the
/// URL its banner gives.
async fn sim(args: &[&str]) -> (std::process::Child, String) {
    let mut child = Command::new(BIN)
        .args(["sim", "--listen", "127.0.0.1:0"])
        .args(args)
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
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_owned();
    (child, url)
}

/// `sim --strict`: a package is refused until declared; the Management API takes `demo`.
#[tokio::test]
async fn sim_strict_refuses_undeclared_packages_and_opens_the_management_api() {
    let (child, url) = sim(&["--strict"]).await;
    let rest = http()
        .get(format!(
            "{url}rest/constellation/CheckAccess?SentinelName=S&PackageName=P&AccessKey=demo"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(rest.status(), 401);
    let management = http()
        .get(format!(
            "{url}rest/management/CheckAccess?SentinelName=Management&PackageName=me&AccessKey=demo"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(management.status(), 200);
    terminate(child).await;
}

#[tokio::test]
async fn sim_serves_until_sigterm_then_exits_cleanly() {
    let (child, url) = sim(&[]).await;
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

    terminate(child).await;
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
            "[constellation]\nurl = \"{}\"\naccess_key = \"${{TEST_KEY}}\"\n[http]\nlisten = \"127.0.0.1:0\"\n[mqtt]\nbroker_config = {:?}\n",
            sim.url(),
            broker.display().to_string()
        ),
    )
    .unwrap();
    let child = Command::new(BIN)
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
    let exited = terminate(child);
    device.expect(status_topic, |p| p == "offline").await;
    exited.await;
}

/// The binary copied into a fresh directory, as an installed one would stand: nothing
/// of the source tree around it. Runs from `dir`.
fn installed(dir: &tempfile::TempDir) -> Command {
    let bin = dir.path().join("constellation-mqtt");
    std::fs::copy(BIN, &bin).unwrap();
    let mut command = Command::new(bin);
    command.current_dir(dir.path()).env_remove("RUST_LOG");
    command
}

/// Runs `start` (of a binary just copied) until the copy is no longer "text file busy":
/// a process another test forks meanwhile inherits the copy's still-open write handle
/// until it executes its own program (a known race of copy-then-exec on Linux). At
/// most 100 tries.
fn busy_retried<T>(mut start: impl FnMut() -> std::io::Result<T>) -> T {
    for _ in 0..100 {
        match start() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            started => return started.unwrap(),
        }
    }
    panic!("the copied binary stayed busy");
}

/// Runs the installed binary in `dir` with `args`: (success, stdout, stderr).
async fn run_in(dir: &tempfile::TempDir, args: &[&str]) -> (bool, String, String) {
    run_in_env(dir, args, &[]).await
}

/// Like [`run_in`], with environment variables set.
async fn run_in_env(
    dir: &tempfile::TempDir,
    args: &[&str],
    env: &[(&str, &str)],
) -> (bool, String, String) {
    let mut command = installed(dir);
    command.args(args).envs(env.iter().copied());
    let out = tokio::task::spawn_blocking(move || busy_retried(|| command.output()))
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn demo_runs_from_an_empty_directory_and_shows_data_flowing() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = installed(&dir);
    command
        .arg("demo")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = busy_retried(|| command.spawn());
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let logs = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut text).ok();
        text
    });
    let seen = tokio::task::spawn_blocking(move || {
        let mut seen = String::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            seen.push_str(&line);
            seen.push('\n');
            // A value reaching Constellation, exported back to MQTT, announced to
            // Home Assistant.
            if [
                "Constellation ← Salon/Thermometer: Temperature",
                "MQTT ← constellation-export/Salon/Thermometer/Temperature",
                "Home Assistant ← homeassistant/sensor/",
            ]
            .iter()
            .all(|l| seen.contains(l))
            {
                break;
            }
        }
        seen
    });
    let seen = within("a value reaching the simulator", seen)
        .await
        .unwrap();
    assert!(seen.contains("Constellation simulator: http://"), "{seen}");
    assert!(
        seen.contains("Constellation ← Salon/Thermometer: Temperature"),
        "{seen}"
    );
    // The adapter's metrics show the traffic.
    let metrics = seen
        .lines()
        .find_map(|l| l.strip_prefix("Adapter: "))
        .and_then(|l| l.split(',').next())
        .unwrap_or_else(|| panic!("the demo names its metrics URL: {seen}"))
        .to_owned();
    constellation_mqtt::tls::install_crypto_provider();
    let text = reqwest::get(&metrics).await.unwrap().text().await.unwrap();
    let received: f64 = text
        .lines()
        .filter(|l| l.starts_with("constellation_mqtt_publishes_received_total{"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum();
    assert!(received > 0.0, "{text}");
    assert!(
        text.contains(
            "constellation_mqtt_rest_requests_total{action=\"PushStateObject\",status=\"2xx\"}"
        ),
        "{text}"
    );
    terminate(child).await;
    let logs = logs.join().unwrap();
    assert!(logs.contains("package joined"), "{logs}");
    assert!(
        !logs.contains('\u{1b}'),
        "no colour codes off a terminal: {logs}"
    );
}

#[tokio::test]
async fn init_then_check_succeed_from_an_empty_directory() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, err) = run_in(&dir, &["init"]).await;
    assert!(ok, "{out}{err}");
    assert!(dir.path().join("topics.toml").exists(), "{out}");
    // The written file names no package: check tries its default credential (`demo`).
    let sim = start(constellation_mqtt::sim::World::open("demo")).await;
    let url = sim.url().to_string();
    let server = [("CONSTELLATION_MQTT__CONSTELLATION__URL", url.as_str())];
    let (ok, out, err) = run_in_env(&dir, &["check"], &server).await;
    assert!(ok, "{out}{err}");
    assert!(out.contains("topics.toml: configuration valid"), "{out}");
    assert!(out.contains("compiled-in defaults"), "{out}");
    assert!(out.contains("checking the default credential"), "{out}");
    assert!(
        out.contains("constellation-mqtt/Check") && out.contains("accepted"),
        "{out}"
    );
    let refused = [server[0], ("CONSTELLATION_ACCESS_KEY", "not-the-key")];
    let (ok, out, err) = run_in_env(&dir, &["check"], &refused).await;
    assert!(!ok && out.contains("refused"), "{out}{err}");

    let (ok, _, err) = run_in(&dir, &["init"]).await;
    assert!(!ok, "an existing topics.toml is kept");
    assert!(err.contains("--force"), "{err}");
}

#[tokio::test]
async fn init_with_the_broker_file_is_read_from_the_config_s_directory() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, err) = run_in(&dir, &["init", "site", "--broker"]).await;
    assert!(ok, "{out}{err}");
    let broker = dir.path().join("site/rumqttd.toml");
    assert!(broker.exists(), "{out}");
    // From elsewhere: `rumqttd.toml` in topics.toml is next to it, not in the cwd.
    let sim = start(constellation_mqtt::sim::World::open("demo")).await;
    let url = sim.url().to_string();
    let server = [("CONSTELLATION_MQTT__CONSTELLATION__URL", url.as_str())];
    let (ok, out, err) =
        run_in_env(&dir, &["check", "--config", "site/topics.toml"], &server).await;
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("site/rumqttd.toml: embedded broker configuration valid"),
        "{out}"
    );
    std::fs::write(&broker, "[router]\nmax_segment_size = 10\n").unwrap();
    let (ok, _, err) = run_in(&dir, &["check", "--config", "site/topics.toml"]).await;
    assert!(!ok, "a broken broker file fails the check");
    assert!(err.contains("site/rumqttd.toml"), "{err}");
}

#[tokio::test]
async fn run_without_a_configuration_points_at_init() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, err) = run_in(&dir, &["run"]).await;
    assert!(!ok);
    assert!(err.contains("topics.toml does not exist"), "{err}");
    assert!(err.contains("constellation-mqtt init"), "{err}");
}

#[tokio::test]
async fn check_reports_a_rule_template_that_does_not_compile() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("topics.toml");
    std::fs::write(
        &path,
        "[constellation]\nurl = \"http://127.0.0.1:9/\"\naccess_key = \"k\"\n\
         [[map]]\ntopic = \"x/{d}\"\nsentinel = \"S\"\npackage = \"{d}\"\nstateobject = \"T\"\n\
         value = \"{{ value | }}\"\n[[preset]]\nkind = \"homeassistant\"\n",
    )
    .unwrap();
    let (ok, _, err) = check(&path).await;
    assert!(!ok);
    assert!(
        err.contains("key `map[0].value`") && err.contains("syntax error"),
        "{err}"
    );
}

/// With `[provisioning]`: the management credential is checked, and each declared
/// package is listed with what provisioning would do; a refused package that would be
/// created does not fail the check, a refused management key does.
#[tokio::test]
async fn check_with_provisioning_lists_what_would_be_created() {
    let world = world().with_management_key("Admin", "admin-key");
    let sim = start(world).await;
    let dir = tempfile::tempdir().unwrap();
    let write = |management_key: &str| {
        let path = dir.path().join("topics.toml");
        let text = format!(
            r#"[constellation]
url = "{}"
access_key = "demo"

[provisioning]
enabled = true
access_key = "{management_key}"
sentinels = ["Zigbee"]

[[packages]]
sentinel = "Salon"
package = "Temperature"
access_key = "{SALON_KEY}"

[[packages]]
sentinel = "Zigbee"
package = "lamp"
"#,
            sim.url()
        );
        std::fs::write(&path, text).unwrap();
        path
    };
    let (ok, out, err) = check(&write("admin-key")).await;
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("the Management API accepts the credential"),
        "{out}"
    );
    assert!(out.contains("Salon/Temperature: exists"), "{out}");
    assert!(out.contains("Zigbee/lamp: would be created"), "{out}");
    let (ok, out, _) = check(&write("wrong")).await;
    assert!(!ok);
    assert!(
        out.contains("provisioning") && out.contains("credential refused"),
        "{out}"
    );
}

/// The documented provisioning recipe, as written: `init`, the `[provisioning]` block
/// of the docs appended, `sim --strict`; `check` passes (the default credential it asks
/// about is refused now, and provisioning would create it).
#[tokio::test]
async fn check_passes_in_the_documented_provisioning_recipe() {
    let (_, _, recipe) = docs::documented_toml_blocks()
        .into_iter()
        .find(|(_, _, b)| b.contains("[provisioning]") && b.contains("access_key = \"demo\""))
        .expect("the provisioning recipe is documented");
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, err) = run_in(&dir, &["init"]).await;
    assert!(ok, "{out}{err}");
    let path = dir.path().join("topics.toml");
    let init = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{init}\n{recipe}")).unwrap();
    let (mut child, url) = sim(&["--strict"]).await;
    let server = [("CONSTELLATION_MQTT__CONSTELLATION__URL", url.as_str())];
    let (ok, out, err) = run_in_env(&dir, &["check"], &server).await;
    child.kill().ok();
    child.wait().ok();
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("constellation-mqtt/Check: would be created"),
        "{out}"
    );
}

/// Shell completions, the man page and the configuration's schema come from the
/// binary's own definitions.
#[tokio::test]
async fn completions_and_man_page() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let (ok, out, err) = run_in(&dir, &["completions", shell]).await;
        assert!(ok, "{shell}: {err}");
        assert!(out.contains("constellation-mqtt"), "{shell}: {out}");
        assert!(out.contains("journal"), "{shell}: every subcommand: {out}");
    }
    let (ok, out, err) = run_in(&dir, &["man"]).await;
    assert!(ok, "{err}");
    assert!(
        out.starts_with(".ie") || out.contains(".TH constellation-mqtt"),
        "{out}"
    );
    assert!(out.contains("simulator"), "{out}");
    let (ok, out, err) = run_in(&dir, &["schema"]).await;
    assert!(ok, "{err}");
    let published = include_str!("../docs/topics.schema.json");
    assert_eq!(out, published, "`schema` prints docs/topics.schema.json");
    let (ok, _, err) = run_in(&dir, &["completions", "cmd.exe"]).await;
    assert!(!ok && err.contains("invalid value"), "{err}");
}

/// Every command's output to a reader that has gone (`| head -1`) ends it quietly, with
/// success, as Unix tools do: no panic, no error. The reader is closed before the
/// command starts, so every write fails. (The demo, a service, keeps running unread:
/// `demo_runs_from_an_empty_directory_and_shows_data_flowing` stops reading its output
/// before it asks for its metrics.)
#[test]
fn output_to_a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let init_dir = dir.path().join("init");
    let config = init_dir.join("topics.toml");
    let init = vec!["init".to_owned(), init_dir.display().to_string()];
    let journal = vec![
        "journal".to_owned(),
        "--config".to_owned(),
        config.display().to_string(),
    ];
    let commands = [
        init,
        journal,
        vec!["schema".to_owned()],
        vec!["completions".to_owned(), "bash".to_owned()],
        vec!["man".to_owned()],
    ];
    for args in commands {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(BIN)
            .args(&args)
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {:?}, {stderr}", out.status);
        assert!(stderr.is_empty(), "{args:?} said: {stderr}");
    }
}

/// Output to a full disk (`/dev/full`) is an error said on standard error, with failure.
#[test]
fn output_to_a_full_disk_is_an_error() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = Command::new(BIN)
        .arg("schema")
        .stdout(full)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error: cannot write to standard output")
            && stderr.contains("No space left on device")
            && !stderr.contains("panicked"),
        "{stderr}"
    );
}
