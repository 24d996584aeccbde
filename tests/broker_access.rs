//! Who may connect to the embedded broker: a listener beyond loopback authenticates or
//! says `allow_anonymous`, the adapter logs in to its own broker by itself, and a TLS
//! listener is trusted by devices with its CA only.

mod common;

use common::mqtt::*;
use common::*;
use constellation_mqtt::mqtt::embedded::{self, BrokerError};
use constellation_mqtt::sim::World;
use rumqttc::{AsyncClient, MqttOptions, QoS, TlsConfiguration, Transport};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_constellation-mqtt");

/// The test broker file with its MQTT 3.1.1 listener on every address.
fn exposed(v4: u16, v5: u16) -> String {
    broker_toml(v4, v5, 1 << 20).replace(
        &format!("listen = \"127.0.0.1:{v4}\""),
        &format!("listen = \"0.0.0.0:{v4}\""),
    )
}

fn load(dir: &tempfile::TempDir, text: &str) -> Result<embedded::BrokerConfig, BrokerError> {
    let path = dir.path().join("rumqttd.toml");
    std::fs::write(&path, text).unwrap();
    embedded::load(Some(&path), 1024)
}

fn errors(result: Result<embedded::BrokerConfig, BrokerError>) -> Vec<(String, String)> {
    match result {
        Err(BrokerError::Config(errors)) => errors.into_iter().map(|e| (e.key, e.reason)).collect(),
        other => panic!("expected configuration errors, got {other:?}"),
    }
}

#[test]
fn a_listener_beyond_loopback_without_authentication_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let errors = errors(load(&dir, &exposed(21883, 21884)));
    assert_eq!(errors.len(), 1, "{errors:?}");
    let (key, reason) = &errors[0];
    assert_eq!(key, "v4.1.listen");
    for part in [
        "v4-1",
        "0.0.0.0:21883",
        "connections.auth",
        "allow_anonymous = true",
    ] {
        assert!(reason.contains(part), "{part:?} in {reason}");
    }
}

#[test]
fn a_listener_beyond_loopback_with_authentication_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let text = exposed(21883, 21884).replacen(
        "dynamic_filters = true",
        "dynamic_filters = true\n    auth = { device = \"secret\" }",
        1,
    );
    let broker = load(&dir, &text).expect("accepted");
    assert!(broker.warnings.is_empty(), "{:?}", broker.warnings);
}

#[test]
fn allow_anonymous_opens_a_listener_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let text = exposed(21883, 21884).replacen(
        "name = \"v4-1\"",
        "name = \"v4-1\"\nallow_anonymous = true",
        1,
    );
    let broker = load(&dir, &text).expect("accepted");
    assert_eq!(broker.warnings.len(), 1, "{:?}", broker.warnings);
    let w = &broker.warnings[0];
    assert_eq!(w.key, "v4.1.allow_anonymous");
    assert!(w.reason.contains("0.0.0.0:21883"), "{}", w.reason);
    // Not passed on to rumqttd, and a loopback listener needs no such key.
    let text = broker_toml(21883, 21884, 1 << 20).replacen(
        "name = \"v5-1\"",
        "name = \"v5-1\"\nallow_anonymous = false",
        1,
    );
    assert!(load(&dir, &text).expect("accepted").warnings.is_empty());
}

#[test]
fn allow_anonymous_must_be_a_boolean() {
    let dir = tempfile::tempdir().unwrap();
    let text = exposed(21883, 21884).replacen(
        "name = \"v4-1\"",
        "name = \"v4-1\"\nallow_anonymous = \"yes\"",
        1,
    );
    let errors = errors(load(&dir, &text));
    assert!(
        errors
            .iter()
            .any(|(k, r)| k == "v4.1.allow_anonymous" && r.contains("true or false")),
        "{errors:?}"
    );
}

/// A `topics.toml` for `sim` naming the broker file `broker` (in the same directory).
fn write_config(dir: &Path, sim: &constellation_mqtt::sim::Simulator, broker: &str) -> PathBuf {
    std::fs::write(dir.join("rumqttd.toml"), broker).unwrap();
    let path = dir.join("topics.toml");
    std::fs::write(
        &path,
        format!(
            "[constellation]\nurl = \"{}\"\naccess_key = \"demo\"\n[http]\nlisten = \"127.0.0.1:0\"\n[mqtt]\nbroker_config = \"rumqttd.toml\"\n",
            sim.url()
        ),
    )
    .unwrap();
    path
}

#[tokio::test]
async fn check_and_run_warn_of_an_anonymous_listener_and_refuse_an_unauthenticated_one() {
    let sim = start(World::open("demo")).await;
    let dir = tempfile::tempdir().unwrap();
    let (v4, v5) = (free_port(), free_port());
    let open = exposed(v4, v5).replacen(
        "name = \"v4-1\"",
        "name = \"v4-1\"\nallow_anonymous = true",
        1,
    );
    let path = write_config(dir.path(), &sim, &open);
    // Off the runtime's thread: the simulator in this process answers `check`.
    let checked = path.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(["check", "--config"])
            .arg(&checked)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning:") && stderr.contains("v4.1.allow_anonymous"),
        "{stderr}"
    );

    // `run` says it at start-up, in its log.
    let log = dir.path().join("run.log");
    let mut run = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&path)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    wait_for("the start-up warning", Duration::from_secs(20), || async {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        (text.contains("WARN") && text.contains("lets anyone on the network connect")).then_some(())
    })
    .await;
    run.kill().unwrap();
    run.wait().unwrap();

    // Without allow_anonymous, neither starts.
    let path = write_config(dir.path(), &sim, &exposed(v4, v5));
    for command in ["check", "run"] {
        let out = Command::new(BIN)
            .args([command, "--config"])
            .arg(&path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{command}: {stderr}");
        assert!(stderr.contains("key `v4.1.listen`"), "{command}: {stderr}");
    }
}

