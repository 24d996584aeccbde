//! The simulated server's declared world: sentinels, packages, credentials, settings,
//! groups and permissions, from a `sim.toml` (or JSON) file or built in code.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::path::Path;
use std::time::Duration;

/// Everything the simulator knows before the first request: the server's configuration
/// (which the Management API edits, and `configuration/reload` applies).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct World {
    /// Accept packages that are not declared when their key is one of `open_keys`,
    /// as if they had been declared without settings.
    pub open_keys: Vec<String>,
    /// Keys accepted for `SentinelName=Consumer`.
    pub consumer_keys: Vec<String>,
    /// A subscription not polled for this long expires (then its polls get 500).
    pub subscription_expiry_ms: u64,
    /// Messages kept per subscription until fetched; the oldest is dropped beyond.
    pub max_queued_messages: usize,
    /// Named credentials, which sentinels and packages can refer to.
    pub credentials: Vec<CredentialDecl>,
    pub sentinels: Vec<SentinelDecl>,
}

/// A named credential, as the server's configuration declares it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CredentialDecl {
    pub name: String,
    pub access_key: String,
    /// A disabled credential is refused everywhere.
    #[serde(default = "yes")]
    pub enable: bool,
    /// Accepted by the Management API (`SentinelName=Management`).
    #[serde(default)]
    pub enable_management_api: bool,
    #[serde(default)]
    pub enable_control_hub: bool,
    #[serde(default)]
    pub enable_developer_access: bool,
}

impl Default for World {
    fn default() -> Self {
        Self {
            open_keys: Vec::new(),
            consumer_keys: Vec::new(),
            subscription_expiry_ms: 60_000,
            max_queued_messages: 10_000,
            credentials: Vec::new(),
            sentinels: Vec::new(),
        }
    }
}

/// A declared sentinel and its packages.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SentinelDecl {
    pub name: String,
    /// The sentinel's key, valid for all its packages.
    pub access_key: Option<String>,
    /// The name of the sentinel's credential (in `credentials`), valid for all its
    /// packages.
    #[serde(default)]
    pub credential: Option<String>,
    #[serde(default)]
    pub packages: Vec<PackageDecl>,
}

/// A declared (virtual) package.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PackageDecl {
    pub name: String,
    /// The package's own key, valid besides its sentinel's.
    pub access_key: Option<String>,
    /// The name of the package's own credential, valid besides its sentinel's.
    #[serde(default)]
    pub credential: Option<String>,
    /// A disabled instance is refused.
    #[serde(default = "yes")]
    pub enable: bool,
    #[serde(default)]
    pub settings: Map<String, Value>,
    /// Groups the package belongs to from the start.
    #[serde(default)]
    pub groups: Vec<String>,
    /// When set, the only groups `SubscribeToMessageGroup` may join (else 403).
    pub allowed_groups: Option<Vec<String>>,
    #[serde(default = "yes")]
    pub can_send_messages: bool,
    #[serde(default = "yes")]
    pub can_read_stateobjects: bool,
}

fn yes() -> bool {
    true
}

impl World {
    /// A world that accepts every package and consumer presenting `key`: the demo's.
    pub fn open(key: impl Into<String>) -> Self {
        let key = key.into();
        Self {
            open_keys: vec![key.clone()],
            consumer_keys: vec![key],
            ..Self::default()
        }
    }

    /// Reads a world from a TOML or JSON file (by its extension).
    pub fn load(path: &Path) -> Result<Self, String> {
        let format = match path.extension().and_then(|e| e.to_str()) {
            Some("json") => config::FileFormat::Json,
            _ => config::FileFormat::Toml,
        };
        let source = config::Config::builder()
            .add_source(config::File::from(path).format(format))
            .build()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        serde_path_to_error::deserialize(source)
            .map_err(|e| format!("{}: key `{}`: {}", path.display(), e.path(), e.inner()))
    }

    /// Adds a consumer key.
    pub fn with_consumer_key(mut self, key: impl Into<String>) -> Self {
        self.consumer_keys.push(key.into());
        self
    }

    /// Sets how long an unpolled subscription lives.
    pub fn with_subscription_expiry(mut self, expiry: Duration) -> Self {
        self.subscription_expiry_ms = expiry.as_millis().try_into().unwrap_or(u64::MAX);
        self
    }

    /// Declares `package` on `sentinel` (created with `sentinel_key` if new).
    pub fn with_package(
        mut self,
        sentinel: &str,
        sentinel_key: Option<&str>,
        package: PackageDecl,
    ) -> Self {
        match self.sentinels.iter_mut().find(|s| s.name == sentinel) {
            Some(s) => s.packages.push(package),
            None => self.sentinels.push(SentinelDecl {
                name: sentinel.into(),
                access_key: sentinel_key.map(Into::into),
                credential: None,
                packages: vec![package],
            }),
        }
        self
    }

    /// Adds a credential the Management API accepts.
    pub fn with_management_key(mut self, name: &str, key: &str) -> Self {
        self.credentials.push(CredentialDecl {
            name: name.into(),
            access_key: key.into(),
            enable: true,
            enable_management_api: true,
            enable_control_hub: false,
            enable_developer_access: false,
        });
        self
    }

    pub(super) fn subscription_expiry(&self) -> Duration {
        Duration::from_millis(self.subscription_expiry_ms)
    }
}

impl PackageDecl {
    /// A package with no own key, no settings, no groups and every permission.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            access_key: None,
            credential: None,
            enable: true,
            settings: Map::new(),
            groups: Vec::new(),
            allowed_groups: None,
            can_send_messages: true,
            can_read_stateobjects: true,
        }
    }

    /// Sets the package's own key.
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.access_key = Some(key.into());
        self
    }

    /// Sets the package's settings (a JSON object; anything else leaves them empty).
    pub fn with_settings(mut self, settings: Value) -> Self {
        self.settings = match settings {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        self
    }

    /// Puts the package in `group` from the start.
    pub fn in_group(mut self, group: impl Into<String>) -> Self {
        self.groups.push(group.into());
        self
    }
}
