//! Reading `topics.toml`: the file, `${VAR}` substitution, environment overrides, types.

use super::schema::{Config, ConfigError};
use config::{Environment, File, FileFormat};
use serde_json::Value;
use serde_path_to_error::Segment;
use std::collections::HashMap;
use std::path::Path;

/// Prefix of the environment variables that override keys: `CONSTELLATION_MQTT__A__B`
/// sets `a.b`.
pub const ENV_PREFIX: &str = "CONSTELLATION_MQTT";

/// Reads the file at `path`, overrides it from the process environment and types it;
/// relative paths in it are taken from the file's directory. Not validated: see
/// [`super::validate`].
pub fn load(path: &Path) -> Result<Config, Vec<ConfigError>> {
    refuse_unknown(load_lenient(path)?)
}

/// Like [`load`], but keys the configuration does not know are left out and returned
/// beside it, so that they can be reported together with every other problem.
pub fn load_lenient(path: &Path) -> Result<(Config, Vec<ConfigError>), Vec<ConfigError>> {
    let (name, text) = read(path)?;
    let (mut config, unknown) = parse_lenient(&name, &text, &std::env::vars().collect())?;
    config.resolve_paths(path.parent().unwrap_or(Path::new("")));
    Ok((config, unknown))
}

/// The text of the file at `path`, and the name it is reported under.
fn read(path: &Path) -> Result<(String, String), Vec<ConfigError>> {
    let name = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => Ok((name, text)),
        Err(e) => Err(vec![ConfigError {
            file: name,
            key: String::new(),
            reason: format!("cannot read the file: {e}"),
        }]),
    }
}

/// Like [`load`], from text named `name`, with `env` standing for the environment;
/// relative paths are left as they are.
pub fn parse(
    name: &str,
    text: &str,
    env: &HashMap<String, String>,
) -> Result<Config, Vec<ConfigError>> {
    refuse_unknown(parse_lenient(name, text, env)?)
}

fn refuse_unknown(
    (config, unknown): (Config, Vec<ConfigError>),
) -> Result<Config, Vec<ConfigError>> {
    if unknown.is_empty() {
        Ok(config)
    } else {
        Err(unknown)
    }
}

/// Like [`load_lenient`], from text named `name`, with `env` standing for the
/// environment; relative paths are left as they are.
pub fn parse_lenient(
    name: &str,
    text: &str,
    env: &HashMap<String, String>,
) -> Result<(Config, Vec<ConfigError>), Vec<ConfigError>> {
    let error = |key: String, reason: String| ConfigError {
        file: name.to_owned(),
        key,
        reason,
    };
    let mut tree = toml_tree(name, text, env)?;
    let mut overrides: config::Map<String, String> = env
        .iter()
        .filter(|(k, _)| k.starts_with(ENV_PREFIX))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut unknown = Vec::new();
    // Each pass reports one unknown key (serde stops at the first), which is then left
    // out: every key is removed at most once, so this ends.
    loop {
        let merged = config::Config::builder()
            .add_source(File::from_str(&tree.to_string(), FileFormat::Json))
            .add_source(
                Environment::with_prefix(ENV_PREFIX)
                    .prefix_separator("__")
                    .separator("__")
                    .source(Some(overrides.clone())),
            )
            .build()
            .map_err(|e| vec![error(String::new(), e.to_string())])?;
        let e = match serde_path_to_error::deserialize::<_, Config>(merged) {
            Ok(config) => return Ok((config, unknown)),
            Err(e) => e,
        };
        let key = e.path().to_string();
        let reason = reason_of(e.inner());
        let segments: Vec<_> = e.path().iter().cloned().collect();
        let removed = reason.starts_with("unknown field")
            && (remove(&mut tree, &segments) || remove_override(&mut overrides, &key));
        unknown.push(error(if key == "." { String::new() } else { key }, reason));
        if !removed {
            return Err(unknown);
        }
    }
}

/// Removes the key at `path` from `tree`; false when there is none.
fn remove(tree: &mut Value, path: &[Segment]) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut node = tree;
    for segment in parents {
        let next = match segment {
            Segment::Seq { index } => node.get_mut(*index),
            Segment::Map { key } => node.get_mut(key.as_str()),
            _ => None,
        };
        match next {
            Some(next) => node = next,
            None => return false,
        }
    }
    match (last, node) {
        (Segment::Map { key }, Value::Object(map)) => map.shift_remove(key.as_str()).is_some(),
        _ => false,
    }
}

