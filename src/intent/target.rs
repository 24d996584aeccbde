//! What carrying out an intent needs, and why it may not be carried out.

use super::kinds::AvailabilityMode;
use crate::constellation::model::SoFilter;
use crate::constellation::{Client, Error, Identity};
use crate::report::Problem;
use serde_json::{Map, Value};

/// What carrying out an intent needs of the package it is for.
pub trait Target: Sync {
    /// The Constellation client.
    fn client(&self) -> &Client;
    /// The package's credential.
    fn identity(&self) -> &Identity;
    /// The sender of saga `saga_id`, forgotten (the saga is being answered).
    fn take_saga(&self, saga_id: &str) -> Option<String>;
    /// Remembers `reply_to` as the sender of saga `saga_id` again.
    fn remember_saga(&self, saga_id: &str, reply_to: &str);
    /// Publishes the package's settings to its device: always when `force`, else only
    /// when they changed.
    fn publish_settings(&self, settings: Map<String, Value>, force: bool);
    /// Tells the packages following them that these StateObjects were purged.
    fn purged(&self, filter: SoFilter);
    /// Records the report of `topic` and gives the availability `mode` combines.
    fn report_availability(&self, topic: &str, online: bool, mode: &AvailabilityMode) -> bool;
    /// The StateObject that mirrors the device's status (empty: none).
    fn online_stateobject(&self) -> &str;
    /// The device's availability as last recorded.
    fn online(&self) -> Option<bool>;
    /// Records the device's availability.
    fn set_online(&self, online: bool);
    /// Sets the package's StateObject links as its device asked.
    fn set_device_filters(&self, filters: &[SoFilter]);
    /// Sets the package's message groups as its device asked.
    fn set_device_groups(&self, groups: &[String]);
}

/// Why an intent was not carried out.
#[derive(Debug)]
pub enum Failure {
    /// Refused before any request (an unknown saga…).
    Refused(Problem),
    /// The server did not do it.
    Server(Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Self::Server(e)
    }
}
