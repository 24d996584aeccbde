//! `topics.toml`: loading, environment overrides, `${VAR}`, and every kind of mistake
//! reported with its file, key and reason.

use constellation_mqtt::config::{CallbackPayload, ConfigError, MqttMode, SoPayload};
use constellation_mqtt::secret::Secret;
use constellation_mqtt::setup::{load, load_str};
use std::collections::HashMap;

const VALID: &str = r#"
prefix = "home/constellation"

[constellation]
url = "https://constellation.example:8088/"
access_key = "${CONST_KEY}"
request_timeout_ms = 2500
long_poll_timeout_ms = 30000
settings_refresh_s = 60
allow = ["*/*", "Tasmota/*"]
max_concurrent_requests = 8

[mqtt]
mode = "external"
url = "mqtts://broker.example:8883"
client_id = "adapter-1"
username = "adapter"
password = "${MQTT_PASSWORD}"
qos = 0

[[packages]]
sentinel = "CapteurSalon"
package = "Temperature"
access_key = "own-${CONST_KEY}"
callback_payload = "data"
so_payload = "value"
subscribe = [{ Package = "HWMonitor", Name = "/intelcpu/load/0" }]
groups = ["Sensors"]

[packages.stateobjects."Temperature"]
type = "System.Double"
lifetime = 600
metadata = { Room = "Salon" }
"#;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn secrets() -> HashMap<String, String> {
    env(&[("CONST_KEY", "k1"), ("MQTT_PASSWORD", "p1")])
}

/// The errors of `text`, which must fail.
fn errors(text: &str) -> Vec<ConfigError> {
    load_str("topics.toml", text, &secrets()).expect_err("the file must be refused")
}

/// Asserts `text` fails with an error at `key` whose reason contains `reason`.
fn fails_at(text: &str, key: &str, reason: &str) {
    let errs = errors(text);
    assert!(
        errs.iter()
            .any(|e| e.key == key && e.reason.contains(reason) && e.file == "topics.toml"),
        "expected `{key}`: …{reason}…, got {errs:#?}"
    );
    let shown = errs[0].to_string();
    assert!(shown.starts_with("topics.toml: "), "{shown}");
}

#[test]
fn a_valid_file_loads_with_every_key() {
    let c = load_str("topics.toml", VALID, &secrets()).unwrap();
    assert_eq!(c.prefix, "home/constellation");
    assert_eq!(
        c.constellation.access_key.as_ref().map(Secret::expose),
        Some("k1")
    );
    assert_eq!(c.constellation.request_timeout_ms, 2500);
    assert_eq!(c.constellation.allow, ["*/*", "Tasmota/*"]);
    assert_eq!(c.mqtt.mode, MqttMode::External);
    assert_eq!(c.mqtt.password.as_ref().map(Secret::expose), Some("p1"));
    assert_eq!(c.mqtt.qos, 0);
    let p = &c.packages[0];
    assert_eq!(p.access_key.as_ref().map(Secret::expose), Some("own-k1"));
    assert_eq!(p.callback_payload, CallbackPayload::Data);
    assert_eq!(p.so_payload, SoPayload::Value);
    assert_eq!(p.subscribe[0].package, "HWMonitor");
    assert_eq!(p.subscribe[0].name, "/intelcpu/load/0");
    assert_eq!(p.subscribe[0].sentinel, "*");
    let so = &p.stateobjects["Temperature"];
    assert_eq!(so.type_name.as_deref(), Some("System.Double"));
    assert_eq!(so.lifetime, Some(600));
    assert_eq!(so.metadata["Room"], "Salon");
    assert_eq!(
        c.access_key_for("CapteurSalon", "Temperature"),
        Some("own-k1")
    );
    assert_eq!(c.access_key_for("Other", "Pkg"), Some("k1"));
}

#[test]
fn defaults_fill_a_minimal_file() {
    let c = load_str("topics.toml", "", &HashMap::new()).unwrap();
    assert_eq!(c.prefix, "constellation");
    assert_eq!(c.constellation.url, "http://127.0.0.1:8088/");
    assert_eq!(c.constellation.long_poll_timeout_ms, 60_000);
    assert_eq!(c.mqtt.mode, MqttMode::Embedded);
    assert_eq!(c.mqtt.qos, 1);
    assert!(c.packages.is_empty());
}

