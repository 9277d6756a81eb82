#!/usr/bin/env bash
# Installs the library into a temporary prefix with scripts/install.sh, then builds the examples
# against it: C with pkg-config and with CMake's find_package (shared and static), C++ with
# pkg-config under ASan/UBSan and with CMake; runs each against the loopback servers (an mTLS API on
# 127.0.0.1; the C++ one also on behalf of a user, and a user who must act). Checks the installed
# files and the soname. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
. "$repo/tests/work-and-servers.sh" install

prefix="$work/prefix"
bash scripts/install.sh --prefix "$prefix"

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
for file in "lib/libdownstream_api.so.$version" lib/libdownstream_api.so.0.1 lib/libdownstream_api.so \
  lib/libdownstream_api.a include/downstream_api.h include/downstream_api.hpp lib/pkgconfig/downstream_api.pc \
  lib/cmake/downstream_api/downstream_apiConfig.cmake lib/cmake/downstream_api/downstream_apiConfigVersion.cmake \
  bin/dsapi share/man/man1/dsapi.1 share/man/man1/dsapi-call.1 share/bash-completion/completions/dsapi \
  share/zsh/site-functions/_dsapi share/fish/vendor_completions.d/dsapi.fish; do
  [ -e "$prefix/$file" ] || { echo "install-test: $file was not installed" >&2; exit 1; }
done
soname=$(readelf -d "$prefix/lib/libdownstream_api.so.$version" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ "$soname" = libdownstream_api.so.0.1 ] || { echo "install-test: soname is '$soname'" >&2; exit 1; }

echo "== build with pkg-config"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
[ "$(pkg-config --modversion downstream_api)" = "$version" ]
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror examples/c/call.c $(pkg-config --cflags --libs downstream_api) \
  -Wl,-rpath,"$prefix/lib" -o "$work/call-pkg-config"

# The C++ layer, under AddressSanitizer and UndefinedBehaviorSanitizer.
c++ -std=c++17 -Wall -Wextra -Werror -g -fsanitize=address,undefined -fno-omit-frame-pointer \
  examples/cpp/call.cpp $(pkg-config --cflags --libs downstream_api) -Wl,-rpath,"$prefix/lib" \
  -o "$work/call-cpp-sanitized"

echo "== build with CMake (shared and static)"
cmake -S examples/c -B "$work/build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_BUILD_RPATH="$prefix/lib" >"$work/cmake.log" 2>&1 || { cat "$work/cmake.log"; exit 1; }
cmake --build "$work/build" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
cmake -S examples/cpp -B "$work/build-cpp" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_BUILD_RPATH="$prefix/lib" >"$work/cmake-cpp.log" 2>&1 || { cat "$work/cmake-cpp.log"; exit 1; }
cmake --build "$work/build-cpp" >"$work/build-cpp.log" 2>&1 || { cat "$work/build-cpp.log"; exit 1; }

echo "== run them against the loopback servers"
cargo build --quiet --example loopback_servers
start_loopback_servers
for program in "$work/call-pkg-config" "$work/build/call" "$work/build/call_static"; do
  output=$("$program" "$config" Mtls)
  echo "$(basename "$program"): $output"
  [ "$output" = "HTTP 200: hello wrapper-client" ] || { echo "install-test: unexpected answer" >&2; exit 1; }
  # The shared builds load the installed library by its soname.
  if [ "$(basename "$program")" != call_static ]; then
    ldd "$program" | grep -q "libdownstream_api.so.0.1 => $prefix/lib/" ||
      { ldd "$program"; echo "install-test: not linked to the installed library" >&2; exit 1; }
  fi
done
# A failure is reported with its status and exit code 1.
if "$work/build/call" "$config" NoSuchApi 2>"$work/err"; then
  echo "install-test: an unknown API succeeded" >&2; exit 1
