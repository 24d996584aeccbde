//! The shipped systemd unit (`examples/systemd/constellation-mqtt.service`) is one that
//! systemd accepts as it is: `systemd-analyze verify`, with the built binary in place
//! of the installed one, reports nothing.

use std::process::Command;

#[test]
fn the_systemd_unit_verifies_cleanly() {
    let analyze = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let Some(analyze) = analyze else {
        // The issue asks for this check where the tool exists; say loudly that it did not run.
        eprintln!("NOTE: systemd-analyze is not installed: the unit was not verified");
        return;
    };
    let unit = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples/systemd/constellation-mqtt.service"),
    )
    .unwrap();
    for hardening in [
        "DynamicUser=yes",
        "StateDirectory=constellation-mqtt",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
    ] {
        assert!(unit.contains(hardening), "the unit sets {hardening}");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("constellation-mqtt.service");
    std::fs::write(
        &path,
        unit.replace(
            "/usr/local/bin/constellation-mqtt",
            env!("CARGO_BIN_EXE_constellation-mqtt"),
        ),
    )
    .unwrap();
    let out = Command::new(analyze)
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let ours: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("constellation-mqtt"))
        .collect();
    assert!(
        out.status.success() && ours.is_empty(),
        "systemd-analyze verify: {}\n{stderr}",
        out.status
    );
}
