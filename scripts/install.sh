#!/usr/bin/env bash
# Builds the library in release and installs it like a system library under a prefix:
#   lib/libdownstream_api.so.X.Y.Z (+ the soname and development symlinks), lib/libdownstream_api.a,
#   include/downstream_api.h and the C++17 layer downstream_api.hpp, lib/pkgconfig/downstream_api.pc,
#   and the CMake package
#   lib/cmake/downstream_api/ (downstream_apiConfig.cmake, downstream_apiConfigVersion.cmake)
#   defining the imported target downstream_api::downstream_api, and the command bin/dsapi with
#   its man pages share/man/man1/dsapi.1 (and dsapi-<command>.1) and its completions for bash
#   (share/bash-completion/completions/dsapi), zsh (share/zsh/site-functions/_dsapi) and fish
#   (share/fish/vendor_completions.d/dsapi.fish).
#
#   bash scripts/install.sh --prefix /usr/local      (DESTDIR is honoured, as by make install)
#   --libdir lib/x86_64-linux-gnu   the library folder under the prefix (default lib), as Debian's
#   DSAPI_PREBUILT_DIR=DIR          install DIR's dsapi, .so and .a instead of building them
#                                   (scripts/build-portable.sh: the glibc 2.17 build)
set -euo pipefail
cd "$(dirname "$0")/.."

