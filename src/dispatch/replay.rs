//! Retained replays: what a broker sends again at every (re)subscription is last known
//! state, not news. A retained publish that repeats the payload last seen on its topic
//! is recognised, so that it is not pushed to Constellation a second time.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

/// Topics remembered at most: a device cannot grow the set without bound. Beyond, a
/// new retained topic is not remembered (a replay of it is pushed again: a repeat of the
/// last value, never a loss).
const MAX_TOPICS: usize = 100_000;

/// The payload last seen on every topic that came retained (a hash of it).
#[derive(Debug, Default)]
pub struct Replays {
    seen: HashMap<String, u64>,
}

impl Replays {
    /// Whether this publish is a retained replay of what was already seen; remembers
    /// the payload of every publish on a topic that came retained once (live updates
    /// of retained topics arrive without the retain flag).
    pub fn repeated(&mut self, topic: &str, payload: &[u8], retained: bool) -> bool {
        if retained && payload.is_empty() {
            // The retained message cleared: nothing of the topic to remember.
            self.seen.remove(topic);
            return false;
        }
        // Most publishes are live ones on topics never retained: no hashing for them.
        if !retained && !self.seen.contains_key(topic) {
            return false;
        }
        let mut hasher = DefaultHasher::new();
        payload.hash(&mut hasher);
        let hash = hasher.finish();
        match self.seen.get_mut(topic) {
            Some(last) => std::mem::replace(last, hash) == hash && retained,
            None => {
                if self.seen.len() < MAX_TOPICS {
                    self.seen.insert(topic.to_owned(), hash);
                }
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replay_of_the_last_value_is_recognised() {
        let mut r = Replays::default();
        assert!(!r.repeated("t/LWT", b"Online", true));
        assert!(
            r.repeated("t/LWT", b"Online", true),
            "the same retained value again"
        );
        assert!(!r.repeated("t/LWT", b"Offline", false), "a live update");
        assert!(
            !r.repeated("t/LWT", b"Online", true),
            "a replay of another value"
        );
        assert!(!r.repeated("t/x", b"1", false));
        assert!(
            !r.repeated("t/x", b"1", false),
            "live publishes are never replays"
        );
    }

    #[test]
    fn cleared_topics_are_forgotten_and_the_set_is_bounded() {
        let mut r = Replays::default();
        assert!(!r.repeated("t/a", b"1", true));
        assert!(!r.repeated("t/a", b"", true), "cleared");
        assert!(!r.seen.contains_key("t/a"));
        for i in 0..MAX_TOPICS + 10 {
            r.repeated(&format!("t/{i}"), b"x", true);
        }
        assert_eq!(r.seen.len(), MAX_TOPICS);
    }
}
