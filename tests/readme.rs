//! The README's TOML snippets hold as written: each parses, and each is meant to be
//! appended to the file `constellation-mqtt init` writes, which then loads (validated
//! as `check` and `run` validate it).

use constellation_mqtt::setup::load_str;
use std::collections::HashMap;

/// The ```toml blocks of the README, with the line each starts on.
fn toml_blocks() -> Vec<(usize, String)> {
    let readme = include_str!("../README.md");
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (n, line) in readme.lines().enumerate() {
        match &mut current {
            None if line.trim() == "```toml" => current = Some((n + 2, String::new())),
            Some(_) if line.trim() == "```" => blocks.extend(current.take()),
            Some((_, text)) => {
                text.push_str(line);
                text.push('\n');
            }
            None => {}
        }
    }
    blocks
}

#[test]
fn every_toml_snippet_appends_to_the_init_file() {
    let dir = tempfile::tempdir().unwrap();
    constellation_mqtt::init::write(dir.path(), false, false).unwrap();
    let init = std::fs::read_to_string(dir.path().join("topics.toml")).unwrap();
    let env: HashMap<String, String> = [("CONSTELLATION_MANAGEMENT_KEY", "k")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let blocks = toml_blocks();
    assert!(blocks.len() >= 4, "README snippets found: {}", blocks.len());
    for (line, block) in blocks {
        let text = format!("{init}\n{block}");
        if let Err(errors) = load_str("topics.toml", &text, &env) {
            panic!("README.md line {line}: appended to init's file: {errors:?}\n{block}");
        }
    }
}
