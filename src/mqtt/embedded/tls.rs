//! TLS listeners of the embedded broker: their files, found from the broker file.

use rumqttd::TlsConfig;
use std::path::Path;

/// Makes the relative paths of `tls` relative to `base` (the broker file's directory),
/// never to the working directory.
pub(super) fn resolve_paths(tls: &mut TlsConfig, base: Option<&Path>) {
    let Some(base) = base else { return };
    let resolve = |path: &mut String| {
        if Path::new(path.as_str()).is_relative() {
            *path = base.join(path.as_str()).display().to_string();
        }
    };
    match tls {
        TlsConfig::Rustls {
            capath,
            certpath,
            keypath,
        } => {
            capath.iter_mut().for_each(resolve);
            resolve(certpath);
            resolve(keypath);
        }
        TlsConfig::NativeTls { pkcs12path, .. } => resolve(pkcs12path),
    }
}

/// The files `tls` names, for messages (never its password).
pub(super) fn describe(tls: &TlsConfig) -> String {
    match tls {
        TlsConfig::Rustls {
            capath,
            certpath,
            keypath,
        } => {
            let mut files = vec![certpath.as_str(), keypath.as_str()];
            files.extend(capath.as_deref());
            files.join(", ")
        }
        TlsConfig::NativeTls { pkcs12path, .. } => pkcs12path.clone(),
    }
}
