//! Generates, from the status table `src/ffi/statuses.txt` and the C ABI in `src/ffi/`:
//! - `$OUT_DIR/status_codes.rs`: the `DSAPI_*` status constants, their names and the mapping from
//!   `ErrorKind` (included by `src/ffi/status.rs`);
//! - `include/downstream_api.h`, with cbindgen (parsing only the named files: no macro expansion,
//!   no `cargo metadata`, so it is fast and offline);
//! - the `Status` enums of the Python and C# wrappers, when their folders are present.
//!
//! The header and the wrapper files are committed; CI rebuilds them and fails when a committed copy
//! is stale. Adding a status is one line in the table plus a build.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const FFI_SOURCES: &[&str] = &[
    "src/ffi/status.rs",
    "src/ffi/log.rs",
    "src/ffi/client.rs",
    "src/ffi/response.rs",
    "src/ffi/token.rs",
    "src/ffi/validation.rs",
    "src/ffi/credentials.rs",
    "src/ffi/metrics.rs",
    "src/ffi/options.rs",
    "src/ffi/strings.rs",
];
const STATUS_TABLE: &str = "src/ffi/statuses.txt";
const PYTHON_STATUS: &str = "bindings/python/downstream_api/_status.py";
const CSHARP_STATUS: &str = "bindings/csharp/DownstreamApi/Status.g.cs";

/// One row of the status table.
struct Status {
    code: u32,
    /// `DSAPI_TIMEOUT`
    name: String,
    /// The `ErrorKind` variant reported with this status, if any.
    kind: Option<String>,
    /// The description, one entry per line.
    doc: Vec<String>,
}

impl Status {
    /// `TIMEOUT`, the name without its prefix.
    fn short_name(&self) -> &str {
        &self.name["DSAPI_".len()..]
    }

    /// `TokenAcquisitionFailed`, the C# member name.
    fn pascal_name(&self) -> String {
        self.short_name()
            .split('_')
            .map(|word| {
                let lower = word.to_ascii_lowercase();
                let mut chars = lower.chars();
                match chars.next() {
                    Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                    None => String::new(),
                }
            })
            .collect()
    }
}

/// Files of src/ffi/ without exports: the module root and the panic boundary.
const FFI_INTERNALS: &[&str] = &["src/ffi/mod.rs", "src/ffi/boundary.rs"];

/// A file of src/ffi/ missing from FFI_SOURCES would leave its functions out of the header.
fn check_every_export_file_listed(root: &Path) {
    let entries = std::fs::read_dir(root.join("src/ffi")).expect("read src/ffi");
    for entry in entries {
        let name = entry.expect("read src/ffi").file_name();
        let path = format!("src/ffi/{}", name.to_string_lossy());
        let listed = FFI_SOURCES.contains(&path.as_str()) || FFI_INTERNALS.contains(&path.as_str());
        assert!(
            listed || !path.ends_with(".rs"),
            "{path} is not in build.rs's FFI_SOURCES: its functions would be missing from the header"
        );
    }
}

fn main() {
    set_soname();
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    for source in FFI_SOURCES.iter().chain([&STATUS_TABLE]) {
        println!("cargo:rerun-if-changed={source}");
    }
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=src/ffi");
    check_every_export_file_listed(&root);

    let table = std::fs::read_to_string(root.join(STATUS_TABLE)).expect("read the status table");
    let statuses = parse_status_table(&table);
    let generated_rust = out_dir.join("status_codes.rs");
    write_if_changed(&generated_rust, &rust_statuses(&statuses));

    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut builder = cbindgen::Builder::new()
        .with_config(config)
        .with_src(&generated_rust);
    for source in FFI_SOURCES {
        builder = builder.with_src(root.join(source));
    }
    let bindings = builder
        .generate()
        .expect("cbindgen could not parse src/ffi");
    // write_to_file only touches the file when its content changes.
    bindings.write_to_file(root.join("include/downstream_api.h"));

    // A packaged crate has no bindings folder; a checkout keeps the wrappers in step.
    for (path, text) in [
        (PYTHON_STATUS, python_statuses(&statuses)),
        (CSHARP_STATUS, csharp_statuses(&statuses)),
    ] {
        let path = root.join(path);
        if path.parent().is_some_and(Path::is_dir) {
            write_if_changed(&path, &text);
        }
    }
}

/// Gives the ELF shared library a soname, as cargo-c does: `libdownstream_api.so.0.1` while the
/// version is 0.x (each minor version may break the ABI), `libdownstream_api.so.N` from 1.0.
/// scripts/install.sh installs the library under that name with the usual symlinks.
fn set_soname() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if !matches!(
        os.as_str(),
        "linux" | "android" | "freebsd" | "netbsd" | "openbsd"
    ) {
        return;
    }
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").expect("set by cargo");
    let minor = std::env::var("CARGO_PKG_VERSION_MINOR").expect("set by cargo");
    let abi = if major == "0" {
        format!("0.{minor}")
    } else {
        major
    };
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libdownstream_api.so.{abi}");
}

