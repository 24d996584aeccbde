//! A poller's failure handling: backoff, a longer hold for a refused credential, each
//! kind of trouble logged once until things work again.

use super::context::Context;
use crate::constellation::{Backoff, Error};
use std::time::Duration;

/// A poller's failure handling: how long to wait after `error`, logging each kind of
/// trouble once until things work again.
pub(super) struct Trouble {
    backoff: Backoff,
    auth_hold: Duration,
    logged: bool,
}

impl Trouble {
    pub(super) fn new(cx: &Context) -> Self {
        Self {
            backoff: Backoff::new(Duration::from_millis(200), Duration::from_secs(30)),
            auth_hold: Duration::from_secs(cx.config.constellation.auth_retry_s),
            logged: false,
        }
    }

    /// The wait before trying again after `error`.
    pub(super) fn after(
        &mut self,
        what: &str,
        package: &impl std::fmt::Display,
        error: &Error,
    ) -> Duration {
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

    pub(super) fn ok(&mut self) {
        self.backoff.reset();
        self.logged = false;
    }
}
