# Set-up shared by the benchmarks (tests/bench/run.sh, tests/bench/callgrind.sh): sourced, not run.
#
# Before sourcing, set ROOT (the tree whose library is built and measured) and BENCH_DIR (this
# folder: the C benchmark program and the nginx templates come from here, so that they can measure
# another tree, e.g. a baseline checkout). Sourcing makes a temp dir, WORK, with nginx's prefix
# PREFIX in it, and installs an EXIT trap that stops nginx and removes WORK.
#
#   bench_tool NAME                    the path of a required command (exit 2 when missing)
#   bench_banner                       machine, date, load average
#   bench_build [CARGO BUILD ARGS...]  cargo build --release ARGS, then the shared library built
#                                      alone (as scripts/install.sh installs it), and mtls_bench.c
#                                      linked against it: sets TARGET_DIR, LIBDIR, LIB_BYTES and
#                                      MTLS_BENCH (the C program); BENCH_PREBUILT=1 skips cargo
#   bench_certificates                 a CA, a server certificate for IP:127.0.0.1 and a client
#                                      certificate (ECDSA P-256, X.509 v3): $PREFIX/ca.pem,
#                                      $WORK/client/client.pem, client.key, client-bundle.pem
#   bench_start_nginx TEMPLATE         nginx on a free port of 127.0.0.1 from TEMPLATE (@PREFIX@,
#                                      @PORT@, @USER_LINE@ replaced): sets NGINX_PID, PORT, BASE
#                                      and CURL_TLS, and checks $BASE/bench/smoke with curl
#   stop_nginx                         a graceful stop, which flushes nginx's buffered access log

bench_tool() {
  local name=$1 found
  found=$(command -v "$name" 2>/dev/null || true)
  [ -z "$found" ] && [ -x "/usr/sbin/$name" ] && found=/usr/sbin/$name
  if [ -z "$found" ]; then
    echo "$name is required (tests/install-deps.sh installs it)" >&2
    exit 2
  fi
  echo "$found"
}
NGINX=$(bench_tool nginx)
CURL=$(bench_tool curl)
CC=$(bench_tool gcc)
OPENSSL=$(bench_tool openssl)
CARGO=$(bench_tool cargo)

WORK=$(mktemp -d /tmp/dsapi-bench.XXXXXX)
PREFIX=$WORK/nginx
NGINX_PID=""

