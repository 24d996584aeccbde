//! Naming rules shared by the configuration and the native topic scheme.

/// Checks a sentinel or package name as it stands in a topic level: non-empty, no MQTT
/// wildcard, no `/`, and not starting with `$` (broker-reserved) or `_` (the adapter's).
/// The error completes a sentence that starts with the name.
pub fn check_segment(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        Err("is empty")
    } else if name.contains(['+', '#']) {
        Err("contains an MQTT wildcard (`+` or `#`)")
    } else if name.contains('/') {
        Err("contains `/`")
    } else if name.starts_with('$') {
        Err("starts with `$`, reserved by brokers")
    } else if name.starts_with('_') {
        Err("starts with `_`, reserved for the adapter's own topics")
    } else {
        Ok(())
    }
}
