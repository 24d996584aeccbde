//! The documentation holds as written. Every TOML snippet of the README and `docs/`
//! appended to the file `constellation-mqtt init` writes loads (validated as `check` and
//! `run` validate it). And one source of truth for the configuration: the JSON Schema derived from
//! `src/config/schema.rs` is published as `docs/topics.schema.json`, the reference in
//! `docs/configuration.md` is generated from it, every documented TOML file and snippet
//! is valid against it, and `init`'s template shows the schema's defaults.
//!
//! After changing the configuration's types or doc comments, regenerate both files with
//! `UPDATE_DOCS=1 cargo test --test documentation`.

mod common;

use common::docs::{documented_toml_blocks, root};
use constellation_mqtt::setup::load_str;
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;

const BEGIN: &str = "<!-- BEGIN reference: generated from the schema by tests/documentation.rs -->";
const END: &str = "<!-- END reference -->";

fn schema() -> Value {
    constellation_mqtt::config::json_schema()
}

/// Compares `path` with `expected`; with `UPDATE_DOCS` set, writes it instead.
fn compare_or_update(path: &Path, expected: &str) {
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(path, expected).unwrap();
        return;
    }
    let actual = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        actual == expected,
        "{} is not what the schema gives: run `UPDATE_DOCS=1 cargo test --test \
         documentation` and commit the result",
        path.display()
    );
}

#[test]
fn the_published_schema_is_the_one_the_binary_prints() {
    let text = serde_json::to_string_pretty(&schema()).unwrap() + "\n";
    compare_or_update(&root().join("docs/topics.schema.json"), &text);
}

#[test]
fn the_reference_is_generated_from_the_schema() {
    let path = root().join("docs/configuration.md");
    let page = std::fs::read_to_string(&path).unwrap();
    let (head, rest) = page
        .split_once(BEGIN)
        .expect("the reference's BEGIN marker");
    let (_, tail) = rest.split_once(END).expect("the reference's END marker");
    let expected = format!("{head}{BEGIN}\n{}{END}{tail}", render(&schema()));
    compare_or_update(&path, &expected);
}

