//! The typed contents of `topics.toml`, section by section, with their defaults.

use crate::constellation::model::SoFilter;
use crate::constellation::Identity;
use crate::intent::AvailabilityMode;
use crate::secret::Secret;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A configuration that cannot be used, with where and why.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
#[error("{file}: {}{reason}", key_text(.key))]
pub struct ConfigError {
    /// The file (or `environment`) the value came from.
    pub file: String,
    /// The dotted key, empty when the whole file is at fault.
    pub key: String,
    pub reason: String,
}

fn key_text(key: &str) -> String {
    if key.is_empty() {
        String::new()
    } else {
        format!("key `{key}`: ")
    }
}

/// A configuration enum read from its lowercase name, with a message that lists the
/// names allowed (the `config` crate's own enum errors do not).
macro_rules! named_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
        #[serde(try_from = "String")]
        pub enum $name {
            #[default]
            $($(#[$vdoc])* $variant),+
        }

        /// Written as its name (so that a schema shows it as its default).
        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(match self {
                    $(Self::$variant => $text,)+
                })
            }
        }

        /// One of its names.
        impl JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({ "type": "string", "enum": [$($text),+] })
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(text: String) -> Result<Self, String> {
                match text.as_str() {
                    $($text => Ok(Self::$variant),)+
                    _ => Err(format!(
                        "unknown value {text:?}, expected one of: {}",
                        [$($text),+].join(", ")
                    )),
                }
            }
        }
    };
}

/// The whole of `topics.toml`.
#[derive(Debug, Clone, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Topic prefix of the native scheme.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// The Constellation server and how to talk to it.
    #[serde(default)]
    pub constellation: ConstellationConfig,
    /// The MQTT broker: embedded or external.
    #[serde(default)]
    pub mqtt: MqttConfig,
    /// The adapter's own HTTP listener: metrics, health, status.
    #[serde(default)]
    pub http: HttpConfig,
    /// Where accepted work and the embedded broker's retained messages are kept.
    #[serde(default)]
    pub storage: StorageConfig,
    /// Sentinels and packages declared on the server through its Management API.
    #[serde(default)]
    pub provisioning: ProvisioningConfig,
    /// Constellation StateObjects published on MQTT (and announced to Home Assistant).
    #[serde(default)]
    pub export: Vec<ExportConfig>,
    /// Packages with their own settings or credentials.
    #[serde(default)]
    pub packages: Vec<PackageConfig>,
    /// Mapping rules: other topic layouts projected into virtual packages.
    #[serde(default)]
    pub map: Vec<MapRule>,
    /// MessageCallbacks of mapped packages, carried out as publishes.
    #[serde(default)]
    pub command: Vec<CommandRule>,
    /// Ecosystems projected with one line each: each expands into rules and commands
    /// placed after the file's own, which therefore take precedence.
    #[serde(default)]
    pub preset: Vec<Preset>,
}

fn default_prefix() -> String {
    "constellation".into()
}

impl Default for Config {
    /// What an empty `topics.toml` gives.
    fn default() -> Self {
        Self {
            prefix: default_prefix(),
            constellation: ConstellationConfig::default(),
            mqtt: MqttConfig::default(),
            http: HttpConfig::default(),
            storage: StorageConfig::default(),
            provisioning: ProvisioningConfig::default(),
            export: Vec::new(),
            packages: Vec::new(),
            map: Vec::new(),
            command: Vec::new(),
            preset: Vec::new(),
        }
    }
}

/// `[http]`: the adapter's HTTP listener (`/metrics`, `/healthz`, `/readyz`, `/status`).
#[derive(Debug, Clone, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// `host:port`; loopback by default; `""` turns the listener off.
    pub listen: String,
    /// `/readyz` wants an answer from Constellation within this many seconds (the
    /// adapter asks `CheckAccess` when nothing else was asked meanwhile).
    pub readiness_s: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8089".into(),
            readiness_s: 30,
        }
    }
}

