//! The simulated server's configuration file as the Management API edits it:
//! credentials, sentinels, package instances, their settings and groups. Edits take
//! effect at `configuration/reload` (see `State::reload`).

use super::state::SimError;
use super::world::{CredentialDecl, PackageDecl, SentinelDecl, World};
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// `POST credentials`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct NewCredential {
    name: String,
    access_key: String,
    enable: Option<bool>,
    enable_control_hub: Option<bool>,
    #[serde(rename = "EnableManagementAPI")]
    enable_management_api: Option<bool>,
    enable_developer_access: Option<bool>,
}

/// `POST sentinels`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct NewSentinel {
    name: String,
    credential: String,
}

/// `POST sentinels/{sentinel}/packages`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct NewPackage {
    name: String,
    package_file: Option<String>,
    enable: Option<bool>,
    credential: Option<String>,
    auto_start: Option<bool>,
}

/// A name the server's configuration can hold: not empty, no path or control
/// characters.
fn check_name(what: &str, name: &str) -> Result<(), SimError> {
    let bad = |c: char| c.is_control() || "/\\?#\"<>|*:".contains(c);
    if name.trim().is_empty() || name.chars().any(bad) {
        return Err(SimError::bad_request(format!(
            "{what} name {name:?} is not valid"
        )));
    }
    Ok(())
}

fn not_found(what: &str) -> SimError {
    SimError::not_found(format!("no {what}"))
}

/// `GET credentials`.
pub(super) fn credentials(world: &World, include_keys: bool) -> Value {
    let list: Vec<Value> = world
        .credentials
        .iter()
        .map(|c| {
            let mut v = json!({"Name": c.name, "Enable": c.enable,
                "EnableControlHub": c.enable_control_hub,
                "EnableManagementAPI": c.enable_management_api,
                "EnableDeveloperAccess": c.enable_developer_access});
            if include_keys {
                v["AccessKey"] = json!(c.access_key);
            }
            v
        })
        .collect();
    Value::Array(list)
}

/// `POST credentials`: adds or replaces.
pub(super) fn add_credential(world: &mut World, new: NewCredential) -> Result<(), SimError> {
    check_name("credential", &new.name)?;
    let credential = CredentialDecl {
        name: new.name,
        access_key: new.access_key,
        enable: new.enable.unwrap_or(true),
        enable_management_api: new.enable_management_api.unwrap_or(false),
        enable_control_hub: new.enable_control_hub.unwrap_or(false),
        enable_developer_access: new.enable_developer_access.unwrap_or(false),
    };
    world.credentials.retain(|c| c.name != credential.name);
    world.credentials.push(credential);
    Ok(())
}

/// `DELETE credentials/{name}`.
pub(super) fn delete_credential(world: &mut World, name: &str) -> Result<(), SimError> {
    let before = world.credentials.len();
    world.credentials.retain(|c| c.name != name);
    if world.credentials.len() == before {
        return Err(not_found("such credential"));
    }
    Ok(())
}

/// `GET sentinels`.
pub(super) fn sentinels(world: &World) -> Value {
    Value::Array(
        world
            .sentinels
            .iter()
            .map(|s| json!({"Name": s.name, "Credential": s.credential}))
            .collect(),
    )
}

/// `POST sentinels`: adds, or replaces its credential (its packages stay).
pub(super) fn add_sentinel(world: &mut World, new: NewSentinel) -> Result<(), SimError> {
    check_name("sentinel", &new.name)?;
    match world.sentinels.iter_mut().find(|s| s.name == new.name) {
        Some(s) => s.credential = Some(new.credential),
        None => world.sentinels.push(SentinelDecl {
            name: new.name,
            access_key: None,
            credential: Some(new.credential),
            packages: Vec::new(),
        }),
    }
    Ok(())
}

/// `DELETE sentinels/{sentinel}`, with its packages.
pub(super) fn delete_sentinel(world: &mut World, name: &str) -> Result<(), SimError> {
    let before = world.sentinels.len();
    world.sentinels.retain(|s| s.name != name);
    if world.sentinels.len() == before {
        return Err(not_found("such sentinel"));
    }
    Ok(())
}

fn sentinel<'a>(world: &'a mut World, name: &str) -> Result<&'a mut SentinelDecl, SimError> {
    world
        .sentinels
        .iter_mut()
        .find(|s| s.name == name)
        .ok_or_else(|| not_found("such sentinel"))
}

fn instance(p: &PackageDecl) -> Value {
    json!({"Name": p.name, "PackageFile": null, "Enable": p.enable,
        "Credential": p.credential, "AutoStart": false})
}

/// `GET sentinels/{sentinel}/packages`.
pub(super) fn packages(world: &mut World, s: &str) -> Result<Value, SimError> {
    Ok(Value::Array(
        sentinel(world, s)?.packages.iter().map(instance).collect(),
    ))
}

/// `POST sentinels/{sentinel}/packages`: adds, or replaces the instance's attributes
/// (its settings and groups stay).
pub(super) fn add_package(world: &mut World, s: &str, new: NewPackage) -> Result<(), SimError> {
    check_name("package", &new.name)?;
    if new.package_file.is_some() || new.auto_start == Some(true) {
        // Accepted as a real server would; the simulator hosts no package files.
        tracing::debug!(package = %new.name, "simulator: package file ignored (virtual instance)");
    }
    let sentinel = sentinel(world, s)?;
    match sentinel.packages.iter_mut().find(|p| p.name == new.name) {
        Some(p) => {
            p.enable = new.enable.unwrap_or(true);
            p.credential = new.credential;
        }
        None => sentinel.packages.push(PackageDecl {
            enable: new.enable.unwrap_or(true),
            credential: new.credential,
            ..PackageDecl::new(new.name)
        }),
    }
    Ok(())
}

fn package<'a>(world: &'a mut World, s: &str, p: &str) -> Result<&'a mut PackageDecl, SimError> {
    sentinel(world, s)?
        .packages
        .iter_mut()
        .find(|d| d.name == p)
        .ok_or_else(|| not_found("such package instance"))
}

/// `GET sentinels/{sentinel}/packages/{package}`.
pub(super) fn get_package(world: &mut World, s: &str, p: &str) -> Result<Value, SimError> {
    package(world, s, p).map(|d| instance(d))
}

/// `DELETE sentinels/{sentinel}/packages/{package}`.
pub(super) fn delete_package(world: &mut World, s: &str, p: &str) -> Result<(), SimError> {
    let sentinel = sentinel(world, s)?;
    let before = sentinel.packages.len();
    sentinel.packages.retain(|d| d.name != p);
    if sentinel.packages.len() == before {
        return Err(not_found("such package instance"));
    }
    Ok(())
}

/// `GET …/settings`.
pub(super) fn settings(world: &mut World, s: &str, p: &str) -> Result<Value, SimError> {
    package(world, s, p).map(|d| Value::Object(d.settings.clone()))
}

/// `POST …/settings`: replaces them.
pub(super) fn set_settings(
    world: &mut World,
    s: &str,
    p: &str,
    settings: Map<String, Value>,
) -> Result<(), SimError> {
    package(world, s, p)?.settings = settings;
    Ok(())
}

/// `GET …/groups`.
pub(super) fn groups(world: &mut World, s: &str, p: &str) -> Result<Value, SimError> {
    package(world, s, p).map(|d| json!(d.groups))
}

/// `POST …/groups`: replaces them.
pub(super) fn set_groups(
    world: &mut World,
    s: &str,
    p: &str,
    groups: Vec<String>,
) -> Result<(), SimError> {
    package(world, s, p)?.groups = groups;
    Ok(())
}