/// Reads the table, failing the build on a malformed line, a code out of order or a repeated name.
fn parse_status_table(text: &str) -> Vec<Status> {
    let mut statuses: Vec<Status> = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let at = || format!("{STATUS_TABLE}:{}", number + 1);
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with(char::is_whitespace) {
            let status = statuses
                .last_mut()
                .unwrap_or_else(|| panic!("{}: a description needs a status line", at()));
            status.doc.push(line.trim().to_string());
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [code, name, kind] = fields[..] else {
            panic!("{}: expected '<code> <NAME> <ErrorKind or ->'", at());
        };
        let code: u32 = code
            .parse()
            .unwrap_or_else(|_| panic!("{}: '{code}' is not a number", at()));
        assert!(
            name.starts_with("DSAPI_"),
            "{}: names start with DSAPI_",
            at()
        );
        if let Some(previous) = statuses.last() {
            assert!(
                code == previous.code + 1,
                "{}: codes go up by one ({code} after {})",
                at(),
                previous.code
            );
        }
        assert!(
            statuses.iter().all(|s| s.name != name),
            "{}: {name} twice",
            at()
        );
        statuses.push(Status {
            code,
            name: name.to_string(),
            kind: (kind != "-").then(|| kind.to_string()),
            doc: Vec::new(),
        });
    }
    assert!(
        statuses.first().is_some_and(|s| s.code == 0),
        "{STATUS_TABLE}: starts at 0"
    );
    for status in &statuses {
        assert!(
            !status.doc.is_empty(),
            "{STATUS_TABLE}: {} has no description",
            status.name
        );
    }
    statuses
}

fn rust_statuses(statuses: &[Status]) -> String {
    let mut out = String::from(
        "// Generated by build.rs from src/ffi/statuses.txt. Do not edit.\n\n\
         /// Result of every fallible function. `DSAPI_OK` (0) is success; the other values are stable and\n\
         /// never renumbered; new ones may be added.\n\
         pub type dsapi_status = u32;\n",
    );
    for status in statuses {
        out.push('\n');
        for line in &status.doc {
            let _ = writeln!(out, "/// {line}");
        }
        let _ = writeln!(
            out,
            "pub const {}: dsapi_status = {};",
            status.name, status.code
        );
    }
    out.push_str(
        "\n/// The status an error of `kind` is reported as.\n\
         pub(crate) fn status_of(kind: ErrorKind) -> dsapi_status {\n    match kind {\n",
    );
    for status in statuses {
        if let Some(kind) = &status.kind {
            let _ = writeln!(out, "        ErrorKind::{kind} => {},", status.name);
        }
    }
    out.push_str(
        "    }\n}\n\n/// Every status with its NUL-terminated name, in code order.\n\
         pub(crate) const STATUS_NAMES: &[(dsapi_status, &[u8])] = &[\n",
    );
    for status in statuses {
        let _ = writeln!(out, "    ({}, b\"{}\\0\"),", status.name, status.name);
    }
    out.push_str("];\n");
    out
}

fn python_statuses(statuses: &[Status]) -> String {
    let mut out = String::from(
        "# Generated by build.rs from src/ffi/statuses.txt. Do not edit: change the table and build.\n\
         \"\"\"The library's status codes, as ``include/downstream_api.h`` declares them.\"\"\"\n\n\
         import enum\n\n__all__ = [\"Status\"]\n\n\n\
         class Status(enum.IntEnum):\n    \
         \"\"\"The library's status codes (``dsapi_status``): stable numbers, never reused.\"\"\"\n",
    );
    for status in statuses {
        let doc = status
            .doc
            .join("\n    ")
            .replace('`', "``")
            .replace('\\', "\\\\");
        let _ = write!(
            out,
            "\n    {} = {}\n    \"\"\"{doc}\"\"\"\n",
            status.short_name(),
            status.code
        );
    }
    out
}

fn csharp_statuses(statuses: &[Status]) -> String {
    let mut out = String::from(
        "// Generated by build.rs from src/ffi/statuses.txt. Do not edit: change the table and build.\n\
         namespace DownstreamApi\n{\n    \
         /// <summary>The library's status codes (<c>dsapi_status</c>): stable numbers, never reused.</summary>\n    \
         public enum Status : uint\n    {\n",
    );
    for status in statuses {
        let _ = write!(
            out,
            "        /// <summary>{}</summary>\n        {} = {},\n",
            xml_doc(&status.doc.join(" ")),
            status.pascal_name(),
            status.code
        );
    }
    out.push_str("    }\n}\n");
    out
}

/// Escapes text for an XML doc comment and turns `code` into <c>code</c>.
fn xml_doc(text: &str) -> String {
    let escaped = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let mut out = String::new();
    for (index, piece) in escaped.split('`').enumerate() {
        if index % 2 == 1 {
            let _ = write!(out, "<c>{piece}</c>");
        } else {
            out.push_str(piece);
        }
    }
    out
}

fn write_if_changed(path: &Path, text: &str) {
    if std::fs::read_to_string(path).ok().as_deref() != Some(text) {
        std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
}
