//! Names of learned devices and their callbacks, and template snippets.

use crate::names::check_segment;

/// A package name from a device's name: `/` (which a package name cannot hold, but
/// Zigbee2MQTT names often do) becomes `.`, and a leading `$` or `_` is dropped.
/// `None` when nothing usable is left.
pub fn package_name(raw: &str) -> Option<String> {
    let name = raw
        .trim()
        .replace('/', ".")
        .trim_start_matches(['$', '_'])
        .to_owned();
    check_segment(&name).ok().map(|()| name)
}

/// `Set` + the words of `parts` in PascalCase: `["light", "on_off"]` → `SetLightOnOff`.
pub fn setter(parts: &[&str]) -> String {
    callback("Set", parts)
}

/// `verb` + the words of `parts` in PascalCase: `("Lock", ["front door"])` →
/// `LockFrontDoor`.
pub fn callback(verb: &str, parts: &[&str]) -> String {
    let mut key = String::from(verb);
    for word in parts
        .iter()
        .flat_map(|p| p.split(|c: char| !c.is_alphanumeric()))
        .filter(|w| !w.is_empty())
    {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            key.extend(first.to_uppercase());
            key.push_str(chars.as_str());
        }
    }
    key
}

/// `text` as a Jinja string literal.
pub fn literal(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

/// A command payload from the message's data: `true`/`false` as `on`/`off`, text as
/// it is, anything else as JSON.
pub fn payload_template(on: &str, off: &str) -> String {
    format!(
        "{{% if data is sameas true %}}{{{{ {} }}}}{{% elif data is sameas false %}}{{{{ {} }}}}\
         {{% elif data is string %}}{{{{ data }}}}{{% else %}}{{{{ data | tojson }}}}{{% endif %}}",
        literal(on),
        literal(off)
    )
}

/// Whether a learned topic can be subscribed and published literally.
pub fn literal_topic(topic: &str) -> bool {
    !topic.is_empty() && !topic.contains(['+', '#', '{', '}']) && !topic.contains('\0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            package_name("living room/lamp").as_deref(),
            Some("living room.lamp")
        );
        assert_eq!(package_name("_x").as_deref(), Some("x"));
        assert_eq!(package_name("a+b"), None);
        assert_eq!(setter(&["light", "on_off"]), "SetLightOnOff");
        assert_eq!(setter(&["Kitchen Light"]), "SetKitchenLight");
    }

    #[test]
    fn payloads() {
        let env = minijinja::Environment::new();
        let render = |data: serde_json::Value| {
            env.render_str(&payload_template("ON", "OFF"), minijinja::context! { data })
                .unwrap()
        };
        assert_eq!(render(serde_json::json!(true)), "ON");
        assert_eq!(render(serde_json::json!(false)), "OFF");
        assert_eq!(render(serde_json::json!("TOGGLE")), "TOGGLE");
        assert_eq!(
            render(serde_json::json!({"state": "ON"})),
            r#"{"state":"ON"}"#
        );
        assert_eq!(render(serde_json::json!(12)), "12");
    }
}
