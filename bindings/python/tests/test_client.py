"""Tests against the loopback mTLS servers of `examples/loopback_servers.rs`."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

import downstream_api
from downstream_api import CredentialEventKind

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_client_from_file_calls_mtls(client):
    response = client.call("Mtls")
    assert response.status == 200
    assert response.body == b"hello wrapper-client"
    assert response.text == "hello wrapper-client"


def test_client_from_json_text_and_dict(config_path, config):
    with downstream_api.Client(Path(config_path).read_text()) as from_text:
        assert from_text.call("Mtls").body == b"hello wrapper-client"
    with downstream_api.Client.from_json(config) as from_dict:
        assert from_dict.call("mtls").status == 200  # API names ignore case


def test_echo_with_overrides_and_body(client):
    response = client.call(
        "Echo",
        b'{"id": 42}',
        overrides={
            "HttpMethod": "POST",
            "RelativePath": "echo/items",
            "ExtraQueryParameters": {"page": "2"},
            "ExtraHeaderParameters": {"X-Custom": "wrapped"},
        },
    )
    assert response.status == 200
    assert response.text == 'POST /echo/items?page=2\n{"id": 42}'


def test_body_types(client):
    overrides = {"HttpMethod": "PUT"}
    binary = bytes(range(256))
    assert client.call("Echo", binary, overrides=overrides).body == b"PUT /echo\n" + binary
    assert client.call("Echo", bytearray(b"ab"), overrides=overrides).body == b"PUT /echo\nab"
    assert client.call("Echo", memoryview(b"cd"), overrides=overrides).body == b"PUT /echo\ncd"
    assert client.call("Echo", "é", overrides=json.dumps(overrides)).body == "PUT /echo\né".encode()
    assert client.call("Echo").body == b"GET /echo\n"


def test_response_headers(client):
    response = client.call("Echo")
    assert response.headers["x-echo"] == "yes"
    assert all(name == name.lower() for name in response.headers)
    assert response.header("X-ECHO") == "yes"
    assert response.header("x-missing") is None
    assert response.header("x-missing", "default") == "default"
    assert ("x-echo", "yes") in response.header_items


def test_observer_sees_selected_then_successfully_used(config_path):
    events = []
    with downstream_api.Client.from_file(config_path) as client:
        client.add_observer(events.append)
        client.call("Mtls")
        client.call("Mtls")
    kinds = [event.kind for event in events]
    assert kinds == [
        CredentialEventKind.SELECTED,
        CredentialEventKind.SUCCESSFULLY_USED,
        CredentialEventKind.SUCCESSFULLY_USED,
    ]
    selected = events[0]
    assert len(selected.thumbprint) == 40 and selected.thumbprint == selected.thumbprint.upper()
    assert "wrapper-client" in selected.subject
    assert selected.source.startswith("ClientCredentials[0]")
    assert selected.protocol == "MTLS"
    assert selected.api_url.startswith("https://")
    assert selected.error is None


def test_observer_exception_does_not_break_the_call(config_path, caplog):
    def explode(event):
        raise RuntimeError("observer bug")

    seen = []
    with downstream_api.Client.from_file(config_path) as client:
        client.add_observer(explode)
        client.add_observer(seen.append)
        with caplog.at_level(logging.ERROR, logger="downstream_api"):
            assert client.call("Mtls").status == 200
    assert len(seen) == 2
    assert "observer raised" in caplog.text


def test_log_bridge_to_a_callable(config_path):
    messages = []
    downstream_api.set_log_handler(lambda level, message: messages.append((level, message)), logging.DEBUG)
    try:
        with downstream_api.Client.from_file(config_path) as client:
            client.call("Mtls")
    finally:
        downstream_api.set_log_handler(None)
    assert messages, "no log message was delivered"
    assert any(level == logging.INFO and "selected" in message for level, message in messages)
    assert all(level in (logging.ERROR, logging.WARNING, logging.INFO, logging.DEBUG) for level, _ in messages)


def test_log_bridge_to_a_logger_respects_the_level(config_path, caplog):
    logger = logging.getLogger("downstream_api.test")

    def call_logging_at(level):
        downstream_api.set_log_handler(logger, level)
        try:
            with caplog.at_level(logging.DEBUG, logger=logger.name):
                with downstream_api.Client.from_file(config_path) as client:
                    client.call("Mtls")
        finally:
            downstream_api.set_log_handler(None)

    call_logging_at(logging.WARNING)
    assert not [r for r in caplog.records if r.levelno < logging.WARNING and r.name == logger.name]

    call_logging_at(logging.INFO)
    assert any(r.levelno == logging.INFO and "selected" in r.getMessage() for r in caplog.records)


def test_log_handler_exception_is_swallowed(config_path):
    def explode(level, message):
        raise RuntimeError("handler bug")

    downstream_api.set_log_handler(explode, logging.DEBUG)
    try:
        with downstream_api.Client.from_file(config_path) as client:
            assert client.call("Mtls").status == 200
    finally:
        downstream_api.set_log_handler(None)


def test_unknown_api(client):
    with pytest.raises(downstream_api.UnknownApiError) as caught:
        client.call("NoSuchApi")
    assert caught.value.code == 4
    assert "NoSuchApi" in caught.value.message


def test_bad_overrides_are_a_config_error(client):
    with pytest.raises(downstream_api.ConfigError):
        client.call("Echo", overrides="{not json")


def test_missing_certificate_file(config, tmp_path):
    broken = json.loads(json.dumps(config))
    broken["AzureAd"]["ClientCredentials"][0]["CertificateDiskPath"] = str(tmp_path / "missing.pem")
    with downstream_api.Client(broken) as client:  # credentials load lazily: creation succeeds
        with pytest.raises(downstream_api.CredentialUnavailableError) as caught:
            client.call("Mtls")
    assert caught.value.code == 5
    assert "ClientCredentials[0]" in caught.value.message
    assert "missing.pem" in caught.value.message


def test_http_base_url_override_is_refused(client, config):
    https_url = config["DownstreamApis"]["Mtls"]["BaseUrl"]
    with pytest.raises(downstream_api.InsecureUrlError) as caught:
        client.call("Mtls", overrides={"BaseUrl": https_url.replace("https://", "http://")})
    assert caught.value.code == 10
    assert "http://" in caught.value.message


def test_authorization_header_of_mtls_api_is_unsupported(client):
    with pytest.raises(downstream_api.UnsupportedError):
        client.authorization_header("Mtls")


def test_acquire_token_without_authority_is_a_config_error(config):
    no_authority = json.loads(json.dumps(config))
    for key in ("Instance", "TenantId", "Authority"):
        no_authority["AzureAd"].pop(key, None)
    # A token API without an authority is already refused when the client is created.
    for api in ("Bearer", "Pop", "Users"):
        no_authority["DownstreamApis"].pop(api, None)
    with downstream_api.Client(no_authority) as client:
        with pytest.raises(downstream_api.ConfigError) as caught:
            client.acquire_token(["api://orders/.default"], {"ForceRefresh": True})
    assert "Authority" in caught.value.message


@pytest.fixture
def bearer_client(client):
    """The client; the loopback servers' `Bearer` API takes tokens from their fake Entra endpoint."""
    return client


