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
