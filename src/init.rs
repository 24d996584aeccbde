//! `constellation-mqtt init`: the files to start from.

use crate::mqtt::embedded::DEFAULT_CONFIG;
use std::path::{Path, PathBuf};

/// A commented `topics.toml` that `check` accepts as it is.
const TOPICS: &str = include_str!("templates/topics.toml");

/// The line of [`TOPICS`] that points at a broker file, and what it becomes with one.
const BROKER_LINE: (&str, &str) = (
    "# broker_config = \"rumqttd.toml\"         # embedded: without it,",
    "broker_config = \"rumqttd.toml\"           # embedded: written by init; without it,",
);

/// Writes `topics.toml` into `dir` (created if missing) and, with `broker`, the
/// embedded broker's `rumqttd.toml`, which `topics.toml` then names. An existing file
/// is kept unless `force`. Returns the files written.
pub fn write(dir: &Path, broker: bool, force: bool) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let topics = if broker {
        TOPICS.replacen(BROKER_LINE.0, BROKER_LINE.1, 1)
    } else {
        TOPICS.to_owned()
    };
    let mut files = vec![(dir.join("topics.toml"), topics)];
    if broker {
        files.push((dir.join("rumqttd.toml"), DEFAULT_CONFIG.to_owned()));
    }
    if !force {
        if let Some((path, _)) = files.iter().find(|(path, _)| path.exists()) {
            return Err(format!(
                "{} exists: nothing written (--force replaces it)",
                path.display()
            ));
        }
    }
    for (path, text) in &files {
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(files.into_iter().map(|(path, _)| path).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_broker_line_is_in_the_template() {
        assert!(TOPICS.contains(BROKER_LINE.0));
    }
}
