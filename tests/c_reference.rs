//! The C reference, `docs/reference/c-api.md`, is generated from `include/downstream_api.h` (whose
//! doxygen comments cbindgen writes from the Rust doc comments of `src/ffi/`) by this test: one
//! section per function in one template (prototype, contract, example), the types, and the
//! status codes. The test fails when the committed page is stale, after rewriting it: commit the
//! new one. It also compiles every ```c example of the header, and holds the core calls to
//! having one.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const REFERENCE: &str = "docs/reference/c-api.md";

/// The calls a C user starts with: each carries an example in its comment.
const CORE_CALLS: &[&str] = &[
    "dsapi_client_new_from_file",
    "dsapi_client_call",
    "dsapi_response_status",
    "dsapi_response_body",
    "dsapi_response_free",
    "dsapi_client_free",
    "dsapi_last_error_message",
];

/// One documented item of the header.
struct Item {
    /// The comment's text without its `/** * */` frame.
    doc: String,
    /// `function`, `type` or `constant`.
    kind: &'static str,
    name: String,
    /// The declaration as written.
    code: String,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The text of a doxygen comment's lines (` * text` → `text`).
fn comment_text(lines: &[&str]) -> String {
    lines
        .iter()
        .map(|line| line.trim_start())
        .filter(|line| *line != "/**" && *line != "*/")
        .map(|line| {
            line.strip_prefix("* ")
                .unwrap_or(line.trim_start_matches('*'))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The declaration starting at `lines[0]`: how many lines it spans, its kind and name.
fn declaration(lines: &[&str]) -> Option<(usize, &'static str, String)> {
    let first = lines[0];
    if let Some(rest) = first.strip_prefix("#define ") {
        return Some((1, "constant", rest.split_whitespace().next()?.to_string()));
    }
    // A struct ends at its closing brace, anything else at its first `;`.
    let struct_body = first.ends_with('{');
    let end = lines.iter().position(|line| match struct_body {
        true => line.starts_with('}'),
        false => line.trim_end().ends_with(';'),
    })?;
    let text = lines[..=end].join("\n");
    if first.starts_with("typedef struct") && first.ends_with('{') {
        let name = text.rsplit('}').next()?.trim().trim_end_matches(';');
        return Some((end + 1, "type", name.trim().to_string()));
    }
    if first.starts_with("typedef ") {
        let name = match text.find("(*") {
            Some(at) => text[at + 2..].split(')').next()?.to_string(),
            None => text
                .trim_end_matches(';')
                .split_whitespace()
                .last()?
                .to_string(),
        };
        return Some((end + 1, "type", name));
    }
    let name = text.split('(').next()?.split_whitespace().last()?;
    let name = name.trim_start_matches('*').to_string();
    Some((end + 1, "function", name))
}

/// Every documented item, in header order.
fn items(header: &str) -> Vec<Item> {
    let lines: Vec<&str> = header.lines().collect();
    let mut found = Vec::new();
    let mut at = 0;
    while at < lines.len() {
        // Only comments at the left margin: a struct's field comments belong to the struct.
        if lines[at] != "/**" {
            at += 1;
            continue;
        }
        let close = at
            + lines[at..]
                .iter()
                .position(|line| line.trim() == "*/")
                .expect("a closed comment");
        let doc = comment_text(&lines[at..=close]);
        at = close + 1;
        if let Some((span, kind, name)) = declaration(&lines[at..]) {
            let code = lines[at..at + span].join("\n");
            found.push(Item {
                doc,
                kind,
                name,
                code,
            });
            at += span;
        }
    }
    found
}

/// `[`name`]` (rustdoc's link form, kept by cbindgen) → a link to that item's section.
fn linked(doc: &str) -> String {
    let mut out = String::new();
    let mut rest = doc;
    while let Some(start) = rest.find("[`dsapi_") {
        let Some(end) = rest[start..].find("`]").map(|end| start + end) else {
            break;
        };
        let name = &rest[start + 2..end];
        let _ = write!(out, "{}[`{name}`](#{name})", &rest[..start]);
        rest = &rest[end + 2..];
    }
    out + rest
}

/// The status codes, log levels and event kinds as one table each.
fn constants_section(items: &[Item], out: &mut String) {
    let groups = [
        (
            "Status codes (`dsapi_status`)",
            "DSAPI_",
            &["DSAPI_LOG_", "DSAPI_EVENT_"][..],
        ),
        ("Log levels (`dsapi_log_level`)", "DSAPI_LOG_", &[][..]),
        ("Event kinds (`dsapi_event_kind`)", "DSAPI_EVENT_", &[][..]),
    ];
    for (title, prefix, excluded) in groups {
        let _ = write!(
            out,
            "\n## {title}\n\n| name | value | meaning |\n|---|---|---|\n"
        );
        let rows = items.iter().filter(|item| {
            item.kind == "constant"
                && item.name.starts_with(prefix)
                && !excluded.iter().any(|e| item.name.starts_with(e))
        });
        for item in rows {
            let value = item.code.split_whitespace().nth(2).unwrap_or_default();
            let meaning = item.doc.replace('\n', " ").replace('|', "\\|");
            let _ = writeln!(out, "| `{}` | {value} | {meaning} |", item.name);
        }
    }
}

/// The whole reference page.
fn reference(header: &str) -> String {
    let items = items(header);
    let mut out = String::from(
        "# C reference\n\n<!-- Generated by tests/c_reference.rs from include/downstream_api.h. \
         Do not edit: change the doc comments in src/ffi/ and run the test. -->\n\n\
         Every function of `include/downstream_api.h`, in the header's order, in one template: \
         the prototype, then ownership, errors and thread safety, then an example for the calls \
         most programs start with. The conventions that hold for all of them:\n\n",
    );
    let conventions = header
        .split("*/")
        .next()
        .unwrap_or_default()
        .lines()
        .skip_while(|line| !line.contains("Conventions"))
        .skip(1)
        .map(|line| line.trim_start().trim_start_matches('*').trim_start())
        .map(|line| {
            if line.starts_with("- ") {
                line.to_string()
            } else {
                format!("  {line}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let _ = writeln!(out, "{}\n\n## Functions\n", conventions.trim_end());
    for item in items.iter().filter(|item| item.kind == "function") {
        let _ = writeln!(out, "- [`{0}`](#{0})", item.name);
    }
    out.push_str("\n## Types\n");
    for item in items.iter().filter(|item| item.kind == "type") {
        let _ = write!(
            out,
            "\n### `{}`\n\n```c\n{}\n```\n\n{}\n",
            item.name,
            item.code,
            linked(&item.doc)
        );
    }
    constants_section(&items, &mut out);
    out.push_str("\n## Function reference\n");
    for item in items.iter().filter(|item| item.kind == "function") {
        let _ = write!(
            out,
            "\n### `{}`\n\n```c\n{}\n```\n\n{}\n",
            item.name,
            item.code,
            linked(&item.doc)
        );
    }
    out
}

/// The ```c blocks of a doc comment.
fn c_examples(doc: &str) -> Vec<String> {
    doc.split("```c\n")
        .skip(1)
        .filter_map(|rest| rest.split("\n```").next())
        .map(str::to_string)
        .collect()
}

#[test]
fn the_c_reference_is_generated_from_the_header() {
    let header = std::fs::read_to_string(root().join("include/downstream_api.h")).expect("header");
    let page = reference(&header);
    let path = root().join(REFERENCE);
    if std::fs::read_to_string(&path).ok().as_deref() != Some(page.as_str()) {
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("create docs/reference");
        std::fs::write(&path, &page).expect("write the reference");
        panic!("{REFERENCE} was stale and has been regenerated: commit it");
    }
}

#[test]
fn the_core_calls_carry_an_example_and_every_example_compiles() {
    let header = std::fs::read_to_string(root().join("include/downstream_api.h")).expect("header");
    let items = items(&header);
    let functions: Vec<&Item> = items.iter().filter(|i| i.kind == "function").collect();
    assert!(
        functions.len() >= 28,
        "parsed {} functions",
        functions.len()
    );
    for call in CORE_CALLS {
        let item = functions
            .iter()
            .find(|item| item.name == *call)
            .unwrap_or_else(|| panic!("{call} is not in the header"));
        assert!(
            !c_examples(&item.doc).is_empty(),
            "{call} has no ```c example"
        );
    }
    // Each example is a fragment of a function that has a client and a response at hand.
    let mut program = String::from(
        "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include \"downstream_api.h\"\n",
    );
    let mut count = 0;
    for item in &functions {
        for example in c_examples(&item.doc) {
            count += 1;
            let _ = write!(
                program,
                "void example_{count}(dsapi_client *client, dsapi_response *response);\n\
                 void example_{count}(dsapi_client *client, dsapi_response *response) {{\n\
                 (void)client; (void)response;\n{{\n#line 1 \"{} example\"\n{example}\n}}\n}}\n",
                item.name
            );
        }
    }
    let dir = std::env::temp_dir().join(format!("dsapi-c-reference-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let source = dir.join("examples.c");
    std::fs::write(&source, &program).expect("write the examples");
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let output = Command::new(&compiler)
        .args([
            "-std=c11",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-fsyntax-only",
            "-I",
        ])
        .arg(Path::new(&root()).join("include"))
        .arg(&source)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {compiler}: {e}"));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        output.status.success(),
        "the header's examples do not compile:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(count >= CORE_CALLS.len(), "{count} examples");
}
