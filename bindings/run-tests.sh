#!/usr/bin/env bash
# Builds the native library (debug) and the loopback servers, then runs the Python (pytest, mypy
# --strict, and pip install into a fresh venv) and C# (mcs + mono) wrapper tests. Exits non-zero
# when anything fails; every suite always runs.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
cd "$repo"

cargo build --quiet || exit 1
cargo build --quiet --example loopback_servers || exit 1

case "$(uname -s)" in
    Darwin) library="$repo/target/debug/libdownstream_api.dylib" ;;
    MINGW*|MSYS*|CYGWIN*) library="$repo/target/debug/downstream_api.dll" ;;
    *) library="$repo/target/debug/libdownstream_api.so" ;;
esac
# Test exactly what was just built, never a stale release build or an installed copy.
export DSAPI_LIBRARY="$library"
export DSAPI_LOOPBACK_SERVERS="$repo/target/debug/examples/loopback_servers"
export DSAPI_PROFILE=debug

failures=0

echo "== Python (pytest)"
(cd "$here/python" && PYTHONDONTWRITEBYTECODE=1 python3 -m pytest -q -p no:cacheprovider tests) || failures=$((failures + 1))

echo "== Python (mypy --strict: the package and a typed example)"
(cd "$here/python" && python3 -m mypy --strict --cache-dir "$repo/target/mypy" downstream_api tests/typed_example.py) ||
    failures=$((failures + 1))

echo "== Python (pip install ./bindings/python into a fresh venv, no DSAPI_LIBRARY)"
bash "$here/python/install-test.sh" || failures=$((failures + 1))

echo "== C# (mcs + mono)"
bash "$here/csharp/run-tests.sh" || failures=$((failures + 1))

if [[ $failures -ne 0 ]]; then
    echo "bindings: $failures suite(s) failed" >&2
    exit 1
fi
echo "bindings: all suites passed"