fi
grep -q "DSAPI_UNKNOWN_API" "$work/err"
for program in "$work/call-cpp-sanitized" "$work/build-cpp/call_cpp"; do
  output=$(ASAN_OPTIONS=detect_leaks=1 "$program" "$config" Mtls 2>"$work/cpp.err") ||
    { cat "$work/cpp.err"; echo "install-test: $(basename "$program") failed" >&2; exit 1; }
  echo "$(basename "$program"): $output"
  [ "$output" = "HTTP 200: hello wrapper-client" ] || { echo "install-test: unexpected answer" >&2; exit 1; }
  grep -q "expected: DSAPI_UNKNOWN_API" "$work/cpp.err"
  grep -q "event 1: .*wrapper-client" "$work/cpp.err" || { cat "$work/cpp.err"; exit 1; }
  grep -q 'credentials: \[{.*"selectedFor":\["MTLS"\]' "$work/cpp.err" || { cat "$work/cpp.err"; exit 1; }
  grep -q '^request: GET https://127.0.0.1:[0-9]*/' "$work/cpp.err" || { cat "$work/cpp.err"; exit 1; }
  grep -q '^options: {.*"ProtocolScheme":"MTLS"' "$work/cpp.err" || { cat "$work/cpp.err"; exit 1; }
  # On behalf of a user (the servers wrote the users' incoming tokens beside the configuration):
  # alice's answer names her; the MFA user's call throws UserInteractionRequired with the claims.
  servers=$(dirname "$config")
  output=$(ASAN_OPTIONS=detect_leaks=1 "$program" "$config" Users "$servers/user-token-alice.txt" \
    2>"$work/cpp.err") || { cat "$work/cpp.err"; echo "install-test: call_for_user failed" >&2; exit 1; }
  [ "$output" = "HTTP 200: user alice-oid api://wrapper-users/.default" ] ||
    { echo "install-test: call_for_user answered '$output'" >&2; exit 1; }
  grep -q '^header scheme: Bearer$' "$work/cpp.err" || { cat "$work/cpp.err"; exit 1; }
  status=0
  ASAN_OPTIONS=detect_leaks=1 "$program" "$config" Users "$servers/user-token-mfa.txt" >/dev/null \
    2>"$work/cpp.err" || status=$?
  [ "$status" = 3 ] || { cat "$work/cpp.err"; echo "install-test: the MFA user exited $status" >&2; exit 1; }
  grep -q '^claims: {"access_token":{"capolids":' "$work/cpp.err" || { cat "$work/cpp.err"; exit 1; }
done

echo "== the installed dsapi command"
dsapi="$prefix/bin/dsapi"
"$dsapi" --version
"$dsapi" check -c "$config" || { echo "install-test: dsapi check failed" >&2; exit 1; }
output=$("$dsapi" call -c "$config" Mtls --fail)
[ "$output" = "hello wrapper-client" ] || { echo "install-test: dsapi call printed '$output'" >&2; exit 1; }
"$dsapi" credentials -c "$config" | grep -q "thumbprint" || { echo "install-test: dsapi credentials" >&2; exit 1; }
# The man page renders without a warning (groff -ww), and names the commands and exit codes.
# -P-cbou: plain text, without the overstrikes or escapes that bold and underline would add.
man_text=$(groff -man -Tutf8 -ww -P-cbou "$prefix/share/man/man1/dsapi.1" 2>"$work/groff.err")
[ ! -s "$work/groff.err" ] || { cat "$work/groff.err"; echo "install-test: groff warned on dsapi.1" >&2; exit 1; }
for word in dsapi-call "EXIT STATUS" appsettings.json; do
  grep -q "$word" <<<"$man_text" || { echo "install-test: dsapi.1 lacks '$word'" >&2; exit 1; }
done
man -l "$prefix/share/man/man1/dsapi-call.1" 2>/dev/null | grep -q -- "--user-token" ||
  { echo "install-test: man -l dsapi-call.1 did not render its options" >&2; exit 1; }
# The completions load in their shells and complete the commands.
bash -c ". '$prefix/share/bash-completion/completions/dsapi' && complete -p dsapi" >/dev/null ||
  { echo "install-test: the bash completion does not load" >&2; exit 1; }
grep -q "#compdef dsapi" "$prefix/share/zsh/site-functions/_dsapi"
grep -q "complete -c dsapi" "$prefix/share/fish/vendor_completions.d/dsapi.fish"
# The shared library does not carry the command's crates.
if strings "$prefix/lib/libdownstream_api.so.$version" | grep -q clap; then
  echo "install-test: the shared library links clap" >&2; exit 1
fi
echo "install-test: 5 builds (C and C++, pkg-config and CMake, shared and static) and dsapi installed, linked and run; its man pages render and its completions load"
