//! A refused credential's way out: the package declared on the server by provisioning.

use super::context::Context;
use crate::constellation::{Backoff, Error};
use crate::native::PackageId;
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
    /// Whether no declaration was made: a new one starts the same.
    pub(super) fn is_untouched(&self) -> bool {
        self.at.is_none()
    }

    /// Declares `package` when provisioning is on and `error` refused its credential
    /// (not a 403: that one is good, the action is not allowed): `Ok` to try again
    /// now, else why it was not declared (`None`: provisioning does not apply).
    pub(super) async fn declare(
        &mut self,
        cx: &Context,
        package: &PackageId,
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
            r = provisioner.provision(package) => r,
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
