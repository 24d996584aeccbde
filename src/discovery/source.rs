//! What a discovery source is, and what it says of each device it knows.

use crate::config::{CommandRule, MapRule};
use crate::native::PackageId;

/// What a source knows of one device.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceSpec {
    pub package: PackageId,
    pub rules: Vec<MapRule>,
    pub commands: Vec<CommandRule>,
    pub types: Vec<SoType>,
}

/// A StateObject's type, for the package descriptor.
#[derive(Debug, Clone, PartialEq)]
pub struct SoType {
    pub name: String,
    pub type_name: String,
    pub description: Option<String>,
    /// The values of an enumeration (then `type_name` is `System.String`).
    pub enum_values: Vec<String>,
}

/// An empty rule on `topic` for `package`, to fill in.
pub(crate) fn rule(package: &PackageId, topic: impl Into<String>) -> MapRule {
    MapRule {
        topic: topic.into(),
        sentinel: package.sentinel.clone(),
        package: package.package.clone(),
        ..MapRule::default()
    }
}

/// A device (by a key unique to its source) appeared or changed (`Some`), or went
/// away (`None`).
pub type Change = (String, Option<DeviceSpec>);

/// A reader of discovery topics.
pub trait Source: Send {
    /// The filters of its discovery topics.
    fn filters(&self) -> Vec<String>;
    /// The devices this publish changes; `None` when the topic is not this source's.
    /// A payload it cannot read is an `Err` (reported on the adapter's `error` topic).
    fn learn(&mut self, topic: &str, payload: &str) -> Option<Result<Vec<Change>, String>>;
}
