//! The native topic scheme (`topic-scheme.md`): `<prefix>/<sentinel>/<package>/<kind>`.
//!
//! A publish is parsed once, here, into a [`PackageId`] and an [`Intent`]; everything
//! after works on the intent, never on topic strings again.

mod errors;
mod intent;
mod topic;

pub use errors::{adapter_error_topic, error_topic, payload_head};
pub use intent::{decode, AvailabilityMode, Intent};
pub use topic::{parse_topic, Kind, PackageId, Topic};
