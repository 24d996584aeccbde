//! Wire types of the Constellation REST interface, shared by the client and the simulator.
//!
//! Field names follow the server's JSON (PascalCase). Types that travel in both directions
//! accept the spellings the spec allows (`Other`/`Others`, scope names or codes).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use std::fmt;

/// A StateObject as the server serialises it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct StateObject {
    pub sentinel_name: String,
    pub package_name: String,
    pub name: String,
    #[serde(default)]
    pub unique_id: String,
    #[serde(rename = "Type", default)]
    pub type_name: Option<String>,
    #[serde(default)]
    pub value: Value,
    #[serde(default)]
    pub metadatas: Option<Map<String, Value>>,
    #[serde(default)]
    pub last_update: String,
    #[serde(default)]
    pub lifetime: u64,
    #[serde(default)]
    pub is_expired: bool,
}

/// The body of `PushStateObject` (POST).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct StateObjectPush {
    pub name: String,
    pub value: Value,
    #[serde(rename = "Type", default, skip_serializing_if = "Option::is_none")]
    pub type_name: Option<String>,
    /// Seconds; signed so that a negative value reaches validation instead of a parse error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadatas: Option<Map<String, Value>>,
}

/// The type the spec infers for a value pushed without an explicit type.
///
/// Booleans, integers (i32 range, then i64), other numbers and strings get a .NET type
/// name; objects, arrays and null get none.
pub fn infer_type(value: &Value) -> Option<&'static str> {
    match value {
        Value::Bool(_) => Some("System.Boolean"),
        Value::Number(n) => Some(match n.as_i64() {
            Some(i) if i32::try_from(i).is_ok() => "System.Int32",
            Some(_) => "System.Int64",
            None if n.is_u64() => "System.Int64",
            None => "System.Double",
        }),
        Value::String(_) => Some("System.String"),
        _ => None,
    }
}

/// A value given as text: JSON text as that value, any other text as a string (the
/// rule of the REST GET forms and of device payloads).
pub fn json_or_text(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// Log levels accepted by `WriteLog`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum LogLevel {
    #[default]
    Info,
    Warn,
    Error,
}

impl LogLevel {
    /// Parses a level name in any case; `warning` is accepted for `Warn`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "info" => Some(Self::Info),
            "warn" | "warning" => Some(Self::Warn),
            "error" => Some(Self::Error),
            _ => None,
        }
    }

    /// The name the server expects.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "Info",
            Self::Warn => "Warn",
            Self::Error => "Error",
        }
    }
}

/// A message scope type. Serialised by name; deserialised from a name (any case,
/// `Others` accepted) or from its numeric code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScopeType {
    Group,
    Package,
    Sentinel,
    Other,
    All,
}

impl ScopeType {
    /// Parses a scope type name as `SendMessage` accepts it.
    pub fn from_name(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "group" => Some(Self::Group),
            "package" => Some(Self::Package),
            "sentinel" => Some(Self::Sentinel),
            "other" | "others" => Some(Self::Other),
            "all" => Some(Self::All),
            _ => None,
        }
    }

    /// The numeric code of a received message's `Scope.Scope`.
    pub fn code(self) -> u8 {
        match self {
            Self::Group => 1,
            Self::Package => 2,
            Self::Sentinel => 3,
            Self::Other => 4,
            Self::All => 5,
        }
    }

    fn from_code(code: u64) -> Option<Self> {
        [
            Self::Group,
            Self::Package,
            Self::Sentinel,
            Self::Other,
            Self::All,
        ]
        .into_iter()
        .find(|s| u64::from(s.code()) == code)
    }

    /// The canonical name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Group => "Group",
            Self::Package => "Package",
            Self::Sentinel => "Sentinel",
            Self::Other => "Other",
            Self::All => "All",
        }
    }

    fn serialize_code<S: Serializer>(this: &Self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(this.code())
    }
}

impl fmt::Display for ScopeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for ScopeType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for ScopeType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match Value::deserialize(d)? {
            Value::String(s) => Self::from_name(&s)
                .ok_or_else(|| D::Error::custom(format!("unknown scope type `{s}`"))),
            Value::Number(n) => n
                .as_u64()
                .and_then(Self::from_code)
                .ok_or_else(|| D::Error::custom(format!("unknown scope code {n}"))),
            other => Err(D::Error::custom(format!("invalid scope type {other}"))),
        }
    }
}

/// The scope of a message being sent (`SendMessage` POST body).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Scope {
    #[serde(rename = "Type")]
    pub kind: ScopeType,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saga_id: Option<String>,
}

/// A message being sent (`SendMessage` POST body).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct OutgoingMessage {
    pub scope: Scope,
    pub key: String,
    #[serde(default)]
    pub data: Value,
}

/// The scope of a received message: the type as a numeric code.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ReceivedScope {
    #[serde(rename = "Scope", serialize_with = "ScopeType::serialize_code")]
    pub kind: ScopeType,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub saga_id: Option<String>,
}

