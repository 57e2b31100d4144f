//! The layout's invariants, checked on the source tree itself (as
//! rust-analyzer's `tidy` tests do): the crates depend on each other only in
//! layer order, the pure crates reach no I/O or async crate, and no module
//! depends on another that depends back on it, inside any crate.
//!
//! Module edges come from the text: every `crate::`, `super::` and `self::`
//! path in a module's code (`use` trees included, `#[cfg(test)]` code and
//! `mod` declarations excluded) points at the deepest module it names; a name
//! a module re-exports (`pub use m::Name`) points on to `m`. Re-exports are
//! not edges of their own: a `lib.rs` that only declares and re-exports sits
//! above everything.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::support::repo_root;

/// Every workspace crate (the CLI at the root is `perfsage`) and the
/// workspace crates it may depend on: the layers of ARCHITECTURE.md.
const LAYERS: &[(&str, &[&str])] = &[
    ("perfsage-contract", &[]),
    ("perfsage-model", &["perfsage-contract"]),
    ("perfsage-pack", &[]),
    ("perfsage-private", &[]),
    ("perfsage-snapshot", &["perfsage-model", "perfsage-private"]),
    ("perfsage-ranking", &["perfsage-model"]),
    ("perfsage-reports", &["perfsage-model", "perfsage-ranking"]),
    ("perfsage-builtin", &[]),
    ("perfsage-engine", &["perfsage-model", "perfsage-private", "perfsage-ranking", "perfsage-snapshot"]),
    ("perfsage-sources", &["perfsage-model", "perfsage-pack"]),
    (
        "perfsage-actions",
        &["perfsage-model", "perfsage-pack", "perfsage-private", "perfsage-ranking", "perfsage-reports"],
    ),
    (
        "perfsage-audits",
        &[
            "perfsage-model",
            "perfsage-private",
            "perfsage-ranking",
            "perfsage-reports",
            "perfsage-snapshot",
            "perfsage-sources",
        ],
    ),
];

/// Crates that do no I/O and run no async runtime: data in, data out.
const PURE: &[&str] = &["perfsage-contract", "perfsage-model", "perfsage-pack", "perfsage-ranking", "perfsage-reports"];

/// Dependencies a pure crate must not have.
const IMPURE: &[&str] = &[
    "tokio",
    "hyper",
    "hyper-util",
    "rusqlite",
    "tokio-postgres",
    "mysql_async",
    "sysinfo",
    "libc",
    "tempfile",
    "dirs",
    "clap",
    "env_logger",
    "log",
];

fn manifest(path: &Path) -> toml::Table {
    toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn dependencies(manifest: &toml::Table) -> BTreeSet<String> {
    manifest
        .get("dependencies")
        .and_then(toml::Value::as_table)
        .map(|d| d.keys().cloned().collect())
        .unwrap_or_default()
}

/// `crates/*`: (package name, directory).
fn crates() -> Vec<(String, PathBuf)> {
    let mut found: Vec<(String, PathBuf)> = std::fs::read_dir(repo_root().join("crates"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|dir| dir.join("Cargo.toml").exists())
        .map(|dir| {
            let name = manifest(&dir.join("Cargo.toml"))["package"]["name"].as_str().unwrap().to_string();
            (name, dir)
        })
        .collect();
    found.sort();
    found
}

#[test]
fn crates_depend_on_each_other_only_in_layer_order() {
    let layers: BTreeMap<&str, &[&str]> = LAYERS.iter().copied().collect();
    for (name, dir) in crates() {
        let allowed = layers.get(name.as_str()).unwrap_or_else(|| panic!("{name} is missing from LAYERS"));
        for dependency in dependencies(&manifest(&dir.join("Cargo.toml"))) {
            if dependency.starts_with("perfsage-") {
                assert!(allowed.contains(&dependency.as_str()), "{name} depends on {dependency}, above its layer");
            }
        }
    }
}

#[test]
fn pure_crates_reach_no_io_and_no_async_runtime() {
    let manifests: BTreeMap<String, toml::Table> =
        crates().into_iter().map(|(name, dir)| (name, manifest(&dir.join("Cargo.toml")))).collect();
    for pure in PURE {
        let dependencies = dependencies(&manifests[*pure]);
        for dependency in &dependencies {
            assert!(!IMPURE.contains(&dependency.as_str()), "{pure} depends on {dependency}");
            if dependency.starts_with("perfsage-") {
                assert!(PURE.contains(&dependency.as_str()), "{pure} depends on {dependency}, which is not pure");
            }
        }
    }
}

/// One module: its path from the crate root, and the text of its code.
struct Module {
    path: Vec<String>,
    code: String,
}

fn modules(src: &Path) -> Vec<Module> {
    let mut found = Vec::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src).unwrap();
            let mut segments: Vec<String> =
                relative.iter().map(|s| s.to_string_lossy().trim_end_matches(".rs").to_string()).collect();
            if matches!(segments.last().map(String::as_str), Some("mod" | "lib" | "main")) {
                segments.pop();
            }
            let text = std::fs::read_to_string(&path).unwrap();
            // Test code may use anything of its parent; it is not the design.
            let code = match text.find("#[cfg(test)]") {
                Some(at) => text[..at].to_string(),
                None => text,
            };
            found.push(Module { path: segments, code: strip_comments(&code) });
        }
    }
    found
}

