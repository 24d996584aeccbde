//! Home Assistant's template environment on minijinja: Python's string and dict
//! methods (`minijinja-contrib`'s pycompat) and Home Assistant's documented extensions
//! that need nothing but the value (numbers, logic, regular expressions, JSON, base64,
//! dates). Those that need Home Assistant's state machine or clock (`states()`,
//! `now()`…) are defined to fail with a message saying so, which is reported.

mod convert;
mod datetime;
mod numbers;
mod sequences;
mod text;

use minijinja::value::{Rest, Value};
use minijinja::{Environment, Error, ErrorKind};

/// How the error of a function Home Assistant has and the adapter cannot starts.
const UNSUPPORTED: &str = "not supported outside Home Assistant";

/// Functions that need Home Assistant's state machine, registry or clock.
const NEEDS_HOME_ASSISTANT: &[&str] = &[
    "states",
    "is_state",
    "state_attr",
    "is_state_attr",
    "has_value",
    "expand",
    "closest",
    "distance",
    "area_id",
    "area_name",
    "area_entities",
    "area_devices",
    "floor_id",
    "floor_name",
    "floor_areas",
    "label_id",
    "label_name",
    "labels",
    "label_entities",
    "device_id",
    "device_attr",
    "is_device_attr",
    "device_entities",
    "integration_entities",
    "now",
    "utcnow",
    "today_at",
    "relative_time",
    "time_since",
    "time_until",
];

/// Adds Home Assistant's functions, filters and tests to `env`.
pub(super) fn install(env: &mut Environment<'static>) {
    env.set_unknown_method_callback(|state, value, method, args| match method {
        // Jinja's `dict.from_keys(pairs)`: the mapping of (key, value) pairs.
        "from_keys" => sequences::from_keys(args),
        _ => minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args),
    });
    macro_rules! both {
        ($($name:literal => $f:expr),* $(,)?) => {$(
            env.add_filter($name, $f);
            env.add_function($name, $f);
        )*};
    }
    both! {
        "float" => numbers::float,
        "int" => numbers::int,
        "round" => numbers::round,
        "is_number" => numbers::is_number,
        "bool" => numbers::boolean,
        "iif" => numbers::iif,
        "bitwise_and" => numbers::bitwise_and,
        "bitwise_or" => numbers::bitwise_or,
        "bitwise_xor" => numbers::bitwise_xor,
        "average" => numbers::average,
        "median" => numbers::median,
        "statistical_mode" => numbers::statistical_mode,
        "log" => numbers::log,
        "regex_match" => text::regex_match,
        "regex_search" => text::regex_search,
        "regex_findall" => text::regex_findall,
        "regex_findall_index" => text::regex_findall_index,
        "regex_replace" => text::regex_replace,
        "from_json" => text::from_json,
        "to_json" => text::to_json,
        "base64_encode" => text::base64_encode,
        "base64_decode" => text::base64_decode,
        "ord" => text::ord,
        "slugify" => text::slugify,
        "as_datetime" => datetime::as_datetime,
        "as_timestamp" => datetime::as_timestamp,
        "as_local" => datetime::as_local,
        "timestamp_custom" => datetime::timestamp_custom,
        "timestamp_local" => datetime::timestamp_local,
        "timestamp_utc" => datetime::timestamp_utc,
        "strptime" => datetime::strptime,
    }
    for (name, f) in [
        ("sin", f64::sin as fn(f64) -> f64),
        ("cos", f64::cos),
        ("tan", f64::tan),
        ("asin", f64::asin),
        ("acos", f64::acos),
        ("atan", f64::atan),
        ("sqrt", f64::sqrt),
    ] {
        env.add_filter(name, numbers::math(name, f));
        env.add_function(name, numbers::math(name, f));
    }
    for (name, f) in [
        ("atan2", f64::atan2 as fn(f64, f64) -> f64),
        ("multiply", |v, a| v * a),
        ("add", |v, a| v + a),
    ] {
        env.add_filter(name, numbers::math2(name, f));
        env.add_function(name, numbers::math2(name, f));
    }
    // Functions only: as filters these are minijinja's own (on a list).
    env.add_function("min", numbers::min);
    env.add_function("zip", sequences::zip);
    env.add_function("max", numbers::max);
    env.add_test("is_number", numbers::is_number);
    env.add_test("match", text::regex_match);
    env.add_test("search", text::regex_search);
    env.add_global("e", Value::from(std::f64::consts::E));
    env.add_global("pi", Value::from(std::f64::consts::PI));
    env.add_global("tau", Value::from(std::f64::consts::TAU));
    env.add_global("inf", Value::from(f64::INFINITY));
    for name in NEEDS_HOME_ASSISTANT {
        env.add_function(*name, move |_: Rest<Value>| -> Result<Value, Error> {
            Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("{name}() {UNSUPPORTED}: it needs Home Assistant's state machine or clock"),
            ))
        });
    }
}

