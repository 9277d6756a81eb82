//! Generates `include/downstream_api.h` from `src/ffi/` with cbindgen. Parsing only the named files
//! (no macro expansion, no `cargo metadata`) keeps it fast and offline. The header is committed;
//! CI regenerates it and fails when the committed copy is stale.

use std::path::PathBuf;

const FFI_SOURCES: &[&str] = &[
    "src/ffi/status.rs",
    "src/ffi/log.rs",
    "src/ffi/client.rs",
    "src/ffi/response.rs",
    "src/ffi/token.rs",
];

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    for source in FFI_SOURCES {
        println!("cargo:rerun-if-changed={source}");
    }
    println!("cargo:rerun-if-changed=cbindgen.toml");

    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut builder = cbindgen::Builder::new().with_config(config);
    for source in FFI_SOURCES {
        builder = builder.with_src(root.join(source));
    }
    let bindings = builder
        .generate()
        .expect("cbindgen could not parse src/ffi");
    // write_to_file only touches the file when its content changes.
    bindings.write_to_file(root.join("include/downstream_api.h"));
}
