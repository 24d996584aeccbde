//! Where the native scheme reports what it refused, and how much of the payload it quotes.

/// Where failures of `sentinel/package`'s publishes are reported.
pub fn error_topic(prefix: &str, sentinel: &str, package: &str) -> String {
    format!("{prefix}/{sentinel}/{package}/error")
}

/// Where failures of publishes that name no package are reported.
pub fn adapter_error_topic(prefix: &str) -> String {
    format!("{prefix}/_adapter/error")
}

/// The first bytes of a payload, for error reports: at most 256 bytes, lossily decoded.
pub fn payload_head(payload: &[u8]) -> String {
    let cut = &payload[..payload.len().min(256)];
    String::from_utf8_lossy(cut).into_owned()
}
