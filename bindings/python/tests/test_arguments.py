"""What the wrapper hands to C: a ``str`` becomes a NUL-terminated string, so one with a NUL inside
is refused (C would read only what stands before it, as ``open()`` refuses it); a body must be text
or bytes-like (``bytes(5)`` would be five NUL bytes). Against the loopback servers of
``conftest.py``, which would otherwise answer the truncated call."""

from __future__ import annotations

import array
import asyncio
from pathlib import Path

import pytest

import downstream_api as dsa

SCOPE = "api://wrapper-resource/.default"


@pytest.mark.parametrize(
    "argument, use",
    [
        ("api_name", lambda c: c.call("Mtls\0Other")),
        ("api_name", lambda c: c.get("Mtls\0")),
        ("api_name", lambda c: c.authorization_header("Bearer\0Other")),
        ("api_name", lambda c: c.api_options("Mtls\0Other")),
        ("overrides", lambda c: c.call("Mtls", overrides='{"HttpMethod": "GET"}\0{"x": 1}')),
        ("overrides", lambda c: c.call("Mtls", overrides="{}\0", method="GET")),
        ("overrides", lambda c: c.authorization_header("Bearer", overrides="{}\0")),
        ("overrides", lambda c: c.api_options("Mtls", overrides="{}\0")),
        ("scopes", lambda c: c.acquire_token([SCOPE + "\0other"])),
        ("scopes", lambda c: c.acquire_token(SCOPE + "\0")),
        ("options", lambda c: c.acquire_token(SCOPE, options="{}\0")),
    ],
)
def test_a_nul_in_a_string_argument_is_a_value_error_naming_it(client, argument, use):
    with pytest.raises(ValueError, match=rf"^{argument} contains an embedded null character"):
        use(client)


def test_a_nul_in_a_configuration_path_or_text_is_a_value_error(config_path):
    with pytest.raises(ValueError, match="^path contains an embedded null character"):
        dsa.Client.from_file(config_path + "\0.evil")
    with pytest.raises(ValueError, match="^path contains an embedded null byte"):
        dsa.Client.from_file(config_path.encode() + b"\0.evil")
    with pytest.raises(ValueError, match="^path contains"):
        dsa.AsyncClient.from_file(Path(config_path + "\0.evil"))
    text = Path(config_path).read_text()
    with pytest.raises(ValueError, match="^config_json contains an embedded null character"):
        dsa.Client(text + "\0garbage")
    with pytest.raises(TypeError, match="^path must be"):
        dsa.Client.from_file(5)


def test_a_nul_in_a_password_is_a_value_error(config_path):
    renewed = (Path(config_path).parent / "renewed.pem").read_bytes()
    with dsa.Client.from_file(config_path) as client:
        with pytest.raises(ValueError, match="^password contains an embedded null character"):
            client.set_credential(0, renewed, password="pass\0word")
        # Nothing was pushed: only the renewed certificate is trusted by this server.
        assert client.get("Renewed").status_code == 495


def test_wrong_argument_types_are_type_errors_naming_them(client):
    with pytest.raises(TypeError, match="^data must be bytes, bytearray, memoryview or str, not int"):
        client.post("Echo", data=5)
    with pytest.raises(TypeError, match="^body must be .*, not int"):
        client.call("Echo", 5)
    with pytest.raises(TypeError, match="^data must be .*, not list"):
        client.put("Echo", data=[1, 2])
    with pytest.raises(TypeError, match="^data must be .*, not dict"):
        client.put("Echo", data={"a": "b"})
    with pytest.raises(TypeError, match="^data must be .*, not int"):
        client.set_credential(0, 5)
    with pytest.raises(TypeError, match="^api_name must be str, not bytes"):
        client.call(b"Mtls")
    with pytest.raises(TypeError, match="^password must be str, not bytes"):
        client.set_credential(0, b"x", password=b"secret")


def test_async_client_refuses_the_same(config_path):
    async def main() -> None:
        async with dsa.AsyncClient.from_file(config_path) as client:
            with pytest.raises(ValueError, match="^api_name contains"):
                await client.call("Mtls\0Other")
            with pytest.raises(TypeError, match="^data must be"):
                await client.post("Echo", data=7)

    asyncio.run(main())


def test_bodies_may_hold_nul_and_any_buffer(client):
    overrides = {"HttpMethod": "PUT"}
    # A body travels with its length: NULs are data there.
    assert client.call("Echo", "a\0b", overrides=overrides).body == b"PUT /echo\na\0b"
    assert client.call("Echo", data=b"\0\0", overrides=overrides).body == b"PUT /echo\n\0\0"
    numbers = array.array("B", [65, 0, 66])
    assert client.call("Echo", numbers, overrides=overrides).body == b"PUT /echo\nA\0B"
    # In JSON, a NUL is escaped, not cut.
    assert client.post("Echo", json={"k": "a\0b"}).body == b'POST /echo\n{"k": "a\\u0000b"}'
    assert client.call("Mtls", overrides={"HttpMethod": "GET"}).status_code == 200
