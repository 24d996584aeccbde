//! The Constellation side: the REST client, its wire types and its failure classes.

mod backoff;
mod client;
mod error;
mod identity;
mod management;
pub mod model;
mod pipeline;
mod wire;

pub use backoff::{retry_transient, Backoff, MIN_DELAY};
pub use client::{Client, ClientOptions, RequestObserver};
pub use error::Error;
pub use identity::Identity;
pub use management::Management;
