#!/usr/bin/env bash
# Builds the release artifacts for x86_64 Linux that run on glibc 2.17 and later (manylinux2014:
# RHEL/CentOS 7, Amazon Linux 2, Debian 10, Ubuntu 18.04 and everything newer), into
# target/portable/dist/ (or DSAPI_DIST_DIR):
#
#   downstream-api-<v>-x86_64-linux-gnu.tar.gz   the install layout of scripts/install.sh (lib with
#                                                the soname, static lib, headers, pkg-config and CMake
#                                                files, bin/dsapi), relocatable: extract anywhere
#   downstream_api-<v>-py3-none-manylinux2014_x86_64.whl   the Python package with that library
#   downstream_api-<v>.tar.gz                    the Python sdist (carries the crate; builds with Rust)
#   libdownstream-api0.1_<v>-1_amd64.deb, libdownstream-api-dev_<v>-1_amd64.deb, dsapi_<v>-1_amd64.deb
#
# How: `cargo zigbuild --target x86_64-unknown-linux-gnu.2.17` links against glibc 2.17's symbol
# versions with Zig (the `ziglang` wheel) as the linker; every ELF is then checked with
# objdump -T (scripts/check-glibc-floor.sh). Needs what tests/install-deps.sh installs: ziglang,
# cargo-zigbuild, setuptools, setuptools-rust, wheel and build from the package index (the Python
# builds run without isolation, so nothing is fetched while building), dpkg-deb.
#
#   bash scripts/build-portable.sh            everything
#   bash scripts/build-portable.sh --no-python --no-deb   the tarball only
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

python=1 deb=1
for arg in "$@"; do
  case "$arg" in
    --no-python) python=0 ;;
    --no-deb) deb=0 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "build-portable.sh: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done

floor=2.17
triple=x86_64-unknown-linux-gnu
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
minor=${version#*.}; minor=${minor%%.*}
abi="${version%%.*}.$minor"  # 0.x: the soname carries the minor version (install.sh)
dist=${DSAPI_DIST_DIR:-$repo/target/portable/dist}
stage=$repo/target/portable/stage
built=$repo/target/$triple/release

command -v cargo-zigbuild >/dev/null ||
  { echo "build-portable.sh: cargo-zigbuild is missing: pip install ziglang cargo-zigbuild" >&2; exit 1; }
python3 -m ziglang version >/dev/null 2>&1 || command -v zig >/dev/null ||
  { echo "build-portable.sh: zig is missing: pip install ziglang" >&2; exit 1; }

echo "== cargo zigbuild for glibc $floor: dsapi, the shared and the static library"
# As scripts/install.sh: the command first, then each library on its own (a cdylib built alone
# lets link-time optimisation drop what no export reaches).
cargo-zigbuild zigbuild --release --quiet --target "$triple.$floor" --features cli --bin dsapi
cargo-zigbuild rustc --release --quiet --target "$triple.$floor" --lib --crate-type cdylib
cargo-zigbuild rustc --release --quiet --target "$triple.$floor" --lib --crate-type staticlib
bash scripts/check-glibc-floor.sh "$floor" "$built/dsapi" "$built/libdownstream_api.so"

rm -rf "$stage" && mkdir -p "$stage" "$dist"
rm -f "$dist"/downstream-api-* "$dist"/downstream_api-* "$dist"/*.deb

echo "== tarball"
name="downstream-api-$version-x86_64-linux-gnu"
DSAPI_PREBUILT_DIR="$built" DESTDIR="$stage/tar" bash scripts/install.sh --prefix "/$name" >/dev/null
# Relocatable: pkg-config finds the prefix from the .pc file's own folder (the CMake package
# already does so from its own).
sed -i 's|^prefix=.*|prefix=${pcfiledir}/../..|' "$stage/tar/$name/lib/pkgconfig/downstream_api.pc"
install -m 0644 LICENSE README.md CHANGELOG.md "$stage/tar/$name/"
tar -C "$stage/tar" --owner=0 --group=0 --numeric-owner -czf "$dist/$name.tar.gz" "$name"

if [ "$python" = 1 ]; then
  echo "== Python wheel (manylinux2014) and sdist"
  # setuptools copies the portable library into the package (bindings/python/setup.py).
  DSAPI_WHEEL_LIBRARY="$built/libdownstream_api.so" DSAPI_WHEEL_PLATFORM=manylinux2014_x86_64 \
    python3 -m pip wheel --quiet --no-deps --no-build-isolation --wheel-dir "$dist" "$repo/bindings/python"
  # The sdist carries the crate as `cargo package` makes it (no workspace, no dev-only crates).
  cargo package --quiet --no-verify --allow-dirty --offline
  DSAPI_SDIST_CRATE="$repo/target/package/downstream-api-$version.crate" \
    python3 -m build --sdist --no-isolation --outdir "$dist" "$repo/bindings/python" >"$stage/sdist.log" 2>&1 ||
    { cat "$stage/sdist.log"; exit 1; }
fi

if [ "$deb" = 1 ]; then
  echo "== Debian packages"
  bash scripts/build-deb.sh "$built" "$dist"
fi

echo "== artifacts (glibc floor $floor) in $dist"
(cd "$dist" && ls -l | awk 'NR > 1 { printf "%10d  %s\n", $5, $9 }')