fn strip_comments(code: &str) -> String {
    code.lines().map(|line| line.split("//").next().unwrap()).collect::<Vec<_>>().join("\n")
}

/// The paths of a `use` tree: `crate::{a::{b, c}, d}` gives `crate::a::b`,
/// `crate::a::c`, `crate::d`.
fn expand_use(tree: &str) -> Vec<String> {
    // Renames (`a as b`) name the same module; drop them, then the spaces.
    let mut words = tree.split_whitespace().peekable();
    let mut tree = String::new();
    while let Some(word) = words.next() {
        if word == "as" {
            let renamed = words.next().unwrap_or_default();
            tree.extend(renamed.chars().filter(|c| matches!(c, ',' | '}')));
        } else {
            tree.push_str(word);
        }
    }
    fn expand(prefix: &str, tree: &str, out: &mut Vec<String>) {
        match tree.find('{') {
            None => out.push(format!("{prefix}{tree}")),
            Some(open) => {
                let head = &tree[..open];
                let inner = &tree[open + 1..tree.rfind('}').unwrap()];
                let (mut depth, mut start) = (0, 0);
                for (i, c) in inner.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            expand(&format!("{prefix}{head}"), &inner[start..i], out);
                            start = i + 1;
                        }
                        _ => {}
                    }
                }
                if start < inner.len() {
                    expand(&format!("{prefix}{head}"), &inner[start..], out);
                }
            }
        }
    }
    let mut out = Vec::new();
    expand("", &tree, &mut out);
    out
}

/// Every `crate`/`super`/`self` path in `code`, and the re-exports apart.
fn paths(code: &str) -> (Vec<String>, Vec<String>) {
    let (mut uses, mut reexports) = (Vec::new(), Vec::new());
    let mut rest = String::new();
    for statement in code.split_inclusive(';') {
        let trimmed = statement.trim_start();
        let (public, body) = if let Some(body) = trimmed.strip_prefix("pub use ") {
            (true, body)
        } else if let Some(body) = trimmed.strip_prefix("pub(crate) use ") {
            (true, body)
        } else if let Some(body) = trimmed.strip_prefix("use ") {
            (false, body)
        } else {
            rest.push_str(statement);
            continue;
        };
        let expanded = expand_use(body.trim_end_matches(';'));
        if public { reexports.extend(expanded) } else { uses.extend(expanded) }
    }
    // Paths in code: `crate::x`, `super::x`, `self::x`, and `child::x` (a
    // path from the module itself), resolved or dropped by `resolve`.
    let bytes = rest.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let word_start = (bytes[i].is_ascii_alphabetic() || bytes[i] == b'_')
            && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_' || bytes[i - 1] == b':'));
        if !word_start {
            i += 1;
            continue;
        }
        let at = &rest[i..];
        let len = at.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')).unwrap_or(at.len());
        let path = at[..len].trim_end_matches(':');
        if path.contains("::") {
            uses.push(path.to_string());
        }
        i += len.max(1);
    }
    (uses, reexports)
}