def test_bearer_call(bearer_client):
    response = bearer_client.call("Bearer")
    assert response.status == 200
    assert "api://wrapper-resource/.default" in response.text


def test_bearer_authorization_header(bearer_client):
    header = bearer_client.authorization_header("Bearer")
    assert header.startswith("Bearer ") and len(header) > len("Bearer ")


def test_mtls_pop_call_and_header(bearer_client):
    # The token is requested over mTLS with the client certificate; the resource accepts it only
    # on a connection presenting that certificate.
    response = bearer_client.get("Pop")
    assert response.status_code == 200, response.text
    assert response.text == "mtls_pop api://wrapper-resource/.default"
    header = bearer_client.authorization_header("Pop")
    assert header.startswith("mtls_pop ") and len(header) > len("mtls_pop ")
    with pytest.raises(downstream_api.ConfigError, match="overrides.RequestAppToken"):
        bearer_client.get("Pop", overrides={"RequestAppToken": False})


def test_bearer_acquire_token(bearer_client):
    token = bearer_client.acquire_token(["api://wrapper-resource/.default"])
    assert token.token
    assert token.expires_on_unix > time.time()
    assert token.expires_on.timestamp() == token.expires_on_unix
    assert token.expires_at.tzinfo is not None
    assert token.token not in repr(token)
    again = bearer_client.acquire_token("api://wrapper-resource/.default")
    assert again.token == token.token  # from the cache


def test_use_after_close(config_path):
    client = downstream_api.Client.from_file(config_path)
    assert client.call("Mtls").status == 200
    client.close()
    with pytest.raises(downstream_api.ClientClosedError):
        client.call("Mtls")


def test_threads_share_one_client(client):
    events = []
    client.add_observer(events.append)
    errors = []
    bodies = []

    def work(index):
        try:
            for round_ in range(10):
                body = f"{index}-{round_}".encode()
                response = client.call("Echo", body, overrides={"HttpMethod": "POST"})
                bodies.append(response.body == b"POST /echo\n" + body)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(bodies) == 80 and all(bodies)
    assert sum(e.kind == CredentialEventKind.SUCCESSFULLY_USED for e in events) == 80
    assert sum(e.kind == CredentialEventKind.SELECTED for e in events) == 1


def test_close_while_other_threads_call(config_path):
    client = downstream_api.Client.from_file(config_path)
    started = threading.Barrier(5)
    outcomes = []

    def work():
        started.wait()
        try:
            while True:
                client.call("Mtls")
        except downstream_api.ClientClosedError:
            outcomes.append("closed")
        except BaseException as error:
            outcomes.append(error)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    started.wait()
    client.close()
    for thread in threads:
        thread.join()
    assert outcomes == ["closed"] * 4