/// Who sent a message.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(try_from = "u8", into = "u8")]
pub enum SenderType {
    ConsumerHub,
    ConsumerHttp,
    ConstellationHub,
    ConstellationHttp,
}

impl From<SenderType> for u8 {
    fn from(t: SenderType) -> u8 {
        t as u8
    }
}

impl TryFrom<u8> for SenderType {
    type Error = String;
    fn try_from(v: u8) -> Result<Self, String> {
        match v {
            0 => Ok(Self::ConsumerHub),
            1 => Ok(Self::ConsumerHttp),
            2 => Ok(Self::ConstellationHub),
            3 => Ok(Self::ConstellationHttp),
            _ => Err(format!("unknown sender type {v}")),
        }
    }
}

/// The sender of a received message.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Sender {
    #[serde(rename = "Type")]
    pub kind: SenderType,
    pub friendly_name: String,
    #[serde(default)]
    pub connection_id: Option<String>,
}

impl Sender {
    /// The scope argument a saga response must be addressed to: the connection id of a
    /// hub consumer, else the friendly name.
    pub fn reply_address(&self) -> &str {
        match (&self.kind, &self.connection_id) {
            (SenderType::ConsumerHub, Some(id)) => id,
            _ => &self.friendly_name,
        }
    }
}

/// A message as `GetMessages` delivers it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ReceivedMessage {
    pub key: String,
    #[serde(default)]
    pub data: Value,
    pub scope: ReceivedScope,
    pub sender: Sender,
    /// Whatever else the server sent, kept so that devices get the message as delivered.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The key of a saga's answer.
pub const RESPONSE_KEY: &str = "__Response";

/// A StateObject filter; each field is an exact value or `*`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase", default, deny_unknown_fields)]
pub struct SoFilter {
    /// The sentinel's name, or `*`.
    pub sentinel: String,
    /// The package's name, or `*`.
    pub package: String,
    /// The StateObject's name, or `*`.
    pub name: String,
    /// The StateObject's type, or `*`.
    #[serde(rename = "Type")]
    pub type_name: String,
}

impl Default for SoFilter {
    fn default() -> Self {
        Self {
            sentinel: "*".into(),
            package: "*".into(),
            name: "*".into(),
            type_name: "*".into(),
        }
    }
}

impl SoFilter {
    /// Whether the StateObject passes this filter.
    pub fn matches(&self, so: &StateObject) -> bool {
        field_matches(&self.sentinel, &so.sentinel_name)
            && field_matches(&self.package, &so.package_name)
            && field_matches(&self.name, &so.name)
            && field_matches(&self.type_name, so.type_name.as_deref().unwrap_or(""))
    }

    /// The query parameters the REST interface takes for this filter.
    pub fn query(&self) -> [(&'static str, &str); 4] {
        [
            ("sentinel", &self.sentinel),
            ("package", &self.package),
            ("name", &self.name),
            ("type", &self.type_name),
        ]
    }
}

/// `*` matches anything; any other pattern matches itself exactly.
pub fn field_matches(pattern: &str, value: &str) -> bool {
    pattern == "*" || pattern == value
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn infers_types_as_the_spec_says() {
        assert_eq!(infer_type(&json!(true)), Some("System.Boolean"));
        assert_eq!(infer_type(&json!(21)), Some("System.Int32"));
        assert_eq!(infer_type(&json!(3_000_000_000i64)), Some("System.Int64"));
        assert_eq!(infer_type(&json!(u64::MAX)), Some("System.Int64"));
        assert_eq!(infer_type(&json!(21.0)), Some("System.Double"));
        assert_eq!(
            infer_type(&serde_json::from_str("2e3").unwrap()),
            Some("System.Double")
        );
        assert_eq!(infer_type(&json!("x")), Some("System.String"));
        assert_eq!(infer_type(&json!({"a": 1})), None);
        assert_eq!(infer_type(&json!([1])), None);
    }

    #[test]
    fn scope_types_parse_names_and_codes() {
        let s: Scope = serde_json::from_value(json!({"Type": "Others", "Args": []})).unwrap();
        assert_eq!(s.kind, ScopeType::Other);
        let r: ReceivedScope = serde_json::from_value(json!({"Scope": 2, "Args": ["X"]})).unwrap();
        assert_eq!(r.kind, ScopeType::Package);
        assert_eq!(serde_json::to_value(&r).unwrap()["Scope"], json!(2));
        assert!(serde_json::from_value::<Scope>(json!({"Type": "Nope"})).is_err());
    }

    #[test]
    fn reply_address_prefers_connection_id_of_hub_consumers() {
        let mut s = Sender {
            kind: SenderType::ConsumerHub,
            friendly_name: "Consumer/A".into(),
            connection_id: Some("c1".into()),
        };
        assert_eq!(s.reply_address(), "c1");
        s.kind = SenderType::ConsumerHttp;
        assert_eq!(s.reply_address(), "Consumer/A");
    }
}
