//! Who may connect to the embedded broker: a listener reachable from other machines
//! authenticates its clients unless the file says, listener by listener, that anyone
//! may connect; and the adapter's own login on a listener that authenticates.

use crate::config::ConfigError;
use crate::mqtt::connection::Login;
use crate::secret::Secret;
use serde_json::Value;
use std::collections::HashSet;

/// The key of a listener's section that opens it to anyone: not rumqttd's, taken out
/// of the tree before rumqttd reads it.
pub(super) const ALLOW_ANONYMOUS: &str = "allow_anonymous";

/// Takes `allow_anonymous` out of every `[v4.*]` and `[v5.*]` section of `tree` (read
/// from `file`); returns the listeners (`v4.1`…) where it is true, or an error for
/// each where it is not a boolean.
pub(super) fn take_allow_anonymous(
    file: &str,
    tree: &mut Value,
) -> Result<HashSet<String>, Vec<ConfigError>> {
    let mut open = HashSet::new();
    let mut wrong = Vec::new();
    for version in ["v4", "v5"] {
        let Some(servers) = tree.get_mut(version).and_then(Value::as_object_mut) else {
            continue;
        };
        for (name, server) in servers.iter_mut() {
            let key = format!("{version}.{name}");
            match server
                .as_object_mut()
                .and_then(|s| s.remove(ALLOW_ANONYMOUS))
            {
                None | Some(Value::Bool(false)) => {}
                Some(Value::Bool(true)) => {
                    open.insert(key);
                }
                // config-rs reads TOML booleans as booleans; a string is a mistake.
                Some(_) => wrong.push(ConfigError {
                    file: file.to_owned(),
                    key: format!("{key}.{ALLOW_ANONYMOUS}"),
                    reason: "must be true or false".into(),
                }),
            }
        }
    }
    if wrong.is_empty() {
        Ok(open)
    } else {
        Err(wrong)
    }
}

/// Checks every listener of `config`: one reachable from other machines (any address
/// but loopback) without `connections.auth` is an error unless `allow_anonymous` says
/// so, and then a warning. Returns (errors, warnings).
pub(super) fn check_exposure(
    file: &str,
    config: &rumqttd::Config,
    open: &HashSet<String>,
) -> (Vec<ConfigError>, Vec<ConfigError>) {
    let (mut errors, mut warnings) = (Vec::new(), Vec::new());
    for (version, servers) in [("v4", &config.v4), ("v5", &config.v5)] {
        for (name, s) in servers.iter().flatten() {
            if s.listen.ip().is_loopback() || s.connections.auth.is_some() {
                continue;
            }
            let key = format!("{version}.{name}");
            if open.contains(&key) {
                warnings.push(ConfigError {
                    file: file.to_owned(),
                    key: format!("{key}.{ALLOW_ANONYMOUS}"),
                    reason: format!(
                        "listener `{}` on {} lets anyone on the network connect without a password",
                        s.name, s.listen
                    ),
                });
            } else {
                errors.push(ConfigError {
                    file: file.to_owned(),
                    key: format!("{key}.listen"),
                    reason: format!(
                        "listener `{}` on {} is reachable from other machines and has no \
                         authentication: set `connections.auth = {{ user = \"${{PASSWORD_VAR}}\" }}`, \
                         or `{ALLOW_ANONYMOUS} = true` in [{key}] to let anyone connect",
                        s.name, s.listen
                    ),
                });
            }
        }
    }
    (errors, warnings)
}

/// When `settings` authenticates its clients, adds a login made for this process and
/// returns it: the adapter needs no password in any file to attach to its own broker.
pub(super) fn adapter_login(settings: &mut rumqttd::ServerSettings) -> Option<Login> {
    let auth = settings.connections.auth.as_mut()?;
    let login = Login {
        username: format!("constellation-mqtt-{}", uuid::Uuid::new_v4().simple()),
        password: Secret::new(format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        )),
    };
    auth.insert(login.username.clone(), login.password.expose().to_owned());
    Some(login)
}
