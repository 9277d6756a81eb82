#!/usr/bin/env bash
# Runs every check of the project: formatting, clippy, the generated files' freshness, the Rust,
# C (ASan/UBSan and valgrind), external-server and fault tests, the wrappers' tests, the README's
# demo, and a short fuzz run of every parser (FUZZ_SECONDS per target, default 30).
set -euo pipefail
cd "$(dirname "$0")/.."

bash tests/install-deps.sh

echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy"
# clippy also holds the std APIs used to the declared rust-version (incompatible_msrv).
cargo clippy --quiet --workspace --all-targets --all-features -- -D warnings
echo "== generated files are up to date"
# build.rs writes the header and the wrappers' status enums from src/ffi/.
generated=(include/downstream_api.h bindings/python/downstream_api/_status.py
  bindings/csharp/DownstreamApi/Status.g.cs)
cargo build --quiet
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git diff --exit-code -- "${generated[@]}" ||
    { echo "a generated file is stale: commit what cargo build regenerated"; exit 1; }
  untracked=$(git ls-files --others --exclude-standard -- "${generated[@]}")
  [ -z "$untracked" ] || { echo "generated but not committed: $untracked"; exit 1; }
fi
echo "== minimum Rust version"
msrv=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
if rustup toolchain list 2>/dev/null | grep -q "^$msrv"; then
  cargo "+$msrv" check --quiet --workspace --all-targets --all-features
else
  echo "no $msrv toolchain installed here: the declared minimum is not built (clippy checks std APIs against it)"
fi
echo "== cargo test"
# --all-features: the `cli` feature builds the dsapi command that tests/cli.rs runs.
cargo test --no-fail-fast --all-features
echo "== Python and C# wrappers"
bash bindings/run-tests.sh
echo "== Microsoft's sidecar client (the Agents SDK's, from PyPI) against dsapi serve"
bash tests/sidecar_client/run.sh
echo "== install like a system library (soname, pkg-config, CMake); C and C++ examples built and run"
bash tests/install-test.sh
echo "== portable release: glibc 2.17 build, wheel, sdist, .debs, crate; installed in a Debian 11 chroot"
bash tests/portable/run.sh
echo "== demo (README)"
cargo run --quiet --example demo
echo "== fuzz smoke (cargo fuzz, ${FUZZ_SECONDS:-30} s per target)"
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  bash fuzz/run.sh "${FUZZ_SECONDS:-30}"
else
  echo "skipped: no nightly toolchain here (cargo fuzz needs one); bash fuzz/run.sh runs it where there is"
fi
