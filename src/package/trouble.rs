//! A poller's failure handling: backoff (ended early when the shared probe sees the
//! server back), a longer hold for a refused credential (unless provisioning declares
//! the package: [`Declared`]), each kind of trouble logged once until things work again.

use super::context::Context;
use super::declared::Declared;
use super::state::Package;
use crate::constellation::{Backoff, Error};
use std::time::Duration;

/// A poller's failure handling: how long to wait after an error, logging each kind of
/// trouble once until things work again.
pub(super) struct Trouble {
    backoff: Backoff,
    auth_hold: Duration,
    logged: bool,
    /// Whether the next wait may end when the server is seen back (see `uplink`).
    early: bool,
    declared: Declared,
}

impl Trouble {
    pub(super) fn new(cx: &Context) -> Self {
        Self {
            backoff: Backoff::new(Duration::from_millis(200), Duration::from_secs(30)),
            auth_hold: Duration::from_secs(cx.config.constellation.auth_retry_s),
            logged: false,
            early: true,
            declared: Declared::default(),
        }
    }

    /// Waits before trying again after `error` of `what`.
    pub(super) async fn wait(
        &mut self,
        cx: &Context,
        what: &str,
        package: &Package,
        error: &Error,
    ) {
        if !self.logged {
            tracing::warn!(%error, "{what} failing; retrying with backoff");
            self.logged = true;
        }
        if error.is_auth() {
            if self.declared.declare(cx, &package.id, error).await.is_err() {
                tokio::time::sleep(self.auth_hold).await;
            }
        } else {
            let delay = self.backoff.next_delay();
            let released = cx
                .wait_for_server(&package.identity, delay, self.early && error.is_transient())
                .await;
            self.early = !released;
        }
    }

    pub(super) fn ok(&mut self) {
        self.backoff.reset();
        self.logged = false;
        self.early = true;
    }
}
