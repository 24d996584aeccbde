//! `status` (and availability topics of other layouts) → the device's availability:
//! the online StateObject, and a log line when it changed.

use super::payload::text;
use super::{Failure, Intent, Target};
use crate::constellation::model::{LogLevel, StateObjectPush};
use serde_json::Value;

/// `online`/`offline`, `true`/`false` or `1`/`0`, in any case.
pub fn decode(payload: &[u8]) -> Result<Intent, String> {
    let body = text(payload)?.trim();
    match body.to_ascii_lowercase().as_str() {
        "online" | "true" | "1" => Ok(Intent::Status(true)),
        "offline" | "false" | "0" => Ok(Intent::Status(false)),
        _ => Err(format!(
            "status {body:?} is not online/offline, true/false or 1/0"
        )),
    }
}

/// Pushes the online StateObject (unless disabled), and logs the change.
pub async fn apply(target: &impl Target, online: bool) -> Result<(), Failure> {
    let c = target.client();
    let id = target.identity();
    let name = target.online_stateobject();
    if !name.is_empty() {
        let push = StateObjectPush {
            name: name.to_owned(),
            value: Value::Bool(online),
            type_name: Some("System.Boolean".into()),
            lifetime: None,
            metadatas: None,
        };
        c.push_state_object(id, &push).await?;
    }
    if target.online() != Some(online) {
        let text = if online { "online" } else { "offline" };
        let line = format!("{}/{} is {text}", id.sentinel, id.package);
        c.write_log(id, LogLevel::Info, &line).await?;
        target.set_online(online);
    }
    Ok(())
}
