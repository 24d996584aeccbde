//! `response/<sagaId>` → a `__Response` message to the saga's sender.

use super::payload::text;
use super::{Failure, Intent, Target};
use crate::constellation::model::{json_or_text, OutgoingMessage, Scope, ScopeType, RESPONSE_KEY};
use crate::report::{Code, Problem};
use serde_json::Value;

/// The answer (JSON, else text) to saga `saga_id`.
pub fn decode(saga_id: &str, payload: &[u8]) -> Result<Intent, String> {
    Ok(Intent::Respond {
        saga_id: saga_id.to_owned(),
        data: json_or_text(text(payload)?),
    })
}

/// `SendMessage` of `__Response` to the saga's sender; refused when the package has no
/// such saga (unknown, expired, answered already).
pub async fn apply(target: &impl Target, saga_id: &str, data: &Value) -> Result<(), Failure> {
    let Some(reply_to) = target.take_saga(saga_id) else {
        let reason = format!("unknown or expired saga id {saga_id:?}");
        return Err(Failure::Refused(Problem::new(Code::UnknownSaga, reason)));
    };
    let answer = OutgoingMessage {
        scope: Scope {
            kind: ScopeType::Package,
            args: vec![reply_to.clone()],
            saga_id: Some(saga_id.to_owned()),
        },
        key: RESPONSE_KEY.into(),
        data: data.clone(),
    };
    if let Err(e) = target
        .client()
        .send_message(target.identity(), &answer)
        .await
    {
        if e.is_transient() {
            // Retried: the saga must still be answerable then.
            target.remember_saga(saga_id, &reply_to);
        }
        return Err(e.into());
    }
    Ok(())
}
