use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

/// Entries past which the graveyard is swept (see `Graveyard::sweep`).
const MAX_METRICS: usize = 10_000;

use super::{
    scheduler::{PauseReason, Tracker},
    ConnectionEvents,
};

pub struct Graveyard {
    connections: HashMap<String, SavedState>,
    /// Entries at which the next sweep runs (patched: doubles with what a sweep keeps,
    /// so that many live sessions do not make every disconnect a full sweep).
    next_sweep: usize,
}

impl Graveyard {
    pub fn new() -> Graveyard {
        Graveyard {
            connections: HashMap::new(),
            next_sweep: MAX_METRICS,
        }
    }

    /// Add a new connection.
    /// Return tracker of previous connection if connection id already exists
    /// (patched: a session past its expiry is gone, its metrics kept).
    pub fn retrieve(&mut self, id: &str) -> Option<SavedState> {
        let mut saved = self.connections.remove(id)?;
        if saved.expires.is_some_and(|at| at <= Instant::now()) {
            saved.session_state = None;
        }
        Some(saved)
    }

    /// Patched (constellation-mqtt, see vendor/README.md): forgets expired sessions and,
    /// past `MAX_METRICS` entries, the metrics of clean ones, so that clients coming
    /// and going with new ids do not grow the graveyard for ever.
    fn sweep(&mut self) {
        if self.connections.len() < self.next_sweep {
            return;
        }
        let now = Instant::now();
        self.connections.retain(|_, saved| {
            saved.session_state.is_some() && saved.expires.is_none_or(|at| at > now)
        });
        self.next_sweep = MAX_METRICS.max(2 * self.connections.len());
    }

    /// Save connection tracker
    pub fn save_state(
        &mut self,
        mut tracker: Tracker,
        subscriptions: HashSet<String>,
        metrics: ConnectionEvents,
        unacked_pubrels: VecDeque<u16>,
        session_expiry: u32,
    ) {
        self.sweep();
        tracker.pause(PauseReason::Busy);
        let id = tracker.id.clone();

        let session_state = SessionState {
            tracker,
            subscriptions,
            unacked_pubrels,
        };

        self.connections.insert(
            id,
            SavedState {
                session_state: Some(session_state),
                metrics,
                expires: (session_expiry != u32::MAX)
                    .then(|| Instant::now() + Duration::from_secs(session_expiry.into())),
            },
        );
    }

    /// Save only metrics for connection
    pub fn save_metrics(&mut self, id: String, metrics: ConnectionEvents) {
        self.sweep();
        self.connections.insert(
            id,
            SavedState {
                session_state: None,
                metrics,
                expires: None,
            },
        );
    }
}

#[derive(Debug)]
pub struct SavedState {
    pub session_state: Option<SessionState>,
    pub metrics: ConnectionEvents,
    /// When the session ends (patched: MQTT 5 Session Expiry Interval); none: never.
    pub expires: Option<Instant>,
}

#[derive(Debug)]
pub struct SessionState {
    pub tracker: Tracker,
    pub subscriptions: HashSet<String>,
    // used for pubrel in qos2
    pub unacked_pubrels: VecDeque<u16>,
}
