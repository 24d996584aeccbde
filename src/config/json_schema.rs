//! The JSON Schema of `topics.toml`, derived from the types of [`super::schema`]: what
//! editors complete and check the file with (`constellation-mqtt schema`), and what the
//! configuration reference is generated from.

use super::schema::Config;
use schemars::generate::SchemaSettings;

/// The schema of the whole file, with each key's default and description. Draft 7: the
/// newest that TOML editors (Taplo, Even Better TOML) read.
pub fn json_schema() -> serde_json::Value {
    let mut schema = SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<Config>();
    schema.insert("title".into(), "constellation-mqtt topics.toml".into());
    schema.to_value()
}