#[tokio::test]
async fn the_adapter_logs_in_to_its_own_broker_without_a_configured_password() {
    let h = Harness::embedded_as(
        World::open("demo"),
        Some(("device", "device-secret")),
        |c| {
            let path = c.mqtt.broker_config.clone().expect("a broker file");
            let text = std::fs::read_to_string(&path).unwrap().replace(
                "dynamic_filters = true",
                "dynamic_filters = true\n    auth = { device = \"device-secret\" }",
            );
            std::fs::write(&path, text).unwrap();
            assert!(c.mqtt.username.is_none());
        },
    )
    .await; // the harness waited for the adapter's `online`: it logged in
    let d = h.device("authenticated").await;
    d.publish("constellation/Auth/Device/stateobject/Ok", "true")
        .await;
    h.state_object_arrives("Auth", "Device", "Ok").await;
}

/// Runs `openssl` with `args` in `dir`.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (Debian: apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA named `name` in `dir` (`<name>.pem`, `<name>.key`).
fn make_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
        ],
    );
}

/// A server certificate for `localhost` and 127.0.0.1 signed by the CA `ca`.
fn make_server_cert(dir: &Path, ca: &str) {
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ],
    );
}

/// A device on the TLS listener at `port`, trusting `ca`; returns whether the broker's
/// CONNACK came (the handshake and the login passed).
async fn tls_device(port: u16, ca: &Path, id: &str) -> Option<AsyncClient> {
    constellation_mqtt::tls::install_crypto_provider();
    let mut options = MqttOptions::new(id, "localhost", port);
    options.set_transport(Transport::Tls(TlsConfiguration::Simple {
        ca: std::fs::read(ca).unwrap(),
        alpn: None,
        client_auth: None,
    }));
    let (client, mut eventloop) = AsyncClient::new(options, 10);
    if !connack(&mut eventloop).await {
        return None;
    }
    tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
    Some(client)
}

#[tokio::test]
async fn a_tls_listener_admits_devices_that_trust_its_ca_and_no_other() {
    let certs = tempfile::tempdir().unwrap();
    make_ca(certs.path(), "ca");
    make_ca(certs.path(), "other-ca");
    make_server_cert(certs.path(), "ca");
    let tls_port = free_port();
    let cert_dir = certs.path().to_owned();
    let h = Harness::embedded(World::open("demo"), |c| {
        let path = c.mqtt.broker_config.clone().expect("a broker file");
        // Beside the broker file, named relatively: resolved from that file's directory.
        let dir = path.parent().unwrap();
        for f in ["server.pem", "server.key"] {
            std::fs::copy(cert_dir.join(f), dir.join(f)).unwrap();
        }
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(&format!(
            "[v4.2]\nname = \"v4-tls\"\nlisten = \"127.0.0.1:{tls_port}\"\nnext_connection_delay_ms = 0\n\
             tls = {{ certpath = \"server.pem\", keypath = \"server.key\" }}\n\
             [v4.2.connections]\nconnection_timeout_ms = 60000\nmax_payload_size = 1048576\n\
             max_inflight_count = 100\ndynamic_filters = true\n"
        ));
        std::fs::write(&path, text).unwrap();
    })
    .await;

    let trusted = tls_device(tls_port, &certs.path().join("ca.pem"), "tls-trusted")
        .await
        .expect("a device trusting the CA connects");
    trusted
        .publish(
            "constellation/Tls/Device/stateobject/Secure",
            QoS::AtLeastOnce,
            false,
            "1",
        )
        .await
        .unwrap();
    h.state_object_arrives("Tls", "Device", "Secure").await;
    assert!(
        tls_device(tls_port, &certs.path().join("other-ca.pem"), "tls-other")
            .await
            .is_none(),
        "a device trusting another CA refuses the broker"
    );
}

#[test]
fn a_tls_listener_naming_missing_files_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = broker_toml(21883, 21884, 1 << 20);
    text.push_str(
        "[v4.2]\nname = \"v4-tls\"\nlisten = \"127.0.0.1:28883\"\nnext_connection_delay_ms = 0\n\
         tls = { certpath = \"missing.pem\", keypath = \"missing.key\" }\n\
         [v4.2.connections]\nconnection_timeout_ms = 60000\nmax_payload_size = 1048576\n\
         max_inflight_count = 100\ndynamic_filters = true\n",
    );
    let errors = errors(load(&dir, &text));
    assert!(
        errors
            .iter()
            .any(|(k, r)| k == "v4.2.tls" && r.contains("missing.pem")),
        "{errors:?}"
    );
}
