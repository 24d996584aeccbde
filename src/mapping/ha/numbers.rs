//! Home Assistant's numeric and logical template functions (each also a filter where
//! Home Assistant has one), with its semantics: a value that does not convert is an
//! error unless a default is given.

use super::convert::{converted, default_of, spread, to_f64, to_i64};
use minijinja::value::{Kwargs, Rest, Value, ValueKind};
use minijinja::{Error, ErrorKind};

/// `float(value, default)`.
pub(super) fn float(value: Value, default: Option<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let default = default_of(default, &kwargs)?;
    converted("float", &value, to_f64(&value).map(Value::from), default)
}

/// `int(value, default, base=10)`.
pub(super) fn int(
    value: Value,
    default: Option<Value>,
    base: Option<u32>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let default = default_of(default, &kwargs)?;
    let base = match (base, kwargs.get::<Option<u32>>("base")?) {
        (Some(b), _) | (None, Some(b)) => b,
        _ => 10,
    };
    if !(2..=36).contains(&base) {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "int: base must be 2 to 36",
        ));
    }
    converted(
        "int",
        &value,
        to_i64(&value, base).map(Value::from),
        default,
    )
}

/// `round(value, precision=0, method="common", default)`: Python's rounding (half to
/// even), `ceil`, `floor`, or `half` (to the nearest half); an integer at precision 0.
pub(super) fn round(
    value: Value,
    precision: Option<i32>,
    method: Option<String>,
    default: Option<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let default = default_of(default, &kwargs)?;
    let precision = precision.or(kwargs.get("precision")?).unwrap_or(0);
    let method = method
        .or(kwargs.get("method")?)
        .unwrap_or_else(|| "common".into());
    let Some(x) = to_f64(&value) else {
        return converted("round", &value, None, default);
    };
    let m = 10f64.powi(precision);
    let r = match method.as_str() {
        "ceil" => (x * m).ceil() / m,
        "floor" => (x * m).floor() / m,
        "half" => (x * 2.0).round() / 2.0,
        _ => (x * m).round_ties_even() / m,
    };
    Ok(if precision == 0 && r.is_finite() {
        Value::from(r as i64)
    } else {
        Value::from(r)
    })
}

/// `is_number(value)`: a finite number, or text that reads as one.
pub(super) fn is_number(value: Value) -> bool {
    !matches!(value.kind(), ValueKind::Bool) && to_f64(&value).is_some_and(f64::is_finite)
}

/// `bool(value, default)`: Home Assistant's boolean reading (`true`, `yes`, `on`,
/// `enable`, `1` and their opposites, any case; numbers: non-zero).
pub(super) fn boolean(
    value: Value,
    default: Option<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let default = default_of(default, &kwargs)?;
    let read = match value.kind() {
        ValueKind::Bool => Some(value.is_true()),
        ValueKind::Number => to_f64(&value).map(|f| f != 0.0),
        ValueKind::String => match value.as_str().unwrap_or("").trim().to_lowercase().as_str() {
            "1" | "true" | "yes" | "on" | "enable" => Some(true),
            "0" | "false" | "no" | "off" | "disable" => Some(false),
            _ => None,
        },
        _ => None,
    };
    converted("bool", &value, read.map(Value::from), default)
}

/// `iif(value, if_true=True, if_false=False, if_none)`: Python truthiness.
pub(super) fn iif(
    value: Value,
    if_true: Option<Value>,
    if_false: Option<Value>,
    if_none: Option<Value>,
) -> Value {
    if value.is_none() || value.is_undefined() {
        if let Some(v) = if_none {
            return v;
        }
    }
    if value.is_true() {
        if_true.unwrap_or(Value::from(true))
    } else {
        if_false.unwrap_or(Value::from(false))
    }
}

fn ints(name: &str, a: &Value, b: &Value) -> Result<(i64, i64), Error> {
    match (to_i64(a, 10), to_i64(b, 10)) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("{name} needs two integers, got '{a}' and '{b}'"),
        )),
    }
}

pub(super) fn bitwise_and(a: Value, b: Value) -> Result<i64, Error> {
    ints("bitwise_and", &a, &b).map(|(a, b)| a & b)
}

pub(super) fn bitwise_or(a: Value, b: Value) -> Result<i64, Error> {
    ints("bitwise_or", &a, &b).map(|(a, b)| a | b)
}

pub(super) fn bitwise_xor(a: Value, b: Value) -> Result<i64, Error> {
    ints("bitwise_xor", &a, &b).map(|(a, b)| a ^ b)
}

