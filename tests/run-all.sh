#!/usr/bin/env bash
# Runs every check of the project: formatting, clippy, the generated header's freshness, the Rust,
# C (ASan/UBSan and valgrind) and external-server tests, and the README's demo.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tests/install-deps.sh

echo "== cargo fmt --check"
cargo fmt --check
echo "== cargo clippy"
cargo clippy --quiet --all-targets -- -D warnings
echo "== header is up to date"
cargo build --quiet
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git diff --exit-code -- include/downstream_api.h ||
    { echo "include/downstream_api.h is stale: commit the regenerated header"; exit 1; }
fi
echo "== cargo test"
cargo test --no-fail-fast
echo "== Python and C# wrappers"
bash bindings/run-tests.sh
echo "== demo (README)"
cargo run --quiet --example demo
