# Sourced by the shell tests (set -euo pipefail, $repo set): a temporary directory $work removed at
# exit, and `start_loopback_servers`, which starts examples/loopback_servers (built already) in it,
# sets $config to the appsettings.json it wrote, and stops it at exit.
# Usage: . "$repo/tests/work-and-servers.sh" NAME
work=$(mktemp -d "/tmp/dsapi-${1:?a name for the work directory}.XXXXXX")
servers_pid=""
cleanup() {
  [ -n "$servers_pid" ] && kill "$servers_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

start_loopback_servers() {
  coproc SERVERS { exec "$repo/target/debug/examples/loopback_servers" "$work/servers"; }
  servers_pid=$SERVERS_PID
  read -r ready config <&"${SERVERS[0]}"
  [ "$ready" = READY ] || { echo "$(basename "$0"): loopback servers did not start" >&2; exit 1; }
}
