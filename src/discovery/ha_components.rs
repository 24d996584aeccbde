//! Settings of Home Assistant's MQTT components as Home Assistant reads them: text and
//! payload settings, the named state payloads of a `lock` or `cover`, a cover's
//! position range, a light's schema and brightness scale, a fan's speed range.

use serde_json::{Map, Value};

/// A text setting of `config`, when set and not empty.
pub fn text<'a>(config: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    config
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// A payload setting as Home Assistant reads it (`cv.string`): text as it is, `false`
/// as `False`, numbers as Python writes them.
pub fn payload_setting(config: &Map<String, Value>, key: &str) -> Option<String> {
    config.get(key).and_then(as_payload)
}

/// A payload value as Home Assistant's `cv.string` reads it.
pub fn as_payload(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Bool(true) => Some("True".into()),
        Value::Bool(false) => Some("False".into()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Each state payload setting of `component`, its default, and the state Home Assistant
/// shows for it.
fn state_settings(component: &str) -> &'static [(&'static str, &'static str, &'static str)] {
    match component {
        "lock" => &[
            ("state_locked", "LOCKED", "locked"),
            ("state_unlocked", "UNLOCKED", "unlocked"),
            ("state_locking", "LOCKING", "locking"),
            ("state_unlocking", "UNLOCKING", "unlocking"),
            ("state_jammed", "JAMMED", "jammed"),
            ("state_open", "OPEN", "open"),
            ("state_opening", "OPENING", "opening"),
        ],
        "cover" => &[
            ("state_open", "open", "open"),
            ("state_opening", "opening", "opening"),
            ("state_closed", "closed", "closed"),
            ("state_closing", "closing", "closing"),
            ("state_stopped", "stopped", "stopped"),
        ],
        _ => &[],
    }
}

/// The state payload → Home Assistant state map of `component`, if its state is one of
/// named payloads (a payload none of them names gives no update, as in Home Assistant).
pub fn states(component: &str, config: &Map<String, Value>) -> Option<Map<String, Value>> {
    let settings = state_settings(component);
    (!settings.is_empty()).then(|| {
        settings
            .iter()
            .map(|(key, default, state)| {
                let payload = payload_setting(config, key).unwrap_or_else(|| (*default).into());
                (payload, Value::String((*state).into()))
            })
            .collect()
    })
}

/// A cover's `position_open` and `position_closed` (100 and 0 by default).
pub fn position_range(config: &Map<String, Value>) -> (f64, f64) {
    let setting = |key, default| config.get(key).and_then(Value::as_f64).unwrap_or(default);
    (
        setting("position_open", 100.0),
        setting("position_closed", 0.0),
    )
}

/// Whether a light speaks Home Assistant's JSON schema.
pub fn json_schema(config: &Map<String, Value>) -> bool {
    config.get("schema").and_then(Value::as_str) == Some("json")
}

/// A JSON-schema light's `brightness_scale` (Home Assistant's brightness is 0..255).
pub fn brightness_scale(config: &Map<String, Value>) -> f64 {
    config
        .get("brightness_scale")
        .and_then(Value::as_f64)
        .filter(|s| *s > 0.0)
        .unwrap_or(255.0)
}

/// A fan's `speed_range_min` and `speed_range_max` (1 and 100 by default).
pub fn speed_range(c: &Map<String, Value>) -> (i64, i64) {
    let setting = |key, default| c.get(key).and_then(Value::as_i64).unwrap_or(default);
    (
        setting("speed_range_min", 1),
        setting("speed_range_max", 100),
    )
}
