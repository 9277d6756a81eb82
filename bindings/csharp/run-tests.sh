#!/usr/bin/env bash
# Builds the C# wrapper and its test program with Mono's mcs and runs them with mono.
# Expects the native library and the loopback_servers example to be built already
# (bindings/run-tests.sh does both). Environment:
#   DSAPI_PROFILE   cargo profile directory holding the native library (default: debug)
#   DSAPI_LOOPBACK_SERVERS   path of the loopback_servers executable (default: target/debug/examples/)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
profile="${DSAPI_PROFILE:-debug}"
native_dir="$repo/target/$profile"
out="$repo/target/bindings-csharp"

if [[ ! -f "$native_dir/libdownstream_api.so" && ! -f "$native_dir/libdownstream_api.dylib" ]]; then
    echo "native library missing in $native_dir: run cargo build first" >&2
    exit 1
fi

mkdir -p "$out"
references=(-r:System.Net.Http.dll -r:System.Runtime.Serialization.dll)
# mcs accepts C# up to 7.2; the code also stays within the csproj's 7.3. -doc with -warn:4 makes a
# public member without an XML comment an error, so the package's XML docs are complete.
mcs -langversion:7.2 -warn:4 -warnaserror+ -target:library -nologo "${references[@]}" \
    -doc:"$out/DownstreamApi.xml" -out:"$out/DownstreamApi.dll" "$here"/DownstreamApi/*.cs
cp "$here/DownstreamApi/DownstreamApi.dll.config" "$out/"
# The C# examples of the README and the package page are compiled and run as tests: extract them.
python3 "$here/tests/readme_example.py" "$repo" "$out/ReadmeExample.cs"
mcs -langversion:7.2 -warn:4 -warnaserror+ -target:exe -nologo \
    -r:"$out/DownstreamApi.dll" -r:System.Core.dll -r:System.Configuration.dll -r:System.Xml.dll "${references[@]}" \
    -out:"$out/DownstreamApi.Tests.exe" "$here"/tests/*.cs "$out/ReadmeExample.cs"

export LD_LIBRARY_PATH="$native_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export DYLD_LIBRARY_PATH="$native_dir${DYLD_LIBRARY_PATH:+:$DYLD_LIBRARY_PATH}"
exec mono --debug "$out/DownstreamApi.Tests.exe" "$repo"
