//! The last mapped values of the StateObjects that templates read as `states[name]`
//! (a cover's `stopped` depends on its position, a light's colour on its brightness):
//! kept only for the names some template declares it reads.

use crate::intent::Intent;
use crate::lock::lock;
use crate::native::PackageId;
use serde_json::{Map, Value};
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

/// Values of the read StateObjects, per package.
pub struct Remembered {
    read: BTreeSet<String>,
    values: Mutex<HashMap<PackageId, Map<String, Value>>>,
}

impl Remembered {
    /// Remembers the StateObjects named `read`.
    pub fn new(read: impl IntoIterator<Item = String>) -> Self {
        Self {
            read: read.into_iter().collect(),
            values: Mutex::default(),
        }
    }

    /// Keeps the value of each push of a read StateObject.
    pub fn observe<'a>(&self, intents: impl IntoIterator<Item = &'a (PackageId, Intent)>) {
        if self.read.is_empty() {
            return;
        }
        for (package, intent) in intents {
            if let Intent::PushStateObject(so) = intent {
                if self.read.contains(&so.name) {
                    let mut values = lock(&self.values);
                    let known = values.entry(package.clone()).or_default();
                    known.insert(so.name.clone(), so.value.clone());
                }
            }
        }
    }

    /// The known values of `names` for `package` (a name not known yet is left out).
    pub fn of(&self, package: &PackageId, names: &[String]) -> Map<String, Value> {
        if names.is_empty() {
            return Map::new();
        }
        let values = lock(&self.values);
        let Some(known) = values.get(package) else {
            return Map::new();
        };
        names
            .iter()
            .filter_map(|n| Some((n.clone(), known.get(n)?.clone())))
            .collect()
    }

    /// Takes over what `old` knew (its templates were recompiled).
    pub fn adopt(&self, old: &Remembered) {
        let known = std::mem::take(&mut *lock(&old.values));
        lock(&self.values).extend(known);
    }
}
