//! The Jinja environment of rules and commands (minijinja), templates compiled into it
//! once, each named by the key it came from.

use minijinja::{Environment, UndefinedBehavior};

/// A template environment where touching something absent is an error (so that a
/// payload without a template's key gives no update).
pub(super) fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env
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