/// Why a rendering error must be reported rather than be "no update": a function,
/// filter, test or method the adapter does not have, or one it cannot have.
pub(super) fn unsupported(e: &Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::UnknownFunction
            | ErrorKind::UnknownFilter
            | ErrorKind::UnknownTest
            | ErrorKind::UnknownMethod
    ) || e.detail().is_some_and(|d| d.contains(UNSUPPORTED))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(template: &str, value: &str) -> Result<String, Error> {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        install(&mut env);
        let json: serde_json::Value =
            serde_json::from_str(value).unwrap_or(serde_json::Value::Null);
        env.render_str(
            template,
            minijinja::context! { value => value, value_json => json },
        )
    }

    /// Each row: a template as Home Assistant documents it (templating page, "Numeric
    /// functions and filters", "Regular expressions", "Time"…), the payload, what Home
    /// Assistant renders.
    #[test]
    fn home_assistant_templates_render_as_in_home_assistant() {
        for (template, value, expected) in [
            // Numbers: conversion with defaults, as filter and function.
            ("{{ value | float }}", "21.5", "21.5"),
            ("{{ value | float(0) }}", "n/a", "0"),
            ("{{ float(value, default=-1) }}", "n/a", "-1"),
            ("{{ value | int }}", "42", "42"),
            ("{{ value | int }}", "2.7", "2"),
            ("{{ value | int(-1) }}", "abc", "-1"),
            ("{{ value | int(base=16) }}", "0x1A", "26"),
            ("{{ int('1010', base=2) }}", "", "10"),
            ("{{ value | round(1) }}", "21.45", "21.4"),
            ("{{ value | round }}", "2.5", "2"),
            ("{{ value | round(0, 'ceil') }}", "2.1", "3"),
            ("{{ value | round(1, 'floor') }}", "2.19", "2.1"),
            // `half` rounds to a half; at precision 0 the result is still made an int.
            ("{{ value | round(1, method='half') }}", "2.3", "2.5"),
            ("{{ value | round(method='half') }}", "2.3", "2"),
            ("{{ value | round(2, default='?') }}", "x", "?"),
            ("{{ value | is_number }}", "12.5", "True"),
            ("{{ is_number(value) }}", "nan", "False"),
            ("{{ value is is_number }}", "0x10", "False"),
            ("{{ value_json.t | multiply(10) }}", r#"{"t": 2.5}"#, "25.0"),
            ("{{ value_json.t | add(1) }}", r#"{"t": 2}"#, "3.0"),
            ("{{ 100 | log(10) }}", "", "2.0"),
            ("{{ 16 | sqrt }}", "", "4.0"),
            ("{{ (pi | cos) | round }}", "", "-1"),
            ("{{ bitwise_and(value | int, 4) > 0 }}", "6", "True"),
            ("{{ value_json.flags | bitwise_or(1) }}", r#"{"flags": 4}"#, "5"),
            ("{{ min(3, 1, 2) }} {{ max([3, 1, 2]) }}", "", "1 3"),
            ("{{ average(1, 2, 3, 6) }}", "", "3.0"),
            ("{{ value_json | median }}", "[1, 5, 2, 8]", "3.5"),
            ("{{ average([], default=0) }}", "", "0"),
            ("{{ statistical_mode('a', 'b', 'b') }}", "", "b"),
            // Logic.
            ("{{ iif(value == 'ON', 'on', 'off') }}", "ON", "on"),
            ("{{ iif(none, 'yes', 'no', 'unknown') }}", "", "unknown"),
            ("{{ iif('false') }}", "", "True"),
            ("{{ value | bool }}", "on", "True"),
            ("{{ value | bool }}", "Disable", "False"),
            ("{{ bool(value, 'x') }}", "maybe", "x"),
            // Python methods (pycompat).
            ("{{ value.split(',')[1] | float(0) }}", "12,21.5,40", "21.5"),
            ("{{ value.upper() }} {{ value.replace('o', '0') }}", "foo", "FOO f00"),
            ("{{ value.startswith('tele') }}", "tele/x", "True"),
            ("{{ value_json.items() | list | length }}", r#"{"a": 1, "b": 2}"#, "2"),
            ("{{ dict.from_keys([('a', 1), ('b', none)]) | to_json }}", "", r#"{"a":1,"b":null}"#),
            // Loop controls (Zigbee2MQTT 2.x event templates).
            ("{% for c in value %}{% if c == 'b' %}{% continue %}{% endif %}{% if c == 'd' %}{% break %}{% endif %}{{ c }}{% endfor %}", "abcde", "ac"),
            ("{% for k, v in zip(['a', 'b'], [1, 2]) %}{{ k }}{{ v }}{% endfor %}", "", "a1b2"),
            // Regular expressions (Python's re).
            ("{{ value | regex_match('ab') }}", "abc", "True"),
            ("{{ value | regex_match('bc') }}", "abc", "False"),
            ("{{ value | regex_search('bc') }}", "abc", "True"),
            ("{{ value | regex_search('BC', ignorecase=True) }}", "abc", "True"),
            ("{{ value is match('a') }}", "abc", "True"),
            ("{{ value | regex_findall('[0-9]+') }}", "a1b22c333", r#"["1", "22", "333"]"#),
            ("{{ value | regex_findall('(\\w)=(\\d)') }}", "a=1 b=2", r#"[["a", "1"], ["b", "2"]]"#),
            ("{{ value | regex_findall_index('[0-9]+', 1) }}", "a1b22", "22"),
            ("{{ value | regex_replace('(\\d+)C', '\\\\1 °C') }}", "21C", "21 °C"),
            ("{{ value | regex_replace(find='-', replace='') }}", "a-b-c", "abc"),
            // JSON.
            ("{{ (value | from_json).a }}", r#"{"a": 7}"#, "7"),
            ("{{ value | from_json('bad') }}", "{", "bad"),
            ("{{ value_json | to_json }}", r#"{"a":"é","b":[1,2]}"#, r#"{"a":"é","b":[1,2]}"#),
            ("{{ value_json | to_json(sort_keys=True, ensure_ascii=True) }}", r#"{"b":1,"a":"é"}"#, r#"{"a":"\u00e9","b":1}"#),
            // Text.
            ("{{ value | base64_encode }}", "hello", "aGVsbG8="),
            ("{{ value | base64_decode }}", "aGVsbG8=", "hello"),
            ("{{ value | ord }}", "A", "65"),
            ("{{ value | slugify }}", "Salle à manger!", "salle_a_manger"),
            ("{{ slugify(value, '-') }}", "Living Room 2", "living-room-2"),
            // Time (UTC where Home Assistant would use its own zone).
            ("{{ value | timestamp_custom('%Y-%m-%d %H:%M', false) }}", "1700000000", "2023-11-14 22:13"),
            ("{{ value | timestamp_utc }}", "0", "1970-01-01T00:00:00+00:00"),
            ("{{ as_timestamp(value) }}", "2023-11-14T22:13:20+00:00", "1700000000.0"),
            ("{{ as_datetime(value).hour }}", "2023-11-14T22:13:20+01:00", "22"),
            ("{{ as_datetime(value) }}", "2023-11-14T22:13:20.5+00:00", "2023-11-14 22:13:20.500000+00:00"),
            ("{{ as_datetime(value).isoformat() }}", "1700000000", "2023-11-14T22:13:20+00:00"),
            ("{{ as_datetime(value, 'never') }}", "soon", "never"),
            ("{{ strptime(value, '%d/%m/%Y %H:%M') }}", "14/11/2023 22:13", "2023-11-14 22:13:00"),
            ("{{ strptime(value, '%Y', default=0) }}", "x", "0"),
            ("{{ as_datetime(value).strftime('%H:%M:%S.%f') }}", "2023-11-14T22:13:20.25+00:00", "22:13:20.250000"),
            ("{{ as_datetime('2024-01-02T00:00:00+00:00') > as_datetime('2024-01-01T00:00:00+00:00') }}", "", "True"),
        ] {
            match render(template, value) {
                Ok(got) => assert_eq!(got, expected, "{template} with {value:?}"),
                Err(e) => panic!("{template} with {value:?}: {e:#}"),
            }
        }
    }

    #[test]
    fn values_that_do_not_convert_without_a_default_are_errors() {
        for (template, value) in [
            ("{{ value | float }}", "n/a"),
            ("{{ value | int }}", "n/a"),
            ("{{ value | round }}", "n/a"),
            ("{{ value | bool }}", "maybe"),
            ("{{ value | from_json }}", "{"),
            ("{{ as_timestamp(value) }}", "soon"),
            ("{{ average([]) }}", ""),
            ("{{ value | regex_search('(') }}", "x"),
            ("{{ value | ord }}", "ab"),
            ("{{ value | timestamp_custom('%Q') }}", "0"),
        ] {
            let e = render(template, value).expect_err(template);
            assert!(!unsupported(&e), "{template}: {e}");
        }
    }

    #[test]
    fn what_needs_home_assistant_is_reported_as_unsupported() {
        for template in [
            "{{ states('sensor.x') }}",
            "{{ is_state('light.a', 'on') }}",
            "{{ now().hour }}",
            "{{ value | no_such_filter }}",
            "{{ no_such_function() }}",
        ] {
            let e = render(template, "1").expect_err(template);
            assert!(unsupported(&e), "{template}: {e}");
        }
    }
}