named_enum! {
    /// Where accepted work is kept until Constellation has it.
    Durability {
        /// On disk, committed before a publish is acknowledged: survives a crash.
        Disk = "disk",
        /// In memory only: lost with the process (`demo`, tests).
        Memory = "memory",
    }
}

/// `[storage]`: the journal of accepted work (and, with the embedded broker, its
/// retained messages).
#[derive(Debug, Clone, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// The journal's directory; `data` beside `topics.toml` when unset.
    pub dir: Option<PathBuf>,
    /// `disk`: committed before a publish is acknowledged, survives a crash; `memory`:
    /// lost with the process.
    pub durability: Durability,
    /// The most bytes of work pending at once, over all packages; when full, new logs,
    /// messages and other jobs are refused on `error` (StateObjects still conflate).
    pub max_bytes: u64,
    /// Journal commits (each one fsync) happen at most this often: many jobs per commit.
    pub commit_ms: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            dir: None,
            durability: Durability::Disk,
            max_bytes: 256 * 1024 * 1024,
            commit_ms: 2,
        }
    }
}

/// `[provisioning]`: when the server refuses an admitted package's credential, the
/// adapter declares its sentinel and package instance through the Management API,
/// reloads the server's configuration, and delivers the package's work (off by default).
#[derive(Debug, Clone, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ProvisioningConfig {
    /// Turns provisioning on.
    pub enabled: bool,
    /// A credential with `EnableManagementAPI`.
    pub access_key: Option<Secret>,
    /// The adapter's name towards the Management API (its `PackageName`).
    pub friendly_name: String,
    /// The credential provisioned sentinels and packages use: created with
    /// `constellation.access_key` when the server has none of that name. A package of
    /// `[[packages]]` with its own key gets `<credential>.<sentinel>.<package>`.
    pub credential: String,
    /// Globs of the sentinels the adapter may create; nothing outside them.
    pub sentinels: Vec<String>,
    /// Pass `deployConfiguration` to the reload (push it to the sentinels).
    pub deploy: bool,
    /// Reloads happen at most this often; what arrives meanwhile joins the next one.
    pub reload_min_interval_ms: u64,
    /// Remove package instances the adapter created once they have been gone (no
    /// publish, not live in the adapter) for `prune_after_s`. Nothing else is ever
    /// removed.
    pub prune: bool,
    /// How long a created instance must have been gone before `prune` removes it.
    pub prune_after_s: u64,
}

impl Default for ProvisioningConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            access_key: None,
            friendly_name: "constellation-mqtt".into(),
            credential: "constellation-mqtt".into(),
            sentinels: Vec::new(),
            deploy: false,
            reload_min_interval_ms: 1_000,
            prune: false,
            prune_after_s: 7 * 24 * 3600,
        }
    }
}