/// The module a path from `from` names: the deepest existing module prefix,
/// followed through that module's re-exports.
fn resolve(
    from: &[String],
    path: &str,
    known: &BTreeSet<Vec<String>>,
    reexports: &BTreeMap<(Vec<String>, String), Vec<String>>,
) -> Option<Vec<String>> {
    let mut segments = path.split("::");
    let mut current: Vec<String> = match segments.next()? {
        "crate" => Vec::new(),
        "self" => from.to_vec(),
        "super" => from[..from.len().checked_sub(1)?].to_vec(),
        // A path from the module itself: only when it starts with a child module.
        child => {
            let mut next = from.to_vec();
            next.push(child.to_string());
            if !known.contains(&next) {
                return None;
            }
            next
        }
    };
    for segment in segments {
        match segment {
            "super" => {
                current.pop();
            }
            "self" | "*" => {}
            name => {
                let mut next = current.clone();
                next.push(name.to_string());
                if known.contains(&next) {
                    current = next;
                } else if let Some(target) = reexports.get(&(current.clone(), name.to_string())) {
                    current = target.clone();
                } else {
                    break;
                }
            }
        }
    }
    Some(current)
}

/// The module cycles of one crate's source tree, as `a -> b -> a`.
fn module_cycles(src: &Path) -> Vec<String> {
    let modules = modules(src);
    let known: BTreeSet<Vec<String>> = modules.iter().map(|m| m.path.clone()).collect();
    let mut reexports = BTreeMap::new();
    for module in &modules {
        for path in paths(&module.code).1 {
            let name = path.rsplit("::").next().unwrap().to_string();
            if let Some(target) = resolve(&module.path, &path, &known, &BTreeMap::new()) {
                reexports.insert((module.path.clone(), name), target);
            }
        }
    }
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for module in &modules {
        let targets = edges.entry(module.path.clone()).or_default();
        for path in paths(&module.code).0 {
            if let Some(target) = resolve(&module.path, &path, &known, &reexports)
                && target != module.path
            {
                targets.insert(target);
            }
        }
    }
    // Depth-first search; a back edge closes a cycle.
    fn visit(
        node: &Vec<String>,
        edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        stack: &mut Vec<Vec<String>>,
        done: &mut BTreeSet<Vec<String>>,
        cycles: &mut Vec<String>,
    ) {
        if done.contains(node) {
            return;
        }
        if let Some(at) = stack.iter().position(|n| n == node) {
            let name = |m: &Vec<String>| if m.is_empty() { "crate".to_string() } else { m.join("::") };
            let mut cycle: Vec<String> = stack[at..].iter().map(name).collect();
            cycle.push(name(node));
            cycles.push(cycle.join(" -> "));
            return;
        }
        stack.push(node.clone());
        for next in edges.get(node).into_iter().flatten() {
            visit(next, edges, stack, done, cycles);
        }
        stack.pop();
        done.insert(node.clone());
    }
    let (mut done, mut cycles) = (BTreeSet::new(), Vec::new());
    for node in edges.keys() {
        visit(node, &edges, &mut Vec::new(), &mut done, &mut cycles);
    }
    cycles
}

#[test]
fn no_module_depends_on_a_module_that_depends_back_on_it() {
    let mut trees: Vec<(String, PathBuf)> = crates().into_iter().map(|(name, dir)| (name, dir.join("src"))).collect();
    trees.push(("perfsage".into(), repo_root().join("src")));
    let mut found = Vec::new();
    for (name, src) in trees {
        for cycle in module_cycles(&src) {
            found.push(format!("{name}: {cycle}"));
        }
    }
    assert!(found.is_empty(), "module cycles:\n{}", found.join("\n"));
}

#[test]
fn the_cycle_finder_finds_a_planted_cycle() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::write(src.join("lib.rs"), "mod a;\nmod b;\npub use a::Thing;\n").unwrap();
    std::fs::write(src.join("a.rs"), "use crate::b::helper;\npub struct Thing;\n").unwrap();
    std::fs::write(src.join("b.rs"), "pub fn helper() -> crate::Thing { crate::Thing }\n").unwrap();
    assert_eq!(module_cycles(src), ["a -> b -> a"], "a re-exported name leads to its module");
    std::fs::write(src.join("b.rs"), "pub fn helper() {}\n#[cfg(test)]\nmod tests { use crate::a::Thing; }\n").unwrap();
    assert!(module_cycles(src).is_empty(), "test code is not the design");
}

#[test]
fn use_trees_expand_to_every_path() {
    assert_eq!(
        expand_use("crate::{a::{b, c as d}, e}"),
        ["crate::a::b", "crate::a::c", "crate::e"].map(String::from).to_vec()
    );
}
