//! Values of mapped payloads: leaves, paths, coercion to a declared type.

use crate::constellation::model::json_or_text;
use serde_json::{Map, Number, Value};

/// What a template rendered, as a value: Jinja writes booleans and none the Python way
/// (`True`, `False`, `None`); anything else is JSON when it reads as JSON, else text.
pub fn rendered(text: &str) -> Value {
    match text.trim() {
        "True" => Value::Bool(true),
        "False" => Value::Bool(false),
        "None" => Value::Null,
        _ => json_or_text(text),
    }
}

/// Every leaf of `obj` with its dotted path (`AM2301.Temperature`); arrays are leaves.
pub fn flatten(obj: &Map<String, Value>) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    walk(obj, &mut String::new(), &mut out);
    out
}

fn walk(obj: &Map<String, Value>, prefix: &mut String, out: &mut Vec<(String, Value)>) {
    for (k, v) in obj {
        let len = prefix.len();
        if !prefix.is_empty() {
            prefix.push('.');
        }
        prefix.push_str(k);
        match v {
            Value::Object(inner) => walk(inner, prefix, out),
            leaf => out.push((prefix.clone(), leaf.clone())),
        }
        prefix.truncate(len);
    }
}

/// The value at a dotted path.
pub fn lookup<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |v, key| v.get(key))
}

/// `true`/`false` from what an availability template rendered.
pub fn truthy(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_f64().map(|f| f != 0.0),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "on" | "online" | "1" => Some(true),
            "false" | "off" | "offline" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// Whether `value` is not empty and reads as `type_name` (when one is declared).
pub fn fits(value: &Value, type_name: Option<&str>) -> bool {
    if matches!(value, Value::Null) || matches!(value, Value::String(s) if s.trim().is_empty()) {
        return false;
    }
    let Some(t) = type_name else { return true };
    match (t, coerce(value.clone(), Some(t))) {
        ("System.Double" | "System.Single" | "System.Decimal", v) => v.is_number(),
        ("System.Int16" | "System.Int32" | "System.Int64" | "System.Byte", v) => {
            v.is_i64() || v.is_u64()
        }
        ("System.Boolean", v) => v.is_boolean(),
        _ => true,
    }
}

/// Converts text to the declared type when it reads as one: `"23.50"` → 23.5 for
/// `System.Double`, `ON`/`OFF` → booleans for `System.Boolean`…; otherwise unchanged.
pub fn coerce(value: Value, type_name: Option<&str>) -> Value {
    let Some(t) = type_name else { return value };
    let converted = match (t, &value) {
        // Null (a reset) is null whatever the type.
        (_, Value::Null) => None,
        ("System.Double" | "System.Single" | "System.Decimal", Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number),
        ("System.Double" | "System.Single" | "System.Decimal", Value::Number(n)) => {
            n.as_f64().and_then(Number::from_f64).map(Value::Number)
        }
        ("System.Int16" | "System.Int32" | "System.Int64" | "System.Byte", Value::String(s)) => {
            s.trim().parse::<i64>().ok().map(Value::from)
        }
        ("System.Boolean", v) => truthy(v).map(Value::Bool),
        ("System.String", Value::String(_)) => None,
        ("System.String", v) => Some(Value::String(v.to_string())),
        _ => None,
    };
    converted.unwrap_or(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flattens_objects_into_dotted_leaves() {
        let v =
            json!({"Time": "t", "AM2301": {"Temperature": 24.6, "Humidity": 58.2}, "L": [1, 2]});
        let leaves = flatten(v.as_object().unwrap());
        assert_eq!(
            leaves,
            [
                ("Time".to_string(), json!("t")),
                ("AM2301.Temperature".into(), json!(24.6)),
                ("AM2301.Humidity".into(), json!(58.2)),
                ("L".into(), json!([1, 2])),
            ]
        );
        assert_eq!(lookup(&v, "AM2301.Humidity"), Some(&json!(58.2)));
        assert_eq!(lookup(&v, "AM2301.Nope"), None);
    }

    #[test]
    fn renders_python_style_constants() {
        assert_eq!(rendered("True"), json!(true));
        assert_eq!(rendered("False"), json!(false));
        assert_eq!(rendered("None"), json!(null));
        assert_eq!(rendered("21.5"), json!(21.5));
        assert_eq!(rendered("Normal"), json!("Normal"));
    }

    #[test]
    fn coerces_to_declared_types() {
        assert_eq!(coerce(json!("23.50"), Some("System.Double")), json!(23.5));
        assert_eq!(coerce(json!(2635), Some("System.Double")), json!(2635.0));
        assert_eq!(coerce(json!("OFF"), Some("System.Boolean")), json!(false));
        assert_eq!(coerce(json!("on"), Some("System.Boolean")), json!(true));
        assert_eq!(coerce(json!(1), Some("System.Boolean")), json!(true));
        assert_eq!(coerce(json!("190"), Some("System.Int32")), json!(190));
        assert_eq!(coerce(json!(21), Some("System.String")), json!("21"));
        assert_eq!(coerce(json!("n/a"), Some("System.Double")), json!("n/a"));
        assert_eq!(coerce(json!("x"), None), json!("x"));
    }
}
