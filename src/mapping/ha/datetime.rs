//! Home Assistant's date and time template functions over a datetime object shaped like
//! Python's (`.year`… `.timestamp()`, `.isoformat()`, `.strftime()`, Python's `str()`).
//! "Local" is the adapter process's time zone: the adapter has no Home Assistant
//! configuration to take one from.

use super::convert::{converted, default_of, to_f64};
use chrono::format::{Item, StrftimeItems};
use chrono::{
    DateTime as Chrono, Datelike, FixedOffset, Local, NaiveDate, NaiveDateTime, TimeZone, Timelike,
    Utc,
};
use minijinja::value::{DynObject, Kwargs, Object, Value};
use minijinja::{Error, ErrorKind, State};
use std::sync::Arc;

/// A datetime, aware of its offset or naive (as Python's).
#[derive(Debug)]
pub(super) struct DateTime {
    at: Chrono<FixedOffset>,
    aware: bool,
}

impl DateTime {
    fn aware(at: Chrono<FixedOffset>) -> Value {
        Value::from_object(Self { at, aware: true })
    }

    fn naive(at: NaiveDateTime) -> Value {
        Value::from_object(Self {
            at: at.and_utc().fixed_offset(),
            aware: false,
        })
    }

    /// Seconds since the epoch; a naive datetime is taken as local time.
    fn timestamp(&self) -> f64 {
        let at = if self.aware {
            self.at
        } else {
            local(self.at.naive_utc())
        };
        at.timestamp() as f64 + f64::from(at.timestamp_subsec_micros()) / 1e6
    }

    fn isoformat(&self, separator: char) -> String {
        let mut s = self
            .at
            .format(&format!("%Y-%m-%d{separator}%H:%M:%S"))
            .to_string();
        if self.at.nanosecond() != 0 {
            s.push_str(&self.at.format("%.6f").to_string());
        }
        if self.aware {
            s.push_str(&self.at.format("%:z").to_string());
        }
        s
    }
}

impl Object for DateTime {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let at = &self.at;
        Some(match key.as_str()? {
            "year" => Value::from(at.year()),
            "month" => Value::from(at.month()),
            "day" => Value::from(at.day()),
            "hour" => Value::from(at.hour()),
            "minute" => Value::from(at.minute()),
            "second" => Value::from(at.second()),
            "microsecond" => Value::from(at.nanosecond() / 1000),
            "tzinfo" if self.aware => Value::from(at.format("%:z").to_string()),
            "tzinfo" => Value::from(()),
            _ => return None,
        })
    }

    fn call_method(
        self: &Arc<Self>,
        _: &State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match (method, args) {
            ("timestamp", []) => Ok(Value::from(self.timestamp())),
            ("isoformat", []) => Ok(Value::from(self.isoformat('T'))),
            ("strftime", [format]) => format_with(&self.at, &format.to_string()).map(Value::from),
            ("weekday", []) => Ok(Value::from(self.at.weekday().num_days_from_monday())),
            ("isoweekday", []) => Ok(Value::from(self.at.weekday().number_from_monday())),
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }

    fn custom_cmp(self: &Arc<Self>, other: &DynObject) -> Option<std::cmp::Ordering> {
        let other = other.downcast_ref::<Self>()?;
        Some(self.timestamp().total_cmp(&other.timestamp()))
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.isoformat(' '))
    }
}

/// `naive` as local time (the earlier of two, at a change of offset).
fn local(naive: NaiveDateTime) -> Chrono<FixedOffset> {
    Local
        .from_local_datetime(&naive)
        .earliest()
        .map_or_else(|| naive.and_utc().fixed_offset(), |d| d.fixed_offset())
}

/// Formats with Python's `strftime` directives (`%f`: microseconds), refusing an
/// invalid format rather than panicking.
fn format_with(at: &Chrono<FixedOffset>, format: &str) -> Result<String, Error> {
    let format = format.replace("%f", "%6f");
    if StrftimeItems::new(&format).any(|i| matches!(i, Item::Error)) {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("invalid time format {format:?}"),
        ));
    }
    Ok(at
        .format_with_items(StrftimeItems::new(&format))
        .to_string())
}

