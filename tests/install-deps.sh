#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine (as root): the servers the tests
# start (nginx, openssl s_server, redis-server, tinyproxy), valgrind, a C compiler, cmake, pkg-config and groff/man for the install test,
# curl for the benchmark, debootstrap and the portable build's tools (Zig, cargo-zigbuild, auditwheel),
# Mono for the C#
# wrapper, and pytest, mypy and venv for the Python wrapper. Already-present tools are left alone.
set -euo pipefail

need_apt=()
need_nginx=0
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need_nginx=1
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
command -v valgrind >/dev/null 2>&1 || need_apt+=(valgrind)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v tinyproxy >/dev/null 2>&1 || need_apt+=(tinyproxy)
command -v cc >/dev/null 2>&1 || need_apt+=(gcc libc6-dev)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v cmake >/dev/null 2>&1 || need_apt+=(cmake)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
# The install test renders dsapi's man page (groff -man, and man -l from man-db).
command -v groff >/dev/null 2>&1 || need_apt+=(groff-base)
command -v man >/dev/null 2>&1 || need_apt+=(man-db)
command -v mcs >/dev/null 2>&1 || need_apt+=(mono-mcs)
command -v mono >/dev/null 2>&1 || need_apt+=(mono-runtime)
# The C# wrapper's HttpResponseMessage and its DataContractJsonSerializer (not in mono-runtime).
[ -f /usr/lib/mono/4.5/System.Net.Http.dll ] || need_apt+=(libmono-system-net-http4.0-cil)
[ -f /usr/lib/mono/4.5/System.Runtime.Serialization.dll ] || need_apt+=(libmono-system-runtime-serialization4.0-cil)
[ -f /usr/lib/mono/4.5/System.Configuration.dll ] || need_apt+=(libmono-system-configuration4.0-cil)
[ -f /usr/lib/mono/4.5/System.Xml.dll ] || need_apt+=(libmono-system-xml4.0-cil)
dpkg -s ca-certificates >/dev/null 2>&1 || need_apt+=(ca-certificates)
# The portable release's test (tests/portable/run.sh): Debian 11 in a chroot, objdump.
command -v debootstrap >/dev/null 2>&1 || need_apt+=(debootstrap)
command -v objdump >/dev/null 2>&1 || need_apt+=(binutils)
# The Python package is installed into a fresh virtual environment (Debian splits venv out).
python3 -c 'import ensurepip, venv' 2>/dev/null || need_apt+=(python3-venv)

if [ ${#need_apt[@]} -gt 0 ] || [ $need_nginx = 1 ]; then
  echo "installing: ${need_apt[*]} $([ $need_nginx = 1 ] && echo nginx)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  if [ ${#need_apt[@]} -gt 0 ]; then
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  fi
  # The tests start nginx themselves; Debian 12 has the small nginx-light, later releases only nginx.
  if [ $need_nginx = 1 ]; then
    apt-get install -y -qq --no-install-recommends nginx-light >/dev/null 2>&1 ||
      apt-get install -y -qq --no-install-recommends nginx >/dev/null
  fi
fi

python3 -c 'import pytest' 2>/dev/null || python3 -m pip install -q pytest
python3 -c 'import mypy' 2>/dev/null || python3 -m pip install -q mypy
# The portable build (scripts/build-portable.sh): Zig as the linker for glibc 2.17, the wheel's
# and sdist's build tools (used without isolation: nothing is fetched while building), and
# auditwheel to check the wheel's tag.
python3 - <<'PY' || python3 -m pip install -q ziglang==0.17.1 cargo-zigbuild==0.24.1 auditwheel==6.8.2 \
  "setuptools>=70.1" "setuptools-rust>=1.9" wheel build
import importlib.util, shutil, sys
import setuptools
missing = [m for m in ("ziglang", "setuptools_rust", "wheel", "build", "auditwheel") if importlib.util.find_spec(m) is None]
old = tuple(int(p) for p in setuptools.__version__.split(".")[:2]) < (70, 1)
sys.exit(1 if missing or old or shutil.which("cargo-zigbuild") is None else 0)
PY
