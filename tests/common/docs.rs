//! The documentation's TOML: the ```toml blocks of the README and of `docs/*.md`.

use std::path::{Path, PathBuf};

/// The repository's root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The ```toml blocks of the README and of every page under `docs/`: the file (from
/// the root), the line the block starts on, and its text.
pub fn documented_toml_blocks() -> Vec<(String, usize, String)> {
    let mut files: Vec<PathBuf> = vec![root().join("README.md")];
    let mut pages: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    pages.retain(|p| p.extension().is_some_and(|e| e == "md"));
    pages.sort();
    files.extend(pages);
    let mut blocks = Vec::new();
    for file in files {
        let name = file
            .strip_prefix(root())
            .unwrap_or(&file)
            .display()
            .to_string();
        let text = std::fs::read_to_string(&file).unwrap();
        let mut current: Option<(usize, String)> = None;
        for (n, line) in text.lines().enumerate() {
            match &mut current {
                None if line.trim() == "```toml" => current = Some((n + 2, String::new())),
                Some(_) if line.trim() == "```" => {
                    if let Some((start, block)) = current.take() {
                        blocks.push((name.clone(), start, block));
                    }
                }
                Some((_, block)) => {
                    block.push_str(line);
                    block.push('\n');
                }
                None => {}
            }
        }
    }
    blocks
}
