//! `stateobject/<name>` (a value) and `stateobject` (the whole StateObject) →
//! `PushStateObject`.

use super::payload::{json, text};
use super::{Failure, Intent, Target};
use crate::constellation::model::{json_or_text, StateObjectPush};
use serde_json::{Map, Value};

/// A value for StateObject `name` (JSON, else text), typed by the MQTT 5 user
/// properties `type`, `lifetime` and `metadata.<key>`.
pub fn decode_value(
    name: &str,
    payload: &[u8],
    user_properties: &[(String, String)],
) -> Result<Intent, String> {
    let mut push = StateObjectPush {
        name: name.to_owned(),
        value: json_or_text(text(payload)?),
        type_name: None,
        lifetime: None,
        metadatas: None,
    };
    apply_user_properties(&mut push, user_properties)?;
    Ok(Intent::PushStateObject(push))
}

/// A whole StateObject `{"Name", "Value", …}`, sent exactly as given.
pub fn decode_full(payload: &[u8]) -> Result<Intent, String> {
    let push: StateObjectPush = json(payload, "a StateObject {\"Name\", \"Value\", …}")?;
    if push.name.is_empty() {
        return Err("the StateObject name is empty".into());
    }
    if push.name.contains(['+', '#']) {
        return Err(format!(
            "the StateObject name {:?} contains an MQTT wildcard: it could not be followed on so/ topics",
            push.name
        ));
    }
    if let Some(l) = push.lifetime.filter(|l| *l < 0) {
        return Err(format!("negative lifetime {l}"));
    }
    Ok(Intent::PushStateObject(push))
}

/// MQTT 5 user properties `type`, `lifetime` and `metadata.<key>`.
fn apply_user_properties(
    push: &mut StateObjectPush,
    props: &[(String, String)],
) -> Result<(), String> {
    for (key, value) in props {
        match key.as_str() {
            "type" => push.type_name = Some(value.clone()),
            "lifetime" => {
                let l: i64 = value.parse().ok().filter(|l| *l >= 0).ok_or_else(|| {
                    format!("user property lifetime {value:?} is not a number of seconds")
                })?;
                push.lifetime = Some(l);
            }
            k => {
                if let Some(meta) = k.strip_prefix("metadata.") {
                    push.metadatas
                        .get_or_insert_with(Map::new)
                        .insert(meta.to_owned(), Value::String(value.clone()));
                }
            }
        }
    }
    Ok(())
}

/// `PushStateObject`.
pub async fn apply(target: &impl Target, so: &StateObjectPush) -> Result<(), Failure> {
    Ok(target
        .client()
        .push_state_object(target.identity(), so)
        .await?)
}
