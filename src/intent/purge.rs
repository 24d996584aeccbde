//! An empty `stateobject/<name>`, and `purge` (`{"Name"?, "Type"?}` or empty) →
//! `PurgeStateObjects`; the packages following them then clear their `so/...` topics.

use super::payload::json;
use super::{Failure, Intent, Target};
use crate::constellation::model::SoFilter;

/// Purges StateObject `name` (any type).
pub fn one(name: &str) -> Intent {
    Intent::Purge {
        name: name.to_owned(),
        type_name: "*".into(),
    }
}

/// A `purge` payload: empty (every StateObject), or a name and a type (`*` if absent).
pub fn decode(payload: &[u8]) -> Result<Intent, String> {
    if payload.is_empty() {
        return Ok(Intent::Purge {
            name: "*".into(),
            type_name: "*".into(),
        });
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase", deny_unknown_fields)]
    struct Purge {
        name: Option<String>,
        #[serde(rename = "Type")]
        type_name: Option<String>,
    }
    let p: Purge = json(payload, "empty, or {\"Name\"?, \"Type\"?}")?;
    Ok(Intent::Purge {
        name: p.name.unwrap_or_else(|| "*".into()),
        type_name: p.type_name.unwrap_or_else(|| "*".into()),
    })
}

/// `PurgeStateObjects`, then the purged StateObjects announced to their followers.
pub async fn apply(target: &impl Target, name: &str, type_name: &str) -> Result<(), Failure> {
    let id = target.identity();
    target
        .client()
        .purge_state_objects(id, name, type_name)
        .await?;
    target.purged(SoFilter {
        sentinel: id.sentinel.clone(),
        package: id.package.clone(),
        name: name.to_owned(),
        type_name: type_name.to_owned(),
    });
    Ok(())
}