prefix=""
libdir=lib
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
    --prefix=*) prefix=${1#--prefix=}; shift ;;
    --libdir) libdir=${2:?--libdir needs a folder under the prefix}; shift 2 ;;
    --libdir=*) libdir=${1#--libdir=}; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument '$1' (use --prefix DIR)" >&2; exit 2 ;;
  esac
done
[ -n "$prefix" ] || { echo "install.sh: --prefix DIR is required" >&2; exit 2; }
case "$libdir" in /*|*..*|'') echo "install.sh: --libdir is a relative folder under the prefix" >&2; exit 2 ;; esac
libdir=${libdir%/}
case "$prefix" in /*) ;; *) prefix="$PWD/$prefix" ;; esac

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
major=${version%%.*}
rest=${version#*.}
minor=${rest%%.*}
# cargo-c's convention: 0.x versions break the ABI with each minor version.
if [ "$major" = 0 ]; then abi="0.$minor"; else abi="$major"; fi

case "$(uname -s)" in
  Linux|*BSD) shared=libdownstream_api.so; real="$shared.$version"; soname="$shared.$abi" ;;
  Darwin) shared=libdownstream_api.dylib; real=$shared; soname=$shared ;;
  *) echo "install.sh: only ELF and Mach-O platforms are supported here" >&2; exit 2 ;;
esac

# The command first (it builds the library's every crate type on the way), then the shared and
# the static library each on its own: built alone, a cdylib lets link-time optimisation drop every
# Rust item that is not reachable from an export, which a build that also makes the rlib and the
# staticlib must keep (3.6 -> 3.3 MB). The last build of each file is the one installed.
release=target/release
if [ -n "${DSAPI_PREBUILT_DIR:-}" ]; then
  release=$DSAPI_PREBUILT_DIR
else
  cargo build --release --quiet --features cli --bin dsapi
  cargo rustc --release --quiet --lib --crate-type cdylib
  cargo rustc --release --quiet --lib --crate-type staticlib
fi
root="${DESTDIR:-}$prefix"
lib="$root/$libdir"
mkdir -p "$lib/pkgconfig" "$lib/cmake/downstream_api" "$root/include" "$root/bin"
install -m 0755 "$release/dsapi" "$root/bin/dsapi"
install -m 0755 "$release/$shared" "$lib/$real"
if [ "$real" != "$shared" ]; then
  ln -sf "$real" "$lib/$soname"
  ln -sf "$soname" "$lib/$shared"
fi
install -m 0644 "$release/libdownstream_api.a" "$lib/libdownstream_api.a"
install -m 0644 include/downstream_api.h include/downstream_api.hpp "$root/include/"

# The man pages and completions come from the command's own clap definitions (its hidden `man`
# and `completions` commands), so they describe exactly the options this build takes.
share="$root/share"
mkdir -p "$share/man/man1" "$share/bash-completion/completions" "$share/zsh/site-functions" \
  "$share/fish/vendor_completions.d"
"$release/dsapi" man --out-dir "$share/man/man1"
chmod 0644 "$share"/man/man1/dsapi*.1
"$release/dsapi" completions bash >"$share/bash-completion/completions/dsapi"
"$release/dsapi" completions zsh >"$share/zsh/site-functions/_dsapi"
"$release/dsapi" completions fish >"$share/fish/vendor_completions.d/dsapi.fish"

# What a static link needs besides the archive: the system libraries of the Rust standard library
# (`rustc --print native-static-libs` on Linux).
static_libs="-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"

cat >"$lib/pkgconfig/downstream_api.pc" <<PC
prefix=$prefix
libdir=\${prefix}/$libdir
includedir=\${prefix}/include

Name: downstream_api
Description: Call downstream HTTPS APIs with mTLS or app tokens, configured like Microsoft.Identity.Web
Version: $version
Cflags: -I\${includedir}
Libs: -L\${libdir} -ldownstream_api
Libs.private: $static_libs
PC

# From the CMake folder up to the prefix: cmake/downstream_api, then one step per part of libdir.
up=$(echo "/$libdir" | sed 's|/[^/]*|/..|g')
cat >"$lib/cmake/downstream_api/downstream_apiConfig.cmake" <<CMAKE
# CMake package of downstream_api: find_package(downstream_api) defines downstream_api::downstream_api.
get_filename_component(_dsapi_prefix "\${CMAKE_CURRENT_LIST_DIR}/../..$up" ABSOLUTE)
if(NOT TARGET downstream_api::downstream_api)
  add_library(downstream_api::downstream_api SHARED IMPORTED)
  set_target_properties(downstream_api::downstream_api PROPERTIES
    IMPORTED_LOCATION "\${_dsapi_prefix}/$libdir/$real"
    IMPORTED_SONAME "$soname"
    INTERFACE_INCLUDE_DIRECTORIES "\${_dsapi_prefix}/include")
endif()
if(NOT TARGET downstream_api::downstream_api_static)
  add_library(downstream_api::downstream_api_static STATIC IMPORTED)
  set_target_properties(downstream_api::downstream_api_static PROPERTIES
    IMPORTED_LOCATION "\${_dsapi_prefix}/$libdir/libdownstream_api.a"
    INTERFACE_INCLUDE_DIRECTORIES "\${_dsapi_prefix}/include"
    INTERFACE_LINK_LIBRARIES "${static_libs// /;}")
endif()
unset(_dsapi_prefix)
CMAKE

cat >"$lib/cmake/downstream_api/downstream_apiConfigVersion.cmake" <<CMAKE
# Compatible with a request for the same major version, and for 0.x the same minor version.
set(PACKAGE_VERSION "$version")
if(PACKAGE_FIND_VERSION VERSION_GREATER PACKAGE_VERSION)
  set(PACKAGE_VERSION_COMPATIBLE FALSE)
elseif("$major" STREQUAL "0" AND NOT PACKAGE_FIND_VERSION_MINOR STREQUAL "$minor")
  set(PACKAGE_VERSION_COMPATIBLE FALSE)
elseif(NOT PACKAGE_FIND_VERSION_MAJOR STREQUAL "$major")
  set(PACKAGE_VERSION_COMPATIBLE FALSE)
else()
  set(PACKAGE_VERSION_COMPATIBLE TRUE)
  if(PACKAGE_FIND_VERSION STREQUAL PACKAGE_VERSION)
    set(PACKAGE_VERSION_EXACT TRUE)
  endif()
endif()
CMAKE

echo "installed downstream_api $version under $root"
