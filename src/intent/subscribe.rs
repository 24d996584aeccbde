//! `subscribe` → the package's StateObject links (its pollers follow them).

use super::payload::json;
use super::Intent;
use serde_json::Value;

/// One filter, an array of them, or empty (none).
pub fn decode(payload: &[u8]) -> Result<Intent, String> {
    if payload.is_empty() {
        return Ok(Intent::Subscribe(Vec::new()));
    }
    let expected =
        "an SO filter {\"Sentinel\"?, \"Package\"?, \"Name\"?, \"Type\"?} or an array of them";
    let filters = match json::<Value>(payload, expected)? {
        v @ Value::Array(_) => serde_json::from_value(v),
        v => serde_json::from_value(v).map(|f| vec![f]),
    }
    .map_err(|e| format!("expected {expected}: {e}"))?;
    Ok(Intent::Subscribe(filters))
}