#[test]
fn the_example_topics_toml_loads() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("topics.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let c = load_str("topics.toml", &text, &HashMap::new()).unwrap();
    assert_eq!(
        c.constellation.access_key.as_ref().map(Secret::expose),
        Some("demo")
    );
    assert_eq!(c.packages.len(), 1);
}

#[test]
fn a_missing_file_is_named() {
    let errs = load(std::path::Path::new("/nonexistent/topics.toml")).unwrap_err();
    assert_eq!(errs[0].file, "/nonexistent/topics.toml");
    assert!(errs[0].reason.contains("cannot read"), "{:?}", errs[0]);
}

#[test]
fn relative_paths_are_taken_from_the_file_s_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("topics.toml");
    let text = "[mqtt]\nbroker_config = \"broker/rumqttd.toml\"\nca_file = \"/etc/ssl/ca.pem\"\nclient_cert_file = \"certs/me.pem\"\nclient_key_file = \"certs/me.key\"\n";
    std::fs::write(&path, text).unwrap();
    let c = load(&path).unwrap();
    let m = &c.mqtt;
    assert_eq!(
        m.broker_config.as_deref(),
        Some(dir.path().join("broker/rumqttd.toml").as_path())
    );
    assert_eq!(
        m.ca_file.as_deref(),
        Some(std::path::Path::new("/etc/ssl/ca.pem"))
    );
    assert_eq!(m.client_cert_file, Some(dir.path().join("certs/me.pem")));
    assert_eq!(m.client_key_file, Some(dir.path().join("certs/me.key")));
    let none = load_str("topics.toml", "", &HashMap::new()).unwrap();
    assert_eq!(
        none.mqtt.broker_config, None,
        "the compiled-in broker by default"
    );
}

#[test]
fn toml_syntax_errors_are_reported() {
    let errs = errors("[constellation\nurl = 1");
    assert!(errs[0].to_string().starts_with("topics.toml: "), "{errs:?}");
}

#[test]
fn unknown_keys_are_refused() {
    fails_at("colour = 1", "colour", "unknown field");
    fails_at(
        "[constellation]\nurll = \"x\"",
        "constellation.urll",
        "unknown field",
    );
    fails_at(
        "[[packages]]\nsentinel = \"S\"\npackage = \"P\"\naccess_key = \"k\"\nretain = true",
        "packages[0].retain",
        "unknown field",
    );
    fails_at(
        "[[packages]]\nsentinel = \"S\"\npackage = \"P\"\naccess_key = \"k\"\nsubscribe = [{ Pkg = \"X\" }]",
        "packages[0].subscribe[0].Pkg",
        "unknown field",
    );
}

#[test]
fn unknown_keys_are_reported_with_every_other_problem() {
    let mut env = secrets();
    env.insert("CONSTELLATION_MQTT__HTTP__LISTN".into(), "0.0.0.0:1".into());
    let text = "colour = 1\n[constellation]\nurll = \"x\"\nurl = \"ftp://x\"\n[storage]\ncommit_ms = 5000\nmax_byte = 3\n";
    let errs = load_str("topics.toml", text, &env).expect_err("refused");
    let keys: Vec<&str> = errs.iter().map(|e| e.key.as_str()).collect();
    for key in [
        "colour",
        "constellation.urll",
        "storage.max_byte",
        "http.listn",
        "constellation.url",
        "storage.commit_ms",
    ] {
        assert!(keys.contains(&key), "{key} missing from {errs:#?}");
    }
    assert!(
        errs.iter()
            .filter(|e| e.key.ends_with("urll"))
            .all(|e| e.reason.contains("unknown field")),
        "{errs:#?}"
    );
}

#[test]
fn values_of_the_wrong_type_are_refused() {
    fails_at(
        "[constellation]\nrequest_timeout_ms = \"soon\"",
        "constellation.request_timeout_ms",
        "",
    );
    fails_at(
        "[mqtt]\nmode = \"cloud\"",
        "mqtt.mode",
        "unknown value \"cloud\", expected one of: embedded, external",
    );
    fails_at(
        "[[packages]]\nsentinel = \"S\"\npackage = \"P\"\naccess_key = \"k\"\nso_payload = \"json\"",
        "packages[0].so_payload",
        "expected one of: object, value",
    );
}

#[test]
fn bad_urls_are_refused() {
    fails_at(
        "[constellation]\nurl = \"not a url\"",
        "constellation.url",
        "not a valid URL",
    );
    fails_at(
        "[constellation]\nurl = \"ftp://host/\"",
        "constellation.url",
        "scheme `ftp`",
    );
    fails_at(
        "[mqtt]\nmode = \"external\"\nurl = \"http://broker:1883\"",
        "mqtt.url",
        "scheme `http`",
    );
}

