//! The simulator's state behind one mutex, shared by the HTTP handlers and
//! [`super::SimHandle`].

use super::state::State;
use std::sync::{Arc, Mutex, MutexGuard};

/// The state shared by the HTTP handlers and the in-process handle.
#[derive(Clone)]
pub(super) struct Shared(Arc<Mutex<State>>);

impl Shared {
    /// Shares a new simulator state.
    pub(super) fn new(state: State) -> Self {
        Self(Arc::new(Mutex::new(state)))
    }

    /// Locks the state. The lock is never held across an await, and a panic while it
    /// was held leaves nothing half-done worth refusing service for.
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