/// `[constellation]`: the server and how to talk to it.
#[derive(Debug, Clone, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ConstellationConfig {
    /// Server root URI (http or https).
    pub url: String,
    /// Default credential of every package that has none of its own.
    pub access_key: Option<Secret>,
    /// Time allowed to one request (long polls excepted).
    pub request_timeout_ms: u64,
    /// How long the server holds a `GetMessages` or `GetStateObjects` long poll
    /// (1000..=120000).
    pub long_poll_timeout_ms: u64,
    /// Settings of declared packages are read again this often (a change is
    /// republished, retained, on `settings`).
    pub settings_refresh_s: u64,
    /// Glob patterns over `sentinel/package` of the packages that may be projected.
    pub allow: Vec<String>,
    /// Requests in flight towards the server at once, over all packages.
    pub max_concurrent_requests: usize,
    /// Repeatable requests (StateObject pushes, subscriptions, settings) written on one
    /// connection before their answers come, HTTP/1.1 pipelining on `http://`
    /// servers; 1: each request alone.
    pub pipeline: usize,
    /// Pending operations kept per package (StateObjects count once per name); beyond
    /// it new ones are dropped, counted and reported.
    pub queue_limit: usize,
    /// Bytes of pending operations kept per package (as journaled); beyond it new ones
    /// are dropped, counted and reported (a StateObject update still replaces its
    /// pending value).
    pub queue_limit_bytes: usize,
    /// After a credential is refused, the package's publishes are answered on `error`
    /// without asking the server again for this long (doubling up to ten times it).
    pub auth_retry_s: u64,
    /// On shutdown, queued work is still delivered for at most this long.
    pub flush_timeout_ms: u64,
    /// The StateObject that mirrors a device's `status`; empty to disable.
    pub online_stateobject: String,
    /// Long polls (`GetMessages`, `GetStateObjects`) in flight at once; each holds a
    /// connection. Packages beyond it wait for a turn.
    pub max_long_polls: usize,
    /// The most live virtual packages; a publish for one more is refused on its `error`
    /// topic (and counted) until one goes.
    pub max_packages: usize,
    /// The most devices learned from discovery (device lists, discovery configs); one
    /// more is refused on the adapter's `error` topic (and counted) until one goes.
    pub max_learned_devices: usize,
    /// A package idle this long (no publish, no job or saga pending, no StateObject
    /// link or group of its device, no message ever received, not in `[[packages]]`)
    /// is released: its tasks and long polls end, and its next publish starts it
    /// again. 0: never.
    pub package_idle_s: u64,
    /// How long the sender of a saga delivered to a device is remembered for its answer.
    pub saga_timeout_ms: u64,
    /// Sagas remembered per package; the oldest is forgotten beyond.
    pub max_sagas_per_package: usize,
    /// The adapter's own identity (a consumer or a package credential): what
    /// `[[export]]` follows and `<prefix>/_send` sends as.
    pub identity: Option<IdentityConfig>,
}

/// `[constellation] identity = { sentinel, package, access_key }`.
#[derive(Debug, Clone, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    /// `Consumer` for a consumer credential.
    pub sentinel: String,
    /// The package name (a consumer's friendly name).
    pub package: String,
    /// Default: `constellation.access_key`.
    pub access_key: Option<Secret>,
}

/// `[[export]]`: Constellation StateObjects published on MQTT, optionally announced to
/// Home Assistant.
#[derive(Debug, Clone, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportConfig {
    /// One StateObject filter or a list (`*` or absent fields match anything).
    pub filter: OneOrMany<SoFilter>,
    /// Topic template over `{sentinel}`, `{package}`, `{name}`, `{type}` (each a
    /// sanitised topic level).
    #[serde(default = "default_export_topic")]
    pub topic: String,
    /// Jinja over `so` (the StateObject as Constellation gives it); default: its JSON.
    pub payload: Option<String>,
    /// Publish retained, so that a subscriber arriving later has the last value.
    #[serde(default = "yes")]
    pub retain: bool,
    /// The publish's QoS (0, 1 or 2); `mqtt.qos` when absent.
    pub qos: Option<u8>,
    /// Also announce each exported StateObject to Home Assistant.
    #[serde(default)]
    pub homeassistant_discovery: bool,
    /// Where Home Assistant discovery configs are published.
    #[serde(default = "default_discovery_prefix")]
    pub discovery_prefix: String,
    /// For an object StateObject, the Home Assistant state: a template over the
    /// published payload (`value_json`); the object goes to the entity's attributes.
    #[serde(default = "default_object_value")]
    pub object_value_template: String,
    /// MessageCallbacks announced to Home Assistant as entities that send the message.
    #[serde(default)]
    pub callback: Vec<ExportCallback>,
}

impl Default for ExportConfig {
    /// An export with the defaults of the configuration file and no filter.
    fn default() -> Self {
        Self {
            filter: OneOrMany::Many(Vec::new()),
            topic: default_export_topic(),
            payload: None,
            retain: true,
            qos: None,
            homeassistant_discovery: false,
            discovery_prefix: default_discovery_prefix(),
            object_value_template: default_object_value(),
            callback: Vec::new(),
        }
    }
}

