//! Locking a mutex that is only ever held for a few instructions.

use std::sync::{Mutex, MutexGuard};

/// Locks `m`; a panic while it was held leaves data that is still consistent enough to
/// go on with, so a poisoned lock is taken as it is.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