stop_nginx() {
  if [ -n "$NGINX_PID" ] && kill -0 "$NGINX_PID" 2>/dev/null; then
    # QUIT: graceful stop, which also flushes the buffered access log.
    kill -QUIT "$NGINX_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$NGINX_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$NGINX_PID" 2>/dev/null || true
    wait "$NGINX_PID" 2>/dev/null || true
  fi
  NGINX_PID=""
}
cleanup() {
  stop_nginx
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bench_banner() {
  echo "== machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "== date: $(date -u)"
  echo "== load average before: $(cut -d' ' -f1-3 /proc/loadavg) (other processes share the CPUs)"
}

bench_build() {
  # The builds of scripts/install.sh: the requested targets, then the shared library built alone
  # (as installed). The two share the library's fingerprint with different crate types, so each
  # recompiles it whenever the other ran last (about 50 s here); the second one's is the library
  # in $LIBDIR. BENCH_PREBUILT=1: the caller has just run them.
  if [ "${BENCH_PREBUILT:-0}" = 1 ]; then
    echo "== (in $ROOT) built already (BENCH_PREBUILT=1)"
  else
    echo "== (in $ROOT) cargo build --release $*; cargo rustc --release --lib --crate-type cdylib"
    (cd "$ROOT" && "$CARGO" build --release --quiet "$@" && "$CARGO" rustc --release --quiet --lib --crate-type cdylib)
  fi
  TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
  LIBDIR=$TARGET_DIR/release
  [ -f "$LIBDIR/libdownstream_api.so" ] || { echo "no $LIBDIR/libdownstream_api.so" >&2; exit 1; }
  # The library's soname (build.rs) is what the loader looks for: make the link an install would.
  local soname
  soname=$(readelf -d "$LIBDIR/libdownstream_api.so" 2>/dev/null | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
  [ -n "$soname" ] && ln -sf libdownstream_api.so "$LIBDIR/$soname"
  echo "== gcc tests/bench/mtls_bench.c"
  MTLS_BENCH=$WORK/mtls_bench
  "$CC" -O2 -std=c11 -Wall -Wextra -Werror -I "$ROOT/include" "$BENCH_DIR/mtls_bench.c" \
    -L "$LIBDIR" -Wl,-rpath,"$LIBDIR" -ldownstream_api -pthread -o "$MTLS_BENCH"
  LIB_BYTES=$(stat -c %s "$LIBDIR/libdownstream_api.so")
}

bench_certificates() {
  echo "== certificates (openssl, ECDSA P-256)"
  mkdir -p "$PREFIX/tmp" "$WORK/client"
  (
    cd "$WORK"
    ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
    "$OPENSSL" req -x509 -new "${ec[@]}" -keyout ca.key -out "$PREFIX/ca.pem" -days 2 \
      -subj "/CN=downstream-api bench CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    # -extfile makes X.509 v3 certificates: rustls (webpki) refuses v1 ones, which `openssl x509 -req`
    # makes without extensions.
    issue() { # issue NAME SUBJECT EXTENSIONS KEY_OUT CERT_OUT
      "$OPENSSL" req -new "${ec[@]}" -keyout "$4" -out "$1.csr" -subj "$2" 2>/dev/null
      printf '%b' "$3" >"$1.ext"
      "$OPENSSL" x509 -req -in "$1.csr" -CA "$PREFIX/ca.pem" -CAkey ca.key \
        -set_serial "0x$("$OPENSSL" rand -hex 8)" -days 2 -extfile "$1.ext" -out "$5" 2>/dev/null
    }
    issue server "/CN=127.0.0.1" \
      "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n" \
      "$PREFIX/server.key" "$PREFIX/server.pem"
    issue client "/O=Contoso/CN=bench-client" \
      "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n" \
      "$WORK/client/client.key" "$WORK/client/client.pem"
    cat client/client.pem client/client.key >client/client-bundle.pem
  )
}

bench_start_nginx() {
  local template=$1 user_line candidate smoke
  user_line="# not root: nginx keeps the current user"
  [ "$(id -u)" = 0 ] && user_line="user root;"
  port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
  PORT=""
  for _ in $(seq 1 10); do
    candidate=$((20000 + RANDOM % 40000))
    port_in_use "$candidate" && continue
    sed -e "s|@PREFIX@|$PREFIX|g" -e "s|@PORT@|$candidate|g" -e "s|@USER_LINE@|$user_line|g" \
      "$template" >"$PREFIX/nginx.conf"
    "$NGINX" -p "$PREFIX/" -c "$PREFIX/nginx.conf" -e "$PREFIX/error.log" -g 'daemon off;' \
      >"$PREFIX/stdout.log" 2>&1 &
    NGINX_PID=$!
    for _ in $(seq 1 100); do
      kill -0 "$NGINX_PID" 2>/dev/null || break
      if port_in_use "$candidate"; then PORT=$candidate; break; fi
      sleep 0.05
    done
    [ -n "$PORT" ] && break
    stop_nginx
    echo "nginx did not start on port $candidate:" >&2
    cat "$PREFIX/error.log" "$PREFIX/stdout.log" >&2 2>/dev/null || true
  done
  [ -n "$PORT" ] || { echo "could not start nginx" >&2; exit 1; }
  echo "== nginx $("$NGINX" -v 2>&1 | cut -d/ -f2) on https://127.0.0.1:$PORT (pid $NGINX_PID)"

  BASE=https://127.0.0.1:$PORT
  CURL_TLS=(--cert "$WORK/client/client.pem" --key "$WORK/client/client.key" --cacert "$PREFIX/ca.pem")
  # -q: ignore ~/.curlrc; --cacert: explicit trust, whatever CURL_CA_BUNDLE says.
  smoke=$(env -u CURL_CA_BUNDLE "$CURL" -q -sS --http1.1 "${CURL_TLS[@]}" "$BASE/bench/smoke")
  [[ $smoke == *'"ok":true'* ]] || { echo "nginx smoke test failed: $smoke" >&2; exit 1; }
}