/// `[[export.callback]]`: a MessageCallback of a Constellation package, as a Home
/// Assistant `button` (no parameter), `number`, `text` or `switch`.
#[derive(Debug, Clone, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportCallback {
    /// The sentinel of the package that has the callback.
    pub sentinel: String,
    /// The package that has the callback.
    pub package: String,
    /// The MessageCallback's key.
    pub key: String,
    /// The one parameter's type: `System.Double` (and other numbers) → `number`,
    /// `System.Boolean` → `switch`, anything else → `text`; none → `button`.
    #[serde(rename = "type")]
    pub type_name: Option<String>,
    /// Its name in Home Assistant (default: the key).
    pub name: Option<String>,
}

/// One value or a list of them.
#[derive(Debug, Clone, Deserialize, PartialEq, JsonSchema)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    /// The values.
    pub fn as_slice(&self) -> &[T] {
        match self {
            Self::One(t) => std::slice::from_ref(t),
            Self::Many(v) => v,
        }
    }
}

fn default_export_topic() -> String {
    "constellation-export/{sentinel}/{package}/{name}".into()
}

fn default_discovery_prefix() -> String {
    "homeassistant".into()
}

fn default_object_value() -> String {
    "{{ value_json.Value | tojson }}".into()
}

fn yes() -> bool {
    true
}

impl Default for ConstellationConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8088/".into(),
            access_key: None,
            request_timeout_ms: 5_000,
            long_poll_timeout_ms: 60_000,
            settings_refresh_s: 300,
            allow: vec!["*/*".into()],
            max_concurrent_requests: 32,
            pipeline: 16,
            queue_limit: 10_000,
            queue_limit_bytes: 16 * 1024 * 1024,
            auth_retry_s: 30,
            flush_timeout_ms: 5_000,
            online_stateobject: "Online".into(),
            max_long_polls: 10_000,
            max_packages: 10_000,
            max_learned_devices: 10_000,
            package_idle_s: 3_600,
            saga_timeout_ms: 300_000,
            max_sagas_per_package: 1_000,
            identity: None,
        }
    }
}

named_enum! {
    /// Where the MQTT side comes from.
    MqttMode {
        /// rumqttd inside the adapter.
        Embedded = "embedded",
        /// Any broker, by URL.
        External = "external",
    }
}

/// `[mqtt]`: the broker side.
#[derive(Debug, Clone, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct MqttConfig {
    /// `embedded`: rumqttd inside the adapter; `external`: any broker, by `url`.
    pub mode: MqttMode,
    /// Embedded: the broker's own config file; without it, the compiled-in defaults
    /// (`broker/rumqttd.toml`: loopback listeners on 1883 and 1884).
    pub broker_config: Option<PathBuf>,
    /// External: `mqtt://host:port` or `mqtts://host:port`.
    pub url: String,
    /// External: the adapter's MQTT client id.
    pub client_id: String,
    /// External: the user name to log in with.
    pub username: Option<String>,
    /// External: the password to log in with.
    pub password: Option<Secret>,
    /// QoS of the adapter's subscriptions and of what it publishes (0, 1 or 2).
    pub qos: u8,
    /// External, `mqtts://`: the CA certificate (PEM) to trust; the system's roots if unset.
    pub ca_file: Option<PathBuf>,
    /// External, `mqtts://`: client certificate and key (PEM) for mutual TLS.
    pub client_cert_file: Option<PathBuf>,
    /// External, `mqtts://`: the client certificate's private key (PEM).
    pub client_key_file: Option<PathBuf>,
    /// External: the MQTT keep-alive interval.
    pub keep_alive_s: u64,
    /// The largest payload the adapter takes from a device; larger ones are answered
    /// on `error`. Also the client's maximum packet size (plus headers).
    pub max_payload_bytes: usize,
}

impl Default for MqttConfig {
    fn default() -> Self {
        Self {
            mode: MqttMode::Embedded,
            broker_config: None,
            url: "mqtt://127.0.0.1:1883".into(),
            client_id: "constellation-mqtt".into(),
            username: None,
            password: None,
            qos: 1,
            ca_file: None,
            client_cert_file: None,
            client_key_file: None,
            keep_alive_s: 30,
            max_payload_bytes: 256 * 1024,
        }
    }
}

