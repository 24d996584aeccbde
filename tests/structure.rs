//! The layout's rules, checked on the source itself (parsed with `syn`):
//!
//! - no module uses another that uses it back, directly or through others. A module is a
//!   file; a use is any path to another module's item outside `#[cfg(test)]` code
//!   (`use` declarations, re-exports, paths in expressions and types), resolved through
//!   re-exports to the module that defines the item. A parent that declares and
//!   re-exports its children is therefore fine, a child that reaches up for an item of
//!   its parent's file is not, when the parent uses it;
//! - the Constellation REST client and the simulator use nothing of the adapter: either
//!   can be split out as a crate of its own.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use syn::visit::Visit;

type Module = Vec<String>;

fn name(m: &[String]) -> String {
    if m.is_empty() {
        "crate".into()
    } else {
        m.join("::")
    }
}

/// What one file says: its child modules, re-exports and every path it uses.
#[derive(Default)]
struct FileUses {
    children: BTreeSet<String>,
    /// Re-exported name → the path it stands for, as written.
    reexports: BTreeMap<String, Vec<String>>,
    paths: Vec<Vec<String>>,
}

fn use_paths(tree: &syn::UseTree, prefix: &mut Vec<String>, out: &mut Vec<(String, Vec<String>)>) {
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            use_paths(&p.tree, prefix, out);
            prefix.pop();
        }
        syn::UseTree::Name(n) => {
            let mut path = prefix.clone();
            let ident = n.ident.to_string();
            if ident != "self" {
                path.push(ident.clone());
            }
            let bound = if ident == "self" {
                prefix.last().cloned().unwrap_or_default()
            } else {
                ident
            };
            out.push((bound, path));
        }
        syn::UseTree::Rename(r) => {
            let mut path = prefix.clone();
            path.push(r.ident.to_string());
            out.push((r.rename.to_string(), path));
        }
        syn::UseTree::Glob(_) => out.push(("*".into(), prefix.clone())),
        syn::UseTree::Group(g) => {
            for t in &g.items {
                use_paths(t, prefix, out);
            }
        }
    }
}

fn is_test_only(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.parse_args::<syn::Meta>()
                .is_ok_and(|m| m.path().is_ident("test"))
    })
}

impl<'ast> Visit<'ast> for FileUses {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if is_test_only(&m.attrs) {
            return;
        }
        if m.content.is_none() {
            self.children.insert(m.ident.to_string());
        }
        syn::visit::visit_item_mod(self, m);
    }

    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        if !is_test_only(&f.attrs) {
            syn::visit::visit_item_fn(self, f);
        }
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        if is_test_only(&u.attrs) {
            return;
        }
        let mut found = Vec::new();
        use_paths(&u.tree, &mut Vec::new(), &mut found);
        let public = !matches!(u.vis, syn::Visibility::Inherited);
        for (bound, path) in found {
            if public && bound != "*" {
                self.reexports.insert(bound, path.clone());
            }
            self.paths.push(path);
        }
    }

    /// `pub(super)` names where an item is seen from, not something it uses.
    fn visit_visibility(&mut self, _: &'ast syn::Visibility) {}

    fn visit_path(&mut self, p: &'ast syn::Path) {
        self.paths
            .push(p.segments.iter().map(|s| s.ident.to_string()).collect());
        syn::visit::visit_path(self, p);
    }
}

/// Every `.rs` file under `src`.
fn rust_files(src: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files
}

