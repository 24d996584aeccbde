//! The Jinja environment of rules and commands (minijinja), templates compiled into it
//! once, each named by the key it came from.

use minijinja::{Environment, UndefinedBehavior};

/// What one rendering may spend (minijinja's instructions): far above what a real
/// template needs (a few hundred), low enough that a runaway one (nested loops in a
/// device's discovery config) stops within milliseconds.
pub(crate) const FUEL: u64 = 100_000;

/// Home Assistant's template environment ([`super::ha`]) where touching something
/// absent is an error (so that a payload without a template's key gives no update), and
/// every rendering is bounded by [`FUEL`].
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    super::ha::install(&mut env);
    env
}

/// Why a rendering failure must be reported (it ran out of fuel, or uses something the
/// adapter does not have), where a template touching something absent, or a value that
/// does not convert, is only "no update".
pub(super) fn reportable(name: &str, e: &minijinja::Error) -> Option<String> {
    if e.kind() == minijinja::ErrorKind::OutOfFuel {
        return Some(format!(
            "template {name} stopped: it ran out of fuel (more than {FUEL} steps)"
        ));
    }
    super::ha::unsupported(e).then(|| format!("template {name}: {e}"))
}

/// Adds template `key` to `env`; its name is the key it came from.
pub(super) fn compile(
    env: &mut Environment<'static>,
    errors: &mut Vec<(String, String)>,
    key: String,
    source: &str,
) -> Option<String> {
    match env.add_template_owned(key.clone(), source.to_owned()) {
        Ok(()) => Some(key),
        Err(e) => {
            errors.push((key, format!("template error: {e}")));
            None
        }
    }
}