named_enum! {
    /// What a device receives on `callback/<key>`.
    CallbackPayload {
        /// The message as Constellation delivers it.
        Message = "message",
        /// Its `Data` alone.
        Data = "data",
    }
}

named_enum! {
    /// What a device receives on `so/...`.
    SoPayload {
        /// The whole StateObject.
        Object = "object",
        /// Its `Value` alone.
        Value = "value",
    }
}

/// `[[packages]]`: one declared virtual package.
#[derive(Debug, Clone, Deserialize, PartialEq, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PackageConfig {
    /// The sentinel's name.
    pub sentinel: String,
    /// The package's name.
    pub package: String,
    /// This package's credential; the default one when absent.
    pub access_key: Option<Secret>,
    /// What the device receives on `callback/<key>`: the whole `message`, or its `data`.
    #[serde(default)]
    pub callback_payload: CallbackPayload,
    /// What the device receives on `so/...`: the whole StateObject (`object`), or its
    /// `value`.
    #[serde(default)]
    pub so_payload: SoPayload,
    /// Static StateObject links.
    #[serde(default)]
    pub subscribe: Vec<SoFilter>,
    /// Message groups joined at start (and written with the instance when provisioned).
    #[serde(default)]
    pub groups: Vec<String>,
    /// Settings written with the instance when it is provisioned (`[provisioning]`).
    #[serde(default)]
    pub settings: Map<String, Value>,
    /// Per-StateObject defaults, by name.
    #[serde(default)]
    pub stateobjects: BTreeMap<String, SoDefaults>,
}

/// Defaults for one StateObject of a package.
#[derive(Debug, Clone, Deserialize, PartialEq, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SoDefaults {
    /// The StateObject's type (e.g. `System.Double`).
    #[serde(rename = "type")]
    pub type_name: Option<String>,
    /// Seconds; 0 = never expires.
    pub lifetime: Option<i64>,
    /// Metadata pushed with it.
    #[serde(default)]
    pub metadata: Map<String, Value>,
}

/// `[[map]]`: topics of another layout → one virtual package's StateObjects.
#[derive(Debug, Clone, Deserialize, PartialEq, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MapRule {
    /// A topic pattern: `{name}` one level, `{name+}` several, `+`, `#`.
    pub topic: String,
    /// The package's sentinel, with `{capture}`s.
    pub sentinel: String,
    /// The package's name, with `{capture}`s.
    pub package: String,
    /// One StateObject per leaf of the JSON payload, named by its dotted path.
    #[serde(default)]
    pub explode: bool,
    /// Leaves (dotted paths) not to publish when exploding.
    #[serde(default)]
    pub skip: Vec<String>,
    /// Explicit StateObjects, by name.
    #[serde(default)]
    pub stateobjects: BTreeMap<String, MappedStateObject>,
    /// A single StateObject of this name from the payload (with `value`, if set).
    pub stateobject: Option<String>,
    /// The template of the single StateObject's value.
    pub value: Option<String>,
    /// The single StateObject's type (e.g. `System.Double`).
    #[serde(rename = "type")]
    pub type_name: Option<String>,
    /// The single StateObject's lifetime, in seconds; 0 = never expires.
    pub lifetime: Option<i64>,
    /// Metadata pushed with the single StateObject.
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// Rendered value → value (e.g. `{ ON = true, OFF = false }`).
    #[serde(default)]
    pub map: Map<String, Value>,
    /// A rendered value `map` does not name gives no update (as Home Assistant's
    /// `payload_on`/`payload_off`), instead of passing through.
    #[serde(default)]
    pub map_only: bool,
    /// An empty value, or one that does not read as the declared `type`, gives no
    /// update (as Home Assistant ignores it), instead of passing through as text.
    #[serde(default)]
    pub strict: bool,
    /// The rendered text that resets the StateObject: its value becomes null (Home
    /// Assistant's `unknown`, from its `None`), whatever `map`, `map_only` and `strict`
    /// say.
    pub reset: Option<String>,
    /// StateObjects of the package its templates read, as `states[name]`: the last value
    /// the rules mapped for it (none before the first).
    #[serde(default)]
    pub reads: Vec<String>,
    /// The payload is the device's availability.
    pub availability: Option<Availability>,
    /// How this topic's availability combines with other topics':
    /// `{ all = [topics] }` or `{ any = [topics] }` (default: the latest report wins).
    pub availability_mode: Option<AvailabilityMode>,
    /// Keep looking for other matching rules after this one.
    #[serde(default, rename = "continue")]
    pub continue_matching: bool,
}

