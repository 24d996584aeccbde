//! Checks of a typed configuration that serde cannot express; each names its key. The
//! mapping sections are checked by compiling them ([`crate::mapping::Mapping`]).

use super::schema::{Config, MqttMode};
use crate::names::check_segment;
use crate::secret::Secret;
use std::collections::HashSet;
use url::Url;

/// Every problem of `config` outside its mapping sections, as (key, reason).
pub fn validate(config: &Config) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    let mut fail = |key: &str, reason: String| errors.push((key.to_owned(), reason));
    for section in [
        constellation,
        storage,
        http,
        provisioning,
        export,
        mqtt,
        packages,
    ] {
        section(config, &mut fail);
    }
    errors
}

/// `prefix` and `[constellation]`.
fn constellation(config: &Config, fail: &mut dyn FnMut(&str, String)) {
    if let Err(reason) = check_prefix(&config.prefix) {
        fail("prefix", reason);
    }
    let c = &config.constellation;
    if let Err(reason) = check_url(&c.url, &["http", "https"]) {
        fail("constellation.url", reason);
    }
    if c.request_timeout_ms == 0 {
        fail("constellation.request_timeout_ms", "must be above 0".into());
    }
    if !(1_000..=120_000).contains(&c.long_poll_timeout_ms) {
        fail(
            "constellation.long_poll_timeout_ms",
            format!(
                "{} is outside 1000..=120000, the range the server accepts",
                c.long_poll_timeout_ms
            ),
        );
    }
    if c.max_concurrent_requests == 0 {
        fail(
            "constellation.max_concurrent_requests",
            "must be above 0".into(),
        );
    }
    if c.pipeline == 0 {
        fail(
            "constellation.pipeline",
            "must be above 0 (1: no pipelining)".into(),
        );
    }
    if c.queue_limit == 0 {
        fail("constellation.queue_limit", "must be above 0".into());
    }
    for (key, value) in [
        ("max_long_polls", c.max_long_polls),
        ("max_packages", c.max_packages),
        ("max_learned_devices", c.max_learned_devices),
        ("max_sagas_per_package", c.max_sagas_per_package),
    ] {
        if value == 0 {
            fail(&format!("constellation.{key}"), "must be above 0".into());
        }
    }
    if c.queue_limit_bytes == 0 {
        fail("constellation.queue_limit_bytes", "must be above 0".into());
    }
    if c.auth_retry_s == 0 {
        fail("constellation.auth_retry_s", "must be above 0".into());
    }
    if c.online_stateobject.contains(['+', '#']) {
        fail(
            "constellation.online_stateobject",
            format!("{:?} contains an MQTT wildcard", c.online_stateobject),
        );
    }
    if c.access_key.as_ref().map(Secret::expose) == Some("") {
        fail("constellation.access_key", "is empty".into());
    }
    for (i, pattern) in c.allow.iter().enumerate() {
        if let Err(reason) = check_allow(pattern) {
            fail(&format!("constellation.allow[{i}]"), reason);
        }
    }
}

/// `[storage]`.
fn storage(config: &Config, fail: &mut dyn FnMut(&str, String)) {
    let st = &config.storage;
    if st.max_bytes == 0 {
        fail("storage.max_bytes", "must be above 0".into());
    }
    if st.commit_ms > 1_000 {
        fail(
            "storage.commit_ms",
            format!(
                "{} ms would hold every acknowledgement that long: at most 1000",
                st.commit_ms
            ),
        );
    }
    if st.dir.as_ref().is_some_and(|d| d.as_os_str().is_empty()) {
        fail("storage.dir", "is empty".into());
    }
}

/// `[http]`.
fn http(config: &Config, fail: &mut dyn FnMut(&str, String)) {
    let h = &config.http;
    if !h.listen.is_empty() && h.listen.parse::<std::net::SocketAddr>().is_err() {
        fail(
            "http.listen",
            format!(
                "{:?} is not host:port (an IP address and a port), nor \"\" (off)",
                h.listen
            ),
        );
    }
    if h.readiness_s == 0 {
        fail("http.readiness_s", "must be above 0".into());
    }
}

/// `[provisioning]`.
fn provisioning(config: &Config, fail: &mut dyn FnMut(&str, String)) {
    let c = &config.constellation;
    let p = &config.provisioning;
    if p.enabled {
        if p.access_key.as_ref().is_none_or(|k| k.expose().is_empty()) {
            fail(
                "provisioning.access_key",
                "provisioning needs a credential with EnableManagementAPI".into(),
            );
        }
        if p.sentinels.is_empty() {
            fail(
                "provisioning.sentinels",
                "list the sentinels the adapter may create (globs, e.g. [\"Zigbee\", \"Tasmota\"])"
                    .into(),
            );
        }
        if c.access_key.is_none() {
            fail(
                "constellation.access_key",
                "provisioning creates its credential with this key: set it".into(),
            );
        }
        for (key, text) in [
            ("provisioning.friendly_name", &p.friendly_name),
            ("provisioning.credential", &p.credential),
        ] {
            if let Err(reason) = check_segment(text) {
                fail(key, reason.into());
            }
        }
    }
    for (i, pattern) in p.sentinels.iter().enumerate() {
        if let Err(e) = globset::Glob::new(pattern) {
            fail(
                &format!("provisioning.sentinels[{i}]"),
                format!("{pattern:?} is not a glob: {e}"),
            );
        }
    }
}

