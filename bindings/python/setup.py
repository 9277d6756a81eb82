"""Build configuration lives in pyproject.toml; this file only keeps build output out of the
source folder. setuptools writes its `build/` and `*.egg-info` folders next to the project unless
told otherwise, and the egg-info folder it is told must already exist: both go to the checkout's
`target/python/` (ignored, beside cargo's output), so an install leaves the checkout as it was.
The Rust build itself is setuptools-rust's (pyproject.toml)."""

import os
import shutil

from setuptools import setup

OUTPUT = os.path.join("..", "..", "target", "python")
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
