#!/usr/bin/env bash
# Instructions per call, counted by valgrind's callgrind: on a shared machine where wall and CPU
# time move by 2x between runs, an instruction count repeats to about 0.02% (the floor's to 0.1%,
# curl's to 1%: see below). Not a test: it prints figures, against nginx on 127.0.0.1 only.
#
#   bash tests/bench/callgrind.sh                              # this tree
#   BENCH_TREE=/work/baseline bash tests/bench/callgrind.sh    # another checkout's library
#
# Every figure is (I(2N) - I(N)) / N, where I(K) is callgrind's total for a whole process (all its
# threads) that makes one warm-up call and then K calls: the difference cancels start-up, loading
# the certificate, the handshake and the token request, and leaves what one more call costs the
# client process.
#   - library MTLS GET: `mtls_bench --count call`, dsapi_client_call on a kept-alive connection
#     with a client certificate (ProtocolScheme MTLS), a 30-byte JSON body, each call 2 ms after
#     the previous one (mtls_bench.c says why: the pool's liveness probe is then always made);
#   - library Bearer GET: the same for a Bearer API whose token is cached (ClientSecret credential,
#     token from nginx's fixed Entra-style answer at {Instance}{TenantId}/oauth2/v2.0/token);
#   - token-cache hit: `mtls_bench --count header`, dsapi_client_authorization_header and
#     dsapi_string_free for that Bearer API (the warm-up fetches the token), with 10 N calls;
#   - curl: one curl process given the URL K times (-K file, --http1.1, --cert/--key/--cacert),
#     which reuses its connection; its per-URL work (config lines, transfer set-up) counts, and
#     its event loop turns more or fewer times as the answer is or is not there yet, so its figure
#     moves by about 1% between runs;
#   - floor: the bare rustls client on one TcpStream (tests/bench/rustls_floor.rs), the same GET.
# nginx's access log is checked: every request answered 200, one connection per process.
#
# What would move a count between runs or trees is held fixed: the processes run with a fixed
# environment (env -i: its size moves the stack, and with it the count by up to 1%) from copies of
# the C program, the floor and the library in one temp folder (the same path lengths whatever the
# tree); each library call follows a pause (above). Left: the handshake's and the token request's
# few thousand instructions that differ between processes, a few instructions per call after the
# difference (the cache hit's N is 10 times larger for that reason).
#
# The library and the floor are the release builds of BENCH_TREE (default: the tree this script is
# in), in its target/ (or CARGO_TARGET_DIR: give each tree its own); the C driver
# (tests/bench/mtls_bench.c), the nginx template and tests/bench/common.sh come from this script's
# folder, so an older tree can be measured with today's script. Environment: BENCH_TREE;
# BENCH_CALLGRIND_CALLS, N (default 200, 10 to 5000); BENCH_PREBUILT=1 skips cargo (run.sh has
# just built the same). Needs valgrind, nginx, curl, gcc, openssl and cargo. About 15 s under
# valgrind, plus the build (about 50 s even when nothing changed: see common.sh).
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "${BENCH_TREE:-$BENCH_DIR/../..}" && pwd)
N=${BENCH_CALLGRIND_CALLS:-200}
if ! [[ $N =~ ^[0-9]+$ ]] || ((N < 10 || N > 5000)); then
  echo "BENCH_CALLGRIND_CALLS must be a number from 10 to 5000" >&2
  exit 2
fi
[ -f "$ROOT/Cargo.toml" ] && [ -f "$ROOT/include/downstream_api.h" ] ||
  { echo "BENCH_TREE=$ROOT is not a downstream-api checkout" >&2; exit 2; }

# shellcheck source=tests/bench/common.sh
source "$BENCH_DIR/common.sh"
VALGRIND=$(bench_tool valgrind)

bench_banner
echo "== tree: $ROOT (commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(
  [ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ] && echo ', with uncommitted changes'))"
bench_build --example rustls_floor
bench_certificates
bench_start_nginx "$BENCH_DIR/nginx-callgrind.conf.template"

