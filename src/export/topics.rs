//! Export topics from StateObject names, by a documented rule: each of `sentinel`,
//! `package`, `name`, `type` is one topic level in which `/`, `+`, `#` and control
//! characters become `_` (an empty name becomes `_`).

use crate::constellation::model::StateObject;

/// `name` as one topic level.
pub fn level(name: &str) -> String {
    if name.is_empty() {
        return "_".into();
    }
    name.chars()
        .map(|c| {
            if matches!(c, '/' | '+' | '#') || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// The topic of `so` from `template` (`{sentinel}`, `{package}`, `{name}`, `{type}`).
pub fn topic(template: &str, so: &StateObject) -> String {
    template
        .replace("{sentinel}", &level(&so.sentinel_name))
        .replace("{package}", &level(&so.package_name))
        .replace("{name}", &level(&so.name))
        .replace("{type}", &level(so.type_name.as_deref().unwrap_or("")))
}

/// A topic of `template` for a StateObject whose names are all `x`, to check what would
/// read the export's topics.
pub fn sample(template: &str) -> String {
    ["{sentinel}", "{package}", "{name}", "{type}"]
        .iter()
        .fold(template.to_owned(), |t, p| t.replace(p, "x"))
}

/// The key of a StateObject: `sentinel/package/name`.
pub fn key(so: &StateObject) -> String {
    format!("{}/{}/{}", so.sentinel_name, so.package_name, so.name)
}

/// An identifier Home Assistant accepts in topics and ids (`[A-Za-z0-9_-]`), from
/// `text`, made unique by a hash of the exact text (32-bit FNV-1a: stable across runs
/// and versions, as a `unique_id` must be).
pub fn slug(text: &str) -> String {
    let hash = text.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    let base: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{base}_{hash:08x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_sanitised() {
        assert_eq!(level("living room/lamp"), "living room_lamp");
        assert_eq!(level("a+b#c\u{7}"), "a_b_c_");
        assert_eq!(level(""), "_");
        assert_eq!(level("Température"), "Température");
        assert_eq!(sample("x/{sentinel}/{package}/{name}"), "x/x/x/x");
        let s = slug("Salon/Thermo.meter");
        assert!(s.starts_with("Salon_Thermo_meter_"));
        assert!(s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'));
        assert_ne!(slug("a.b"), slug("a_b"));
    }
}
