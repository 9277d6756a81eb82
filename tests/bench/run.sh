#!/usr/bin/env bash
# MTLS benchmark: the library through its C ABI and the dsapi command against curl, and against a bare
# rustls client (the floor of this stack), all calling one nginx that requires a client
# certificate, on 127.0.0.1 only. Not a test: it prints measurements and targets.
#
#   bash tests/bench/run.sh
#
# Needs nginx, curl, gcc, openssl and cargo. Environment: BENCH_CALLS (default 2000, at most
# 100000) calls per client; BENCH_THREADS (default 4) threads sharing one client; BENCH_PROCESSES
# (default 30) one-request processes each of dsapi and curl; BENCH_CONCURRENCY (default 16) tasks
# of the Python async and C# concurrent comparisons (Python runs when requests and httpx are installed,
# C# when Mono is); BENCH_ROUNDS (default 3) interleaved
# rounds of the keep-alive measurements, the best of each counting; BENCH_STRICT=1 makes a missed target
# exit with status 1; BENCH_CALLGRIND=0 skips the last step (instructions per call, which needs
# valgrind and is skipped with a message without it).
#
# Steps: build the library in release and tests/bench/mtls_bench.c against it; make a CA, a server
# certificate for 127.0.0.1 and a client certificate with openssl; start nginx (own prefix in a
# temp dir, ssl_verify_client on); run mtls_bench (CALLS keep-alive GETs through dsapi_client_call
# on one client, plus resident memory per client handle); run curl once with the URL CALLS times
# (it reuses its connection); run the bare rustls client (tests/bench/rustls_floor.rs) for CALLS
# calls on one connection; start dsapi and curl PROCESSES times each for one request (whole
# process: start-up, certificate load, handshake); count handshakes in nginx's access log; print a
# summary with the stripped library's size; stop nginx and remove the temp dir; then run
# tests/bench/callgrind.sh on the same build (instructions per call, with its own nginx).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

CALLS=${BENCH_CALLS:-2000}
THREADS=${BENCH_THREADS:-4}
PROCESSES=${BENCH_PROCESSES:-30}
ROUNDS=${BENCH_ROUNDS:-3}
[[ $ROUNDS =~ ^[0-9]+$ ]] && ((ROUNDS >= 1 && ROUNDS <= 20)) ||
  { echo "BENCH_ROUNDS must be a number from 1 to 20" >&2; exit 2; }
[[ $THREADS =~ ^[0-9]+$ ]] && ((THREADS >= 1 && THREADS <= 64)) ||
  { echo "BENCH_THREADS must be a number from 1 to 64" >&2; exit 2; }
[[ $PROCESSES =~ ^[0-9]+$ ]] && ((PROCESSES >= 1 && PROCESSES <= 1000)) ||
  { echo "BENCH_PROCESSES must be a number from 1 to 1000" >&2; exit 2; }
if ! [[ $CALLS =~ ^[0-9]+$ ]] || ((CALLS < 1 || CALLS > 100000)); then
  echo "BENCH_CALLS must be a number from 1 to 100000" >&2
  exit 2
fi

# tool, the temp dir WORK (nginx's prefix PREFIX in it) and its clean-up, the builds, the
# certificates and nginx: tests/bench/common.sh, shared with tests/bench/callgrind.sh.
BENCH_DIR=$ROOT/tests/bench
# shellcheck source=tests/bench/common.sh
source "$BENCH_DIR/common.sh"

bench_banner

# --- 1. library (release), dsapi, the floor client and the C benchmark program ---------------------
# The builds of scripts/install.sh: dsapi, then the shared library built alone (as installed).
bench_build --features cli --bin dsapi --example rustls_floor

# --- 2. certificates and nginx -------------------------------------------------------------------
bench_certificates
bench_start_nginx "$BENCH_DIR/nginx.conf.template"

