//! Who a request is made as.

use std::fmt;

/// The credential a request carries: `SentinelName`, `PackageName` and `AccessKey`.
/// A consumer uses the sentinel name [`Identity::CONSUMER`].
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    pub sentinel: String,
    pub package: String,
    pub access_key: String,
}

impl Identity {
    /// The sentinel name of consumers.
    pub const CONSUMER: &'static str = "Consumer";

    /// An identity from its three parts.
    pub fn new(
        sentinel: impl Into<String>,
        package: impl Into<String>,
        access_key: impl Into<String>,
    ) -> Self {
        Self {
            sentinel: sentinel.into(),
            package: package.into(),
            access_key: access_key.into(),
        }
    }

    /// A consumer identity with a free friendly name.
    pub fn consumer(name: impl Into<String>, access_key: impl Into<String>) -> Self {
        Self::new(Self::CONSUMER, name, access_key)
    }
}

/// `Sentinel/Package`: the key is never shown.
impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.sentinel, self.package)
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity({self})")
    }
}
