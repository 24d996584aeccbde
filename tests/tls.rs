//! `mqtts://` to an external broker: a private CA, and a client certificate (mutual
//! TLS), against a real Mosquitto. Certificates are made by `openssl` for each run.

mod common;

use common::mqtt::*;
use common::*;
use constellation_mqtt::adapter::Adapter;
use constellation_mqtt::config::MqttMode;
use constellation_mqtt::sim::World;
use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl is installed");
    assert!(status.success(), "openssl {args:?}");
}

/// A CA, and a server and a client certificate it signed.
fn certificates(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=test-ca",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    for (name, usage) in [("server", "serverAuth"), ("client", "clientAuth")] {
        std::fs::write(
            dir.join(format!("{name}.ext")),
            format!("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage={usage}\nbasicConstraints=CA:FALSE\n"),
        )
        .unwrap();
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
                "-subj",
                &format!("/CN={name}"),
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &format!("{name}.pem"),
                "-days",
                "2",
                "-extfile",
                &format!("{name}.ext"),
            ],
        );
    }
}

#[tokio::test]
async fn mqtts_with_a_private_ca_and_a_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path());
    let (plain, secure) = (free_port(), free_port());
    let d = dir.path().display();
    let _mosquitto = Mosquitto::start_with(
        plain,
        &format!(
            "listener {secure} 127.0.0.1\ncafile {d}/ca.pem\ncertfile {d}/server.pem\nkeyfile {d}/server.key\nrequire_certificate true\n"
        ),
    )
    .await;
    let sim = start(World::open("demo")).await;
    let mut config = base_config(&sim);
    config.mqtt.mode = MqttMode::External;
    config.mqtt.url = format!("mqtts://localhost:{secure}");
    config.mqtt.ca_file = Some(dir.path().join("ca.pem"));
    config.mqtt.client_cert_file = Some(dir.path().join("client.pem"));
    config.mqtt.client_key_file = Some(dir.path().join("client.key"));
    let shutdown = CancellationToken::new();
    let _adapter = Adapter::start(config, shutdown.clone()).await.unwrap();

    // A device on the plain listener sees the adapter come online over TLS.
    let device = Device::connect("plain-device", plain).await;
    device.wait_adapter_online("constellation").await;
    device
        .publish("constellation/Tls/Dev/stateobject/Secure", "true")
        .await;
    let handle = sim.handle();
    wait_for("the SO", Duration::from_secs(15), || async {
        handle
            .state_object("Tls", "Dev", "Secure")
            .filter(|so| so.value == json!(true))
    })
    .await;
    shutdown.cancel();
}
