#!/usr/bin/env bash
# The portable release as users get it (issue 26). Builds every artifact with
# scripts/build-portable.sh, then checks:
#   - no shipped ELF (tarball, wheel, .debs) needs a GLIBC_ version above the floor (objdump -T);
#   - auditwheel show reports the wheel as manylinux_2_17; the sdist carries the crate;
#   - cargo package --list holds the build's inputs and no test, fixture, key or certificate, and
#     the packaged crate builds (cargo package); cargo doc --no-deps is clean (-D warnings);
#   - the panic boundary's unit test passes when linked by Zig for glibc 2.17;
#   - the NuGet package's pack items (tests/portable/nuget_layout.py; no .NET SDK here);
# and inside Debian 11 "bullseye" (glibc 2.31, Python 3.9), debootstrapped once into
# target/portable/ and reused (a copy of it kept in $DSAPI_ROOTFS_CACHE, default
# /var/cache/downstream-api, serves fresh clones on the same machine), in a chroot on an overlay so
# the cached tree stays clean:
#   - pip installs the wheel; Python makes an MTLS and a Bearer call to the loopback servers;
#   - a C program is built against the tarball with pkg-config (shared, and static) and run;
#   - apt installs the three .debs; dsapi check, dsapi call, and a C program built with the
#     system's pkg-config alone.
# The loopback servers run outside the chroot on 127.0.0.1 (the chroot shares the network); their
# configuration and certificates are copied in at the same paths. Nothing is fetched but the
# Debian packages of the first bootstrap. Unmounts on every exit path. Exits non-zero on failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
started=$(date +%s)
. "$repo/tests/work-and-servers.sh" portable

