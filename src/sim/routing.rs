//! Scope routing: which message subscriptions a message reaches.

use super::state::{MessageSub, Participant};
use crate::constellation::model::{ReceivedScope, ScopeType};

/// Whether a message with `scope`, sent by `sender`, reaches `sub`.
///
/// - `All`: every direct subscription, the sender's included; `Other`: all but the
///   sender's.
/// - `Package`: an argument `Pkg` reaches every instance of that package (never a
///   consumer), `Sentinel/Pkg` one instance or consumer (`Consumer/<name>`), and a
///   connection id the participant holding it (how a hub consumer gets saga answers).
/// - `Sentinel`: every package on those sentinels.
/// - `Group`: subscriptions that joined the group, and direct subscriptions of packages
///   declared in it.
pub(super) fn reaches(
    scope: &ReceivedScope,
    sender: &Participant,
    sub: &MessageSub,
    static_groups: Option<&[String]>,
    owner_connection: Option<&str>,
) -> bool {
    let owner = &sub.owner;
    match scope.kind {
        ScopeType::All => sub.direct,
        ScopeType::Other => sub.direct && owner != sender,
        ScopeType::Package => {
            sub.direct
                && scope.args.iter().any(|arg| match arg.split_once('/') {
                    Some((s, p)) => s == owner.sentinel && p == owner.package,
                    None => {
                        Some(arg.as_str()) == owner_connection
                            || (!owner.is_consumer() && *arg == owner.package)
                    }
                })
        }
        ScopeType::Sentinel => {
            sub.direct && !owner.is_consumer() && scope.args.contains(&owner.sentinel)
        }
        ScopeType::Group => scope.args.iter().any(|g| {
            sub.groups.contains(g) || (sub.direct && static_groups.is_some_and(|sg| sg.contains(g)))
        }),
    }
}
