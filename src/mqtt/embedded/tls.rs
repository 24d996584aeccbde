//! TLS listeners of the embedded broker: their files, found from the broker file.

use rumqttd::TlsConfig;
use std::path::Path;

/// Makes the relative paths of `tls` relative to `base` (the broker file's directory),
/// never to the working directory; returns those of its files that do not exist.
pub(super) fn resolve_paths(tls: &mut TlsConfig, base: Option<&Path>) -> Vec<String> {
    let files: Vec<&mut String> = match tls {
        TlsConfig::Rustls {
            capath,
            certpath,
            keypath,
        } => [certpath, keypath]
            .into_iter()
            .chain(capath.as_mut())
            .collect(),
        TlsConfig::NativeTls { pkcs12path, .. } => vec![pkcs12path],
    };
    let mut missing = Vec::new();
    for path in files {
        if let Some(base) = base.filter(|_| Path::new(path.as_str()).is_relative()) {
            *path = base.join(path.as_str()).display().to_string();
        }
        if !Path::new(path.as_str()).exists() {
            missing.push(path.clone());
        }
    }
    missing
}
