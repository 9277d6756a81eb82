//! The layer order is a rule, not a comment: each module under `src/` may use only the layers below
//! it, as the diagram in `src/lib.rs` draws them (top layer first, leaves last; a leaf may use the
//! leaves written before it on the leaves' line). This test reads
//! that diagram, then every `crate::…` (and `super::` path reaching the crate root) in every source
//! file, and fails on a reference that points up or sideways. It also checks that the README
//! names the same order.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The layers as `src/lib.rs` draws them: module name → rank (the leaves first, in the order of
/// their line, then the layers upwards), and how many leaves there are.
fn layers_from_lib_rs(lib_rs: &str) -> (BTreeMap<String, usize>, usize) {
    let block: Vec<&str> = lib_rs
        .lines()
        .map(|line| line.trim_start_matches("//!").trim())
        .skip_while(|line| *line != "```text")
        .skip(1)
        .take_while(|line| *line != "```")
        .collect();
    assert!(block.len() >= 2, "src/lib.rs has no ```text layer diagram");
    let mut layers = BTreeMap::new();
    let (leaves, stack) = block.split_last().expect("two lines at least");
    // "error, clock, encoding, log     leaves every layer may use"
    let leaves: Vec<&str> = leaves
        .split("  ")
        .next()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .collect();
    for (rank, leaf) in leaves.iter().enumerate() {
        layers.insert(leaf.to_string(), rank);
    }
    for (index, line) in stack.iter().rev().enumerate() {
        let module = line.split_whitespace().next().expect("a module name");
        layers.insert(module.to_string(), leaves.len() + index);
    }
    (layers, leaves.len())
}

/// What `src/lib.rs` re-exports from which module (`pub use downstream::DownstreamApi;`), so that
/// `crate::DownstreamApi` counts as a use of `downstream`.
fn root_reexports(lib_rs: &str) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    for line in lib_rs.lines() {
        let Some(path) = line.trim().strip_prefix("pub use ") else {
            continue;
        };
        let path = path.trim_end_matches(';');
        let module = identifier(path);
        let items = path[module.len()..].trim_start_matches("::");
        let items = items.trim_start_matches('{').trim_end_matches('}');
        for item in items.split(',') {
            let name = item.rsplit("::").next().unwrap_or_default().trim();
            let name = name.rsplit(" as ").next().unwrap_or(name).trim();
            if !name.is_empty() {
                names.insert(name.to_string(), module.clone());
            }
        }
    }
    names
}

/// The top-level modules a source text refers to through `crate::` paths (grouped imports over
/// several lines and nested groups included; root re-exports resolved with `reexports`) or
/// `super::` paths that leave its own module, given how deep the file's module is (1 for
/// `src/x.rs` and `src/x/mod.rs`).
fn referenced_modules(
    source: &str,
    depth: usize,
    reexports: &BTreeMap<String, String>,
) -> Vec<String> {
    // Comments do not count; joining the lines lets a group span several.
    let code: String = source
        .lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join(" ");
    let mut found = Vec::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        match after.strip_prefix('{') {
            Some(grouped) => found.extend(group_heads(grouped)),
            None => found.push(identifier(after)),
        }
        rest = after;
    }
    let mut rest = code.as_str();
    while let Some(at) = rest.find("super::") {
        let mut after = &rest[at..];
        let mut ups = 0;
        while let Some(next) = after.strip_prefix("super::") {
            ups += 1;
            after = next;
        }
        if ups >= depth {
            match after.strip_prefix('{') {
                Some(grouped) => found.extend(group_heads(grouped)),
                None => found.push(identifier(after)),
            }
        }
        rest = after;
    }
    found
        .into_iter()
        .map(|name| reexports.get(&name).cloned().unwrap_or(name))
        .filter(|name| !name.is_empty() && name != "self")
        .collect()
}

/// The first segment of each item of a `{a::b, c::{d, e}}` group, given the text after `{`.
fn group_heads(group: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut item_start = true;
    for (index, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => item_start = true,
            c if item_start && !c.is_whitespace() => {
                heads.push(identifier(&group[index..]));
                item_start = false;
            }
            _ => {}
        }
    }
    heads
}

fn identifier(text: &str) -> String {
    text.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// Rule violations in one file of module `module` (depth as for [`referenced_modules`]).
fn violations(
    layers: &BTreeMap<String, usize>,
    reexports: &BTreeMap<String, String>,
    module: &str,
    source: &str,
    depth: usize,
) -> Vec<String> {
    let Some(&rank) = layers.get(module) else {
        return vec![format!(
            "module '{module}' has no layer: add it to the diagram in src/lib.rs"
        )];
    };
    referenced_modules(source, depth, reexports)
        .into_iter()
        .filter(|used| used != module)
        .filter_map(|used| match layers.get(&used) {
            Some(&used_rank) if used_rank < rank => None,
            Some(_) => Some(format!("'{module}' uses '{used}', which is not below it")),
            // Items of the crate root itself (re-exports such as crate::Result) are not layers.
            None => None,
        })
        .collect()
}

fn rust_files(dir: &Path, into: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, into);
        } else if path.extension().is_some_and(|e| e == "rs") {
            into.push(path);
        }
    }
}