floor=2.17
suite=bullseye
mirror=${DSAPI_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# What the chroot needs: Python with pip (the wheel), a C compiler and pkg-config (the tarball).
packages=python3,python3-pip,gcc,libc6-dev,pkg-config,ca-certificates
portable="$repo/target/portable"
dist="$portable/dist"
pristine="$portable/$suite"
key=$(echo "$suite $packages $mirror" | sha256sum | cut -c1-16)
machine_cache=${DSAPI_ROOTFS_CACHE-/var/cache/downstream-api}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
checks=0
passed() { checks=$((checks + 1)); echo "ok: $*"; }
fail() { echo "portable: $*" >&2; exit 1; }

# --- the chroot's mounts: undone on every exit path, before the work directory goes -------------
overlay="$portable/run"
mounted=()
unmount_all() {
  local i
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
    umount "${mounted[$i]}" 2>/dev/null || umount -l "${mounted[$i]}" 2>/dev/null || true
  done
  mounted=()
}
trap 'unmount_all; cleanup' EXIT
# Never delete a tree that still has something mounted beneath it.
assert_unmounted() {
  if grep -q " $1[/ ]" /proc/self/mounts; then fail "$1 still has mounts: not removing it"; fi
}

echo "== build the artifacts (scripts/build-portable.sh)"
t0=$(date +%s)
bash scripts/build-portable.sh
build_seconds=$(($(date +%s) - t0))
tarball="$dist/downstream-api-$version-x86_64-linux-gnu.tar.gz"
wheel="$dist/downstream_api-$version-py3-none-manylinux2014_x86_64.whl"
sdist="$dist/downstream_api-$version.tar.gz"
debs=("$dist"/libdownstream-api0.1_"$version"-1_amd64.deb "$dist"/libdownstream-api-dev_"$version"-1_amd64.deb
  "$dist"/dsapi_"$version"-1_amd64.deb)
for file in "$tarball" "$wheel" "$sdist" "${debs[@]}"; do [ -f "$file" ] || fail "missing $file"; done

echo "== every shipped ELF stays within GLIBC_$floor"
unpacked="$work/unpacked"
mkdir -p "$unpacked/tar" "$unpacked/wheel"
tar -xzf "$tarball" -C "$unpacked/tar"
python3 -m zipfile -e "$wheel" "$unpacked/wheel"
for deb in "${debs[@]}"; do dpkg-deb -x "$deb" "$unpacked/deb"; done
elves=()
while IFS= read -r -d '' file; do
  if [ "$(head -c 4 "$file" | od -An -c | tr -d ' ')" = '177ELF' ]; then elves+=("$file"); fi
done < <(find "$unpacked" -type f -print0)
[ ${#elves[@]} -ge 5 ] || fail "only ${#elves[@]} ELF files found in the artifacts"
bash scripts/check-glibc-floor.sh "$floor" "${elves[@]}"
passed "${#elves[@]} ELF files (tarball, wheel, .debs) need at most GLIBC_$floor"

echo "== the wheel (auditwheel show) and the sdist"
auditwheel show "$wheel" | tee "$work/auditwheel.txt"
tr -s ' \n' ' ' <"$work/auditwheel.txt" | grep 'consistent with the following platform tag: "manylinux_2_17_x86_64"' >/dev/null ||
  fail "auditwheel does not report manylinux_2_17_x86_64"
python3 -m zipfile -l "$wheel" >"$work/wheel-files"
grep -q '^downstream_api/libdownstream_api.so ' "$work/wheel-files" || fail "the wheel has no library"
python3 -c 'import sys, zipfile; w = zipfile.ZipFile(sys.argv[1]); sys.stdout.write(w.read(next(n for n in w.namelist() if n.endswith(".dist-info/METADATA"))).decode())' "$wheel" >"$work/METADATA"
grep -q '^Description-Content-Type: text/markdown' "$work/METADATA" || fail "the wheel's description is not Markdown"
grep -q '^# downstream-api' "$work/METADATA" || fail "the wheel's description is not bindings/python/README.md"
passed "wheel $(basename "$wheel"): manylinux_2_17, Markdown description"
tar -tzf "$sdist" >"$work/sdist-files"
for member in native/Cargo.toml native/Cargo.lock native/build.rs native/cbindgen.toml native/src/ffi/statuses.txt \
  native/include/downstream_api.h setup.py pyproject.toml README.md downstream_api/_native.py; do
  grep -qx "downstream_api-$version/$member" "$work/sdist-files" || fail "the sdist lacks $member"
done
tar -xzf "$sdist" -C "$work" "downstream_api-$version/native/Cargo.toml"
if grep -Eq '^\[workspace|path *= *"(\.\.|tests/)' "$work/downstream_api-$version/native/Cargo.toml"; then
  fail "the sdist's Cargo.toml still names the workspace or a path dependency"
fi
passed "sdist $(basename "$sdist"): carries the packaged crate"

echo "== the crate (cargo package, cargo doc)"
cargo package --list --allow-dirty --offline 2>/dev/null >"$work/crate-files"
for file in Cargo.toml Cargo.lock build.rs cbindgen.toml src/ffi/statuses.txt include/downstream_api.h \
  src/lib.rs LICENSE README.md; do
  grep -qx "$file" "$work/crate-files" || fail "cargo package leaves out $file"
done
if grep -Ev '^(src/|include/|Cargo\.toml|Cargo\.toml\.orig|Cargo\.lock|build\.rs|cbindgen\.toml|README\.md|CHANGELOG\.md|LICENSE|\.cargo_vcs_info\.json)' \
  "$work/crate-files"; then
  fail "cargo package holds files beyond the sources (above)"
fi
if grep -Ei '(^tests/|fixture|\.(pem|key|crt|der|pfx|p12|jks)$|secret)' "$work/crate-files"; then
  fail "cargo package holds test files, fixtures, keys or secrets (above)"
fi
# Builds the packaged crate on its own, as crates.io users will (warnings name the test targets
# left out of the package on purpose).
cargo package --allow-dirty --offline --quiet 2>&1 | grep -v '^warning: ignoring \(test\|example\|benchmark\)' || true
[ -f "target/package/downstream-api-$version.crate" ] || fail "cargo package made no crate"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --all-features --quiet
passed "cargo package ($(wc -l <"$work/crate-files") files, builds on its own) and cargo doc -D warnings"

echo "== the panic boundary with Zig's link (glibc 2.17): its unit test, built the same way"
# The shared library must unwind a panic to the boundary (never abort the host process); the Zig
# link brings its own unwinder, so the boundary's test runs linked as the release is.
cargo-zigbuild test --quiet --target x86_64-unknown-linux-gnu.$floor --lib panic 2>&1 | tee "$work/unwind.log" | grep 'test result'
grep -q 'test result: ok. [1-9]' "$work/unwind.log" || { cat "$work/unwind.log"; fail "the panic boundary's test failed"; }
passed "the panic boundary unwinds in the Zig-linked build"

echo "== the NuGet package's layout (as far as no .NET SDK allows)"
python3 tests/portable/nuget_layout.py "$repo"
passed "NuGet pack items"

echo "== Debian 11 ($suite) root file system"
t0=$(date +%s)
if [ ! -f "$pristine/.dsapi-rootfs-$key" ]; then
  assert_unmounted "$pristine"
  rm -rf "$pristine"
  if [ -n "$machine_cache" ] && [ -f "$machine_cache/$suite-$key.tar" ]; then
    echo "from the machine's cache $machine_cache/$suite-$key.tar"
    mkdir -p "$pristine"
    tar -xf "$machine_cache/$suite-$key.tar" -C "$pristine"
    rootfs_state="restored from $machine_cache"
  else
    echo "debootstrap $suite ($packages) from $mirror"
    debootstrap --variant=minbase --include="$packages" "$suite" "$pristine.tmp" "$mirror" >"$work/debootstrap.log" 2>&1 ||
      { tail -n 30 "$work/debootstrap.log"; fail "debootstrap failed"; }
    rm -rf "$pristine.tmp/var/cache/apt/archives/"*.deb "$pristine.tmp/var/lib/apt/lists/"*_Packages
    touch "$pristine.tmp/.dsapi-rootfs-$key"
    mv "$pristine.tmp" "$pristine"
    if [ -n "$machine_cache" ] && mkdir -p "$machine_cache" 2>/dev/null; then
      rm -f "$machine_cache/$suite-"*.tar
      tar -cf "$machine_cache/$suite-$key.tar.tmp" -C "$pristine" . &&
        mv "$machine_cache/$suite-$key.tar.tmp" "$machine_cache/$suite-$key.tar" || true
    fi
  fi
  rootfs_state=${rootfs_state:-debootstrapped}
else
  rootfs_state=cached
fi
rootfs_seconds=$(($(date +%s) - t0))
echo "root file system: $rootfs_state in ${rootfs_seconds}s"

# A writable layer over the pristine tree, thrown away after the run.
assert_unmounted "$overlay"
rm -rf "$overlay"
mkdir -p "$overlay/upper" "$overlay/work" "$overlay/root"
root="$overlay/root"
mount -t overlay overlay -o "lowerdir=$pristine,upperdir=$overlay/upper,workdir=$overlay/work" "$root"
mounted+=("$root")
mount -t proc proc "$root/proc"
mounted+=("$root/proc")
in_chroot() {
  chroot "$root" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive /bin/bash -euo pipefail -c \
    "trap 'echo \"in the chroot, failed: \$BASH_COMMAND\" >&2' ERR; $1"
}
in_chroot 'ldd --version | sed -n 1p; python3 --version'

echo "== the loopback servers (outside), their files copied in"
cargo build --quiet --example loopback_servers
start_loopback_servers
servers=$(dirname "$config")
mkdir -p "$root$servers"
cp -a "$servers/." "$root$servers/"
mkdir -p "$root/dist"
cp "$tarball" "$wheel" "${debs[@]}" "$root/dist/"
cp examples/c/call.c "$root/dist/call.c"

echo "== Debian 11: pip install the wheel; an MTLS and a Bearer call from Python"
in_chroot "python3 -m pip install --quiet --no-index --disable-pip-version-check /dist/$(basename "$wheel")"
in_chroot "cd / && python3 - '$config' <<'PY'
import sys
import downstream_api as dsa

assert '/dist-packages/downstream_api/' in dsa.library_path, dsa.library_path
with dsa.Client.from_file(sys.argv[1]) as client:
    mtls = client.get('Mtls').raise_for_status()
    assert mtls.text == 'hello wrapper-client', mtls.text
    bearer = client.get('Bearer').raise_for_status()
    assert 'api://wrapper-resource/.default' in bearer.text, bearer.text
print(f'python {sys.version.split()[0]}: MTLS {mtls.status_code} {mtls.text!r}, Bearer {bearer.status_code}')
PY"
passed "Debian 11: the wheel installed with pip; MTLS and Bearer calls from Python 3.9"

echo "== Debian 11: a C program against the tarball (pkg-config), shared and static"
in_chroot "
mkdir -p /opt && tar -xzf /dist/$(basename "$tarball") -C /opt
export PKG_CONFIG_PATH=/opt/downstream-api-$version-x86_64-linux-gnu/lib/pkgconfig
libdir=\$(pkg-config --variable=libdir downstream_api)
cc -std=c11 -Wall -Wextra -Werror /dist/call.c \$(pkg-config --cflags --libs downstream_api) -Wl,-rpath,\"\$libdir\" -o /tmp/call
ldd /tmp/call | grep 'libdownstream_api.so.0.1 => /opt/' >/dev/null
out=\$(/tmp/call '$config' Mtls); echo \"shared: \$out\"; [ \"\$out\" = 'HTTP 200: hello wrapper-client' ]
static_libs=\$(pkg-config --static --libs-only-l downstream_api | sed 's/-ldownstream_api//')
cc -std=c11 /dist/call.c \$(pkg-config --cflags downstream_api) \"\$libdir/libdownstream_api.a\" \$static_libs -o /tmp/call-static
! ldd /tmp/call-static | grep downstream_api >/dev/null
out=\$(/tmp/call-static '$config' Bearer); echo \"static: \$out\"; case \"\$out\" in 'HTTP 200: '*) ;; *) exit 1 ;; esac
"
passed "Debian 11: C built with the tarball's pkg-config file, shared and static, ran"

echo "== Debian 11: apt install the .debs; dsapi check; C with the system's pkg-config"
debs_in_chroot=""
for deb in "${debs[@]}"; do debs_in_chroot+=" /dist/$(basename "$deb")"; done
in_chroot "apt-get install -y -qq --no-install-recommends $debs_in_chroot >/tmp/apt.log 2>&1 || { cat /tmp/apt.log; exit 1; }
dpkg -l 'libdownstream-api*' dsapi | grep '^ii'
dsapi --version
dsapi check -c '$config'
out=\$(dsapi call -c '$config' Mtls --fail); [ \"\$out\" = 'hello wrapper-client' ]
cc -std=c11 -Wall -Werror /dist/call.c \$(pkg-config --cflags --libs downstream_api) -o /tmp/call-deb
ldd /tmp/call-deb | grep -E 'libdownstream_api.so.0.1 => (/usr)?/lib/x86_64-linux-gnu/' >/dev/null
out=\$(/tmp/call-deb '$config' Mtls); echo \"deb: \$out\"; [ \"\$out\" = 'HTTP 200: hello wrapper-client' ]
"
passed "Debian 11: apt install of the three .debs, dsapi check and call, C against the -dev package"

unmount_all
rm -rf "$overlay"
total=$(($(date +%s) - started))
echo "portable: build ${build_seconds}s, root file system ${rootfs_seconds}s ($rootfs_state), total ${total}s"
echo "portable: $checks passed, 0 failed"
