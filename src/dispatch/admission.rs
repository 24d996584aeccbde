//! Which packages may be projected: the `allow` globs, and a credential to act with.

use crate::config::Config;
use crate::native::PackageId;
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

/// The admission rules of a configuration.
pub struct Admission {
    allow: GlobSet,
}

impl Admission {
    /// The `allow` patterns of `config`; `*` does not cross the `/` between sentinel and
    /// package.
    pub fn new(config: &Config) -> Self {
        let allow = allow_set(&config.constellation.allow).unwrap_or_else(|e| {
            tracing::error!(error = %e, "invalid allow pattern: no package is admitted");
            GlobSet::empty()
        });
        Self { allow }
    }

    /// The credential `package` acts with, or why it is not admitted.
    pub fn admit<'c>(&self, config: &'c Config, package: &PackageId) -> Result<&'c str, String> {
        if !self.allow.is_match(package.to_string()) {
            return Err(format!(
                "package {package} is not admitted by constellation.allow"
            ));
        }
        config
            .access_key_for(&package.sentinel, &package.package)
            .ok_or_else(|| {
                format!(
                    "no credential for {package}: declare it in [[packages]] or set constellation.access_key"
                )
            })
    }
}

fn allow_set(patterns: &[String]) -> Result<GlobSet, globset::Error> {
    let mut set = GlobSetBuilder::new();
    for pattern in patterns {
        set.add(GlobBuilder::new(pattern).literal_separator(true).build()?);
    }
    set.build()
}