/// Every module of `src/` (the library's: `main.rs` is the binary) and what it uses.
fn modules(src: &Path) -> BTreeMap<Module, FileUses> {
    let mut out = BTreeMap::new();
    for path in rust_files(src) {
        let rel = path.strip_prefix(src).unwrap().with_extension("");
        let mut module: Module = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        match module.last().map(String::as_str) {
            Some("main") if module.len() == 1 => continue,
            Some("lib") if module.len() == 1 => module.clear(),
            Some("mod") => {
                module.pop();
            }
            _ => {}
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let file = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut uses = FileUses::default();
        uses.visit_file(&file);
        out.insert(module, uses);
    }
    out
}

/// `path`, as written in `module`, made absolute; `None` for paths into other crates
/// or to local names.
fn absolute(module: &[String], uses: &FileUses, path: &[String]) -> Option<Module> {
    let first = path.first()?;
    let mut base: Module = module.to_vec();
    let mut rest = path;
    match first.as_str() {
        "crate" => {
            base.clear();
            rest = &path[1..];
        }
        "self" => rest = &path[1..],
        "super" => {
            while rest.first().is_some_and(|s| s == "super") {
                base.pop();
                rest = &rest[1..];
            }
        }
        child if uses.children.contains(child) => {}
        _ => return None,
    }
    base.extend(rest.iter().cloned());
    Some(base)
}

/// The module that defines what `path` names, through re-exports.
fn defining(all: &BTreeMap<Module, FileUses>, path: Module, depth: usize) -> Option<Module> {
    let at = (0..=path.len())
        .rev()
        .find(|&i| all.contains_key(&path[..i]))?;
    let module = path[..at].to_vec();
    if let (Some(item), true) = (path.get(at), depth < 16) {
        let uses = &all[&module];
        if let Some(target) = uses.reexports.get(item) {
            let mut resolved = absolute(&module, uses, target)?;
            resolved.extend(path[at + 1..].iter().cloned());
            return defining(all, resolved, depth + 1).or(Some(module));
        }
    }
    Some(module)
}

fn graph() -> BTreeMap<Module, BTreeSet<Module>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let all = modules(&src);
    let mut edges = BTreeMap::new();
    for (module, uses) in &all {
        let targets: BTreeSet<Module> = uses
            .paths
            .iter()
            .filter_map(|p| absolute(module, uses, p))
            .filter_map(|p| defining(&all, p, 0))
            .filter(|t| t != module)
            .collect();
        edges.insert(module.clone(), targets);
    }
    edges
}

/// A cycle through `start`, if there is one.
fn cycle_from(
    edges: &BTreeMap<Module, BTreeSet<Module>>,
    start: &Module,
    at: &Module,
    path: &mut Vec<Module>,
    seen: &mut BTreeSet<Module>,
) -> Option<Vec<Module>> {
    for next in &edges[at] {
        if next == start {
            let mut found = path.clone();
            found.push(start.clone());
            return Some(found);
        }
        if seen.insert(next.clone()) {
            path.push(next.clone());
            if let Some(c) = cycle_from(edges, start, next, path, seen) {
                return Some(c);
            }
            path.pop();
        }
    }
    None
}

