//! `device_tracker`: `payload_home` is home, `payload_not_home` away, `payload_reset`
//! unknown, anything else a place.

use super::settings::payload_or;
use super::state::{reset_setting, Reading};
use super::{Component, Config};
use serde_json::Value;

pub struct DeviceTracker;

impl Component for DeviceTracker {
    fn name(&self) -> &'static str {
        "device_tracker"
    }

    fn reading(&self, _name: &str, c: &Config) -> Reading {
        let home = payload_or(c, "payload_home", "home");
        let away = payload_or(c, "payload_not_home", "not_home");
        Reading {
            map: [
                (home, Value::String("home".into())),
                (away, Value::String("not_home".into())),
            ]
            .into_iter()
            .collect(),
            reset: Some(reset_setting(c, "payload_reset")),
            ..Reading::plain(Some("System.String"), true)
        }
    }
}
