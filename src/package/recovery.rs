//! One probe of the server shared by every package while it is unreachable: a package
//! whose request failed transiently waits for its own backoff *or* for the probe to see
//! the server answer again, whichever comes first, so that all of them resume within a
//! probe interval of the server's return instead of each waiting out its own backoff.

use crate::constellation::{Backoff, Client, Identity};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The first probe's delay after a failure, and the most between two probes.
const PROBE_FIRST: Duration = Duration::from_millis(200);
const PROBE_MAX: Duration = Duration::from_secs(1);

/// The shared probe and the count of the server's returns it has seen.
pub struct Recovery {
    inner: Arc<Inner>,
}

struct Inner {
    /// Bumped each time the probe sees the server answer after a failure.
    returns: watch::Sender<u64>,
    probing: AtomicBool,
}

/// A failure observed at a given count of returns: waits for the next one.
pub struct Failure {
    returns: watch::Receiver<u64>,
    seen: u64,
}

impl Recovery {
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                returns: watch::channel(0).0,
                probing: AtomicBool::new(false),
            }),
        }
    }

    /// Records a transient failure of `identity`'s request: starts the probe (asking
    /// `CheckAccess` as `identity`) unless it is running, and returns what to wait on.
    pub fn failed(
        &self,
        client: &Client,
        identity: &Identity,
        stop: &CancellationToken,
    ) -> Failure {
        let returns = self.inner.returns.subscribe();
        let seen = *returns.borrow();
        if !self.inner.probing.swap(true, Ordering::AcqRel) {
            let inner = self.inner.clone();
            let (client, identity, stop) = (client.clone(), identity.clone(), stop.clone());
            tokio::spawn(async move {
                let mut backoff = Backoff::new(PROBE_FIRST, PROBE_MAX);
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tokio::time::sleep(backoff.next_delay()) => {}
                    }
                    match client.check_access(&identity).await {
                        Err(e) if e.is_transient() => continue,
                        // Any other answer, a refusal included, is the server answering.
                        _ => {
                            tracing::info!(
                                "Constellation answers again; releasing every waiting package"
                            );
                            inner.returns.send_modify(|n| *n += 1);
                            break;
                        }
                    }
                }
                inner.probing.store(false, Ordering::Release);
            });
        }
        Failure { returns, seen }
    }
}

impl Default for Recovery {
    fn default() -> Self {
        Self::new()
    }
}

impl Failure {
    /// Waits `delay`, or less if the server is seen back meanwhile. Returns whether the
    /// probe ended the wait.
    pub async fn wait(mut self, delay: Duration) -> bool {
        let seen = self.seen;
        tokio::select! {
            _ = tokio::time::sleep(delay) => false,
            r = self.returns.wait_for(|n| *n > seen) => r.is_ok(),
        }
    }
}
