//! The failure classes of a Constellation call, as the spec tells a client to treat them.

/// Why a Constellation call failed.
///
/// The classes decide what a caller does next: [`Error::Auth`] and [`Error::BadRequest`]
/// are final for that request, [`Error::SubscriptionLost`] means subscribe again,
/// [`Error::Transient`] means retry with backoff, [`Error::Protocol`] means the server
/// answered something this client does not understand.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum Error {
    /// 401, 403, or a subscription answered `null`: the credential is refused.
    #[error("{action} as {identity}: credential refused{}: {message}", status_text(*.status))]
    Auth {
        action: &'static str,
        identity: String,
        status: Option<u16>,
        message: String,
    },
    /// 400: the server found the request malformed.
    #[error("{action}: bad request: {message}")]
    BadRequest {
        action: &'static str,
        message: String,
    },
    /// 500 on a long poll: the subscription expired or is unknown to the server.
    #[error("{action}: subscription {subscription} lost (expired or unknown to the server)")]
    SubscriptionLost {
        action: &'static str,
        subscription: String,
    },
    /// Any other 5xx, a time-out or a connection failure: worth retrying later.
    #[error("{action}: temporary failure: {reason}")]
    Transient {
        action: &'static str,
        reason: String,
    },
    /// An answer that does not follow the protocol (an unexpected status).
    #[error("{action}: unexpected answer: {reason}")]
    Protocol {
        action: &'static str,
        reason: String,
    },
    /// A success whose body is not what the action returns (not JSON where JSON is
    /// read, over the action's size limit), or an answer whose HTTP framing is broken:
    /// not taken as the action done, and retried like a transient failure.
    #[error("{action}: the server's answer is not this action's: {reason}")]
    BadAnswer {
        action: &'static str,
        reason: String,
    },
}

fn status_text(status: Option<u16>) -> String {
    status.map(|s| format!(" (HTTP {s})")).unwrap_or_default()
}

impl Error {
    /// Whether retrying the same request later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient { .. } | Self::BadAnswer { .. })
    }

    /// Whether the credential was refused.
    pub fn is_auth(&self) -> bool {
        matches!(self, Self::Auth { .. })
    }

    /// Whether the server refused this request for good (403/401, 400): asking again
    /// will not help.
    pub fn is_refusal(&self) -> bool {
        matches!(self, Self::Auth { .. } | Self::BadRequest { .. })
    }
}
