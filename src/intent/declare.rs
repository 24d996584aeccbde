//! `descriptor` → `DeclarePackageDescriptor`, its `PackageName` the package's own.

use super::payload::json;
use super::{Failure, Intent, Target};
use serde_json::Value;

/// A package descriptor object for `package`.
pub fn decode(package: &str, payload: &[u8]) -> Result<Intent, String> {
    match json::<Value>(payload, "a package descriptor object")? {
        Value::Object(mut d) => {
            d.insert("PackageName".into(), Value::String(package.to_owned()));
            Ok(Intent::Declare(Value::Object(d)))
        }
        _ => Err("a package descriptor is a JSON object".into()),
    }
}

/// `DeclarePackageDescriptor`.
pub async fn apply(target: &impl Target, descriptor: &Value) -> Result<(), Failure> {
    Ok(target
        .client()
        .declare_package_descriptor(target.identity(), descriptor)
        .await?)
}