cat >"$WORK/mtls.json" <<EOF
{
  "AzureAd": {"ClientCredentials": [{"SourceType": "Path", "CertificateDiskPath": "$WORK/client/client-bundle.pem"}]},
  "DownstreamApis": {"Bench": {"BaseUrl": "$BASE", "RelativePath": "bench/cg-lib", "ProtocolScheme": "MTLS"}},
  "Http": {"CaBundlePath": "$PREFIX/ca.pem"}
}
EOF
cat >"$WORK/bearer.json" <<EOF
{
  "AzureAd": {"Instance": "$BASE/", "TenantId": "bench-tenant", "ClientId": "bench-client",
              "ClientCredentials": [{"SourceType": "ClientSecret", "ClientSecret": "bench-secret"}]},
  "DownstreamApis": {"Bearer": {"BaseUrl": "$BASE", "RelativePath": "bearer/cg-bea",
                                "Scopes": ["api://bench/.default"]}},
  "Http": {"CaBundlePath": "$PREFIX/ca.pem"}
}
EOF
# curl reads CURL_CA_BUNDLE; --cacert is the trust here.
unset CURL_CA_BUNDLE
curl_config() { # curl_config K -> a -K file with the URL K times
  for _ in $(seq 1 "$1"); do
    printf 'url = "%s/bench/cg-crl"\noutput = "/dev/null"\n' "$BASE"
  done >"$WORK/curl.$1.cfg"
  echo "$WORK/curl.$1.cfg"
}

# The measured programs and library, copied to one folder in WORK: their paths, and with them the
# process's start-up allocations, are the same length whatever the tree (the C program's RUNPATH
# names the tree's target/; LD_LIBRARY_PATH, below, comes first).
BIN=$WORK/bin
mkdir -p "$BIN" "$WORK/cg"
cp -L "$LIBDIR"/libdownstream_api.so* "$BIN/"
cp "$MTLS_BENCH" "$BIN/mtls_bench"
cp "$TARGET_DIR/release/examples/rustls_floor" "$BIN/rustls_floor"
instructions() { # instructions NAME COMMAND... -> callgrind's total for the process (all threads)
  local name=$1 total
  shift
  # A fixed environment: its size moves the process's stack, and with it the path some copies and
  # comparisons take, by up to 1% of a cache hit's count (BENCH_TREE=... alone would).
  if ! env -i PATH=/usr/local/bin:/usr/bin:/bin LC_ALL=C LD_LIBRARY_PATH="$BIN" \
    "$VALGRIND" --tool=callgrind --callgrind-out-file="$WORK/cg/$name.out" \
    --log-file="$WORK/cg/$name.log" "$@" >"$WORK/cg/$name.stdout" 2>"$WORK/cg/$name.stderr"; then
    echo "$name failed under valgrind:" >&2
    cat "$WORK/cg/$name.stderr" "$WORK/cg/$name.log" >&2
    exit 1
  fi
  total=$(sed -n 's/^==[0-9]*== Collected : \([0-9][0-9]*\)$/\1/p' "$WORK/cg/$name.log")
  [ -n "$total" ] || { echo "no 'Collected' total in $WORK/cg/$name.log" >&2; exit 1; }
  echo "$total"
}
# measure KEY N COMMAND-WITH-@K@... -> PER_CALL[KEY] = (I(2N) - I(N)) / N, @K@ being the count
declare -A PER_CALL
measure() {
  local key=$1 n=$2 k arg args
  local -A total
  shift 2
  for k in "$n" "$((2 * n))"; do
    args=()
    for arg in "$@"; do args+=("${arg//@K@/$k}"); done
    total[$k]=$(instructions "$key.$k" "${args[@]}")
  done
  PER_CALL[$key]=$(awk -v a="${total[$n]}" -v b="${total[$((2 * n))]}" -v n="$n" \
    'BEGIN { printf "%.0f", (b - a) / n }')
  printf '   %-7s I(%d) = %d, I(%d) = %d: %d instructions per call\n' "$key" "$n" "${total[$n]}" \
    "$((2 * n))" "${total[$((2 * n))]}" "${PER_CALL[$key]}"
}

