#!/usr/bin/env bash
# Makes the Debian packages from a release build (scripts/build-portable.sh passes its glibc 2.17
# build), split as Debian splits a library:
#   libdownstream-api0.1   the shared library under its soname (the package name carries the soname,
#                          so a later ABI, libdownstream-api0.2, installs beside it)
#   libdownstream-api-dev  header, C++ layer, the .so link, static library, pkg-config and CMake files
#   dsapi                  the command (it links the library statically: it needs only libc6)
# Usage: bash scripts/build-deb.sh BUILD_DIR OUT_DIR   (BUILD_DIR holds dsapi, the .so and the .a)
set -euo pipefail
cd "$(dirname "$0")/.."
built=${1:?usage: build-deb.sh BUILD_DIR OUT_DIR}
out=${2:?usage: build-deb.sh BUILD_DIR OUT_DIR}
case "$built" in /*) ;; *) built="$PWD/$built" ;; esac
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
minor=${version#*.}; minor=${minor%%.*}
major=${version%%.*}
if [ "$major" = 0 ]; then abi="0.$minor"; else abi="$major"; fi
debversion="$version-1"
arch=amd64
multiarch=x86_64-linux-gnu
runtime="libdownstream-api$abi"
# The oldest glibc the build was checked against (scripts/check-glibc-floor.sh).
libc_floor=${DSAPI_GLIBC_FLOOR:-2.17}
maintainer=${DSAPI_DEB_MAINTAINER:-"downstream-api authors <packaging@downstream-api.invalid>"}
homepage="https://crates.io/crates/downstream-api"

work=$(mktemp -d "${TMPDIR:-/tmp}/dsapi-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
DSAPI_PREBUILT_DIR="$built" DESTDIR="$work/all" bash scripts/install.sh --prefix /usr \
  --libdir "lib/$multiarch" >/dev/null
all="$work/all"

# move PACKAGE PATH...: moves files of the staged install into a package's tree.
move() {
  local package=$1; shift
  for path in "$@"; do
    [ -e "$all/$path" ] || [ -L "$all/$path" ] || continue
    mkdir -p "$work/$package/$(dirname "$path")"
    mv "$all/$path" "$work/$package/$path"
  done
}
lib="usr/lib/$multiarch"
move "$runtime" "$lib/libdownstream_api.so.$version" "$lib/libdownstream_api.so.$abi"
move libdownstream-api-dev "$lib/libdownstream_api.so" "$lib/libdownstream_api.a" "$lib/pkgconfig" \
  "$lib/cmake" usr/include
# The command and whatever else install.sh puts beside it (man pages, completions).
move dsapi usr/bin usr/share
# Debian installs shared libraries without the executable bit.
chmod 0644 "$work/$runtime/$lib/libdownstream_api.so.$version"
leftover=$(cd "$all" && find . -type f -o -type l)
[ -z "$leftover" ] || { echo "build-deb.sh: installed files in no package: $leftover" >&2; exit 1; }

copyright() {
  cat <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: downstream-api
Source: $homepage

Files: *
Copyright: the downstream-api authors
License: MIT
EOF
  sed 's/^$/./; s/^/ /' LICENSE
}

# control PACKAGE SECTION DEPENDS DESCRIPTION [EXTRA FIELDS]
control() {
  local package=$1 section=$2 depends=$3 summary=$4 body=$5 extra=${6:-}
  local root="$work/$package"
  mkdir -p "$root/DEBIAN" "$root/usr/share/doc/$package"
  copyright >"$root/usr/share/doc/$package/copyright"
  local size
  size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
  {
    echo "Package: $package"
    echo "Version: $debversion"
    echo "Architecture: $arch"
    echo "Maintainer: $maintainer"
    echo "Installed-Size: $size"
    echo "Depends: $depends"
    [ -z "$extra" ] || echo "$extra"
    echo "Section: $section"
    echo "Priority: optional"
    echo "Homepage: $homepage"
    echo "Description: $summary"
    echo "$body" | sed 's/^$/./; s/^/ /'
  } >"$root/DEBIAN/control"
}

about="downstream-api calls downstream HTTPS APIs the way Microsoft.Identity.Web's
IDownstreamApi does - with the app's client certificate in the TLS handshake
(mTLS) or an OAuth2 app token (Bearer, mTLS PoP) - configured by the same
appsettings.json."

control "$runtime" libs "libc6 (>= $libc_floor)" "call HTTPS APIs with mTLS or app tokens (shared library)" \
  "$about

This package holds the shared library (C ABI)." "Multi-Arch: same"
# Debian's way of running ldconfig for a library package, and of telling packages built against it
# which package provides the soname.
echo "activate-noawait ldconfig" >"$work/$runtime/DEBIAN/triggers"
echo "libdownstream_api $abi $runtime (>= $version)" >"$work/$runtime/DEBIAN/shlibs"

control libdownstream-api-dev libdevel "$runtime (= $debversion)" \
  "call HTTPS APIs with mTLS or app tokens (development files)" \
  "$about

This package holds the C header and C++17 layer, the static library, and the
pkg-config (downstream_api) and CMake (find_package(downstream_api)) files." "Multi-Arch: same"

control dsapi net "libc6 (>= $libc_floor)" "call HTTPS APIs with mTLS or app tokens (command)" \
  "$about

This package holds the dsapi command: call a configured API like curl, print an
authorization header or a token's expiry, list the credentials, check a
configuration (dsapi check), and serve Microsoft's identity sidecar interface
on loopback (dsapi serve)."

mkdir -p "$out"
for package in "$runtime" libdownstream-api-dev dsapi; do
  find "$work/$package" -type d -exec chmod 0755 {} +
  dpkg-deb --root-owner-group -Zxz --build "$work/$package" "$out/${package}_${debversion}_$arch.deb" >/dev/null
  echo "$out/${package}_${debversion}_$arch.deb"
done
