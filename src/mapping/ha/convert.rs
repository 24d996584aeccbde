//! Conversions as Home Assistant's forgiving filters make them, and the error or the
//! default when one fails.

use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Error, ErrorKind};

/// A number as Python's `float()` reads it: numbers, booleans, and text (trimmed).
pub(super) fn to_f64(v: &Value) -> Option<f64> {
    match v.kind() {
        ValueKind::Number => f64::try_from(v.clone()).ok(),
        ValueKind::Bool => Some(if v.is_true() { 1.0 } else { 0.0 }),
        ValueKind::String => v.as_str()?.trim().parse().ok(),
        _ => None,
    }
}

/// An integer as Jinja's `int` filter reads it: `int(value, base)`, else
/// `int(float(value))` in base 10.
pub(super) fn to_i64(v: &Value, base: u32) -> Option<i64> {
    match v.kind() {
        ValueKind::Number => i64::try_from(v.clone())
            .ok()
            .or_else(|| to_f64(v).map(|f| f.trunc() as i64)),
        ValueKind::Bool => Some(i64::from(v.is_true())),
        ValueKind::String => {
            let s = v.as_str()?.trim().replace('_', "");
            let (negative, digits) = match s.strip_prefix('-') {
                Some(rest) => (true, rest.to_owned()),
                None => (false, s.trim_start_matches('+').to_owned()),
            };
            let lower = digits.to_ascii_lowercase();
            let unprefixed = match base {
                16 => lower.strip_prefix("0x").unwrap_or(&lower),
                8 => lower.strip_prefix("0o").unwrap_or(&lower),
                2 => lower.strip_prefix("0b").unwrap_or(&lower),
                _ => &lower,
            };
            let parsed = i64::from_str_radix(unprefixed, base).ok().or_else(|| {
                (base == 10)
                    .then(|| lower.parse::<f64>().ok().filter(|f| f.is_finite()))
                    .flatten()
                    .map(|f| f.trunc() as i64)
            })?;
            Some(if negative { -parsed } else { parsed })
        }
        _ => None,
    }
}

/// The `default` given positionally or as `default=`, if any.
pub(super) fn default_of(
    positional: Option<Value>,
    kwargs: &Kwargs,
) -> Result<Option<Value>, Error> {
    let named: Option<Value> = kwargs.get("default")?;
    Ok(positional.or(named))
}

/// `read` (the value converted), else `default`, else Home Assistant's error for `name`.
pub(super) fn converted(
    name: &str,
    value: &Value,
    read: Option<Value>,
    default: Option<Value>,
) -> Result<Value, Error> {
    read.or(default).ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("{name} got invalid input '{value}' and no default was specified"),
        )
    })
}

/// The values of a call: its arguments, or the items of its one iterable argument.
pub(super) fn spread(args: &[Value]) -> Result<Vec<Value>, Error> {
    match args {
        [one] if matches!(one.kind(), ValueKind::Seq | ValueKind::Iterable) => {
            Ok(one.try_iter()?.collect())
        }
        _ => Ok(args.to_vec()),
    }
}
