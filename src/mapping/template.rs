//! The Jinja environment of rules and commands (minijinja), templates compiled into it
//! once, each named by the key it came from.

use minijinja::{Environment, UndefinedBehavior};

/// What one rendering may spend (minijinja's instructions): far above what a real
/// template needs (a few hundred), low enough that a runaway one (nested loops in a
/// device's discovery config) stops within milliseconds.
pub(crate) const FUEL: u64 = 100_000;

/// A template environment where touching something absent is an error (so that a
/// payload without a template's key gives no update), and every rendering is bounded
/// by [`FUEL`].
pub(super) fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    env
}

/// Whether a rendering failed because it ran out of fuel: an error to report, where a
/// template touching something absent is only "no update".
pub(super) fn out_of_fuel(e: &minijinja::Error) -> bool {
    e.kind() == minijinja::ErrorKind::OutOfFuel
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
