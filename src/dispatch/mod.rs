//! From a device's publish to its package.
//!
//! The [`Router`] turns each publish once into `(PackageId, Intent)`s, through the native
//! scheme ([`crate::native`]) or the devices of other layouts ([`crate::devices`]),
//! completes StateObjects from the configuration (`defaults`) and ignores retained
//! replays (`replay`). The [`Registry`] admits their packages (`admission`: the `allow`
//! globs, a credential) and hands each intent to its package ([`crate::package`]),
//! starting the package on first use. Every refusal is reported on an `error` topic.

mod admission;
mod defaults;
mod registry;
mod replay;
mod router;

pub use registry::Registry;
pub use router::Router;
