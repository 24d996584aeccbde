//! `constellation-mqtt check`: the configuration, then `CheckAccess` per declared package,
//! then (with `[provisioning]`) the management credential and what would be created.

use crate::config::Config;
use crate::constellation::{Client, ClientOptions, Error, Identity};
use std::time::Duration;
use url::Url;

/// The outcome for one package.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckRow {
    pub package: String,
    /// Whether the server answered at all.
    pub reachable: bool,
    /// Whether it accepted the credential (`None` when unreachable).
    pub accepted: Option<bool>,
    pub detail: String,
}

impl CheckRow {
    /// Whether this package is fine.
    pub fn ok(&self) -> bool {
        self.accepted == Some(true)
    }
}

/// Calls `CheckAccess` for every declared package, concurrently; with none declared,
/// for the default credential (as the first `allow` entry naming one package, else
/// `constellation-mqtt/Check`).
pub async fn check_access(config: &Config) -> Result<Vec<CheckRow>, String> {
    let client = client(config)?;
    let mut identities = config.declared_identities();
    if identities.is_empty() && config.constellation.access_key.is_some() {
        identities.push(config.default_identity());
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (i, id) in identities.into_iter().enumerate() {
        let client = client.clone();
        tasks.spawn(async move { (i, row(&id, client.check_access(&id).await)) });
    }
    let mut rows: Vec<(usize, CheckRow)> = tasks.join_all().await;
    rows.sort_by_key(|(i, _)| *i);
    Ok(rows.into_iter().map(|(_, r)| r).collect())
}

fn client(config: &Config) -> Result<Client, String> {
    let c = &config.constellation;
    let url = Url::parse(&c.url).map_err(|e| e.to_string())?;
    Client::new(ClientOptions {
        url,
        request_timeout: Duration::from_millis(c.request_timeout_ms),
        long_poll_timeout: Duration::from_millis(c.long_poll_timeout_ms),
        pipeline: c.pipeline,
    })
    .map_err(|e| e.to_string())
}

/// With `[provisioning]` enabled: the management credential checked, then each
/// declared or previously provisioned package with what provisioning would do for it
/// (`Err`: the Management API refused or failed).
pub async fn provisioning(config: &Config) -> Result<Vec<(String, &'static str)>, String> {
    let client = client(config)?;
    crate::provisioning::survey(config, &client)
        .await
        .map(|rows| rows.into_iter().map(|(p, s)| (p.to_string(), s)).collect())
        .map_err(|e| format!("provisioning: {e}"))
}

fn row(id: &Identity, result: Result<(), Error>) -> CheckRow {
    let (reachable, accepted, detail) = match result {
        Ok(()) => (true, Some(true), String::new()),
        Err(e @ Error::Auth { .. }) => (true, Some(false), e.to_string()),
        Err(e @ Error::Transient { .. }) => (false, None, e.to_string()),
        Err(e) => (true, None, e.to_string()),
    };
    CheckRow {
        package: id.to_string(),
        reachable,
        accepted,
        detail,
    }
}

/// What to do when the server did not answer (some row unreachable): start it, or the
/// simulator on its address.
pub fn unreachable_hint(config: &Config, rows: &[CheckRow]) -> Option<String> {
    if rows.iter().all(|r| r.reachable) {
        return None;
    }
    let url = &config.constellation.url;
    let listen = Url::parse(url)
        .ok()
        .and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?)))
        .map(|addr| format!(" --listen {addr}"))
        .unwrap_or_default();
    Some(format!(
        "hint: no Constellation server answered at {url}: start it, or run the simulator \
         there (`constellation-mqtt sim{listen}`), then check again"
    ))
}

/// The table `check` prints.
pub fn render(rows: &[CheckRow]) -> String {
    let width = rows
        .iter()
        .map(|r| r.package.len())
        .chain([7])
        .max()
        .unwrap_or(7);
    let mut out = format!("{:<width$}  REACHABLE  CREDENTIAL  DETAIL\n", "PACKAGE");
    for r in rows {
        let reachable = if r.reachable { "yes" } else { "no" };
        let accepted = match r.accepted {
            Some(true) => "accepted",
            Some(false) => "refused",
            None => "-",
        };
        out.push_str(&format!(
            "{:<width$}  {reachable:<9}  {accepted:<10}  {}\n",
            r.package, r.detail
        ));
    }
    out
}
