//! Capped exponential backoff with jitter, and a retry loop built on it.

use super::Error;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The smallest delay a [`Backoff`] ever returns, so that no retry loop can spin.
pub const MIN_DELAY: Duration = Duration::from_millis(10);

/// Capped exponential backoff: each [`Backoff::next_delay`] doubles the delay up to `max`;
/// each delay is jittered down by up to a quarter so that many clients that failed
/// together do not retry together.
#[derive(Clone, Debug)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    current: Duration,
}

impl Backoff {
    /// A backoff starting at `initial` (at least [`MIN_DELAY`]) and capped at `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        let initial = initial.max(MIN_DELAY);
        let max = max.max(initial);
        Self {
            initial,
            max,
            current: initial,
        }
    }

    /// The delay to wait before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.current;
        self.current = (self.current * 2).min(self.max);
        let jitter = base.mul_f64(random_fraction() * 0.25);
        (base - jitter).max(MIN_DELAY)
    }

    /// Back to the initial delay, after a success.
    pub fn reset(&mut self) {
        self.current = self.initial;
    }
}

impl Default for Backoff {
    /// 100 ms doubling up to 30 s.
    fn default() -> Self {
        Self::new(Duration::from_millis(100), Duration::from_secs(30))
    }
}

/// A number in [0, 1) from the standard library's per-process random hasher keys.
fn random_fraction() -> f64 {
    let bits = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// Runs `op` until it succeeds or fails with a non-transient error, sleeping per
/// `backoff` between transient failures. When `cancel` fires during a wait, the last
/// transient error is returned.
pub async fn retry_transient<T, F, Fut>(
    backoff: &mut Backoff,
    cancel: &CancellationToken,
    mut op: F,
) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    loop {
        match op().await {
            Ok(v) => {
                backoff.reset();
                return Ok(v);
            }
            Err(e) if e.is_transient() => {
                let delay = backoff.next_delay();
                tracing::debug!(error = %e, ?delay, "retrying after a transient failure");
                tokio::select! {
                    _ = cancel.cancelled() => return Err(e),
                    _ = tokio::time::sleep(delay) => {}
                }
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_and_never_reach_zero() {
        let mut b = Backoff::new(Duration::ZERO, Duration::from_millis(80));
        let delays: Vec<_> = (0..8).map(|_| b.next_delay()).collect();
        assert!(delays.iter().all(|d| *d >= MIN_DELAY));
        assert!(delays.iter().all(|d| *d <= Duration::from_millis(80)));
        assert!(delays[7] >= Duration::from_millis(60), "{delays:?}");
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(10));
    }
}
