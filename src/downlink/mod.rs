//! Constellation → devices: each package's message long poll (callbacks, saga answers,
//! groups) and StateObject links, published on the package's topics.
//!
//! Both pollers run per package, beside its worker; they take a turn from the
//! `max_long_polls` bound for each poll, share the client's connection pool, back off
//! on failures and renew a subscription the server lost (500) under its old id.

mod messages;
pub mod sagas;
mod stateobjects;

pub(crate) use messages::run as run_messages;
pub(crate) use stateobjects::run as run_state_objects;

use crate::bridge::Context;
use crate::constellation::{Backoff, Error};
use std::time::Duration;

/// A poller's failure handling: how long to wait after `error`, logging each kind of
/// trouble once until things work again.
struct Trouble {
    backoff: Backoff,
    auth_hold: Duration,
    logged: bool,
}

impl Trouble {
    fn new(cx: &Context) -> Self {
        Self {
            backoff: Backoff::new(Duration::from_millis(200), Duration::from_secs(30)),
            auth_hold: Duration::from_secs(cx.auth_retry_s()),
            logged: false,
        }
    }

    /// The wait before trying again after `error`.
    fn after(&mut self, what: &str, package: &impl std::fmt::Display, error: &Error) -> Duration {
        if !self.logged {
            tracing::warn!(%package, %error, "{what} failing; retrying with backoff");
            self.logged = true;
        }
        if error.is_auth() {
            self.auth_hold
        } else {
            self.backoff.next_delay()
        }
    }

    fn ok(&mut self) {
        self.backoff.reset();
        self.logged = false;
    }
}
