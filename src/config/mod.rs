//! `topics.toml`: the adapter's typed configuration, how it is loaded and validated.
//!
//! Loading is in `load`, checks that serde cannot express are in `validate`; both
//! report what names the file (or the key) and the reason. The mapping sections are
//! data here: [`crate::mapping`] compiles them, and [`crate::setup`] puts both checks
//! together.

mod json_schema;
mod load;
mod schema;
mod validate;

pub use json_schema::json_schema;
pub use load::{load, load_lenient, parse, parse_lenient, parse_toml, read_toml, ENV_PREFIX};
pub use schema::{
    Availability, CallbackPayload, CommandParameter, CommandResponse, CommandRule, CommandStep,
    Config, ConfigError, ConstellationConfig, Durability, ExportCallback, ExportConfig, HttpConfig,
    IdentityConfig, MapRule, MappedStateObject, MqttConfig, MqttMode, OneOrMany, PackageConfig,
    Preset, ProvisioningConfig, SoDefaults, SoPayload, StorageConfig,
};
pub use validate::validate;