# --- the library -----------------------------------------------------------------------------------
cat >"$WORK/appsettings.json" <<EOF
{
  "AzureAd": {"ClientCredentials": [{"SourceType": "Path", "CertificateDiskPath": "$WORK/client/client-bundle.pem"}]},
  "DownstreamApis": {"Bench": {"BaseUrl": "$BASE", "RelativePath": "bench/lib", "ProtocolScheme": "MTLS"},
                     "CsharpBench": {"BaseUrl": "$BASE", "RelativePath": "bench/cs-dsapi", "ProtocolScheme": "MTLS"},
                     "CsharpBenchConcurrent": {"BaseUrl": "$BASE", "RelativePath": "bench/cs-dsapi-concurrent", "ProtocolScheme": "MTLS"}},
  "Http": {"CaBundlePath": "$PREFIX/ca.pem"}
}
EOF
# --- 3. rounds of: the library, curl, the floor ------------------------------------------------------
# The machine is shared: each measurement is taken ROUNDS times, interleaved, and the best round
# of each counts (the one least disturbed by other processes).
for _ in $(seq 1 "$CALLS"); do
  printf 'url = "%s/bench/curl"\noutput = "/dev/null"\n' "$BASE"
done >"$WORK/curl.cfg"
# curl reads CURL_CA_BUNDLE; --cacert is the trust here (unset once, not per process timed).
unset CURL_CA_BUNDLE
best() { # best FILES KEY min|max -> the best value of KEY=... over the files
  grep -h "^$2=" $1 | cut -d= -f2 | sort -g | { if [ "$3" = min ]; then head -n1; else tail -n1; fi; }
}
for round in $(seq 1 "$ROUNDS"); do
  echo "== round $round of $ROUNDS: library ($CALLS calls, then $CALLS on $THREADS threads), curl ($CALLS requests), bare rustls ($CALLS calls)"
  "$MTLS_BENCH" "$WORK/appsettings.json" Bench "$CALLS" "$THREADS" >"$WORK/lib.$round.out"
  start=$(date +%s.%N)
  "$CURL" -q -sS --fail --http1.1 "${CURL_TLS[@]}" -K "$WORK/curl.cfg"
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" -v n="$CALLS" 'BEGIN { printf "us_per_call=%.1f\n", (b - a) * 1e6 / n }' \
    >"$WORK/curl.$round.out"
  "$TARGET_DIR/release/examples/rustls_floor" "$PREFIX/ca.pem" "$WORK/client/client-bundle.pem" "$PORT" \
    /bench/floor "$CALLS" >"$WORK/floor.$round.out"
done
echo "== load average: $(cut -d' ' -f1-3 /proc/loadavg)"
# The round with the fastest library calls gives the library's figures.
LIB_BEST=$(for f in "$WORK"/lib.*.out; do echo "$(grep -m1 '^us_per_call=' "$f" | cut -d= -f2) $f"; done |
  sort -g | head -n1 | cut -d' ' -f2)
value() { grep -m1 "^$1=" "$LIB_BEST" | cut -d= -f2; }
LIB_US=$(value us_per_call)
LIB_RPS=$(value requests_per_s)
THREADS_RPS=$(best "$WORK/lib.*.out" threads_requests_per_s max)
RSS_FIRST=$(value rss_delta_first_client_kib)
ANON_FIRST=$(value anon_delta_first_client_kib)
RSS_SECOND=$(value rss_delta_second_client_kib)
ANON_SECOND=$(value anon_delta_second_client_kib)
CURL_US=$(best "$WORK/curl.*.out" us_per_call min)
CURL_RPS=$(awk -v u="$CURL_US" 'BEGIN { printf "%.1f", 1e6 / u }')
FLOOR_US=$(best "$WORK/floor.*.out" us_per_call min)
FLOOR_CPU_US=$(best "$WORK/floor.*.out" cpu_us_per_call min)
LIB_CPU_US=$(best "$WORK/lib.*.out" cpu_us_per_call min)
FLOOR_RPS=$(awk -v u="$FLOOR_US" 'BEGIN { printf "%.1f", 1e6 / u }')
# The single-thread figure of the round that measured the best threaded one, for their ratio.
THREADS_BEST=$(grep -l "^threads_requests_per_s=$THREADS_RPS\$" "$WORK"/lib.*.out | head -n1)
THREADS_BASE_RPS=$(grep -m1 '^requests_per_s=' "$THREADS_BEST" | cut -d= -f2)