#[test]
fn no_layer_uses_a_layer_above_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = root.join("src");
    let lib_rs = std::fs::read_to_string(src.join("lib.rs")).expect("read lib.rs");
    let (layers, _) = layers_from_lib_rs(&lib_rs);
    let reexports = root_reexports(&lib_rs);
    assert!(
        reexports.get("DownstreamApi").map(String::as_str) == Some("downstream"),
        "{reexports:?}"
    );
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut problems = Vec::new();
    let mut checked = 0;
    for file in &files {
        let relative = file.strip_prefix(&src).expect("under src");
        let parts: Vec<String> = relative
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        if parts == ["lib.rs"] {
            continue;
        }
        let source = std::fs::read_to_string(file).expect("read source");
        // src/bin/ holds the `dsapi` command: its own crate, above every layer, which can only
        // see what lib.rs exports. It uses the Rust API, not the C functions.
        if parts[0] == "bin" {
            if source.contains("downstream_api::ffi") {
                problems.push(format!(
                    "{}: the command uses the C ABI; use the Rust API",
                    relative.display()
                ));
            }
            continue;
        }
        let module = parts[0].trim_end_matches(".rs").to_string();
        // src/x.rs, src/x/mod.rs: depth 1; src/x/y.rs, src/x/y/mod.rs: 2; ...
        let depth = parts.len() - usize::from(parts.last().is_some_and(|p| p == "mod.rs"));
        for problem in violations(&layers, &reexports, &module, &source, depth.max(1)) {
            problems.push(format!("{}: {problem}", relative.display()));
        }
        checked += 1;
    }
    assert!(checked > 20, "only {checked} files found under src/");
    assert!(
        problems.is_empty(),
        "layer order broken:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_readme_names_the_same_order() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib_rs = std::fs::read_to_string(root.join("src/lib.rs")).expect("read lib.rs");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("read README.md");
    let (layers, leaves) = layers_from_lib_rs(&lib_rs);
    let mut stack: Vec<(usize, String)> = layers
        .into_iter()
        .filter(|(_, rank)| *rank >= leaves)
        .map(|(module, rank)| (rank, module))
        .collect();
    stack.sort();
    let chain = stack
        .iter()
        .map(|(_, module)| format!("`{module}`"))
        .collect::<Vec<_>>()
        .join(" → ");
    assert!(
        readme.contains(&chain),
        "README.md should show the layers bottom to top as {chain}"
    );
}

#[test]
fn the_checker_catches_upward_and_sideways_uses() {
    let (layers, leaves) = layers_from_lib_rs(
        "//! ```text\n//! top      t\n//! middle   m\n//! bottom   b\n//! leaf, other   leaves\n//! ```",
    );
    assert_eq!((layers["top"], layers["bottom"], leaves), (4, 2, 2));
    assert_eq!((layers["leaf"], layers["other"]), (0, 1));
    let reexports = root_reexports("pub use top::{Api, Shown as Other};\npub use middle::Mid;\n");
    let check = |module: &str, source: &str, depth: usize| {
        violations(&layers, &reexports, module, source, depth).len()
    };
    assert_eq!(
        check("middle", "use crate::bottom::X;\nuse crate::leaf;", 1),
        0
    );
    assert_eq!(check("middle", "use crate::top::X;", 1), 1);
    assert_eq!(check("bottom", "use crate::{leaf::a, middle::b};", 2), 1);
    // Groups over several lines, nested groups, and root re-exports.
    assert_eq!(
        check(
            "bottom",
            "use crate::{\n    leaf::a,\n    middle::b,\n};",
            1
        ),
        1
    );
    assert_eq!(check("bottom", "use crate::{leaf::{a, b}, top::c};", 1), 1);
    assert_eq!(check("bottom", "fn f() -> crate::Api { todo!() }", 1), 1);
    assert_eq!(check("bottom", "use crate::Other;", 1), 1);
    assert_eq!(check("top", "use crate::Mid;", 1), 0);
    // A leaf uses only the leaves before it.
    assert_eq!(check("leaf", "fn f() { crate::other::g() }", 1), 1);
    assert_eq!(check("other", "fn f() { crate::leaf::g() }", 1), 0);
    // `super::super::top` from src/bottom/x.rs reaches the crate root, and then up.
    assert_eq!(check("bottom", "use super::super::top::T;", 2), 1);
    assert_eq!(check("bottom", "use super::sibling::T;", 2), 0);
    // Comments do not count; an unknown module must be placed first.
    assert_eq!(check("bottom", "// see crate::top", 1), 0);
    assert_eq!(check("stray", "", 1), 1);
}
