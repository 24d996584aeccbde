//! Scope routing: which message subscriptions a message reaches.

use super::participant::Participant;
use crate::constellation::model::{ReceivedScope, ScopeType};
use std::collections::BTreeSet;

/// A message subscription, as routing sees it.
pub(super) struct Recipient<'a> {
    pub owner: &'a Participant,
    /// It receives messages addressed to its owner, not only to its groups.
    pub direct: bool,
    /// The groups it joined.
    pub groups: &'a BTreeSet<String>,
}

/// Whether a message with `scope`, sent by `sender`, reaches `to`.
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
    to: Recipient<'_>,
    static_groups: Option<&[String]>,
    owner_connection: Option<&str>,
) -> bool {
    let Recipient {
        owner,
        direct,
        groups,
    } = to;
    match scope.kind {
        ScopeType::All => direct,
        ScopeType::Other => direct && owner != sender,
        ScopeType::Package => {
            direct
                && scope.args.iter().any(|arg| match arg.split_once('/') {
                    Some((s, p)) => s == owner.sentinel && p == owner.package,
                    None => {
                        Some(arg.as_str()) == owner_connection
                            || (!owner.is_consumer() && *arg == owner.package)
                    }
                })
        }
        ScopeType::Sentinel => {
            direct && !owner.is_consumer() && scope.args.contains(&owner.sentinel)
        }
        ScopeType::Group => scope.args.iter().any(|g| {
            groups.contains(g) || (direct && static_groups.is_some_and(|sg| sg.contains(g)))
        }),
    }
}