def test_describe_credentials_before_and_after_a_call(config_path, config, tmp_path):
    with downstream_api.Client.from_file(config_path) as client:
        before = client.describe_credentials()
        assert [entry["index"] for entry in before] == list(range(len(before)))
        first = before[0]
        assert first["loaded"] is True and first["kind"] == "certificate"
        assert len(first["thumbprint"]) == 40 and len(first["thumbprintSha256"]) == 64
        assert first["subject"] and first["issuer"] and first["daysLeft"] >= 0
        assert first["selectedFor"] == []
        client.call("Mtls")
        assert client.describe_credentials()[0]["selectedFor"] == ["MTLS"]

    broken = json.loads(json.dumps(config))
    broken["AzureAd"]["ClientCredentials"][0]["CertificateDiskPath"] = str(tmp_path / "gone.pem")
    with downstream_api.Client(broken) as client:
        entry = client.describe_credentials()[0]
        assert entry["loaded"] is False and entry["kind"] is None
        assert "gone.pem" in entry["error"]


def test_metrics_count_a_call_and_show_the_selected_certificate(config_path):
    def mtls_responses(metrics):
        return sum(
            call["count"]
            for call in metrics["calls"]
            if (call["api"], call["protocol"], call["outcome"]) == ("Mtls", "MTLS", "response")
        )

    with downstream_api.Client.from_file(config_path) as client:
        before = client.metrics()
        assert before["certificates"] == []
        assert client.call("Mtls").status_code == 200
        after = client.metrics()
        # The counters are the process's: only this test's call is compared.
        assert mtls_responses(after) == mtls_responses(before) + 1
        assert set(after) == {
            "calls", "tokenRequests", "tokenCache", "tlsHandshakes", "retries", "certificates"
        }
        assert after["tlsHandshakes"]["full"] >= 1
        (certificate,) = after["certificates"]
        described = client.describe_credentials()[0]
        assert certificate["thumbprint"] == described["thumbprint"]
        assert certificate["subject"] == described["subject"]
        assert int(certificate["daysLeft"] // 1) == described["daysLeft"]


def test_managed_identity_token_from_the_platform_endpoint(config_path, monkeypatch):
    # The variables App Service sets, pointing at the loopback servers' fake endpoint; a client
    # reads them when it is created.
    environment = json.loads(
        (Path(config_path).parent / "managed-identity-environment.json").read_text()
    )
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with downstream_api.Client.from_file(config_path) as client:
        response = client.get("Vault")
        assert response.status_code == 200, response.text
        assert response.text == "system api://wrapper-vault"
        token = client.acquire_token("api://wrapper-vault/.default", {"ManagedIdentity": {}})
        assert token.token.startswith("mi-")
        with pytest.raises(downstream_api.TokenAcquisitionError, match="Identity not found"):
            client.get(
                "Vault",
                overrides={"AcquireTokenOptions": {"ManagedIdentity": {"UserAssignedClientId": "nobody"}}},
            )


def test_shared_token_cache_configuration(config, tmp_path):
    # TokenCache.Distributed needs nothing of the wrapper: a Redis that cannot be reached is
    # skipped (the token comes from the endpoint), a missing key file is a configuration error.
    key_file = tmp_path / "cache.key"
    key_file.write_bytes(os.urandom(32))
    distributed = {"Redis": "redis://:not-logged@127.0.0.1:9/0", "EncryptionKeyFile": str(key_file)}
    with downstream_api.Client.from_json({**config, "TokenCache": {"Distributed": distributed}}) as client:
        assert client.get("Bearer").status_code == 200
    missing = {**distributed, "EncryptionKeyFile": str(tmp_path / "missing.key")}
    with pytest.raises(downstream_api.ConfigError, match="TokenCache.Distributed.EncryptionKeyFile") as error:
        downstream_api.Client.from_json({**config, "TokenCache": {"Distributed": missing}})
    assert "not-logged" not in str(error.value)


def test_pushed_credentials(config_path):
    renewed = (Path(config_path).parent / "renewed.pem").read_bytes()
    with downstream_api.Client.from_file(config_path) as client:
        assert client.get("Renewed").status_code == 495  # only the renewed certificate is trusted
        client.set_credential(0, renewed)
        assert client.get("Renewed").status_code == 200
        encrypted = (REPO_ROOT / "tests" / "fixtures" / "rsa-client.encrypted.pem").read_bytes()
        with pytest.raises(downstream_api.CredentialUnavailableError, match=r"ClientCredentials\[0\]") as error:
            client.set_credential(0, encrypted, password="wrong-pushed-pass")
        assert "wrong CertificatePassword" in str(error.value)
        assert "wrong-pushed-pass" not in str(error.value)
        assert client.get("Renewed").status_code == 200  # the old credential stayed
        client.reload_credentials()
        assert client.get("Renewed").status_code == 200
