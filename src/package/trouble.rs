//! A poller's failure handling: backoff (ended early when the shared probe sees the
//! server back), a longer hold for a refused credential (unless provisioning declares
//! the package), each kind of trouble logged once until things work again.

use super::context::Context;
use super::state::Package;
use crate::constellation::{Backoff, Error};
use std::time::{Duration, Instant};

/// How long after its provisioning a package's refusals are retried with backoff, as
/// a server may take a moment to apply a reload.
const SETTLE: Duration = Duration::from_secs(10);

/// A package still refused after that is not provisioned again for this long (or its
/// credential hold, if longer).
const AGAIN_AFTER: Duration = Duration::from_secs(60);

/// A refused credential's way out: the package declared on the server by provisioning,
/// at most once per credential hold (a package still refused once the server had
/// [`SETTLE`] to apply it waits out the hold: no reload loop).
pub(super) struct Declared {
    at: Option<Instant>,
    settle: Backoff,
}

impl Default for Declared {
    fn default() -> Self {
        Self {
            at: None,
            settle: Backoff::new(Duration::from_millis(100), Duration::from_secs(2)),
        }
    }
}

impl Declared {
    /// Declares `package` when provisioning is on and `error` refused its credential
    /// (not a 403: that one is good, the action is not allowed): `Ok` to try again
    /// now, else why it was not declared (`None`: provisioning does not apply).
    pub(super) async fn declare(
        &mut self,
        cx: &Context,
        package: &Package,
        error: &Error,
    ) -> Result<(), Option<String>> {
        let Some(provisioner) = &cx.provisioner else {
            return Err(None);
        };
        let refused = matches!(error, Error::Auth { status, .. } if *status != Some(403));
        let hold = Duration::from_secs(cx.config.constellation.auth_retry_s);
        if !refused {
            return Err(None);
        }
        if let Some(at) = self.at {
            if at.elapsed() < SETTLE {
                tokio::select! {
                    () = tokio::time::sleep(self.settle.next_delay()) => return Ok(()),
                    _ = cx.lifecycle.abort.cancelled() => return Err(None),
                }
            }
            if at.elapsed() < hold.max(AGAIN_AFTER) {
                return Err(None);
            }
        }
        let declared = tokio::select! {
            r = provisioner.provision(&package.id) => r,
            _ = cx.lifecycle.abort.cancelled() => return Err(None),
        };
        match declared {
            Ok(()) => {
                self.at = Some(Instant::now());
                self.settle.reset();
                Ok(())
            }
            Err(reason) => {
                tracing::warn!(%reason, "not provisioned");
                Err(Some(reason))
            }
        }
    }
}

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
            if self.declared.declare(cx, package, error).await.is_err() {
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
