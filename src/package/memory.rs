//! What a package's uplink worker remembers of the server between jobs: its backoff,
//! a refused credential's hold, a declaration by provisioning. A worker runs only while
//! its package has work; the package keeps this for the next one.

use super::declared::Declared;
use crate::constellation::Backoff;
use std::time::{Duration, Instant};

/// A worker's memory of failures and refusals.
pub(super) struct Memory {
    pub backoff: Backoff,
    /// Until when the credential, refused, is not tried again.
    pub refused_until: Option<Instant>,
    /// The next refusal's hold (doubling up to ten times `auth_hold`).
    pub hold: Duration,
    /// Whether the server is failing (logged once until it works again).
    pub failing: bool,
    /// Whether a wait after a failure may end when the shared probe sees the server
    /// back: not again right after such an early retry failed (the server answers the
    /// probe but not this package: its own backoff then applies).
    pub early: bool,
    pub declared: Declared,
    /// The credential's hold after a first refusal (`constellation.auth_retry_s`).
    auth_hold: Duration,
}

impl Memory {
    /// A memory of nothing, with `auth_hold` as the first refusal's hold.
    pub fn new(auth_hold: Duration) -> Self {
        Self {
            backoff: Backoff::new(Duration::from_millis(100), Duration::from_secs(30)),
            refused_until: None,
            hold: auth_hold,
            failing: false,
            early: true,
            declared: Declared::default(),
            auth_hold,
        }
    }

    /// Everything went well: the failures are forgotten.
    pub fn succeeded(&mut self) {
        self.backoff.reset();
        self.early = true;
        self.hold = self.auth_hold;
        self.refused_until = None;
    }

    /// The hold after the next refusal: twice this one, up to ten times the first.
    pub fn refuse_again(&self) -> Duration {
        (self.hold * 2).min(self.auth_hold * 10)
    }

    /// Whether it remembers nothing a new worker would not start with: then the
    /// package need not keep it. (A longer `hold` comes only with `refused_until`,
    /// and both go with a success.)
    pub fn is_blank(&self) -> bool {
        !self.failing && self.refused_until.is_none() && self.declared.is_untouched()
    }
}
