"""Fixtures shared by the test files: the loopback servers of `examples/loopback_servers.rs`
(started once per session) and a client on their configuration."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

import downstream_api

REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def config_path(tmp_path_factory):
    """Starts the loopback servers once; they stop when their stdin closes."""
    executable = Path(
        os.environ.get(
            "DSAPI_LOOPBACK_SERVERS", REPO_ROOT / "target" / "debug" / "examples" / "loopback_servers"
        )
    )
    if not executable.is_file():
        pytest.fail(f"{executable} is missing: run `cargo build --example loopback_servers`")
    directory = tmp_path_factory.mktemp("servers")
    process = subprocess.Popen(
        [str(executable), str(directory)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        line = process.stdout.readline().strip()
        if not line.startswith("READY "):
            pytest.fail(f"loopback_servers did not start: {line!r}")
        yield line[len("READY "):]
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def config(config_path):
    return json.loads(Path(config_path).read_text())


@pytest.fixture
def client(config_path):
    with downstream_api.Client.from_file(config_path) as client:
        yield client
