//! Who calls the simulated server: a package instance or a consumer.

use crate::constellation::Identity;

/// An authenticated caller: a package instance, or a consumer (`Consumer/<name>`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Participant {
    pub sentinel: String,
    pub package: String,
}

impl Participant {
    /// `Sentinel/Package`: the friendly name and the key of everything it owns.
    pub fn key(&self) -> String {
        format!("{}/{}", self.sentinel, self.package)
    }

    /// Whether this is a consumer rather than a package.
    pub fn is_consumer(&self) -> bool {
        self.sentinel == Identity::CONSUMER
    }

    /// Parses `Sentinel/Package`.
    pub fn parse(text: &str) -> Option<Self> {
        let (s, p) = text.split_once('/')?;
        (!s.is_empty() && !p.is_empty()).then(|| Self {
            sentinel: s.into(),
            package: p.into(),
        })
    }
}
