//! `message` → `SendMessage`: the REST body, a top-level `SagaId` moved into `Scope`.

use super::payload::json;
use super::{Failure, Intent, Target};
use crate::constellation::model::{OutgoingMessage, ScopeType};
use serde_json::{Map, Value};

/// A message to send: `{"Scope": {"Type", "Args", "SagaId"?}, "Key", "Data"?}`.
pub fn decode(payload: &[u8]) -> Result<Intent, String> {
    let expected = "{\"Scope\": {\"Type\", \"Args\", \"SagaId\"?}, \"Key\", \"Data\"?}";
    let mut body: Map<String, Value> = json(payload, expected)?;
    if let Some(saga) = body.remove("SagaId") {
        if let Some(Value::Object(scope)) = body.get_mut("Scope") {
            scope.entry("SagaId").or_insert(saga);
        }
    }
    let msg: OutgoingMessage = serde_json::from_value(Value::Object(body))
        .map_err(|e| format!("expected {expected}: {e}"))?;
    if msg.key.is_empty() {
        return Err("the message Key is empty".into());
    }
    let needs_args = matches!(
        msg.scope.kind,
        ScopeType::Package | ScopeType::Sentinel | ScopeType::Group
    );
    if needs_args && msg.scope.args.is_empty() {
        return Err(format!(
            "scope {} needs at least one argument in Args",
            msg.scope.kind
        ));
    }
    Ok(Intent::SendMessage(msg))
}

/// `SendMessage`.
pub async fn apply(target: &impl Target, message: &OutgoingMessage) -> Result<(), Failure> {
    Ok(target
        .client()
        .send_message(target.identity(), message)
        .await?)
}
