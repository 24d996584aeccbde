//! A configuration made ready to run: `topics.toml` loaded and checked, its mapping
//! (presets, rules, commands) compiled once. What `check` validates is what `run` runs.

use crate::config::{self, Config, ConfigError};
use crate::mapping::Mapping;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// A checked configuration with its compiled mapping. It reads as the [`Config`] it holds.
pub struct Setup {
    pub config: Arc<Config>,
    pub mapping: Mapping,
}

impl Setup {
    /// Checks `config` and compiles its mapping; every problem comes back as (key,
    /// reason).
    pub fn new(config: Config) -> Result<Self, Vec<(String, String)>> {
        let mut errors = config::validate(&config);
        errors.extend(crate::export::check_templates(&config));
        let mapping = Mapping::compile(&config);
        if let Ok(mapping) = &mapping {
            // What the rules, presets and discovery subscribe: no export may land there.
            let mut filters = mapping.filters.clone();
            let discovery = crate::discovery::Discovery::new(&mapping.discovery);
            filters.extend(discovery.filters().iter().cloned());
            errors.extend(crate::export::loops(&config, &filters));
        }
        match mapping {
            Ok(mapping) if errors.is_empty() => Ok(Self {
                config: Arc::new(config),
                mapping,
            }),
            Ok(_) => Err(errors),
            Err(mapping_errors) => {
                errors.extend(mapping_errors);
                Err(errors)
            }
        }
    }
}

impl std::fmt::Debug for Setup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Setup")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl std::ops::Deref for Setup {
    type Target = Config;

    fn deref(&self) -> &Config {
        &self.config
    }
}

/// Loads the file at `path` (overridden from the process environment, relative paths
/// taken from its directory) and checks it. Every problem found is returned, not only
/// the first.
pub fn load(path: &Path) -> Result<Setup, Vec<ConfigError>> {
    let (config, unknown) = config::load_lenient(path)?;
    checked(&path.display().to_string(), config, unknown)
}

/// Like [`load`], from text named `name`, with `env` standing for the environment.
pub fn load_str(
    name: &str,
    text: &str,
    env: &HashMap<String, String>,
) -> Result<Setup, Vec<ConfigError>> {
    let (config, unknown) = config::parse_lenient(name, text, env)?;
    checked(name, config, unknown)
}

/// `config` checked; keys it does not know (`unknown`) are reported with its other
/// problems.
fn checked(
    name: &str,
    config: Config,
    mut unknown: Vec<ConfigError>,
) -> Result<Setup, Vec<ConfigError>> {
    let errors = match Setup::new(config) {
        Ok(setup) if unknown.is_empty() => return Ok(setup),
        Ok(_) => Vec::new(),
        Err(errors) => errors,
    };
    unknown.extend(errors.into_iter().map(|(key, reason)| ConfigError {
        file: name.to_owned(),
        key,
        reason,
    }));
    Err(unknown)
}
