//! `groups` → the package's message groups (its message poller joins and leaves them).

use super::payload::text;
use super::Intent;
use serde_json::Value;

/// An array of group names, one name (as JSON text or plain), or empty (none).
pub fn decode(payload: &[u8]) -> Result<Intent, String> {
    if payload.is_empty() {
        return Ok(Intent::Groups(Vec::new()));
    }
    let body = text(payload)?;
    let groups = match serde_json::from_str::<Value>(body) {
        Ok(Value::Array(items)) => items
            .into_iter()
            .map(|g| match g {
                Value::String(s) if !s.is_empty() => Ok(s),
                other => Err(format!(
                    "a group name must be a non-empty string, not {other}"
                )),
            })
            .collect::<Result<Vec<_>, _>>()?,
        Ok(Value::String(s)) => vec![s],
        Ok(other) => return Err(format!("expected an array of group names, not {other}")),
        Err(_) => vec![body.trim().to_owned()],
    };
    if groups.iter().any(String::is_empty) {
        return Err("a group name is empty".into());
    }
    Ok(Intent::Groups(groups))
}
