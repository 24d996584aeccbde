//! Sagas delivered to a device, remembered until it answers: saga id → where the
//! `__Response` goes.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// A bounded, expiring memory of saga senders. Bounded in number (the oldest is
/// forgotten first) and in time (an answer after `timeout` finds nothing).
#[derive(Debug)]
pub struct SagaMemory {
    senders: HashMap<String, (String, Instant)>,
    order: VecDeque<String>,
    timeout: Duration,
    capacity: usize,
}

impl SagaMemory {
    /// A memory of at most `capacity` sagas, each for `timeout`.
    pub fn new(timeout: Duration, capacity: usize) -> Self {
        Self {
            senders: HashMap::new(),
            order: VecDeque::new(),
            timeout,
            capacity: capacity.max(1),
        }
    }

    /// Remembers that saga `id` must be answered to `reply_to`.
    pub fn remember(&mut self, id: &str, reply_to: &str) {
        self.forget_expired();
        if self.senders.len() >= self.capacity {
            while let Some(old) = self.order.pop_front() {
                if self.senders.remove(&old).is_some() {
                    break;
                }
            }
        }
        if self
            .senders
            .insert(id.to_owned(), (reply_to.to_owned(), Instant::now()))
            .is_none()
        {
            self.order.push_back(id.to_owned());
        }
    }

    /// Sagas remembered and not expired.
    pub fn pending(&mut self) -> usize {
        self.forget_expired();
        self.senders.len()
    }

    /// Where to answer saga `id`, if it is still remembered; it is forgotten then.
    pub fn take(&mut self, id: &str) -> Option<String> {
        self.forget_expired();
        self.senders.remove(id).map(|(to, _)| to)
    }

    fn forget_expired(&mut self) {
        while let Some(id) = self.order.front() {
            match self.senders.get(id) {
                Some((_, at)) if at.elapsed() <= self.timeout => break,
                _ => {
                    let id = self.order.pop_front().unwrap_or_default();
                    self.senders.remove(&id);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_in_number_and_answered_once() {
        let mut m = SagaMemory::new(Duration::from_secs(60), 2);
        m.remember("a", "A");
        m.remember("b", "B");
        m.remember("c", "C");
        assert_eq!(m.take("a"), None, "the oldest was forgotten");
        assert_eq!(m.take("b").as_deref(), Some("B"));
        assert_eq!(m.take("b"), None, "answered once");
        assert_eq!(m.take("c").as_deref(), Some("C"));
    }

    #[test]
    fn bounded_in_time() {
        let mut m = SagaMemory::new(Duration::ZERO, 10);
        m.remember("a", "A");
        assert_eq!(m.take("a"), None, "any time at all is past a zero timeout");
    }
}
