"""The parts of the build that pyproject.toml cannot say (metadata lives there).

Where the native library comes from, first match wins:

1. ``DSAPI_WHEEL_LIBRARY=/path/libdownstream_api.so``: a library built already, copied into the
   package as it is. ``scripts/build-portable.sh`` builds it for glibc 2.17 and sets this, with
   ``DSAPI_WHEEL_PLATFORM=manylinux2014_x86_64``: the wheel a package index takes.
2. ``native/Cargo.toml``: the crate inside an sdist (``cargo package``'s copy of it), built by
   setuptools-rust with the machine's Rust toolchain.
3. ``../../Cargo.toml``: the repository around this folder (``pip install ./bindings/python``).

Every wheel is tagged ``py3-none-<platform>``: Python loads the library with ctypes, and the
library does not use Python's C API, so one wheel serves every Python 3 (CPython 3.8 on, and
PyPy), which a ``cp38-abi3`` tag would narrow to CPython for no reason.

setuptools writes ``build/`` and ``*.egg-info`` next to the project unless told otherwise: in a
checkout both go to ``target/python/`` (ignored, beside cargo's output), so an install leaves the
checkout as it was."""

import os
import shutil
import sys

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

try:  # setuptools >= 70.1 carries bdist_wheel, before that the `wheel` package
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:
    from wheel.bdist_wheel import bdist_wheel  # type: ignore[no-redef]

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
IN_CHECKOUT = os.path.isfile(os.path.join(REPO, "Cargo.toml"))
SDIST_CRATE = os.path.join(HERE, "native", "Cargo.toml")
PREBUILT = os.environ.get("DSAPI_WHEEL_LIBRARY", "")
PLATFORM = os.environ.get("DSAPI_WHEEL_PLATFORM", "")
LIBRARY_NAME = "libdownstream_api.so"

if PREBUILT and not (os.path.isabs(PREBUILT) and os.path.isfile(PREBUILT)):
    sys.exit(f"DSAPI_WHEEL_LIBRARY names '{PREBUILT}', which is not the absolute path of a file")
if not (PREBUILT or os.path.isfile(SDIST_CRATE) or IN_CHECKOUT):
    sys.exit(
        "downstream-api builds its native library from the crate in native/ (an sdist) or from "
        "the repository around bindings/python (a checkout); neither is here"
    )

OUTPUT = os.path.join(REPO, "target", "python") if IN_CHECKOUT else os.path.join(HERE, "build")
os.makedirs(OUTPUT, exist_ok=True)
# A build starts empty: files of an earlier build (another Python's library name, a module since
# removed) must not end up in this wheel.
shutil.rmtree(os.path.join(OUTPUT, "build"), ignore_errors=True)


class BuildPyWithLibrary(build_py):
    """Copies the prebuilt library into the package (DSAPI_WHEEL_LIBRARY)."""

    def run(self) -> None:
        super().run()
        if PREBUILT:
            target = os.path.join(self.build_lib, "downstream_api", LIBRARY_NAME)
            self.copy_file(PREBUILT, target, preserve_mode=True)


class WheelForEveryPython3(bdist_wheel):
    """Tags the wheel ``py3-none-<platform>`` (see the module's docstring)."""

    def finalize_options(self) -> None:
        if PLATFORM:
            self.plat_name = PLATFORM
        super().finalize_options()
        # The wheel holds a native library: never a pure (any-platform) wheel.
        self.root_is_pure = False

    def get_tag(self):  # type: ignore[no-untyped-def]
        _, _, platform = super().get_tag()
        return "py3", "none", platform


class SdistWithCrate(sdist):
    """Puts the crate (``cargo package``'s normalized copy: no workspace, no dev-only crates)
    into the sdist under ``native/``, so that it builds wherever Rust is installed."""

    def make_release_tree(self, base_dir, files):  # type: ignore[no-untyped-def]
        super().make_release_tree(base_dir, files)
        if os.path.isfile(SDIST_CRATE):  # an sdist made from an sdist
            shutil.copytree(os.path.join(HERE, "native"), os.path.join(base_dir, "native"))
            return
        import subprocess
        import tarfile

        if not IN_CHECKOUT:
            sys.exit("an sdist is made from a checkout (it needs the crate's sources)")
        crate = os.environ.get("DSAPI_SDIST_CRATE")
        if not crate:
            subprocess.run(
                ["cargo", "package", "--quiet", "--no-verify", "--allow-dirty", "--offline"],
                cwd=REPO,
                check=True,
            )
            version = self.distribution.get_version()
            crate = os.path.join(REPO, "target", "package", f"downstream-api-{version}.crate")
        destination = os.path.join(base_dir, "native")
        with tarfile.open(crate) as archive:
            top = archive.getnames()[0].split("/")[0]
            members = []
            for member in archive.getmembers():
                if not (member.isfile() or member.isdir()) or ".." in member.name.split("/"):
                    continue
                member.name = member.name[len(top) :].lstrip("/")
                if member.name:
                    members.append(member)
            archive.extractall(destination, members=members)


class PlatformDistribution(Distribution):
    """A distribution with a native library: installed into platlib (a prebuilt library is
    package data, which setuptools would otherwise treat as pure Python and put in purelib)."""

    def has_ext_modules(self) -> bool:
        return True


def rust_extensions():  # type: ignore[no-untyped-def]
    if PREBUILT:
        return []
    from setuptools_rust import Binding, RustExtension

    manifest = SDIST_CRATE if os.path.isfile(SDIST_CRATE) else os.path.join(REPO, "Cargo.toml")
    # Binding "NoBinding": the library is not a Python module; Python loads it with ctypes.
    return [
        RustExtension(
            "downstream_api.libdownstream_api",
            path=manifest,
            binding=Binding.NoBinding,
            # Named libdownstream_api.abi3.so (the loader takes any libdownstream_api*.so).
            py_limited_api=True,
        )
    ]


setup(
    distclass=PlatformDistribution,
    rust_extensions=rust_extensions(),
    cmdclass={"build_py": BuildPyWithLibrary, "bdist_wheel": WheelForEveryPython3, "sdist": SdistWithCrate},
    options={
        "build": {"build_base": os.path.join(OUTPUT, "build")},
        "egg_info": {"egg_base": OUTPUT},
    },
)
