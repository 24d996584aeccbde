//! Settings of Home Assistant's MQTT components as Home Assistant reads them: text and
//! payload settings, a light's schema and brightness scale, a fan's speed range, a
//! cover's position range.

use serde_json::{Map, Value};

/// An entity's discovery config, its keys expanded.
pub type Config = Map<String, Value>;

/// A text setting of `config`, when set and not empty.
pub fn text<'a>(config: &'a Config, key: &str) -> Option<&'a str> {
    config
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// A payload setting as Home Assistant reads it (`cv.string`): text as it is, `false`
/// as `False`, numbers as Python writes them.
pub fn payload_setting(config: &Config, key: &str) -> Option<String> {
    config.get(key).and_then(as_payload)
}

/// A payload setting, or `default`.
pub fn payload_or(config: &Config, key: &str, default: &str) -> String {
    payload_setting(config, key).unwrap_or_else(|| default.into())
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

/// A number setting of `c`, or `default`.
pub fn number(c: &Config, key: &str, default: f64) -> f64 {
    c.get(key).and_then(Value::as_f64).unwrap_or(default)
}

/// Whether a light speaks Home Assistant's JSON schema.
pub fn json_schema(config: &Config) -> bool {
    config.get("schema").and_then(Value::as_str) == Some("json")
}

/// A light's `brightness_scale` (Home Assistant's brightness is 0..255).
pub fn brightness_scale(config: &Config) -> f64 {
    config
        .get("brightness_scale")
        .and_then(Value::as_f64)
        .filter(|s| *s > 0.0)
        .unwrap_or(255.0)
}

/// A fan's `speed_range_min` and `speed_range_max` (1 and 100 by default).
pub fn speed_range(c: &Config) -> (i64, i64) {
    let setting = |key, default| c.get(key).and_then(Value::as_i64).unwrap_or(default);
    (
        setting("speed_range_min", 1),
        setting("speed_range_max", 100),
    )
}

/// A cover's `position_open` and `position_closed` (100 and 0 by default).
pub fn position_range(config: &Config) -> (f64, f64) {
    (
        number(config, "position_open", 100.0),
        number(config, "position_closed", 0.0),
    )
}

/// The state payload → Home Assistant state map of a component whose state is one of
/// named payloads: each (setting, its default, the state shown). A payload none of
/// them names gives no update, as in Home Assistant.
pub fn named_states(config: &Config, settings: &[(&str, &str, &str)]) -> Map<String, Value> {
    settings
        .iter()
        .map(|(key, default, state)| (payload_or(config, key, default), Value::from(*state)))
        .collect()
}