/// Removes the environment variable that set the dotted `key`; false when none did.
fn remove_override(overrides: &mut config::Map<String, String>, key: &str) -> bool {
    let name = overrides
        .keys()
        .find(|name| {
            name[ENV_PREFIX.len()..]
                .strip_prefix("__")
                .is_some_and(|path| path.replace("__", ".").eq_ignore_ascii_case(key))
        })
        .cloned();
    name.is_some_and(|name| overrides.remove(&name).is_some())
}

/// Reads a TOML file into a tree with every `${VAR}` substituted from the process
/// environment: for files of other components (the embedded broker's) that take secrets
/// the same way.
pub fn read_toml(path: &Path) -> Result<Value, Vec<ConfigError>> {
    let (name, text) = read(path)?;
    parse_toml(&name, &text)
}

/// Like [`read_toml`], from text named `name`.
pub fn parse_toml(name: &str, text: &str) -> Result<Value, Vec<ConfigError>> {
    toml_tree(name, text, &std::env::vars().collect())
}

/// Parses TOML text and substitutes `${VAR}`s, reporting every unset variable.
fn toml_tree(
    name: &str,
    text: &str,
    env: &HashMap<String, String>,
) -> Result<Value, Vec<ConfigError>> {
    let error = |key: String, reason: String| ConfigError {
        file: name.to_owned(),
        key,
        reason,
    };
    let mut tree: Value = config::Config::builder()
        .add_source(File::from_str(text, FileFormat::Toml))
        .build()
        .and_then(config::Config::try_deserialize)
        .map_err(|e| vec![error(String::new(), e.to_string())])?;
    let mut errors = Vec::new();
    substitute(&mut tree, &mut String::new(), env, &mut |key, reason| {
        errors.push(error(key, reason))
    });
    if errors.is_empty() {
        Ok(tree)
    } else {
        Err(errors)
    }
}

/// The config crate's message without its own ` for key …` suffix, which we say better.
fn reason_of(e: &config::ConfigError) -> String {
    let text = e.to_string();
    match text.find(" for key `") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// Replaces each `${NAME}` in every string of `value` by the environment variable `NAME`
/// (`${NAME:-default}`: `default` when unset); a variable that is unset and has no
/// default is reported with the key it was found at.
fn substitute(
    value: &mut Value,
    key: &mut String,
    env: &HashMap<String, String>,
    report: &mut dyn FnMut(String, String),
) {
    match value {
        Value::String(s) => match expand(s, env) {
            Ok(Some(expanded)) => *s = expanded,
            Ok(None) => {}
            Err(reason) => report(key.clone(), reason),
        },
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let len = key.len();
                key.push_str(&format!("[{i}]"));
                substitute(item, key, env, report);
                key.truncate(len);
            }
        }
        Value::Object(map) => {
            for (k, item) in map.iter_mut() {
                let len = key.len();
                if !key.is_empty() {
                    key.push('.');
                }
                key.push_str(k);
                substitute(item, key, env, report);
                key.truncate(len);
            }
        }
        _ => {}
    }
}

/// `Ok(None)` when `s` has no `${…}`.
fn expand(s: &str, env: &HashMap<String, String>) -> Result<Option<String>, String> {
    if !s.contains("${") {
        return Ok(None);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("`${{` without a closing `}}` in {s:?}"))?;
        let (var, default) = match after[..end].split_once(":-") {
            Some((var, default)) => (var, Some(default)),
            None => (&after[..end], None),
        };
        let valid = !var.is_empty()
            && !var.starts_with(|c: char| c.is_ascii_digit())
            && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(format!("`${{{var}}}` is not an environment variable name"));
        }
        let value = env
            .get(var)
            .map(String::as_str)
            .or(default)
            .ok_or_else(|| format!("environment variable {var} is not set"))?;
        out.push_str(value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn expands_variables_inside_text() {
        let e = env(&[("A", "1"), ("B_2", "two")]);
        assert_eq!(expand("x${A}y${B_2}", &e), Ok(Some("x1ytwo".into())));
        assert_eq!(expand("plain", &e), Ok(None));
        assert_eq!(expand("${UNSET:-dflt}", &e), Ok(Some("dflt".into())));
        assert_eq!(expand("${A:-dflt}", &e), Ok(Some("1".into())));
        assert!(expand("${UNSET}", &e)
            .unwrap_err()
            .contains("UNSET is not set"));
        assert!(expand("${A", &e).is_err());
        assert!(expand("${1A}", &e).is_err());
    }
}