# --- one request per process: dsapi call against curl --cert ------------------------------------
echo "== one request per process: dsapi call and curl, $PROCESSES times each, alternating"
DSAPI=$TARGET_DIR/release/dsapi
elapsed_of() { # elapsed_of COMMAND... -> seconds, the command's output discarded
  local a b
  a=$(date +%s.%N)
  "$@" >/dev/null
  b=$(date +%s.%N)
  awk -v a="$a" -v b="$b" 'BEGIN { printf "%.6f", b - a }'
}
DSAPI_TOTAL=0
CURL1_TOTAL=0
for _ in $(seq 1 "$PROCESSES"); do
  t=$(elapsed_of "$DSAPI" call -c "$WORK/appsettings.json" Bench --path bench/dsapi-one --fail)
  DSAPI_TOTAL=$(awk -v a="$DSAPI_TOTAL" -v b="$t" 'BEGIN { print a + b }')
  t=$(elapsed_of "$CURL" -q -sS --fail --http1.1 "${CURL_TLS[@]}" "$BASE/bench/curl-one")
  CURL1_TOTAL=$(awk -v a="$CURL1_TOTAL" -v b="$t" 'BEGIN { print a + b }')
done
DSAPI_MS=$(awk -v s="$DSAPI_TOTAL" -v n="$PROCESSES" 'BEGIN { printf "%.2f", s * 1000 / n }')
CURL1_MS=$(awk -v s="$CURL1_TOTAL" -v n="$PROCESSES" 'BEGIN { printf "%.2f", s * 1000 / n }')

# --- Python: Client vs requests.Session, AsyncClient vs httpx.AsyncClient -------------------------
CONCURRENCY=${BENCH_CONCURRENCY:-16}
PY_DONE=0
if python3 -c 'import requests, httpx' 2>/dev/null; then
  echo "== Python: $CALLS sequential GETs (Client, requests.Session), $CALLS GETs by $CONCURRENCY tasks (AsyncClient, httpx.AsyncClient)"
  DSAPI_LIBRARY="$LIBDIR/libdownstream_api.so" python3 "$ROOT/tests/bench/python_bench.py" \
    "$WORK/appsettings.json" "$BASE" "$WORK/client/client.pem" "$WORK/client/client.key" \
    "$PREFIX/ca.pem" "$CALLS" "$CONCURRENCY" >"$WORK/py.out"
  py() { grep -m1 "^$1=" "$WORK/py.out" | cut -d= -f2; }
  PY_DONE=1
else
  echo "== Python: skipped (needs: python3 -m pip install requests httpx)"
fi

