#!/usr/bin/env bash
# The package as a new user gets it: `pip install ./bindings/python` into a fresh virtual
# environment (setuptools-rust builds the library in release mode), then an import and a call to
# the loopback servers with no DSAPI_LIBRARY set (and DSAPI_LIBRARY still chosen when set); `pip
# wheel` gives a platform wheel that carries the library; and the checkout is left as it was.
# Exits non-zero on any failure.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
. "$repo/tests/work-and-servers.sh" pip

in_git() { git -C "$repo" rev-parse --is-inside-work-tree >/dev/null 2>&1; }
before=""
in_git && before=$(git -C "$repo" status --porcelain --untracked-files=all)

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q "$repo/bindings/python"
"$work/venv/bin/pip" wheel -q --no-deps -w "$work/wheels" "$repo/bindings/python"

wheel=$(ls "$work"/wheels/*.whl)
echo "wheel: $(basename "$wheel")"
case "$wheel" in *none-any*) echo "install-test: a py3-none-any wheel cannot carry a native library" >&2; exit 1 ;; esac
libraries=$(python3 -m zipfile -l "$wheel" | grep -c 'downstream_api/libdownstream_api.*\.so ' || true)
[ "$libraries" = 1 ] ||
  { python3 -m zipfile -l "$wheel"; echo "install-test: the wheel has $libraries libraries, not 1" >&2; exit 1; }

start_loopback_servers

# From another directory, so that the checkout's package cannot be imported instead.
(cd "$work" && env -u DSAPI_LIBRARY "$work/venv/bin/python" - "$config" <<'PY'
import sys
import downstream_api as dsa

assert "/venv/" in dsa.library_path, dsa.library_path
with dsa.Client.from_file(sys.argv[1]) as client:
    response = client.get("Mtls").raise_for_status()
    assert response.text == "hello wrapper-client", response.text
print(f"installed package: {dsa.library_path.rsplit('/', 3)[-3:]} answered {response.status_code}")
PY
)

# DSAPI_LIBRARY still wins over the packaged library.
debug_library="$repo/target/debug/libdownstream_api.so"
chosen=$(cd "$work" && DSAPI_LIBRARY="$debug_library" "$work/venv/bin/python" -c \
  'import downstream_api as dsa; print(dsa.library_path)')
[ "$chosen" = "$debug_library" ] || { echo "install-test: DSAPI_LIBRARY was ignored ($chosen)" >&2; exit 1; }

if in_git; then
  after=$(git -C "$repo" status --porcelain --untracked-files=all)
  [ "$before" = "$after" ] || {
    echo "install-test: the install changed the checkout:" >&2
    diff <(echo "$before") <(echo "$after") >&2 || true
    exit 1
  }
fi
echo "install-test: pip install, the wheel and a call from a fresh venv work; the checkout is unchanged"