#[test]
fn no_module_uses_one_that_uses_it_back() {
    let edges = graph();
    assert!(
        edges.len() > 40,
        "the source was found: {} modules",
        edges.len()
    );
    let cycles: Vec<String> = edges
        .keys()
        .filter_map(|m| cycle_from(&edges, m, m, &mut vec![m.clone()], &mut BTreeSet::new()))
        .map(|c| c.iter().map(|m| name(m)).collect::<Vec<_>>().join(" → "))
        .collect();
    assert!(cycles.is_empty(), "cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_rest_client_and_the_simulator_stand_alone() {
    let edges = graph();
    for (module, targets) in &edges {
        let Some(top) = module.first().map(String::as_str) else {
            continue;
        };
        let allowed: &[&str] = match top {
            "constellation" => &["constellation", "tls"],
            "sim" => &["sim", "constellation"],
            _ => continue,
        };
        for t in targets {
            let ok = t.first().is_some_and(|t| allowed.contains(&t.as_str()));
            assert!(ok, "{} uses {}", name(module), name(t));
        }
    }
}

#[test]
fn the_checker_sees_a_cycle_and_a_re_export() {
    let a = syn::parse_file("use super::b::Thing;\npub use inner::Deep;\nmod inner;").unwrap();
    let mut uses = FileUses::default();
    uses.visit_file(&a);
    assert!(uses.children.contains("inner"));
    assert_eq!(uses.reexports["Deep"], ["inner", "Deep"]);
    let m = vec!["x".to_string(), "a".to_string()];
    assert_eq!(
        absolute(&m, &uses, &["super".into(), "b".into(), "Thing".into()]),
        Some(vec!["x".into(), "b".into(), "Thing".into()])
    );
    let mut edges = BTreeMap::new();
    let (x, y) = (vec!["x".to_string()], vec!["y".to_string()]);
    edges.insert(x.clone(), BTreeSet::from([y.clone()]));
    edges.insert(y.clone(), BTreeSet::from([x.clone()]));
    assert!(cycle_from(&edges, &x, &x, &mut vec![x.clone()], &mut BTreeSet::new()).is_some());
}

/// The module map of `src/lib.rs` and of the README names every module of `src/`.
#[test]
fn the_module_maps_name_every_module() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = std::fs::read_to_string(root.join("src/lib.rs")).unwrap();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let mut modules: Vec<String> = std::fs::read_dir(root.join("src"))
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let path = e.path();
            if path.is_dir() && path.join("mod.rs").exists() {
                Some(name)
            } else {
                name.strip_suffix(".rs").map(str::to_owned)
            }
        })
        .filter(|m| m != "lib" && m != "main")
        .collect();
    modules.sort();
    assert!(modules.len() > 20, "{modules:?}");
    // The README's module table: the first cell of each row names one or more modules.
    let table: Vec<&str> = readme
        .lines()
        .filter(|l| l.starts_with("| `"))
        .filter_map(|l| l.split('|').nth(1))
        .collect();
    for m in &modules {
        assert!(
            lib.contains(&format!("pub mod {m};")),
            "src/lib.rs declares {m}"
        );
        assert!(
            lib.contains(&format!("[`{m}`]")),
            "the map in src/lib.rs names `{m}`"
        );
        assert!(
            table.iter().any(|cell| cell.contains(&format!("`{m}`"))),
            "the README's module table names `{m}`"
        );
    }
}

/// The longest a function of `src/` may be, in lines from `fn` to its closing brace.
const MAX_FUNCTION_LINES: usize = 120;

struct FunctionLengths {
    file: String,
    long: Vec<(String, usize)>,
}

impl FunctionLengths {
    fn measure(&mut self, name: &syn::Ident, fn_token: &syn::token::Fn, block: &syn::Block) {
        let start = fn_token.span.start().line;
        let end = block.brace_token.span.close().end().line;
        let lines = end + 1 - start;
        if lines > MAX_FUNCTION_LINES {
            self.long
                .push((format!("{}:{start} {name}", self.file), lines));
        }
    }
}

impl<'ast> Visit<'ast> for FunctionLengths {
    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        self.measure(&f.sig.ident, &f.sig.fn_token, &f.block);
        syn::visit::visit_item_fn(self, f);
    }

    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        self.measure(&f.sig.ident, &f.sig.fn_token, &f.block);
        syn::visit::visit_impl_item_fn(self, f);
    }

    fn visit_trait_item_fn(&mut self, f: &'ast syn::TraitItemFn) {
        if let Some(block) = &f.default {
            self.measure(&f.sig.ident, &f.sig.fn_token, block);
        }
        syn::visit::visit_trait_item_fn(self, f);
    }

    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        // Tests are not the product's code.
        if !is_test_only(&m.attrs) {
            syn::visit::visit_item_mod(self, m);
        }
    }
}

/// No function of `src/` is longer than [`MAX_FUNCTION_LINES`] (none needs to be: even
/// the tables of actions and metrics split into parts that read well).
#[test]
fn no_function_is_over_120_lines() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut long = Vec::new();
    for path in rust_files(&src) {
        let text = std::fs::read_to_string(&path).unwrap();
        let file = syn::parse_file(&text).unwrap();
        let mut lengths = FunctionLengths {
            file: path.strip_prefix(&src).unwrap().display().to_string(),
            long: Vec::new(),
        };
        lengths.visit_file(&file);
        long.extend(lengths.long);
    }
    long.sort();
    assert!(
        long.is_empty(),
        "functions over {MAX_FUNCTION_LINES} lines:\n{}",
        long.iter()
            .map(|(name, lines)| format!("{name}: {lines} lines"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