fn package(sentinel: &str, name: &str) -> String {
    format!("[[packages]]\nsentinel = {sentinel:?}\npackage = {name:?}\naccess_key = \"k\"\n")
}

#[test]
fn bad_sentinel_and_package_names_are_refused() {
    fails_at(&package("", "P"), "packages[0].sentinel", "is empty");
    fails_at(&package("S", "a+b"), "packages[0].package", "wildcard");
    fails_at(&package("S#", "P"), "packages[0].sentinel", "wildcard");
    fails_at(&package("S", "a/b"), "packages[0].package", "contains `/`");
    fails_at(&package("$SYS", "P"), "packages[0].sentinel", "`$`");
    fails_at(&package("S", "_adapter"), "packages[0].package", "`_`");
    fails_at(
        &format!("{}{}", package("S", "P"), package("S", "P")),
        "packages[1].package",
        "declared twice",
    );
}

#[test]
fn out_of_range_numbers_are_refused() {
    fails_at(
        &format!(
            "{}[packages.stateobjects.T]\nlifetime = -5",
            package("S", "P")
        ),
        "packages[0].stateobjects.\"T\".lifetime",
        "negative",
    );
    fails_at(
        "[constellation]\nlong_poll_timeout_ms = 500",
        "constellation.long_poll_timeout_ms",
        "outside",
    );
    fails_at(
        "[constellation]\nrequest_timeout_ms = 0",
        "constellation.request_timeout_ms",
        "above 0",
    );
    fails_at("[mqtt]\nqos = 3", "mqtt.qos", "not an MQTT QoS");
}

#[test]
fn other_mistakes_are_refused() {
    fails_at("prefix = \"a/+/b\"", "prefix", "wildcard");
    fails_at("prefix = \"a//b\"", "prefix", "empty topic level");
    fails_at(
        "[constellation]\nallow = [\"everything\"]",
        "constellation.allow[0]",
        "sentinel/package",
    );
    fails_at(
        "[[packages]]\nsentinel = \"S\"\npackage = \"P\"",
        "packages[0].access_key",
        "no credential",
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let errs = errors("prefix = \"\"\n[constellation]\nurl = \"x\"\n[mqtt]\nqos = 9");
    let keys: Vec<_> = errs.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["prefix", "constellation.url", "mqtt.qos"]);
}

#[test]
fn the_environment_overrides_the_file() {
    let text = "[constellation]\nurl = \"http://file:8088/\"\nrequest_timeout_ms = 1000\naccess_key = \"file-key\"";
    let e = env(&[
        ("CONSTELLATION_MQTT__CONSTELLATION__URL", "http://env:8088/"),
        (
            "CONSTELLATION_MQTT__CONSTELLATION__REQUEST_TIMEOUT_MS",
            "7000",
        ),
        ("CONSTELLATION_MQTT__CONSTELLATION__ACCESS_KEY", "12345"),
        ("CONSTELLATION_MQTT__MQTT__MODE", "external"),
        ("UNRELATED", "x"),
    ]);
    let c = load_str("topics.toml", text, &e).unwrap();
    assert_eq!(c.constellation.url, "http://env:8088/");
    assert_eq!(c.constellation.request_timeout_ms, 7000);
    assert_eq!(
        c.constellation.access_key.as_ref().map(Secret::expose),
        Some("12345")
    );
    assert_eq!(c.mqtt.mode, MqttMode::External);
}

#[test]
fn an_override_of_an_unknown_key_is_refused() {
    let e = env(&[("CONSTELLATION_MQTT__CONSTELLATION__TYPO", "1")]);
    let errs = load_str("topics.toml", "", &e).unwrap_err();
    assert_eq!(errs[0].key, "constellation.typo", "{errs:?}");
}

#[test]
fn an_unset_variable_is_an_error_naming_key_and_variable() {
    let errs = load_str(
        "topics.toml",
        "[mqtt]\npassword = \"${NOT_SET_ANYWHERE}\"\n[[packages]]\nsentinel=\"S\"\npackage=\"P\"\naccess_key=\"${ALSO_UNSET}\"",
        &HashMap::new(),
    )
    .unwrap_err();
    assert_eq!(errs.len(), 2, "{errs:?}");
    let shown: Vec<String> = errs.iter().map(ToString::to_string).collect();
    assert!(
        shown.contains(
            &"topics.toml: key `mqtt.password`: environment variable NOT_SET_ANYWHERE is not set"
                .to_string()
        ),
        "{shown:?}"
    );
    assert!(
        shown
            .iter()
            .any(|s| s.contains("packages[0].access_key") && s.contains("ALSO_UNSET")),
        "{shown:?}"
    );
}

