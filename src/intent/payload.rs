//! Reading a payload: as UTF-8 text, as JSON.

/// The payload as text, or why it is not.
pub fn text(payload: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(payload).map_err(|e| {
        format!(
            "the payload is not UTF-8 text (invalid byte at {})",
            e.valid_up_to()
        )
    })
}

/// The payload as JSON of type `T`, or why not (`expected` says what it should be).
pub fn json<T: serde::de::DeserializeOwned>(payload: &[u8], expected: &str) -> Result<T, String> {
    serde_json::from_str(text(payload)?).map_err(|e| format!("expected {expected}: {e}"))
}
