//! The `dsapi` command as its documentation shows it: every `dsapi …` line of a ```sh block in
//! README.md, docs/ and the package pages is accepted by the argument parser (run in a folder
//! without a configuration, each stops at reading it: exit 3, or 2 with the configuration's
//! message, never clap's usage error), and the man pages and completions come from the same
//! definitions.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use test_support::TempDir;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn dsapi(dir: &Path, args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dsapi"))
        .args(args)
        .current_dir(dir)
        .env_remove("ASPNETCORE_URLS")
        .stdin(Stdio::null())
        .output()
        .expect("run dsapi")
}

/// README.md, ARCHITECTURE.md, every page under docs/ and the package pages.
fn documentation() -> Vec<PathBuf> {
    fn walk(dir: &Path, into: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read docs") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, into);
            } else if path.extension().is_some_and(|e| e == "md") {
                into.push(path);
            }
        }
    }
    let root = root();
    let mut pages: Vec<PathBuf> = ["README.md", "ARCHITECTURE.md"]
        .iter()
        .chain(&["bindings/python/README.md", "bindings/csharp/README.md"])
        .map(|page| root.join(page))
        .collect();
    walk(&root.join("docs"), &mut pages);
    pages
}

/// The words of a shell line, as sh splits them: single and double quotes, no expansion
/// (the documented lines have none to expand).
fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_with(String::new).push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

/// Every documented command line: the arguments after `dsapi`, without the line's comment, with
/// `<placeholders>` filled in.
fn documented_lines() -> Vec<(String, Vec<String>)> {
    let mut lines = Vec::new();
    for page in documentation() {
        let text = std::fs::read_to_string(&page).expect("read page");
        let name = page
            .strip_prefix(root())
            .unwrap_or(&page)
            .display()
            .to_string();
        for block in text.split("```sh\n").skip(1) {
            let block = block.split("\n```").next().unwrap_or_default();
            for line in block.lines() {
                let code = line.split(" #").next().unwrap_or_default().trim();
                let Some(rest) = code.strip_prefix("dsapi ") else {
                    continue;
                };
                let rest = rest
                    .replace("<agent app id>", "agent-id")
                    .replace("<id>", "agent-id");
                lines.push((format!("{name}: {code}"), words(&rest)));
            }
        }
    }
    lines
}

#[test]
fn every_documented_command_line_is_accepted() {
    let lines = documented_lines();
    assert!(lines.len() >= 15, "found only {} dsapi lines", lines.len());
    let dir = TempDir::new("command-docs");
    // What the lines read before the configuration: `-d @FILE` and `--user-token @FILE`.
    dir.write("order.json", "{\"id\": 42}");
    dir.write("incoming.jwt", "eyJhbGciOiJSUzI1NiJ9.e30.c2ln");
    let mut refused = Vec::new();
    for (shown, args) in &lines {
        // `man` and `completions` print, and need no configuration.
        if args
            .first()
            .is_some_and(|a| a == "man" || a == "completions")
        {
            let output = dsapi(dir.path(), args);
            if !output.status.success() {
                refused.push(format!("{shown}: {:?}", output.status));
            }
            continue;
        }
        let output = dsapi(dir.path(), args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let reached_the_configuration =
            stderr.contains("configuration file") && matches!(output.status.code(), Some(2 | 3));
        if !reached_the_configuration {
            refused.push(format!(
                "{shown}\n  exit {:?}: {stderr}",
                output.status.code()
            ));
        }
    }
    assert!(refused.is_empty(), "refused:\n{}", refused.join("\n"));
}

#[test]
fn the_man_pages_and_completions_come_from_the_command() {
    let dir = TempDir::new("command-man");
    let page = dsapi(dir.path(), &["man".to_string()]);
    assert!(page.status.success());
    let page = String::from_utf8_lossy(&page.stdout);
    assert!(page.contains("\n.TH dsapi 1 "), "{page}");
    for part in [
        "dsapi\\-call",
        "EXIT STATUS",
        "appsettings.json",
        ".SH FILES",
    ] {
        assert!(page.contains(part), "dsapi.1 lacks {part}:\n{page}");
    }
    let out = dir.path().join("man1");
    let args = ["man", "--out-dir", &out.to_string_lossy()].map(str::to_string);
    assert!(dsapi(dir.path(), &args).status.success());
    for command in [
        "",
        "-call",
        "-header",
        "-token",
        "-credentials",
        "-serve",
        "-check",
    ] {
        let file = out.join(format!("dsapi{command}.1"));
        assert!(file.is_file(), "{} was not written", file.display());
    }
    // Hidden commands have no page and no completion.
    assert!(!out.join("dsapi-man.1").exists());
    for (shell, mark) in [
        ("bash", "complete -F _dsapi"),
        ("zsh", "#compdef dsapi"),
        ("fish", "complete -c dsapi"),
    ] {
        let script = dsapi(dir.path(), &["completions".to_string(), shell.to_string()]);
        let script = String::from_utf8_lossy(&script.stdout);
        assert!(script.contains(mark), "{shell}: {script}");
        assert!(
            script.contains("credentials"),
            "{shell} completes the commands"
        );
        // clap_complete completes the hidden commands too (`dsapi completions <TAB>` offers the
        // shells), which does no harm.
    }
}

#[test]
fn words_split_as_sh_does() {
    assert_eq!(
        words(r#"call Orders -H 'X-Trace: t1' --json '{"id": 42}' -q v=2"#),
        [
            "call",
            "Orders",
            "-H",
            "X-Trace: t1",
            "--json",
            r#"{"id": 42}"#,
            "-q",
            "v=2"
        ]
    );
    assert_eq!(words("a \"b c\" ''"), ["a", "b c", ""]);
}
