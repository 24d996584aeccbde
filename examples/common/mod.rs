//! What the harnesses in `examples/` share: free ports and the adapter binary built
//! beside them.

use std::path::{Path, PathBuf};

/// A loopback port free at the time of asking.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// The release adapter beside this example: `target/<profile>/examples/<name>` →
/// `target/<profile>/constellation-mqtt`.
pub fn adapter_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the harness's own path");
    exe.parent()
        .and_then(Path::parent)
        .map(|d| d.join("constellation-mqtt"))
        .expect("target dir")
}
