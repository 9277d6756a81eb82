"""The requests-shaped API and AsyncClient, against the loopback servers (`conftest.py`): the
`Inspect` API answers with what it received, `/status/<code>` with that status, `/slow/<ms>`
after that long."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

import downstream_api as dsa

REPO_ROOT = Path(__file__).resolve().parents[3]


def inspected(response: dsa.Response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


def test_keywords_shape_the_request(client):
    r = client.call(
        "Inspect",
        method="POST",
        path="inspect/orders/42",
        params={"q": "a b", "n": 1},
        headers={"X-Trace": "t-1"},
        json={"id": 42},
        timeout=10.0,
    )
    seen = inspected(r)
    assert seen["method"] == "POST"
    # path replaces the configured RelativePath; params merge with the configured query.
    assert seen["target"].startswith("/inspect/orders/42?")
    assert "configured=yes" in seen["target"]
    assert "q=a%20b" in seen["target"] and "n=1" in seen["target"]
    # headers merge with the configured ExtraHeaderParameters.
    assert seen["headers"]["x-trace"] == "t-1"
    assert seen["headers"]["x-configured"] == "yes"
    assert seen["headers"]["content-type"] == "application/json"
    assert json.loads(seen["body"]) == {"id": 42}


def test_bodies_and_header_options(client):
    assert inspected(client.post("Inspect", data=b"\x00raw"))["body"] == "\x00raw"
    assert inspected(client.post("Inspect", data="é"))["body"] == "é"
    assert inspected(client.call("Inspect", b"positional", method="PUT"))["body"] == "positional"
    seen = inspected(
        client.post("Inspect", data="x", headers={"content-type": "text/plain", "Accept": "*/*"})
    )
    assert seen["headers"]["content-type"] == "text/plain"
    assert seen["headers"]["accept"] == "*/*"
    with pytest.raises(TypeError):
        client.post("Inspect", data=b"a", json={"b": 1})


def test_content_type_and_case_insensitive_merging(client):
    # Inspect is configured with ContentType text/plain: data= keeps it, json= replaces it,
    # unless this call names a content type itself.
    assert inspected(client.post("Inspect", data="x"))["headers"]["content-type"] == "text/plain"
    assert inspected(client.post("Inspect", json=[1]))["headers"]["content-type"] == "application/json"
    seen = inspected(client.post("Inspect", json=[1], overrides={"contentType": "application/x-custom"}))
    assert seen["headers"]["content-type"] == "application/x-custom"
    # Keys and header names compare ignoring case between overrides and keywords: the keyword
    # wins, and the override's other headers stay.
    seen = inspected(
        client.call(
            "Inspect",
            overrides={"extraHeaderParameters": {"x-trace": "from-overrides", "X-Other": "kept"}},
            headers={"X-Trace": "from-keyword"},
        )
    )
    assert seen["headers"]["x-trace"] == "from-keyword"
    assert seen["headers"]["x-other"] == "kept"
    # None parameters are left out, as requests does.
    assert "skipped" not in inspected(client.get("Inspect", params={"skipped": None, "a": "1"}))["target"]
    # Malformed override text is the library's error, with keywords too.
    for bad in ("{not json", "[1]"):
        with pytest.raises(dsa.ConfigError):
            client.get("Inspect", overrides=bad)


def test_headers_are_a_dict(client):
    headers = client.get("Inspect").headers
    assert isinstance(headers, dict)
    assert json.loads(json.dumps(headers))["content-type"] == "application/json"
    assert headers.get("Content-Type") == "application/json"
    assert headers.get("X-Absent", "none") == "none"


def test_shorthands_send_their_method(client):
    for verb in ("get", "post", "put", "patch", "delete"):
        seen = inspected(getattr(client, verb)("Inspect", path="inspect/verb"))
        assert seen["method"] == verb.upper()
        assert seen["target"].startswith("/inspect/verb")


def test_override_object_still_works_and_keywords_win(client):
    seen = inspected(client.call("Inspect", overrides={"HttpMethod": "PUT", "RelativePath": "inspect/x"}))
    assert (seen["method"], seen["target"].split("?")[0]) == ("PUT", "/inspect/x")
    seen = inspected(
        client.call(
            "Inspect",
            overrides='{"HttpMethod": "PUT", "ExtraQueryParameters": {"a": "1"}}',
            method="PATCH",
            params={"b": "2"},
        )
    )
    assert seen["method"] == "PATCH"
    assert "a=1" in seen["target"] and "b=2" in seen["target"]


def test_none_leaves_out_a_configured_parameter_or_header(client):
    seen = inspected(client.get("Inspect", params={"configured": None, "kept": "1"}, headers={"X-Configured": None}))
    assert "configured=" not in seen["target"] and "kept=1" in seen["target"]
    assert "x-configured" not in seen["headers"]
    assert "x-configured" in inspected(client.get("Inspect"))["headers"], "removal lasts one call"


def test_api_options_show_the_configuration_without_values(client):
    options = client.api_options("inspect")
    assert options["RelativePath"] == "inspect" and options["ProtocolScheme"] == "MTLS"
    assert options["ContentType"] == "text/plain" and options["HttpMethod"] == "GET"
    assert options["ExtraQueryParameters"] == {"configured": None}
    assert options["ExtraHeaderParameters"] == {"X-Configured": None}
    assert client.api_options("Inspect", {"HttpMethod": "post"})["HttpMethod"] == "POST"
    with pytest.raises(dsa.UnknownApiError):
        client.api_options("Nope")
    with pytest.raises(dsa.ConfigError, match="overrides.Scopes"):
        client.api_options("Inspect", {"Scopes": 3})


def test_response_like_requests(client):
    r = client.get("Inspect", params={"q": "secret-ish"})
    assert r.method == "GET" and r.url.startswith("https://127.0.0.1:") and r.url.endswith("/inspect?…")
    assert r.ok and r.status_code == r.status == 200
    assert r.headers["Content-Type"] == "application/json"
    assert r.headers["content-type"] == r.headers["CONTENT-TYPE"]
    assert "Content-Type" in r.headers and "X-Absent" not in r.headers
    assert r.content == r.body and r.text == r.content.decode()
    assert r.raise_for_status() is r


def test_raise_for_status(client):
    for code in (404, 503):
        r = client.get("Inspect", path=f"status/{code}")
        assert r.status_code == code and not r.ok
        with pytest.raises(dsa.HTTPStatusError) as caught:
            r.raise_for_status()
        assert isinstance(caught.value, dsa.Error)
        assert caught.value.response is r
        assert caught.value.status == code
        assert str(code) in str(caught.value)


def test_per_call_timeout_against_a_server_that_does_not_answer(client):
    started = time.monotonic()
    with pytest.raises(dsa.DsapiTimeoutError):
        client.get("Inspect", path="slow/20000", timeout=0.5)
    assert time.monotonic() - started < 3
    with pytest.raises(dsa.ConfigError) as caught:
        client.get("Inspect", timeout=-1)
    assert "TimeoutSeconds" in caught.value.message


def test_every_exception_type_from_a_real_bad_input(client, config, config_path, tmp_path):
    with pytest.raises(dsa.UnknownApiError):
        client.get("NoSuchApi")
    with pytest.raises(dsa.ConfigError):
        client.call("Inspect", overrides="{not json")
    with pytest.raises(dsa.InvalidArgumentError):
        client.acquire_token("   ")
    with pytest.raises(dsa.DsapiIOError):
        dsa.Client.from_file(tmp_path / "missing.json")
    with pytest.raises(dsa.UnsupportedError):
        client.authorization_header("Mtls")
    with pytest.raises(dsa.ProtocolError) as protocol:
        client.get("Inspect", path="big-head")
    assert "64 KiB" in protocol.value.message
    https = config["DownstreamApis"]["Mtls"]["BaseUrl"]
    with pytest.raises(dsa.InsecureUrlError):
        client.get("Mtls", overrides={"BaseUrl": https.replace("https://", "http://")})

    def variant(change) -> dsa.Client:
        copy = json.loads(json.dumps(config))
        change(copy)
        return dsa.Client(copy)

    credentials = config["AzureAd"]["ClientCredentials"]
    with variant(lambda c: c["AzureAd"]["ClientCredentials"][0].update(
            CertificateDiskPath=str(tmp_path / "gone.pem"))) as missing:
        with pytest.raises(dsa.CredentialUnavailableError):
            missing.get("Mtls")
    # A certificate from another CA: the server refuses it, also after a reload.
    other = str(REPO_ROOT / "tests" / "fixtures" / "rsa-client.pkcs8.pem")
    with variant(lambda c: c["AzureAd"]["ClientCredentials"][0].update(CertificateDiskPath=other)) as foreign:
        with pytest.raises(dsa.CertificateRejectedError):
            foreign.get("Mtls")
    # The server's certificate checked against a CA that did not issue it.
    with variant(lambda c: c["Http"].update(CaBundlePath=str(REPO_ROOT / "tests" / "fixtures" / "ca.pem"))) as untrusted:
        with pytest.raises(dsa.TlsError):
            untrusted.get("Mtls")
    with variant(lambda c: c["DownstreamApis"]["Mtls"].update(BaseUrl="https://127.0.0.1:9/")) as closed:
        with pytest.raises(dsa.NetworkError):
            closed.get("Mtls")
    with variant(lambda c: c["AzureAd"].update(ClientId="not-registered")) as unknown_app:
        with pytest.raises(dsa.TokenAcquisitionError):
            unknown_app.get("Bearer")
    assert credentials == config["AzureAd"]["ClientCredentials"]
    closed_client = dsa.Client.from_file(config_path)
    closed_client.close()
    with pytest.raises(dsa.ClientClosedError):
        closed_client.get("Mtls")


def test_acquire_token_expiry_is_an_aware_datetime(client):
    token = client.acquire_token(["api://wrapper-resource/.default"])
    assert token.expires_on.tzinfo is not None
    assert token.expires_on.timestamp() > time.time()
    assert token.token not in repr(token)


def test_on_credential_event(config_path):
    events = []
    with dsa.Client.from_file(config_path) as client:
        client.on_credential_event(events.append)
        client.get("Mtls")
    assert [e.kind for e in events][:2] == [
        dsa.CredentialEventKind.SELECTED,
        dsa.CredentialEventKind.SUCCESSFULLY_USED,
    ]


def test_async_client_runs_64_calls_at_once_on_one_client(config_path):
    async def main() -> None:
        async with dsa.AsyncClient.from_file(config_path) as client:
            started = time.monotonic()
            responses = await asyncio.gather(
                *(client.get("Inspect", path="slow/200") for _ in range(64))
            )
            took = time.monotonic() - started
            assert [r.status_code for r in responses] == [200] * 64
            # 32 threads: two waves of 200 ms, far below 64 sequential calls (12.8 s).
            assert took < 4, took
            header = await client.authorization_header("Bearer")
            assert header.startswith("Bearer ")
            token = await client.acquire_token("api://wrapper-resource/.default")
            assert token.expires_on.timestamp() > time.time()
            assert (await client.describe_credentials())[0]["loaded"] is True
            r = await client.call("Inspect", method="POST", json={"a": 1})
            assert json.loads(r.json()["body"]) == {"a": 1}

    asyncio.run(main())


def test_async_call_never_blocks_the_loop_and_cancels_at_once(config_path):
    async def main() -> None:
        async with dsa.AsyncClient.from_file(config_path) as client:
            ticks = 0

            async def heartbeat() -> None:
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.01)
                    ticks += 1

            beat = asyncio.ensure_future(heartbeat())
            await client.get("Inspect", path="slow/500")
            assert ticks >= 20, f"the loop ran {ticks} times in 500 ms"
            call = asyncio.ensure_future(client.get("Inspect", path="slow/5000", timeout=10))
            await asyncio.sleep(0.1)
            started = time.monotonic()
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call
            assert time.monotonic() - started < 0.5
            beat.cancel()
            # Errors arrive as the same exceptions.
            with pytest.raises(dsa.UnknownApiError):
                await client.get("NoSuchApi")
        with pytest.raises(dsa.ClientClosedError):
            await client.get("Inspect")

    asyncio.run(main())


@pytest.mark.parametrize(
    "page, marker",
    [
        ("bindings/python/README.md", "<!-- python example -->"),
        ("README.md", "<!-- python quick start -->"),
    ],
)
def test_documented_python_examples_run_as_written(config, tmp_path, monkeypatch, page, marker):
    """The package page's example and the README's quick start, each run as the page shows it."""
    text = (REPO_ROOT / page).read_text()
    start = text.index(marker)
    block = text[start:].split("```python\n", 1)[1].split("```", 1)[0]
    # The example's appsettings.json: the loopback servers' APIs, "Orders" answering as Inspect
    # does under any path, "Graph" being the Bearer one.
    settings = json.loads(json.dumps(config))
    orders = dict(settings["DownstreamApis"]["Inspect"])
    orders["BaseUrl"] = orders["BaseUrl"].rstrip("/") + "/inspect"
    settings["DownstreamApis"]["Orders"] = orders
    settings["DownstreamApis"]["Graph"] = settings["DownstreamApis"]["Bearer"]
    (tmp_path / "appsettings.json").write_text(json.dumps(settings))
    monkeypatch.chdir(tmp_path)
    exec(compile(block, page, "exec"), {"__name__": "readme_example"})