/// A datetime from Home Assistant's usual shapes: ISO 8601 with or without offset,
/// with `T` or a space, a bare date, or a UNIX timestamp.
fn parse(value: &Value) -> Option<Value> {
    if value.downcast_object_ref::<DateTime>().is_some() {
        return Some(value.clone());
    }
    if let Some(ts) = to_f64(value).filter(|f| f.is_finite()) {
        return from_timestamp(ts).map(|at| DateTime::aware(at.fixed_offset()));
    }
    let text = value.as_str()?.trim();
    if let Ok(at) = Chrono::parse_from_rfc3339(text) {
        return Some(DateTime::aware(at));
    }
    for f in [
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S%.f%z",
    ] {
        if let Ok(at) = Chrono::parse_from_str(text, f) {
            return Some(DateTime::aware(at));
        }
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(at) = NaiveDateTime::parse_from_str(text, f) {
            return Some(DateTime::naive(at));
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(DateTime::naive)
}

fn from_timestamp(ts: f64) -> Option<Chrono<Utc>> {
    let secs = ts.floor();
    let nanos = ((ts - secs) * 1e9).round().min(999_999_999.0) as u32;
    Chrono::from_timestamp(secs as i64, nanos)
}

/// `as_datetime(value, default)`.
pub(super) fn as_datetime(
    value: Value,
    default: Option<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let default = default_of(default, &kwargs)?;
    converted("as_datetime", &value, parse(&value), default)
}

/// `as_timestamp(value, default)`.
pub(super) fn as_timestamp(
    value: Value,
    default: Option<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let default = default_of(default, &kwargs)?;
    let ts = parse(&value).and_then(|dt| {
        dt.downcast_object_ref::<DateTime>()
            .map(DateTime::timestamp)
    });
    converted("as_timestamp", &value, ts.map(Value::from), default)
}

/// `as_local(datetime)`: in the process's time zone.
pub(super) fn as_local(value: Value) -> Result<Value, Error> {
    let Some(dt) = parse(&value) else {
        return converted("as_local", &value, None, None);
    };
    let ts = dt
        .downcast_object_ref::<DateTime>()
        .map_or(0.0, DateTime::timestamp);
    let at = from_timestamp(ts).map(|at| at.with_timezone(&Local).fixed_offset());
    at.map(DateTime::aware)
        .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, "as_local: out of range"))
}

/// The UNIX timestamp `value` as a datetime, in local time or UTC.
fn at_timestamp(value: &Value, local: bool) -> Option<Chrono<FixedOffset>> {
    let at = from_timestamp(to_f64(value)?)?;
    Some(if local {
        at.with_timezone(&Local).fixed_offset()
    } else {
        at.fixed_offset()
    })
}

/// `timestamp_custom(value, format="%Y-%m-%d %H:%M:%S", local=True, default)`.
pub(super) fn timestamp_custom(
    value: Value,
    format: Option<String>,
    local: Option<bool>,
    default: Option<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let default = default_of(default, &kwargs)?;
    let format = format
        .or(kwargs.get("format_string")?)
        .unwrap_or_else(|| "%Y-%m-%d %H:%M:%S".into());
    let local = local.or(kwargs.get("local")?).unwrap_or(true);
    match at_timestamp(&value, local) {
        Some(at) => format_with(&at, &format).map(Value::from),
        None => converted("timestamp_custom", &value, None, default),
    }
}

/// `timestamp_local(value, default)` and `timestamp_utc(value, default)`: ISO 8601.
pub(super) fn timestamp_local(
    value: Value,
    default: Option<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    iso_at(value, default, kwargs, true, "timestamp_local")
}

pub(super) fn timestamp_utc(
    value: Value,
    default: Option<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    iso_at(value, default, kwargs, false, "timestamp_utc")
}

fn iso_at(
    value: Value,
    default: Option<Value>,
    kwargs: Kwargs,
    local: bool,
    name: &str,
) -> Result<Value, Error> {
    let default = default_of(default, &kwargs)?;
    let read = at_timestamp(&value, local)
        .map(|at| Value::from(DateTime { at, aware: true }.isoformat('T')));
    converted(name, &value, read, default)
}

/// `strptime(value, format, default)`: aware when the format has `%z`.
pub(super) fn strptime(
    value: String,
    format: String,
    default: Option<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let default = default_of(default, &kwargs)?;
    let valid = !StrftimeItems::new(&format).any(|i| matches!(i, Item::Error));
    let parsed = valid
        .then(|| {
            Chrono::parse_from_str(&value, &format)
                .ok()
                .map(DateTime::aware)
                .or_else(|| {
                    NaiveDateTime::parse_from_str(&value, &format)
                        .ok()
                        .map(DateTime::naive)
                })
                .or_else(|| {
                    NaiveDate::parse_from_str(&value, &format)
                        .ok()
                        .and_then(|d| d.and_hms_opt(0, 0, 0))
                        .map(DateTime::naive)
                })
        })
        .flatten();
    converted("strptime", &Value::from(value), parsed, default)
}