/// `[[export]]`.
fn export(config: &Config, fail: &mut dyn FnMut(&str, String)) {
    let c = &config.constellation;
    if !config.export.is_empty() && c.identity.is_none() {
        fail(
            "constellation.identity",
            "[[export]] follows StateObjects as the adapter's own identity: set { sentinel, package }".into(),
        );
    }
    for (i, x) in config.export.iter().enumerate() {
        let key = |k: &str| format!("export[{i}].{k}");
        if x.filter.as_slice().is_empty() {
            fail(&key("filter"), "needs at least one filter".into());
        }
        if x.topic.is_empty() || x.topic.contains(['+', '#']) || x.topic.starts_with('/') {
            fail(
                &key("topic"),
                format!("{:?} is not a topic template", x.topic),
            );
        }
        if x.qos.is_some_and(|q| q > 2) {
            fail(&key("qos"), "must be 0, 1 or 2".into());
        }
        if let Err(reason) = check_prefix(&x.discovery_prefix) {
            fail(&key("discovery_prefix"), reason);
        }
    }
}

/// `[mqtt]`.
fn mqtt(config: &Config, fail: &mut dyn FnMut(&str, String)) {
    let m = &config.mqtt;
    if m.qos > 2 {
        fail(
            "mqtt.qos",
            format!("{} is not an MQTT QoS (0, 1 or 2)", m.qos),
        );
    }
    if m.max_payload_bytes == 0 {
        fail("mqtt.max_payload_bytes", "must be above 0".into());
    }
    if m.client_cert_file.is_some() != m.client_key_file.is_some() {
        fail(
            "mqtt.client_key_file",
            "client_cert_file and client_key_file go together".into(),
        );
    }
    if m.client_id.is_empty() {
        fail("mqtt.client_id", "is empty".into());
    }
    match m.mode {
        MqttMode::External => {
            if let Err(reason) = check_url(&m.url, &["mqtt", "mqtts"]) {
                fail("mqtt.url", reason);
            }
        }
        MqttMode::Embedded => {
            if m.broker_config
                .as_ref()
                .is_some_and(|p| p.as_os_str().is_empty())
            {
                fail("mqtt.broker_config", "is empty".into());
            }
        }
    }
}

/// `[[packages]]`.
fn packages(config: &Config, fail: &mut dyn FnMut(&str, String)) {
    let c = &config.constellation;
    let mut seen = HashSet::new();
    for (i, p) in config.packages.iter().enumerate() {
        let at = |field: &str| format!("packages[{i}].{field}");
        for (field, value) in [("sentinel", &p.sentinel), ("package", &p.package)] {
            if let Err(reason) = check_segment(value) {
                fail(&at(field), format!("{value:?} {reason}"));
            }
        }
        if !seen.insert((&p.sentinel, &p.package)) {
            fail(
                &at("package"),
                format!("{}/{} is declared twice", p.sentinel, p.package),
            );
        }
        match p.access_key.as_ref().map(Secret::expose) {
            Some("") => fail(&at("access_key"), "is empty".into()),
            None if c.access_key.is_none() => fail(
                &at("access_key"),
                "no credential: set it, or constellation.access_key for every package".into(),
            ),
            _ => {}
        }
        for (j, group) in p.groups.iter().enumerate() {
            if group.is_empty() {
                fail(&at(&format!("groups[{j}]")), "is empty".into());
            }
        }
        for (j, filter) in p.subscribe.iter().enumerate() {
            let fields = filter.query();
            if let Some((name, _)) = fields.iter().find(|(_, v)| v.is_empty()) {
                fail(
                    &at(&format!("subscribe[{j}]")),
                    format!("empty {name} (use \"*\" for any)"),
                );
            }
        }
        for (name, so) in &p.stateobjects {
            let key = at(&format!("stateobjects.{name:?}"));
            if name.is_empty() {
                fail(&key, "a StateObject name is empty".into());
            }
            if let Some(lifetime) = so.lifetime.filter(|l| *l < 0) {
                fail(
                    &format!("{key}.lifetime"),
                    format!("{lifetime} is negative (seconds; 0 = never expires)"),
                );
            }
            if so.type_name.as_deref() == Some("") {
                fail(&format!("{key}.type"), "is empty".into());
            }
        }
    }
}

fn check_prefix(prefix: &str) -> Result<(), String> {
    if prefix.is_empty() {
        return Err("is empty".into());
    }
    if prefix.contains(['+', '#']) {
        return Err(format!("{prefix:?} contains an MQTT wildcard"));
    }
    if prefix.starts_with('$') {
        return Err(format!("{prefix:?} starts with `$`, reserved by brokers"));
    }
    if prefix.split('/').any(str::is_empty) {
        return Err(format!("{prefix:?} has an empty topic level"));
    }
    Ok(())
}

fn check_url(text: &str, schemes: &[&str]) -> Result<(), String> {
    let url = Url::parse(text).map_err(|e| format!("{text:?} is not a valid URL: {e}"))?;
    if !schemes.contains(&url.scheme()) {
        return Err(format!(
            "{text:?}: scheme `{}` is not one of {}",
            url.scheme(),
            schemes.join(", ")
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{text:?} has no host"));
    }
    Ok(())
}

fn check_allow(pattern: &str) -> Result<(), String> {
    globset::Glob::new(pattern).map_err(|e| format!("{pattern:?} is not a glob: {e}"))?;
    match pattern.split_once('/') {
        Some((s, p)) if !s.is_empty() && !p.is_empty() && !p.contains('/') => Ok(()),
        _ => Err(format!(
            "{pattern:?} is not a `sentinel/package` glob such as \"*/*\" or \"Tasmota/*\""
        )),
    }
}
