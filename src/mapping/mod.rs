//! Mapping rules (`[[map]]` in `topics.toml`, `mappings.md`): topics of other layouts
//! (Tasmota, ESPHome, Zigbee2MQTT…) projected into virtual packages.
//!
//! A [`Mapper`] is compiled once from the rules: topic patterns ([`pattern`]) and Jinja
//! templates (minijinja, the language of Home Assistant's `value_template`). Each
//! publish that is not on the native scheme goes through it and comes out as the same
//! [`Intent`](crate::intent::Intent)s the native scheme produces.

mod commands;
mod ha;
pub mod pattern;
pub mod presets;
mod remembered;
mod rules;
mod template;
mod values;

pub use commands::{Commands, Invocation};
pub use presets::DiscoverySource;
pub use rules::{MapError, Mapper};
pub use template::environment;

use crate::config::{CommandRule, Config, MapRule};

/// What the configuration says of other topic layouts, compiled once: the presets
/// expanded (their rules and commands after the file's own, which therefore take
/// precedence), every rule and command compiled, the discovery sources to learn from.
pub struct Mapping {
    /// The `[[map]]` rules, the presets' included.
    pub mapper: Mapper,
    /// The `[[command]]`s, the presets' included.
    pub commands: Commands,
    /// What the presets learn at run time (device lists, discovery configs).
    pub discovery: Vec<DiscoverySource>,
    /// The MQTT filters the rules and the commands' answers need.
    pub filters: Vec<String>,
    /// The most devices discovery may learn (`constellation.max_learned_devices`).
    pub max_learned_devices: usize,
}

impl Mapping {
    /// Expands and compiles the mapping of `config`; every problem comes back as (key,
    /// reason), keys as in the file.
    pub fn compile(config: &Config) -> Result<Self, Vec<(String, String)>> {
        let expansion = presets::expand(&config.preset)?;
        let rules = [config.map.as_slice(), &expansion.rules].concat();
        let command_rules = [config.command.as_slice(), &expansion.commands].concat();
        let (mapper, commands) = match (Mapper::new(&rules), Commands::new(&command_rules)) {
            (Ok(m), Ok(c)) => (m, c),
            (m, c) => {
                let errors = m.err().into_iter().chain(c.err()).flatten().collect();
                return Err(errors);
            }
        };
        Ok(Self {
            mapper,
            commands,
            discovery: expansion.discovery,
            max_learned_devices: config.constellation.max_learned_devices,
            filters: filters(&rules, &command_rules),
        })
    }
}

/// The MQTT filters that `rules` and the answers of `commands` need, sorted, once each.
pub fn filters(rules: &[MapRule], commands: &[CommandRule]) -> Vec<String> {
    let mut filters: Vec<String> = rules::filters(rules)
        .chain(commands::filters(commands))
        .collect();
    filters.sort();
    filters.dedup();
    filters
}
