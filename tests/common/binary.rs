//! The built binary as a process, for the tests that run it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_constellation-mqtt");

/// The adapter as a process: `run --config <path>`, its log in `log`.
pub fn run(config: &Path, log: &Path) -> Child {
    Command::new(BIN)
        .args(["run", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

/// Kills the process with SIGKILL (a crash).
pub fn kill(child: &mut Child) {
    // `Child::kill` is SIGKILL on Unix: no flush, no goodbye.
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Writes `topics.toml` in `dir` for the server at `sim_url`, with the sections `rest`
/// added (a loopback HTTP listener, the journal on disk beside the file).
pub fn write_config(dir: &Path, sim_url: &str, rest: &str) -> PathBuf {
    let path = dir.join("topics.toml");
    let text = format!(
        "[constellation]\nurl = \"{sim_url}\"\naccess_key = \"demo\"\n\n[http]\nlisten = \"127.0.0.1:0\"\n\n{rest}"
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// The built binary's embedded broker with the shipped values (`broker/rumqttd.toml`)
/// on free loopback ports, the server at `sim_url`: (process, MQTT 3.1.1 port, MQTT 5
/// port), once both listeners accept. A port taken meanwhile by another test: again,
/// on other ports.
pub fn run_shipped_broker(dir: &Path, sim_url: &str) -> (Child, u16, u16) {
    let shipped =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("broker/rumqttd.toml"))
            .unwrap();
    let log = dir.join("adapter.log");
    for _ in 0..5 {
        let (v4, v5) = (super::mqtt::free_port(), super::mqtt::free_port());
        let broker = shipped
            .replace("127.0.0.1:1883", &format!("127.0.0.1:{v4}"))
            .replace("127.0.0.1:1884", &format!("127.0.0.1:{v5}"));
        std::fs::write(dir.join("rumqttd.toml"), broker).unwrap();
        let config = write_config(
            dir,
            sim_url,
            "[mqtt]\nbroker_config = \"rumqttd.toml\"\n\n[storage]\ndurability = \"memory\"\n",
        );
        let mut child = run(&config, &log);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            if child.try_wait().ok().flatten().is_some() {
                break;
            }
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains("MQTT connected") {
                return (child, v4, v5);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!(
        "the adapter never came up:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}