/// Every documented TOML file and snippet is valid against the schema, as an editor
/// using it would find; a snippet that starts inside a table is checked as part of
/// `init`'s file, which it is appended to.
#[test]
fn every_documented_toml_is_valid_against_the_schema() {
    let validator = jsonschema::validator_for(&schema()).expect("a valid JSON Schema");
    let dir = tempfile::tempdir().unwrap();
    constellation_mqtt::init::write(dir.path(), false, false).unwrap();
    let init = std::fs::read_to_string(dir.path().join("topics.toml")).unwrap();
    let mut documents = vec![
        ("topics.toml".to_owned(), read("topics.toml")),
        ("init's topics.toml".to_owned(), init.clone()),
        (
            "packaging/compose/topics.toml".to_owned(),
            read("packaging/compose/topics.toml"),
        ),
    ];
    for (file, line, block) in documented_toml_blocks() {
        documents.push((format!("{file} line {line}"), format!("{init}\n{block}")));
    }
    assert!(documents.len() >= 8, "{} documents", documents.len());
    for (name, text) in documents {
        let value: Value = toml::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{name}: {errors:#?}");
    }
    // And it refuses what the adapter refuses.
    for bad in [
        "colour = 1",
        "[mqtt]\nmode = \"cloud\"",
        "[http]\nreadiness_s = \"x\"",
    ] {
        let value: Value = toml::from_str(bad).unwrap();
        assert!(!validator.is_valid(&value), "{bad}");
    }
}

#[test]
fn every_toml_snippet_appends_to_the_init_file() {
    let dir = tempfile::tempdir().unwrap();
    constellation_mqtt::init::write(dir.path(), false, false).unwrap();
    let init = std::fs::read_to_string(dir.path().join("topics.toml")).unwrap();
    let env: HashMap<String, String> = [
        ("CONSTELLATION_MANAGEMENT_KEY", "k"),
        ("CONSTELLATION_ACCESS_KEY", "k"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let blocks = documented_toml_blocks();
    assert!(blocks.len() >= 5, "snippets found: {}", blocks.len());
    for (file, line, block) in blocks {
        let text = format!("{init}\n{block}");
        if let Err(errors) = load_str("topics.toml", &text, &env) {
            panic!("{file} line {line}: appended to init's file: {errors:?}\n{block}");
        }
    }
    let compose = read("packaging/compose/topics.toml");
    if let Err(errors) = load_str("packaging/compose/topics.toml", &compose, &env) {
        panic!("{errors:?}");
    }
}

/// `init`'s template shows each commented-out key with the schema's default.
#[test]
fn init_s_template_shows_the_schema_s_defaults() {
    let schema = schema();
    let template = read("src/templates/topics.toml");
    let mut section: Option<String> = Some(String::new());
    let mut checked = 0;
    for line in template.lines() {
        let line = line.trim();
        let bare = line.trim_start_matches('#').trim();
        if bare.starts_with("[[") {
            section = None; // an example entry, not defaults
            continue;
        }
        if let Some(name) = bare.strip_prefix('[').and_then(|b| b.strip_suffix(']')) {
            section = (line == bare).then(|| format!("{name}."));
            continue;
        }
        let (Some(section), Some(commented)) = (&section, line.strip_prefix('#')) else {
            continue;
        };
        let Some((key, value)) = commented.split_once(" = ") else {
            continue;
        };
        let key = key.trim();
        if key.contains(' ') {
            continue; // prose
        }
        let value = value.split(" # ").next().unwrap_or(value).trim();
        let path = format!("{section}{key}");
        let Some(default) = default_at(&schema, &path) else {
            continue; // an example of a key without a default
        };
        let shown: Value = toml::from_str::<toml::Table>(&format!("x = {value}"))
            .map(|t| serde_json::to_value(&t["x"]).unwrap())
            .unwrap_or_else(|e| panic!("{path}: {value}: {e}"));
        assert_eq!(shown, default, "init's template shows `{path}` as {value}");
        checked += 1;
    }
    assert!(checked >= 10, "{checked} defaults checked");
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap()
}

/// The schema's default of the dotted key `path` (tables only), if it has one.
fn default_at(schema: &Value, path: &str) -> Option<Value> {
    let mut node = schema;
    for part in path.split('.') {
        node = resolve(schema, node).get("properties")?.get(part)?;
    }
    node.get("default").filter(|d| !d.is_null()).cloned()
}

/// `node` with its `$ref` followed, and an `allOf: [X]` (a reference with a
/// description) or an `anyOf: [X, null]` (an optional key) made X.
fn resolve<'a>(schema: &'a Value, node: &'a Value) -> &'a Value {
    if let Some([only]) = node
        .get("allOf")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    {
        return resolve(schema, only);
    }
    if let Some(name) = node
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/definitions/"))
    {
        return resolve(schema, &schema["definitions"][name]);
    }
    if let Some([a, b]) = node
        .get("anyOf")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    {
        if b.get("type") == Some(&Value::from("null")) {
            return resolve(schema, a);
        }
    }
    node
}

/// A table of the reference: its heading, description and keys.
struct Section {
    heading: String,
    description: String,
    rows: Vec<[String; 4]>,
}

/// The reference: one section per table of the file, in the order of the schema.
fn render(schema: &Value) -> String {
    let mut sections = Vec::new();
    let heading = "top level (no table)".to_owned();
    table(schema, schema, "", heading, String::new(), &mut sections);
    let mut out = String::new();
    for s in sections {
        out.push_str(&format!("\n### {}\n\n", s.heading));
        if !s.description.is_empty() {
            out.push_str(&format!("{}\n\n", s.description));
        }
        out.push_str("| Key | Type | Default | Meaning |\n|---|---|---|---|\n");
        for row in s.rows {
            out.push_str(&format!("| {} |\n", row.join(" | ")));
        }
    }
    out.push('\n');
    out
}

/// Adds the section of the table `node` (at the dotted `path`, described by
/// `description`) and of the tables in it.
fn table(
    schema: &Value,
    node: &Value,
    path: &str,
    heading: String,
    description: String,
    out: &mut Vec<Section>,
) {
    let index = out.len();
    out.push(Section {
        heading,
        description,
        rows: Vec::new(),
    });
    // A table, or a value that may be one of several tables (their keys together).
    let node = resolve(schema, node);
    let tables: Vec<&Value> = match variants(node) {
        [] => vec![node],
        variants => variants.iter().map(|v| resolve(schema, v)).collect(),
    };
    let alternatives = tables.len() > 1;
    for node in tables {
        // Of alternatives, one is given: none is required, each is described by its own.
        let required: Vec<&str> = node["required"]
            .as_array()
            .filter(|_| !alternatives)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let Some(properties) = node["properties"].as_object() else {
            continue;
        };
        for (key, property) in properties {
            let mut described = property.clone();
            if text(property).is_empty() && alternatives {
                described["description"] = node["description"].clone();
            }
            let required = required.contains(&key.as_str());
            row(schema, path, key, &described, required, index, out);
        }
    }
}

/// Adds the row of `key` to section `index`, or its own section when it is a table.
fn row(
    schema: &Value,
    path: &str,
    key: &str,
    property: &Value,
    required: bool,
    index: usize,
    out: &mut Vec<Section>,
) {
    let full = if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    };
    let target = resolve(schema, property);
    let description = match text(property) {
        d if d.is_empty() => text(target),
        d => d,
    };
    if is_table(target) {
        return table(
            schema,
            property,
            &full,
            format!("`[{full}]`"),
            description,
            out,
        );
    }
    if let Some(items) = target.get("items").filter(|i| is_table(resolve(schema, i))) {
        let description = format!("{description} Each entry:");
        return table(
            schema,
            items,
            &full,
            format!("`[[{full}]]`"),
            description,
            out,
        );
    }
    let default = match property.get("default") {
        Some(Value::Null) | None if required => "required".into(),
        Some(Value::Null) | None => "—".into(),
        Some(d) => format!("`{}`", toml_text(d)),
    };
    out[index].rows.push([
        format!("`{key}`"),
        type_name(schema, property),
        default,
        description.replace('|', "\\|"),
    ]);
    if let Some(values) = target
        .get("additionalProperties")
        .filter(|v| is_table(resolve(schema, v)))
    {
        let heading = format!("`[{full}.<name>]`");
        table(
            schema,
            values,
            &format!("{full}.<name>"),
            heading,
            text(resolve(schema, values)),
            out,
        );
    }
    if variants(target)
        .iter()
        .any(|v| resolve(schema, v).get("properties").is_some())
    {
        let heading = format!("`{full}` as a table");
        table(schema, target, &full, heading, String::new(), out);
    }
}

/// A struct of the configuration (a table with named keys).
fn is_table(node: &Value) -> bool {
    node.get("properties").is_some() && node.get("additionalProperties") == Some(&false.into())
}

fn variants(node: &Value) -> &[Value] {
    ["anyOf", "oneOf"]
        .iter()
        .find_map(|k| node.get(*k).and_then(Value::as_array))
        .map_or(&[], Vec::as_slice)
}

/// A doc comment as one line.
fn text(node: &Value) -> String {
    node["description"]
        .as_str()
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn type_name(schema: &Value, node: &Value) -> String {
    let node = resolve(schema, node);
    if let Some(values) = node["enum"].as_array() {
        let names: Vec<String> = values.iter().map(|v| format!("`{v}`")).collect();
        return names.join(" or ");
    }
    let variants = variants(node);
    if !variants.is_empty() {
        let mut names: Vec<String> = variants.iter().map(|v| type_name(schema, v)).collect();
        names.dedup();
        return names.join(" or ");
    }
    let types: Vec<&str> = match &node["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect(),
        _ => vec![],
    };
    let names: Vec<String> = types
        .iter()
        .map(|t| match *t {
            "array" => format!("array of {}", plural(&type_name(schema, &node["items"]))),
            "object" if node.get("properties").is_some() => "table".into(),
            "object" => "table of any keys".into(),
            "integer" => match node["minimum"].as_f64() {
                Some(0.0) => "integer ≥ 0".into(),
                _ => "integer".into(),
            },
            other => other.into(),
        })
        .collect();
    if names.is_empty() {
        "any".into()
    } else {
        names.join(" or ")
    }
}

fn plural(name: &str) -> String {
    match name {
        "table" => "tables".into(),
        "string" => "strings".into(),
        other => other.into(),
    }
}

/// A JSON default as TOML shows it.
fn toml_text(value: &Value) -> String {
    match value {
        Value::Object(map) if map.is_empty() => "{}".into(),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(toml_text).collect();
            format!("[{}]", items.join(", "))
        }
        other => other.to_string(),
    }
}
