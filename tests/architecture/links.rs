//! Every relative link of the documentation resolves: in README.md, ARCHITECTURE.md,
//! docs/**/*.md and bindings/*/README.md, each `[text](target)` outside code names a file or
//! folder that exists, and its `#anchor`, if any, a heading of the Markdown page it points to
//! (GitHub's anchors: lower case, punctuation dropped, spaces as hyphens).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn pages(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, into: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read a folder") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, into);
            } else if path.extension().is_some_and(|e| e == "md") {
                into.push(path);
            }
        }
    }
    let mut pages = vec![root.join("README.md"), root.join("ARCHITECTURE.md")];
    walk(&root.join("docs"), &mut pages);
    for entry in std::fs::read_dir(root.join("bindings")).expect("read bindings") {
        let readme = entry.expect("entry").path().join("README.md");
        if readme.is_file() {
            pages.push(readme);
        }
    }
    pages
}

/// The page's text outside fenced blocks and inline code, line by line.
fn prose(text: &str) -> Vec<String> {
    let mut fenced = false;
    let mut lines = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            lines.push(String::new());
            continue;
        }
        // Drop `code spans`: every other piece between backticks.
        let outside: String = line
            .split('`')
            .enumerate()
            .map(|(index, piece)| if index % 2 == 0 { piece } else { "" })
            .collect();
        lines.push(outside);
    }
    lines
}

/// The targets of `[text](target)` links on a line.
fn link_targets(line: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        let Some(end) = after.find(')') else { break };
        let target = after[..end].split_whitespace().next().unwrap_or_default();
        targets.push(target.to_string());
        rest = &after[end..];
    }
    targets
}

/// GitHub's anchor for a heading's text.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a Markdown page's headings (outside fenced blocks), `-1`, `-2` … for repeats.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        }
        let Some(heading) = line.strip_prefix('#').filter(|_| !fenced) else {
            continue;
        };
        let base = anchor(heading.trim_start_matches('#'));
        let mut name = base.clone();
        let mut repeat = 0;
        while !found.insert(name.clone()) {
            repeat += 1;
            name = format!("{base}-{repeat}");
        }
    }
    found
}

/// What is wrong with one link of `page` (None when it resolves).
fn broken(page: &Path, target: &str) -> Option<String> {
    if target.contains("://") || target.starts_with("mailto:") || target.is_empty() {
        return None;
    }
    let (path, fragment) = match target.split_once('#') {
        Some((path, fragment)) => (path, Some(fragment)),
        None => (target, None),
    };
    let file = match path {
        "" => page.to_path_buf(),
        path => page.parent().expect("a folder").join(path),
    };
    if !file.exists() {
        return Some(format!("{target}: {} does not exist", file.display()));
    }
    let fragment = fragment.filter(|_| file.extension().is_some_and(|e| e == "md"))?;
    let text = std::fs::read_to_string(&file).expect("read the linked page");
    (!anchors(&text).contains(fragment)).then(|| format!("{target}: no heading #{fragment}"))
}

#[test]
fn every_relative_link_of_the_documentation_resolves() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let pages = pages(root);
    assert!(pages.len() >= 15, "{pages:?}");
    let mut problems = Vec::new();
    let mut checked = 0;
    for page in &pages {
        let text = std::fs::read_to_string(page).expect("read a page");
        for (number, line) in prose(&text).iter().enumerate() {
            for target in link_targets(line) {
                checked += 1;
                if let Some(problem) = broken(page, &target) {
                    let shown = page
                        .strip_prefix(root)
                        .unwrap_or(page)
                        .display()
                        .to_string();
                    problems.push(format!("{shown}:{}: {problem}", number + 1));
                }
            }
        }
    }
    assert!(checked >= 50, "only {checked} links found");
    assert!(
        problems.is_empty(),
        "broken links:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_link_checker_reads_links_and_anchors_as_github_does() {
    assert_eq!(
        anchor(" Reaching a vault under its real name: `Http.Resolve`"),
        "reaching-a-vault-under-its-real-name-httpresolve"
    );
    assert_eq!(anchor(" C and C++"), "c-and-c");
    let text = "# A\n```sh\n# not a heading\n```\n## A\n## B: c_d\n";
    let found: Vec<String> = anchors(text).into_iter().collect();
    assert_eq!(found, ["a", "a-1", "b-c_d"]);
    assert_eq!(
        link_targets("see [x](a.md#b) and [y](https://e.org) [z](c.md \"t\")"),
        ["a.md#b", "https://e.org", "c.md"]
    );
    assert_eq!(prose("a `[x](no.md)` b\n```\n[y](no.md)\n```")[0], "a  b");
}
