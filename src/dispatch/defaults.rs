//! StateObject defaults from `topics.toml` (`[packages.stateobjects."<name or glob>"]`),
//! then type inference: what a device did not say about a StateObject.

use crate::config::{Config, SoDefaults};
use crate::constellation::model::{infer_type, StateObjectPush};
use crate::native::PackageId;
use globset::{GlobBuilder, GlobMatcher};
use std::collections::HashMap;

/// Per package, the configured defaults, exact names first, then globs in file order.
pub struct Defaults {
    by_package: HashMap<PackageId, Vec<(Pattern, SoDefaults)>>,
}

enum Pattern {
    Exact(String),
    Glob(GlobMatcher),
}

impl Pattern {
    fn new(name: &str) -> Self {
        let is_glob = name.contains(['*', '?', '[', '{']);
        match GlobBuilder::new(name).literal_separator(false).build() {
            Ok(glob) if is_glob => Self::Glob(glob.compile_matcher()),
            _ => Self::Exact(name.to_owned()),
        }
    }
    fn matches(&self, name: &str) -> bool {
        match self {
            Self::Exact(n) => n == name,
            Self::Glob(g) => g.is_match(name),
        }
    }
}

impl Defaults {
    pub fn new(config: &Config) -> Self {
        let by_package = config
            .packages
            .iter()
            .filter(|p| !p.stateobjects.is_empty())
            .map(|p| {
                let mut rules: Vec<_> = p
                    .stateobjects
                    .iter()
                    .map(|(name, d)| (Pattern::new(name), d.clone()))
                    .collect();
                rules.sort_by_key(|(p, _)| matches!(p, Pattern::Glob(_)));
                (PackageId::new(&p.sentinel, &p.package), rules)
            })
            .collect();
        Self { by_package }
    }

    /// Fills what the device left unset: type, lifetime and metadata from the first
    /// matching rule (device metadata wins key by key), then the inferred type.
    pub fn apply(&self, package: &PackageId, push: &mut StateObjectPush) {
        let rule = self
            .by_package
            .get(package)
            .and_then(|rules| rules.iter().find(|(p, _)| p.matches(&push.name)))
            .map(|(_, d)| d);
        if let Some(d) = rule {
            if push.type_name.is_none() {
                push.type_name = d.type_name.clone();
            }
            if push.lifetime.is_none() {
                push.lifetime = d.lifetime;
            }
            if !d.metadata.is_empty() {
                let meta = push.metadatas.get_or_insert_with(Default::default);
                for (k, v) in &d.metadata {
                    meta.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
        }
        if push.type_name.is_none() {
            push.type_name = infer_type(&push.value).map(str::to_owned);
        }
    }
}
