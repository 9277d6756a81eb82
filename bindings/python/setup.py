"""Build configuration lives in pyproject.toml (the Rust build is setuptools-rust's); this file
only keeps setuptools' own output out of the source folder. setuptools writes `build/` and
`*.egg-info` next to the project unless told otherwise, and the egg-info folder it is told must
already exist: both go to the checkout's `target/python/` (ignored, beside cargo's output), so an
install leaves the checkout as it was."""

import os
import shutil
import sys

from setuptools import setup

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
if not os.path.isfile(os.path.join(REPO, "Cargo.toml")):
    sys.exit(
        "downstream-api builds its native library from the repository around bindings/python: "
        "build from a checkout (pip install ./bindings/python, or pip wheel), not from an sdist "
        "or a copy of this folder (pip older than 21.3 copies it: upgrade pip)"
    )
OUTPUT = os.path.join(REPO, "target", "python")
os.makedirs(OUTPUT, exist_ok=True)
# A build starts empty: files of an earlier build (another Python's library name, a module since
# removed) must not end up in this wheel.
shutil.rmtree(os.path.join(OUTPUT, "build"), ignore_errors=True)

setup(
    options={
        "build": {"build_base": os.path.join(OUTPUT, "build")},
        "egg_info": {"egg_base": OUTPUT},
        # The library does not use Python's C API: one wheel per platform serves every CPython
        # from 3.8 on (tag cp38-abi3-<platform>).
        "bdist_wheel": {"py_limited_api": "cp38"},
    }
)
