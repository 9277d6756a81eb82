//! The C and C++ examples of the documentation, as written: the README's quick starts (whole
//! programs) compiled under the sanitizers and run in a folder whose `appsettings.json` names
//! "Orders" (the fixture's mTLS API); the fragments of docs/guide/c-and-cpp.md compiled inside a
//! function, the header's own include guard making their `#include` lines harmless there.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::fixture::{CLIENT_CN, Fixture};
use crate::program::{compile_example, run_with_time_limit};

fn page(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("read {}: {e}", full.display()))
}

/// The fenced blocks of `text` whose info string is `language`.
fn blocks(text: &str, language: &str) -> Vec<String> {
    let fence = format!("```{language}\n");
    text.split(&fence)
        .skip(1)
        .filter_map(|rest| rest.split("\n```").next())
        .map(|block| format!("{block}\n"))
        .collect()
}

#[test]
fn the_readme_c_and_cpp_quick_starts_run_as_written() {
    let fixture = Fixture::new();
    let folder = fixture.dir.path().join("quick-start");
    std::fs::create_dir_all(&folder).expect("create the folder");
    let settings = std::fs::read(fixture.dir.path().join("good.json")).expect("good.json");
    std::fs::write(folder.join("appsettings.json"), settings).expect("write appsettings.json");
    let readme = page("README.md");
    for (language, extension) in [("c", "c"), ("cpp", "cpp")] {
        let found = blocks(&readme, language);
        assert_eq!(found.len(), 1, "one {language} quick start in the README");
        let source = folder.join(format!("quick_start.{extension}"));
        std::fs::write(&source, &found[0]).expect("write the example");
        let program = folder.join(format!("quick_start_{extension}"));
        compile_example(&source, &program);
        let mut command = Command::new(&program);
        command
            .current_dir(&folder)
            .env("ASAN_OPTIONS", "detect_leaks=1:halt_on_error=1")
            .env("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let (code, output) = run_with_time_limit(command, Duration::from_secs(60));
        assert_eq!(code, Some(0), "the {language} quick start:\n{output}");
        assert!(
            output.starts_with(&format!("200 hello {CLIENT_CN}")),
            "the {language} quick start printed:\n{output}"
        );
    }
}

#[test]
fn the_c_and_cpp_guide_examples_compile() {
    let guide = page("docs/guide/c-and-cpp.md");
    let include = Path::new(env!("CARGO_MANIFEST_DIR")).join("include");
    let dir = test_support::TempDir::new("guide-examples");
    let wrappers = [
        (
            "c",
            "cc",
            "CC",
            "-std=c11",
            "#include <stdio.h>\n#include \"downstream_api.h\"\n",
        ),
        (
            "cpp",
            "c++",
            "CXX",
            "-std=c++17",
            "#include <iostream>\n#include \"downstream_api.hpp\"\n",
        ),
    ];
    for (language, default, variable, standard, prelude) in wrappers {
        let found = blocks(&guide, language);
        assert!(!found.is_empty(), "no {language} example in the guide");
        for (index, block) in found.iter().enumerate() {
            let source = dir.path().join(format!("example_{index}.{language}"));
            let text = format!(
                "{prelude}void example_{index}(void);\nvoid example_{index}(void) {{\n{block}}}\n"
            );
            std::fs::write(&source, text).expect("write the example");
            let compiler = std::env::var(variable).unwrap_or_else(|_| default.to_string());
            let output = Command::new(&compiler)
                .args([
                    standard,
                    "-Wall",
                    "-Wextra",
                    "-Werror",
                    "-fsyntax-only",
                    "-I",
                ])
                .arg(&include)
                .arg(&source)
                .output()
                .unwrap_or_else(|e| panic!("cannot run {compiler}: {e}"));
            assert!(
                output.status.success(),
                "the guide's {language} example {index} does not compile:\n{block}\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}