/// An explicit StateObject of a rule.
#[derive(Debug, Clone, Deserialize, PartialEq, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MappedStateObject {
    /// A template for the value…
    pub value: Option<String>,
    /// …or the dotted path of a JSON leaf (`ENERGY.Power`).
    pub path: Option<String>,
    /// Its type (e.g. `System.Double`).
    #[serde(rename = "type")]
    pub type_name: Option<String>,
    /// Its lifetime, in seconds; 0 = never expires.
    pub lifetime: Option<i64>,
    /// Metadata pushed with it.
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// Rendered value → value, as a rule's `map`.
    #[serde(default)]
    pub map: Map<String, Value>,
    /// As a rule's `map_only`.
    #[serde(default)]
    pub map_only: bool,
    /// As a rule's `strict`.
    #[serde(default)]
    pub strict: bool,
    /// As a rule's `reset`.
    pub reset: Option<String>,
}

/// `[[preset]]`: the rules and commands of an ecosystem.
#[derive(Debug, Clone, Deserialize, PartialEq, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    /// `tasmota`, `esphome`, `zigbee2mqtt`, `homie` or `homeassistant`.
    pub kind: String,
    /// The sentinel of the packages it makes (default: `Tasmota`, `ESPHome`, `Zigbee`,
    /// `Homie`, `HomeAssistant`).
    pub sentinel: Option<String>,
    /// `esphome`: the devices' topic prefixes (without them, learned from discovery).
    #[serde(default)]
    pub prefixes: Vec<String>,
    /// `zigbee2mqtt` and `homie`: the base topic (default `zigbee2mqtt`, `homie`).
    pub base: Option<String>,
    /// `homeassistant` and `esphome`: where discovery configs are published (default
    /// `homeassistant`).
    pub discovery_prefix: Option<String>,
}

/// `[[command]]`: a MessageCallback of mapped packages, carried out as a publish.
#[derive(Debug, Clone, Deserialize, PartialEq, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandRule {
    /// The packages it belongs to: a sentinel, and a package name or `*` (every package
    /// of that sentinel the adapter knows).
    pub sentinel: String,
    /// The package name, or `*`.
    pub package: String,
    /// The MessageCallback's key.
    pub key: String,
    /// Its description in the package descriptor.
    pub description: Option<String>,
    /// Its parameters in the package descriptor.
    #[serde(default)]
    pub parameters: Vec<CommandParameter>,
    /// The topic to publish on, with `{sentinel}` and `{package}`.
    pub topic: String,
    /// The payload template; variables `data`, `key`, `sentinel`, `package`, `sender`.
    #[serde(default = "default_command_payload")]
    pub payload: String,
    /// How a saga is answered; without it, sagas get no answer.
    pub response: Option<CommandResponse>,
    /// The publish's QoS (0, 1 or 2); `mqtt.qos` when absent. Never retained.
    pub qos: Option<u8>,
    /// More publishes after the command's own, in order. In a command with steps, a
    /// publish whose payload renders to nothing is skipped, so each can depend on `data`.
    #[serde(default)]
    pub steps: Vec<CommandStep>,
    /// StateObjects of the package its templates read, as `states[name]`: the last
    /// value the rules mapped for it (none before the first).
    #[serde(default)]
    pub reads: Vec<String>,
}

/// One more publish of a command.
#[derive(Debug, Clone, Deserialize, PartialEq, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandStep {
    /// The topic, as a command's.
    pub topic: String,
    /// The payload template, as a command's.
    pub payload: String,
}

fn default_command_payload() -> String {
    "{{ data }}".into()
}

