#!/usr/bin/env bash
# Runs a client written by Microsoft for its identity sidecar (the Agents SDK's, from PyPI, in a
# venv kept under target/) against `dsapi serve` and the loopback servers, unchanged but for
# SIDECAR_URL. Overrides are allowed on the unauthenticated header route, the only one it calls,
# as Microsoft's own samples set them (Sidecar__AllowOverrides__GetAuthorizationHeaderUnauthenticated).
set -euo pipefail
cd "$(dirname "$0")/../.."

package="microsoft-agents-authentication-entra-auth-sidecar==1.9.0"
venv=target/sidecar-client-venv
if ! "$venv/bin/python" -c 'import microsoft_agents.authentication.entra_auth_sidecar' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "$package"
fi
cargo build --quiet --features cli --bin dsapi
cargo build --quiet --example loopback_servers

work=$(mktemp -d)
servers_pid=""; serve_pid=""
cleanup() {
  [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null
  [ -n "$servers_pid" ] && kill "$servers_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
mkfifo "$work/hold"
target/debug/examples/loopback_servers "$work/servers" <"$work/hold" >"$work/servers.out" 2>&1 &
servers_pid=$!
exec 3>"$work/hold"   # the servers run until their standard input closes
for _ in $(seq 100); do grep -q '^READY' "$work/servers.out" 2>/dev/null && break; sleep 0.1; done
config=$(sed -n 's/^READY //p' "$work/servers.out")
[ -n "$config" ] || { cat "$work/servers.out"; echo "sidecar-client: the loopback servers did not start" >&2; exit 1; }

Sidecar__AllowOverrides__GetAuthorizationHeaderUnauthenticated=true \
  target/debug/dsapi serve -c "$config" --urls http://127.0.0.1:0 2>"$work/serve.err" &
serve_pid=$!
for _ in $(seq 100); do grep -q 'listening on' "$work/serve.err" 2>/dev/null && break; sleep 0.05; done
url=$(sed -n 's/^dsapi serve: listening on //p' "$work/serve.err")
[ -n "$url" ] || { cat "$work/serve.err"; echo "sidecar-client: dsapi serve did not start" >&2; exit 1; }

SIDECAR_URL="$url" SERVERS_DIR="$work/servers" "$venv/bin/python" tests/sidecar_client/client_test.py ||
  { cat "$work/serve.err"; exit 1; }
echo "sidecar-client: Microsoft's Agents SDK client ($package) passed against dsapi serve"