/// `min(…)`/`max(…)`: of the arguments, or of the items of one list.
pub(super) fn min(args: Rest<Value>) -> Result<Value, Error> {
    extreme(&args, "min", std::cmp::Ordering::Less)
}

pub(super) fn max(args: Rest<Value>) -> Result<Value, Error> {
    extreme(&args, "max", std::cmp::Ordering::Greater)
}

fn extreme(args: &[Value], name: &str, wanted: std::cmp::Ordering) -> Result<Value, Error> {
    spread(args)?
        .into_iter()
        .reduce(|best, v| if v.cmp(&best) == wanted { v } else { best })
        .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, format!("{name} of nothing")))
}

/// The numbers of a statistics call, or its error.
fn numbers(name: &str, args: &[Value]) -> Result<Vec<f64>, String> {
    let values = spread(args).map_err(|e| e.to_string())?;
    if values.is_empty() {
        return Err(format!("{name} got no values"));
    }
    values
        .iter()
        .map(|v| to_f64(v).ok_or_else(|| format!("{name} got invalid input '{v}'")))
        .collect()
}

fn statistic(
    name: &str,
    args: &[Value],
    kwargs: &Kwargs,
    f: impl Fn(&mut [f64]) -> f64,
) -> Result<Value, Error> {
    let default: Option<Value> = kwargs.get("default")?;
    match numbers(name, args) {
        Ok(mut xs) => Ok(Value::from(f(&mut xs))),
        Err(reason) => default.ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("{reason} and no default was specified"),
            )
        }),
    }
}

/// `average(…, default=)`.
pub(super) fn average(args: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    statistic("average", &args, &kwargs, |xs| {
        xs.iter().sum::<f64>() / xs.len() as f64
    })
}

/// `median(…, default=)`: the middle value, or the mean of the two middle ones.
pub(super) fn median(args: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    statistic("median", &args, &kwargs, |xs| {
        xs.sort_by(f64::total_cmp);
        let n = xs.len();
        if n % 2 == 1 {
            xs[n / 2]
        } else {
            (xs[n / 2 - 1] + xs[n / 2]) / 2.0
        }
    })
}

/// `statistical_mode(…, default=)`: the most common value (the first seen on a tie).
pub(super) fn statistical_mode(args: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let default: Option<Value> = kwargs.get("default")?;
    let values = spread(&args)?;
    let mut counts: Vec<(Value, usize)> = Vec::new();
    for v in values {
        match counts.iter_mut().find(|(seen, _)| *seen == v) {
            Some((_, n)) => *n += 1,
            None => counts.push((v, 1)),
        }
    }
    let most = counts.iter().map(|(_, n)| *n).max();
    match counts.into_iter().find(|(_, n)| Some(*n) == most) {
        Some((v, _)) => Ok(v),
        None => default.ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidOperation,
                "statistical_mode got no values and no default was specified",
            )
        }),
    }
}

/// A one-argument math function of Home Assistant (`sin`, `sqrt`…), with its default.
pub(super) fn math(
    name: &'static str,
    f: fn(f64) -> f64,
) -> impl Fn(Value, Option<Value>, Kwargs) -> Result<Value, Error> + Send + Sync + 'static {
    move |value, default, kwargs| {
        let default = default_of(default, &kwargs)?;
        converted(
            name,
            &value,
            to_f64(&value).map(|x| Value::from(f(x))),
            default,
        )
    }
}

/// A two-argument one (`atan2(y, x)`, `multiply(value, amount)`, `add(value, amount)`),
/// with its default.
pub(super) fn math2(
    name: &'static str,
    f: fn(f64, f64) -> f64,
) -> impl Fn(Value, Value, Option<Value>, Kwargs) -> Result<Value, Error> + Send + Sync + 'static {
    move |a, b, default, kwargs| {
        let default = default_of(default, &kwargs)?;
        let read = to_f64(&a)
            .zip(to_f64(&b))
            .map(|(a, b)| Value::from(f(a, b)));
        converted(name, &a, read, default)
    }
}

/// `log(value, base=e, default)`.
pub(super) fn log(
    value: Value,
    base: Option<Value>,
    default: Option<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let default = default_of(default, &kwargs)?;
    let base = base
        .or(kwargs.get("base")?)
        .map_or(Some(std::f64::consts::E), |b| to_f64(&b));
    let read = to_f64(&value)
        .zip(base)
        .map(|(x, b)| Value::from(x.ln() / b.ln()));
    converted("log", &value, read, default)
}
