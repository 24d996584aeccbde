//! The native topic scheme (`topic-scheme.md`): `<prefix>/<sentinel>/<package>/<kind>`.
//!
//! A publish is parsed once, here, into a [`PackageId`] and an [`Intent`]; everything
//! after works on the intent, never on topic strings again.

mod errors;
mod topic;

pub use crate::intent::{decode, AvailabilityMode, Intent};
pub use errors::{adapter_error_topic, error_topic, payload_head};
pub use topic::{parse_topic, Kind, PackageId, Topic};