# --- C#: CallApiForAppAsync vs Mono's HttpClient with the same client certificate ----------------
CS_DONE=0
if command -v mcs >/dev/null && command -v mono >/dev/null; then
  echo "== C#: $ROUNDS rounds of $CALLS sequential GETs and $CALLS by $CONCURRENCY tasks (CallApiForAppAsync, CallApiForApp; Mono's HttpClient, HttpWebRequest)"
  mkdir -p "$WORK/cs"
  # Mono reads PKCS#12 with the classic SHA-1/3DES protection, not OpenSSL 3's default AES one.
  "$OPENSSL" pkcs12 -export -in "$WORK/client/client.pem" -inkey "$WORK/client/client.key" \
    -out "$WORK/client/client.pfx" -passout pass:bench \
    -keypbe PBE-SHA1-3DES -certpbe PBE-SHA1-3DES -macalg sha1
  refs=(-r:System.Net.Http.dll -r:System.Runtime.Serialization.dll)
  mcs -langversion:7.2 -optimize+ -target:library -nologo "${refs[@]}" -out:"$WORK/cs/DownstreamApi.dll" \
    "$ROOT"/bindings/csharp/DownstreamApi/*.cs
  cp "$ROOT/bindings/csharp/DownstreamApi/DownstreamApi.dll.config" "$WORK/cs/"
  mcs -langversion:7.2 -optimize+ -target:exe -nologo "${refs[@]}" -r:System.Core.dll -r:"$WORK/cs/DownstreamApi.dll" \
    -out:"$WORK/cs/csharp_bench.exe" "$ROOT/tests/bench/csharp_bench.cs"
  LD_LIBRARY_PATH="$LIBDIR" mono "$WORK/cs/csharp_bench.exe" "$WORK/appsettings.json" "$BASE" \
    "$WORK/client/client.pfx" bench "$PREFIX/server.pem" "$CALLS" "$CONCURRENCY" "$ROUNDS" >"$WORK/cs.out"
  cs() { grep -m1 "^$1=" "$WORK/cs.out" | cut -d= -f2-; }
  CS_DONE=1
else
  echo "== C#: skipped (needs mono-mcs and mono-runtime)"
fi

# --- 4. handshakes, from nginx's access log --------------------------------------------------------
stop_nginx # flushes the log
LOG=$PREFIX/access.log
# Fields: $connection $connection_requests $ssl_session_reused $status $request_uri.
# A connection's first request carries its handshake: "." a full one, "r" a resumed session.
handshakes() { # handshakes URI... -> "requests ok connections full resumed"
  awk -v uris=" $* " '
    index(uris, " " $5 " ") {
      requests++; if ($4 == 200) ok++
      if (!($1 in seen)) { seen[$1] = 1; connections++ }
      if ($2 == 1) { if ($3 == "r") resumed++; else full++ }
    }
    END { printf "%d %d %d %d %d\n", requests, ok, connections, full, resumed }' "$LOG"
}
read -r LIB_REQ LIB_OK LIB_CONN LIB_FULL LIB_RESUMED < <(handshakes /bench/lib)
read -r RSS2_REQ _ RSS2_CONN RSS2_FULL _ < <(handshakes /bench/rss2)
read -r CURL_REQ CURL_OK CURL_CONN CURL_FULL CURL_RESUMED < <(handshakes /bench/curl)
read -r THREADS_REQ THREADS_OK THREADS_CONN _ _ < <(handshakes /bench/threads)
read -r FLOOR_REQ FLOOR_200 _ _ _ < <(handshakes /bench/floor)
read -r ONE_REQ ONE_200 _ _ _ < <(handshakes /bench/dsapi-one /bench/curl-one)
py_connections() { handshakes "$1" | cut -d' ' -f3; }

# --- 5. summary ---------------------------------------------------------------------------------
RATIO=$(awk -v a="$LIB_RPS" -v b="$CURL_RPS" 'BEGIN { printf "%.2f", a / b }')
verdict() { if awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 >= b + 0) }'; then echo met; else echo MISSED; fi; }
RATIO_OK=$(verdict "$RATIO" 2)
# In CPU time: what the library adds is work, and CPU time is not inflated by wake-up latency.
ABOVE_FLOOR=$(awk -v a="$LIB_CPU_US" -v b="$FLOOR_CPU_US" 'BEGIN { printf "%.1f", a - b }')
FLOOR_OK=$(verdict 15 "$ABOVE_FLOOR")
THREADS_RATIO=$(awk -v a="$THREADS_RPS" -v b="$THREADS_BASE_RPS" 'BEGIN { printf "%.2f", a / b }')
ONE_RATIO=$(awk -v a="$DSAPI_MS" -v b="$CURL1_MS" 'BEGIN { printf "%.2f", a / b }')
ONE_OK=$(verdict 1.0 "$ONE_RATIO")
SIZE_MB=$(awk -v b="$LIB_BYTES" 'BEGIN { printf "%.2f", b / 1e6 }')
SIZE_OK=$(verdict 3000000 "$LIB_BYTES")
PY_SUMMARY="Python: skipped"
PY_OK=met
if [ "$PY_DONE" = 1 ]; then
  SYNC_RATIO=$(awk -v a="$(py client_rps)" -v b="$(py requests_rps)" 'BEGIN { printf "%.2f", a / b }')
  ASYNC_RATIO=$(awk -v a="$(py async_rps)" -v b="$(py httpx_rps)" 'BEGIN { printf "%.2f", a / b }')
  SYNC_OK=$(verdict "$SYNC_RATIO" 3)
  ASYNC_OK=$(verdict "$ASYNC_RATIO" 2)
  [[ "$SYNC_OK $ASYNC_OK" == *MISSED* ]] && PY_OK=MISSED
  PY_SUMMARY="Python Client / requests.Session: $(py client_rps) / $(py requests_rps) req/s = ${SYNC_RATIO}x   (target >= 3x: $SYNC_OK)  [requests $(py requests_version); connections: $(py_connections /bench/py-dsapi) / $(py_connections /bench/py-requests)]
Python AsyncClient / httpx.AsyncClient ($CONCURRENCY tasks): $(py async_rps) / $(py httpx_rps) req/s = ${ASYNC_RATIO}x   (target >= 2x: $ASYNC_OK)  [httpx $(py httpx_version); connections: $(py_connections /bench/py-async) / $(py_connections /bench/py-httpx)]"
fi
CS_SUMMARY="C#: skipped"
CS_OK=met
if [ "$CS_DONE" = 1 ]; then
  # The issue's reference is HttpClient; when Mono's handler cannot present the certificate, the
  # ratio is taken against HttpWebRequest, Mono's stack that can.
  if [ -n "$(cs httpclient_rps)" ]; then CS_REF=httpclient; CS_REF_NAME="Mono HttpClient"; else CS_REF=webrequest; CS_REF_NAME="Mono HttpWebRequest"; fi
  CS_RATIO=$(awk -v a="$(cs dsapi_rps)" -v b="$(cs ${CS_REF}_rps)" 'BEGIN { printf "%.2f", a / b }')
  CS_CONC_RATIO=$(awk -v a="$(cs dsapi_concurrent_rps)" -v b="$(cs webrequest_concurrent_rps)" 'BEGIN { printf "%.2f", a / b }')
  CS_OK=$(verdict "$CS_RATIO" 2)
  CS_SUMMARY="C# CallApiForAppAsync / $CS_REF_NAME: $(cs dsapi_rps) / $(cs ${CS_REF}_rps) req/s = ${CS_RATIO}x   (target >= 2x: $CS_OK)  [$(cs mono_version); connections: $(py_connections /bench/cs-dsapi) / $(py_connections /bench/cs-$CS_REF)]
C# with an override delegate:     $(cs dsapi_delegate_rps) req/s async, $(cs dsapi_sync_rps) req/s synchronous (CallApiForApp)
C# $CONCURRENCY tasks, CallApiForAppAsync / HttpWebRequest: $(cs dsapi_concurrent_rps) / $(cs webrequest_concurrent_rps) req/s = ${CS_CONC_RATIO}x  [connections: $(py_connections /bench/cs-dsapi-concurrent) / $(py_connections /bench/cs-webrequest-concurrent)]
C# HttpClient with HttpClientHandler.ClientCertificates: $(cs httpclient_probe)"
fi
# A handle's own cost is what a further handle adds; the first one also pages in the library's
# code (file-backed, shared between processes) and process-wide one-time state.
RSS_OK=$(verdict 1024 "$RSS_SECOND")
HS_OK=MISSED
# One process (one client) per round: one connection and one handshake each.
[ "$LIB_CONN" = "$ROUNDS" ] && [ "$((LIB_FULL + LIB_RESUMED))" = "$ROUNDS" ] && HS_OK=met

cat <<EOF

== summary ($CALLS sequential keep-alive MTLS GETs each, best of $ROUNDS interleaved rounds, 127.0.0.1, nginx ssl_verify_client on)
   (request counts below are over all rounds)
library (C ABI, $(value library_version)): $LIB_RPS req/s, $LIB_US us/call  [$LIB_REQ requests logged incl. 1 warm-up, $LIB_OK answered 200]
curl (one process, wall clock):   $CURL_RPS req/s, $CURL_US us/call  [$CURL_REQ requests logged, $CURL_OK answered 200; $CURL_CONN connection(s), $CURL_FULL full handshake(s)]
ratio library/curl:               ${RATIO}x   (target >= 2x: $RATIO_OK)
bare rustls floor (one stream):   $FLOOR_RPS req/s, $FLOOR_US us/call  [$FLOOR_REQ requests logged, $FLOOR_200 answered 200]
CPU time per call:                library $LIB_CPU_US us, bare rustls $FLOOR_CPU_US us
library cost above the floor:     $ABOVE_FLOOR us/call of CPU time   (target <= 15 us: $FLOOR_OK)
$THREADS threads sharing one client:    $THREADS_RPS req/s = ${THREADS_RATIO}x one thread  [$THREADS_REQ requests, $THREADS_OK answered 200, $THREADS_CONN connection(s); nginx has 1 worker, the machine $(nproc) CPUs]
one request per process:          dsapi call $DSAPI_MS ms, curl --cert $CURL1_MS ms = ${ONE_RATIO}x curl   (target <= 1.0x: $ONE_OK)  [$PROCESSES each, $ONE_REQ requests logged, $ONE_200 answered 200]
stripped library size:            $LIB_BYTES bytes ($SIZE_MB MB)   (target <= 3 MB: $SIZE_OK)
$PY_SUMMARY
$CS_SUMMARY
library handshakes:               $LIB_CONN connection(s), $LIB_FULL full + $LIB_RESUMED resumed handshake(s) for $LIB_REQ requests in $ROUNDS processes   (target 1 per certificate and host: $HS_OK)
resident memory, one more client: $RSS_SECOND KiB, of which not file-backed: $ANON_SECOND KiB   (target <= 1024 KiB: $RSS_OK)   [its call: $RSS2_REQ request(s), $RSS2_CONN connection(s), $RSS2_FULL full handshake(s)]
resident memory, first client:    $RSS_FIRST KiB after creating it and one call, of which not file-backed: $ANON_FIRST KiB
                                  (includes the library's code paged in and one-time process state)
EOF

if [ "$LIB_OK" != "$LIB_REQ" ] || [ "$CURL_OK" != "$((ROUNDS * CALLS))" ] ||
  [ "$LIB_REQ" != "$((ROUNDS * (CALLS + 1)))" ] || [ "$THREADS_OK" != "$((ROUNDS * CALLS))" ] ||
  [ "$FLOOR_200" != "$((ROUNDS * (CALLS + 1)))" ] || [ "$ONE_200" != "$((2 * PROCESSES))" ]; then
  echo "some requests were missing or did not answer 200" >&2
  exit 1
fi
# --- 6. instructions per call (callgrind): repeatable where the times above are not -------------
if [ "${BENCH_CALLGRIND:-1}" = 0 ]; then
  echo "== instructions per call: skipped (BENCH_CALLGRIND=0)"
elif command -v valgrind >/dev/null; then
  echo
  echo "== instructions per call: tests/bench/callgrind.sh (its own nginx and certificates, the library built above)"
  BENCH_TREE=$ROOT BENCH_PREBUILT=1 bash "$BENCH_DIR/callgrind.sh"
else
  echo "== instructions per call: skipped (needs valgrind; tests/install-deps.sh installs it)"
fi
if [ "${BENCH_STRICT:-0}" = 1 ] && [[ "$RATIO_OK $HS_OK $RSS_OK $FLOOR_OK $ONE_OK $SIZE_OK $PY_OK $CS_OK" == *MISSED* ]]; then
  exit 1
fi
