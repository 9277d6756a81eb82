//! The layer order is a rule, not a comment: each module under `src/` may use only the layers below
//! it, as the diagram in `src/lib.rs` draws them (top layer first, leaves last; a leaf may use the
//! leaves written before it on the leaves' line). This test reads
//! that diagram, then every `crate::…` (and `super::` path reaching the crate root) in every source
//! file, and fails on a reference that points up or sideways. It also checks that ARCHITECTURE.md
//! names the same order.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The lines of the first ```text block of a file's `//!` documentation (a drawn order).
fn text_block(source: &str) -> Vec<&str> {
    source
        .lines()
        .map(|line| line.trim_start_matches("//!").trim())
        .skip_while(|line| *line != "```text")
        .skip(1)
        .take_while(|line| *line != "```")
        .collect()
}

/// A source text without its comments, on one line (so that a group may span several).
fn code_of(source: &str) -> String {
    source
        .lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The layers as `src/lib.rs` draws them: module name → rank (the leaves first, in the order of
/// their line, then the layers upwards), and how many leaves there are.
fn layers_from_lib_rs(lib_rs: &str) -> (BTreeMap<String, usize>, usize) {
    let block = text_block(lib_rs);
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
    let code = code_of(source);
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

/// The order of a layer's parts as its `mod.rs` draws them (a ```text block, one part a line, the
/// top first): part name → rank (the bottom part 0). `None` when the layer draws none.
fn parts_from_mod_rs(mod_rs: &str) -> Option<BTreeMap<String, usize>> {
    let block = text_block(mod_rs);
    if block.is_empty() {
        return None;
    }
    let names = block
        .iter()
        .rev()
        .filter_map(|line| line.split_whitespace().next());
    Some(
        names
            .enumerate()
            .map(|(rank, name)| (name.to_string(), rank))
            .collect(),
    )
}

/// The sibling parts of layer `layer` that a file `ups` levels below the layer's module refers to:
/// `super::` repeated exactly `ups` times, or `crate::<layer>::`.
fn sibling_references(source: &str, ups: usize, layer: &str) -> Vec<String> {
    let code = code_of(source);
    let mut found = Vec::new();
    let mut take = |after: &str| match after.strip_prefix('{') {
        Some(grouped) => found.extend(group_heads(grouped)),
        None => found.push(identifier(after)),
    };
    let mut rest = code.as_str();
    while let Some(at) = rest.find("super::") {
        let mut after = &rest[at..];
        let mut count = 0;
        while let Some(next) = after.strip_prefix("super::") {
            count += 1;
            after = next;
        }
        if count == ups {
            take(after);
        }
        rest = after;
    }
    let prefix = format!("crate::{layer}::");
    let mut rest = code.as_str();
    while let Some(at) = rest.find(&prefix) {
        let after = &rest[at + prefix.len()..];
        take(after);
        rest = after;
    }
    found.retain(|name| !name.is_empty() && name != "self");
    found
}

/// Inside a layer that draws its parts: a part uses only the parts below it (its facade,
/// `mod.rs`, uses any).
#[test]
fn no_part_of_a_layer_uses_a_part_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut problems = Vec::new();
    let mut drawn = 0;
    for entry in std::fs::read_dir(&src).expect("read src") {
        let dir = entry.expect("dir entry").path();
        let Ok(mod_rs) = std::fs::read_to_string(dir.join("mod.rs")) else {
            continue;
        };
        let Some(parts) = parts_from_mod_rs(&mod_rs) else {
            continue;
        };
        drawn += 1;
        let layer = dir
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let mut files = Vec::new();
        rust_files(&dir, &mut files);
        for file in files {
            let relative: Vec<String> = file
                .strip_prefix(&dir)
                .expect("under the layer")
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            if relative == ["mod.rs"] {
                continue;
            }
            let part = relative[0].trim_end_matches(".rs").to_string();
            let Some(&rank) = parts.get(&part) else {
                problems.push(format!(
                    "src/{layer}/{}: not drawn in src/{layer}/mod.rs",
                    relative[0]
                ));
                continue;
            };
            let ups = relative.len() - usize::from(relative.last().is_some_and(|p| p == "mod.rs"));
            let source = std::fs::read_to_string(&file).expect("read source");
            for used in sibling_references(&source, ups, &layer) {
                if used != part && parts.get(&used).is_some_and(|&r| r >= rank) {
                    problems.push(format!(
                        "src/{layer}/{}: '{part}' uses '{used}', which is not below it",
                        relative.join("/")
                    ));
                }
            }
        }
    }
    assert!(drawn >= 1, "no layer draws its parts");
    assert!(
        problems.is_empty(),
        "part order broken:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_part_checker_catches_upward_uses() {
    let parts = parts_from_mod_rs("//! ```text\n//! top   t\n//! low   l\n//! ```").unwrap();
    assert_eq!((parts["top"], parts["low"]), (1, 0));
    assert_eq!(sibling_references("use super::low::X;", 1, "t"), ["low"]);
    assert_eq!(
        sibling_references("use super::super::top::X;", 2, "t"),
        ["top"]
    );
    assert_eq!(
        sibling_references("use super::{top::X, low};", 1, "t"),
        ["top", "low"]
    );
    assert_eq!(
        sibling_references("fn f() { crate::t::top::g() }", 3, "t"),
        ["top"]
    );
    // A file's own children (super:: fewer times) are not siblings.
    assert!(sibling_references("use super::breaker::B;", 2, "t").is_empty());
}

/// No source file grows past what one sitting reads.
#[test]
fn no_source_file_is_over_500_lines() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let long: Vec<String> = files
        .iter()
        .map(|file| {
            (
                file,
                std::fs::read_to_string(file).expect("read").lines().count(),
            )
        })
        .filter(|(_, lines)| *lines > 500)
        .map(|(file, lines)| format!("{} ({lines} lines)", file.display()))
        .collect();
    assert!(long.is_empty(), "split these files: {long:?}");
}

#[test]
fn the_architecture_page_names_the_same_order() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib_rs = std::fs::read_to_string(root.join("src/lib.rs")).expect("read lib.rs");
    let page = std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("read ARCHITECTURE.md");
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
        page.contains(&chain),
        "ARCHITECTURE.md should show the layers bottom to top as {chain}"
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

// The documentation's links, checked like the layers: see the module's own comment.
#[path = "architecture/links.rs"]
mod links;

// The JSON examples of the README and the guides, read as written.
#[path = "architecture/json_examples.rs"]
mod json_examples;