curl_config "$N" >/dev/null
curl_config "$((2 * N))" >/dev/null
# Cache hits are cheap and a process's fixed part (handshake, token request) varies by a few
# thousand instructions between processes: 10 N of them keep that to about 1 per call.
NH=$((10 * N))
echo "== callgrind ($("$VALGRIND" --version)): for each, a process with K = N and one with K = 2N calls after one warm-up"
started=$SECONDS
measure mtls "$N" "$BIN/mtls_bench" --count call "$WORK/mtls.json" Bench @K@
measure bearer "$N" "$BIN/mtls_bench" --count call "$WORK/bearer.json" Bearer @K@
measure header "$NH" "$BIN/mtls_bench" --count header "$WORK/bearer.json" Bearer @K@
# curl makes no warm-up call: K requests on one connection; the difference is the same.
measure curl "$N" "$CURL" -q -sS --fail --http1.1 "${CURL_TLS[@]}" -K "$WORK/curl.@K@.cfg"
measure floor "$N" "$BIN/rustls_floor" "$PREFIX/ca.pem" "$WORK/client/client-bundle.pem" "$PORT" \
  /bench/cg-flr @K@
grep -q "$BIN/libdownstream_api" "$WORK/cg/mtls.$N.out" ||
  { echo "the C program did not load $BIN/libdownstream_api.so*" >&2; exit 1; }
echo "== $((SECONDS - started)) s under valgrind; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
# BENCH_CALLGRIND_KEEP=DIR: the callgrind files kept there, for callgrind_annotate (with a library
# built with symbols: CARGO_PROFILE_RELEASE_STRIP=none CARGO_PROFILE_RELEASE_DEBUG=line-tables-only).
if [ -n "${BENCH_CALLGRIND_KEEP:-}" ]; then
  mkdir -p "$BENCH_CALLGRIND_KEEP" && cp "$WORK"/cg/*.out "$BENCH_CALLGRIND_KEEP"/
fi

# --- every request answered 200, on one connection per process -----------------------------------
stop_nginx # flushes the log
LOG=$PREFIX/access.log
requests() { # requests URI -> "requests ok connections"
  awk -v uri="$1" '$6 == uri { r++; if ($4 == 200) ok++; if (!($1 in c)) { c[$1] = 1; n++ } }
    END { printf "%d %d %d\n", r, ok, n }' "$LOG"
}
check() { # check URI EXPECTED_REQUESTS EXPECTED_CONNECTIONS
  local r ok c
  read -r r ok c < <(requests "$1")
  if [ "$r" != "$2" ] || [ "$ok" != "$2" ] || [ "$c" != "$3" ]; then
    echo "$1: $r requests ($ok answered 200) on $c connections; expected $2 on $3" >&2
    exit 1
  fi
}
per_process=$((3 * N + 2)) # a warm-up and N calls, a warm-up and 2N calls
check /bench/cg-lib "$per_process" 2
check /bearer/cg-bea "$per_process" 2
check /bench/cg-crl "$((3 * N))" 2
check /bench/cg-flr "$per_process" 2
# One token request per Bearer process: 2 for the calls, 2 for the headers.
check /bench-tenant/oauth2/v2.0/token 4 4

# --- summary ---------------------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
diff_of() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%d", a - b }'; }
cat <<EOF

== instructions per call, client process (callgrind, (I(2N) - I(N)) / N with N = $N, $NH for the cache hit; 127.0.0.1, nginx)
   tree $ROOT, library $LIBDIR/libdownstream_api.so ($LIB_BYTES bytes)
| measurement | instructions per call | / curl | − floor |
|---|---|---|---|
| library MTLS GET (dsapi_client_call, kept alive) | ${PER_CALL[mtls]} | $(ratio "${PER_CALL[mtls]}" "${PER_CALL[curl]}")× | $(diff_of "${PER_CALL[mtls]}" "${PER_CALL[floor]}") |
| library Bearer GET (cached token, kept alive) | ${PER_CALL[bearer]} | $(ratio "${PER_CALL[bearer]}" "${PER_CALL[curl]}")× | $(diff_of "${PER_CALL[bearer]}" "${PER_CALL[floor]}") |
| token-cache hit (dsapi_client_authorization_header + dsapi_string_free) | ${PER_CALL[header]} | | |
| curl $("$CURL" --version | head -n1 | cut -d' ' -f2) MTLS GET (-K, one connection) | ${PER_CALL[curl]} | 1.00× | |
| floor: bare rustls MTLS GET (rustls_floor) | ${PER_CALL[floor]} | $(ratio "${PER_CALL[floor]}" "${PER_CALL[curl]}")× | 0 |
EOF
