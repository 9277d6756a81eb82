//! The C program: the shared library it links (found beside this test executable), its sources
//! compiled with or without the sanitizers, and a run with a time limit.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The shared library's file name on this platform.
fn library_file() -> String {
    format!(
        "{}downstream_api{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    )
}

/// The directory holding the shared library: the profile directory of this test executable
/// (`target/<profile>/deps/c_abi-…` → `target/<profile>`), else `$CARGO_TARGET_DIR/<profile>` or
/// `<manifest>/target/<profile>`.
fn library_dir() -> PathBuf {
    let library = library_file();
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe.parent().and_then(Path::parent).map(Path::to_path_buf);
    let profile = profile_dir
        .as_deref()
        .and_then(Path::file_name)
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "debug".to_string());
    let mut candidates: Vec<PathBuf> = profile_dir.into_iter().collect();
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        candidates.push(PathBuf::from(dir).join(&profile));
    }
    candidates.push(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target")
            .join(&profile),
    );
    let dir = candidates
        .iter()
        .find(|dir| dir.join(&library).is_file())
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "{library} not found in any of {candidates:?}. `cargo test` builds it because the \
                 crate's [lib] has crate-type \"cdylib\"; if that changed, run `cargo build --lib` \
                 first"
            )
        });
    // The .so, .a and .rlib come out of one rustc invocation; a .so much older than the rlib means
    // cargo no longer builds the cdylib for tests and the one found is stale.
    let modified = |name: &str| {
        std::fs::metadata(dir.join(name))
            .and_then(|m| m.modified())
            .ok()
    };
    if let (Some(so), Some(rlib)) = (modified(&library), modified("libdownstream_api.rlib")) {
        let lag = rlib.duration_since(so).unwrap_or(Duration::ZERO);
        assert!(
            lag < Duration::from_secs(120),
            "{} is {lag:?} older than libdownstream_api.rlib: it looks stale (is the cdylib still \
             built by `cargo test`?). Run `cargo build --lib` and retry",
            dir.join(&library).display()
        );
    }
    dir
}

/// The ELF library carries a soname (`libdownstream_api.so.0.1`, see build.rs), which is what a
/// program linked against it asks the loader for: cargo writes only `libdownstream_api.so`, so
/// the soname link an install would make is made beside it.
fn link_soname(lib_dir: &Path) {
    if !cfg!(target_os = "linux") {
        return;
    }
    let soname = format!(
        "libdownstream_api.so.{}",
        match env!("CARGO_PKG_VERSION_MAJOR") {
            "0" => format!("0.{}", env!("CARGO_PKG_VERSION_MINOR")),
            major => major.to_string(),
        }
    );
    let link = lib_dir.join(&soname);
    if std::fs::read_link(&link).is_err() {
        let _ = std::fs::remove_file(&link);
        #[cfg(unix)]
        std::os::unix::fs::symlink(library_file(), &link)
            .unwrap_or_else(|e| panic!("link {}: {e}", link.display()));
    }
}

/// The C program's sources: every `.c` file in tests/c (ffi_test.c with `main`, common.c with the
/// helpers, one file per area), in name order.
fn c_sources(root: &Path) -> Vec<PathBuf> {
    let dir = root.join("tests/c");
    let mut sources: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.expect("entry of tests/c").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "c"))
        .collect();
    sources.sort();
    assert!(
        sources.iter().any(|path| path.ends_with("ffi_test.c")),
        "no ffi_test.c in {sources:?}"
    );
    sources
}

/// Compiles the C program (tests/c/*.c) into `out`, with or without the sanitizers.
pub(crate) fn compile(out: &Path, sanitizers: bool) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    build(&compiler, "-std=c11", &c_sources(root), out, sanitizers);
}

/// Compiles the C++ program `source` (a path under the crate's root, over
/// include/downstream_api.hpp) into `out`, under the sanitizers. Used by the tests that include
/// this file by path (tests/users_and_agents).
#[allow(dead_code)]
pub(crate) fn compile_cpp(source: &str, out: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let compiler = std::env::var("CXX").unwrap_or_else(|_| "c++".to_string());
    build(&compiler, "-std=c++17", &[root.join(source)], out, true);
}

/// Compiles the C++ program made of every `.cpp` file in `dir` (a folder under the crate's root,
/// over include/downstream_api.hpp) into `out`, under the sanitizers (tests/cpp_layer).
#[allow(dead_code)]
pub(crate) fn compile_cpp_dir(dir: &str, out: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut sources: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
        .unwrap_or_else(|e| panic!("read {dir}: {e}"))
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "cpp"))
        .collect();
    sources.sort();
    let compiler = std::env::var("CXX").unwrap_or_else(|_| "c++".to_string());
    build(&compiler, "-std=c++17", &sources, out, true);
}

/// Compiles one C (`.c`) or C++ program `source` into `out`, under the sanitizers: the
/// documentation's examples (tests/cpp_layer).
#[allow(dead_code)]
pub(crate) fn compile_example(source: &Path, out: &Path) {
    let cpp = source.extension().is_some_and(|ext| ext != "c");
    let (variable, default, standard) = match cpp {
        true => ("CXX", "c++", "-std=c++17"),
        false => ("CC", "cc", "-std=c11"),
    };
    let compiler = std::env::var(variable).unwrap_or_else(|_| default.to_string());
    build(&compiler, standard, &[source.to_path_buf()], out, true);
}

/// Runs `compiler` on `sources` against the header and the shared library.
fn build(compiler: &str, standard: &str, sources: &[PathBuf], out: &Path, sanitizers: bool) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib_dir = library_dir();
    link_soname(&lib_dir);
    let mut cc = Command::new(compiler);
    cc.current_dir(root)
        .args([standard, "-Wall", "-Wextra", "-Werror", "-g"]);
    if sanitizers {
        cc.args(["-fsanitize=address,undefined", "-fno-omit-frame-pointer"]);
    } else {
        cc.arg("-O0");
    }
    cc.arg("-I")
        .arg(root.join("include"))
        .args(sources)
        .arg("-o")
        .arg(out)
        // The library by its path: `-l` would prefer no particular file among .so and .a.
        .arg(lib_dir.join(library_file()))
        .arg(format!("-Wl,-rpath,{}", lib_dir.display()))
        .arg("-lpthread");
    let output = cc
        .output()
        .unwrap_or_else(|e| panic!("cannot run the compiler ({cc:?}): {e}"));
    assert!(
        output.status.success(),
        "compiling {sources:?} failed ({:?}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs `command`, killing it after `limit`; returns its exit code (None when killed or signalled)
/// and its stdout followed by its stderr.
pub(crate) fn run_with_time_limit(mut command: Command, limit: Duration) -> (Option<i32>, String) {
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    // Drain both pipes on threads so a chatty child cannot block on a full pipe.
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out_thread = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stdout.read_to_end(&mut text);
        text
    });
    let err_thread = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stderr.read_to_end(&mut text);
        text
    });
    let started = Instant::now();
    let mut killed = false;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for ffi_test") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            killed = true;
            break child.wait().expect("wait for the killed ffi_test");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut output = String::from_utf8_lossy(&out_thread.join().unwrap_or_default()).into_owned();
    let stderr = err_thread.join().unwrap_or_default();
    if !stderr.is_empty() {
        output.push_str("\n--- stderr ---\n");
        output.push_str(&String::from_utf8_lossy(&stderr));
    }
    if killed {
        output.push_str(&format!("\n--- killed after {limit:?} ---\n"));
    }
    (status.code(), output)
}