#[test]
fn mapping_rules_load_and_bad_ones_name_the_rule() {
    let good = r#"
[[map]]
topic = "tele/{device}/SENSOR"
sentinel = "Tasmota"
package = "{device}"
explode = true
skip = ["Time"]

[[map]]
topic = "stat/{device}/POWER"
sentinel = "Tasmota"
package = "{device}"
stateobject = "Power"
value = "{{ value == 'ON' }}"
map = { ON = true }

[[map]]
topic = "tele/{device}/LWT"
sentinel = "Tasmota"
package = "{device}"
availability = { online = "Online", offline = "Offline" }
"#;
    let c = load_str("topics.toml", good, &HashMap::new()).unwrap();
    assert_eq!(c.map.len(), 3);
    assert_eq!(c.map[1].stateobject.as_deref(), Some("Power"));

    let rule = |body: &str| format!("[[map]]\nsentinel = \"S\"\npackage = \"P\"\n{body}\n");
    fails_at(
        &rule("topic = \"a/#/b\"\nexplode = true"),
        "map[0].topic",
        "`#` must be the last level",
    );
    fails_at(
        &rule("topic = \"a/{x\"\nexplode = true"),
        "map[0].topic",
        "mixes text and wildcards",
    );
    fails_at(
        &rule("topic = \"a/{x}\"\nstateobject = \"T\"\nvalue = \"{{ value_json. }}\""),
        "map[0].value",
        "template error",
    );
    fails_at(&rule("topic = \"a/{x}\""), "map[0].topic", "does nothing");
    fails_at(
        &rule("topic = \"a/{x}\"\n[map.stateobjects.T]\ntype = \"System.Double\""),
        "map[0].stateobjects.\"T\"",
        "exactly one of `value`",
    );
    fails_at(
        &rule("topic = \"a\"\nexplode = true\nfrequency = 3"),
        "map[0].frequency",
        "unknown field",
    );
}

#[test]
fn a_command_takes_a_qos_of_0_1_or_2() {
    const COMMAND: &str = "[[command]]\nsentinel = \"T\"\npackage = \"*\"\nkey = \"Power\"\ntopic = \"cmnd/{package}/POWER\"\n";
    let c = load_str(
        "topics.toml",
        &format!("{COMMAND}qos = 2\n"),
        &HashMap::new(),
    )
    .unwrap();
    assert_eq!(c.command[0].qos, Some(2));
    let errs = errors(&format!("{COMMAND}qos = 3\n"));
    assert!(
        errs.iter()
            .any(|e| e.key == "command[0].qos" && e.reason.contains("0, 1 or 2")),
        "{errs:?}"
    );
}

#[test]
fn the_http_listener_address_is_checked() {
    let errs = errors("[http]\nlisten = \"localhost\"\n");
    assert!(errs.iter().any(|e| e.key == "http.listen"), "{errs:?}");
    let c = load_str("topics.toml", "[http]\nlisten = \"\"\n", &HashMap::new()).unwrap();
    assert!(c.http.listen.is_empty());
}

/// The systemd unit points the journal at its state directory through the environment
/// (`examples/systemd/constellation-mqtt.service`): an absolute directory there wins
/// over the file's relative one, and is not made relative to the file.
#[test]
fn the_service_puts_the_journal_in_its_state_directory() {
    let e = env(&[(
        "CONSTELLATION_MQTT__STORAGE__DIR",
        "/var/lib/constellation-mqtt",
    )]);
    let mut c =
        constellation_mqtt::config::parse("topics.toml", "[storage]\ndir = \"data\"", &e).unwrap();
    c.resolve_paths(std::path::Path::new("/etc/constellation-mqtt"));
    assert_eq!(
        c.storage.dir.as_deref(),
        Some(std::path::Path::new("/var/lib/constellation-mqtt"))
    );
    let unit = include_str!("../examples/systemd/constellation-mqtt.service");
    assert!(unit.contains("Environment=CONSTELLATION_MQTT__STORAGE__DIR=%S/constellation-mqtt"));
}