/// A parameter of a command, for the package descriptor.
#[derive(Debug, Clone, Deserialize, PartialEq, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandParameter {
    /// The parameter's name.
    pub name: String,
    /// Its type (e.g. `System.Int32`).
    #[serde(rename = "type", default = "default_parameter_type")]
    pub type_name: String,
    /// Its description.
    pub description: Option<String>,
}

fn default_parameter_type() -> String {
    "System.String".into()
}

/// How the answer to a command sent in a saga is recognised.
#[derive(Debug, Clone, Deserialize, PartialEq, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandResponse {
    /// The topic the device answers on, with `{sentinel}` and `{package}`.
    pub topic: String,
    /// The first publish there for which this template renders is the answer.
    pub value: String,
    /// Then the saga is answered with an error object.
    #[serde(default = "default_response_timeout")]
    pub timeout_ms: u64,
}

fn default_response_timeout() -> u64 {
    3_000
}

/// How a payload tells availability: a pair of payloads, or a template giving true/false.
#[derive(Debug, Clone, Deserialize, PartialEq, JsonSchema)]
#[serde(untagged)]
pub enum Availability {
    /// `{ online = "...", offline = "..." }`: the payloads that mean each.
    Payloads {
        /// The payload that means online.
        online: String,
        /// The payload that means offline.
        offline: String,
    },
    /// A template rendering `true` (online) or `false`.
    Template(String),
}

impl Config {
    /// Makes the relative file paths of the configuration relative to `dir` (the
    /// directory of the file they were read from), never to the working directory.
    pub fn resolve_paths(&mut self, dir: &Path) {
        let m = &mut self.mqtt;
        for path in [
            &mut m.broker_config,
            &mut m.ca_file,
            &mut m.client_cert_file,
            &mut m.client_key_file,
        ]
        .into_iter()
        .flatten()
        {
            if path.is_relative() && !path.as_os_str().is_empty() {
                *path = dir.join(&*path);
            }
        }
        let storage = self.storage.dir.get_or_insert_with(|| "data".into());
        if storage.is_relative() {
            *storage = dir.join(&*storage);
        }
    }

    /// The credential of a package: its own, else the default.
    pub fn access_key_for(&self, sentinel: &str, package: &str) -> Option<&str> {
        self.package(sentinel, package)
            .and_then(|p| p.access_key.as_ref())
            .or(self.constellation.access_key.as_ref())
            .map(Secret::expose)
    }

    /// The identity of every `[[packages]]` entry, with its credential.
    pub fn declared_identities(&self) -> Vec<Identity> {
        self.packages
            .iter()
            .map(|p| {
                let key = self.access_key_for(&p.sentinel, &p.package);
                Identity::new(&p.sentinel, &p.package, key.unwrap_or_default())
            })
            .collect()
    }

    /// The default credential (empty without one) as a package it admits: the first
    /// `allow` entry naming one package, else `constellation-mqtt/Check`; for asking
    /// the server when no package is declared.
    pub fn default_identity(&self) -> Identity {
        let literal = |x: &str| !x.is_empty() && !x.contains(['*', '?', '[', '{']);
        let (sentinel, package) = self
            .constellation
            .allow
            .iter()
            .filter_map(|a| a.split_once('/'))
            .find(|(s, p)| literal(s) && literal(p))
            .unwrap_or(("constellation-mqtt", "Check"));
        let key = self.constellation.access_key.as_ref();
        Identity::new(sentinel, package, key.map_or("", Secret::expose))
    }

    /// The adapter's own identity (`[constellation] identity`), its key defaulting to
    /// `constellation.access_key`.
    pub fn identity(&self) -> Option<Identity> {
        let i = self.constellation.identity.as_ref()?;
        let key = i
            .access_key
            .as_ref()
            .or(self.constellation.access_key.as_ref())
            .map_or("", Secret::expose);
        Some(Identity::new(&i.sentinel, &i.package, key))
    }

    /// The declared package of that name, if any.
    pub fn package(&self, sentinel: &str, package: &str) -> Option<&PackageConfig> {
        self.packages
            .iter()
            .find(|p| p.sentinel == sentinel && p.package == package)
    }
}
