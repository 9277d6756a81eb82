"""Tests that need no server: loading, version, statuses, configuration errors, logging setup."""

from __future__ import annotations

import gc
import json
import logging
import re
from pathlib import Path

import pytest

import downstream_api
from downstream_api import _log, _native

NO_AUTHORITY = {
    "AzureAd": {"ClientCredentials": [{"SourceType": "Path", "CertificateDiskPath": "/nonexistent/client.pem"}]},
    "DownstreamApis": {
        "Mtls": {"BaseUrl": "https://127.0.0.1:9/", "ProtocolScheme": "MTLS"},
    },
}


def test_version_is_semver():
    assert re.fullmatch(r"\d+\.\d+\.\d+([-+].*)?", downstream_api.native_version())


def test_library_path_is_a_file():
    assert Path(_native.library_path).is_file()


@pytest.mark.parametrize("status", list(downstream_api.Status))
def test_status_names_mirror_the_header(status):
    assert downstream_api.status_name(status) == f"DSAPI_{status.name}"


HEADER = Path(__file__).resolve().parents[3] / "include" / "downstream_api.h"


def header_defines(prefix: str, exclude: tuple = ()) -> dict:
    """``#define`` names (without ``prefix``) and values of the committed C header."""
    found = {}
    for match in re.finditer(r"^#define (DSAPI_\w+) (\d+)$", HEADER.read_text(), re.M):
        name, value = match.group(1), int(match.group(2))
        if name.startswith(prefix) and not name.startswith(exclude):
            found[name[len(prefix):]] = value
    return found


@pytest.mark.parametrize(
    "enum_type, prefix, exclude",
    [
        (downstream_api.Status, "DSAPI_", ("DSAPI_LOG_", "DSAPI_EVENT_")),
        (downstream_api.LogLevel, "DSAPI_LOG_", ()),
        (downstream_api.CredentialEventKind, "DSAPI_EVENT_", ()),
    ],
)
def test_constants_are_exactly_the_headers(enum_type, prefix, exclude):
    defines = header_defines(prefix, exclude)
    assert defines, f"no {prefix}* in {HEADER}"
    assert {member.name: member.value for member in enum_type} == defines


def test_unknown_status_name():
    assert downstream_api.status_name(9999) == "DSAPI_UNKNOWN_STATUS"


def test_every_error_status_has_its_exception_class():
    for status in downstream_api.Status:
        if status == downstream_api.Status.OK:
            continue
        error = _native.error_for(status, "why")
        assert type(error) is not downstream_api.DownstreamApiError, status
        assert isinstance(error, downstream_api.DownstreamApiError)
        assert (error.code, error.status_name, error.message) == (status, f"DSAPI_{status.name}", "why")
    assert type(_native.error_for(1234, "x")) is downstream_api.DownstreamApiError


def test_timeout_and_io_errors_do_not_shadow_builtins():
    assert not issubclass(downstream_api.DsapiTimeoutError, TimeoutError)
    assert not issubclass(downstream_api.DsapiIOError, OSError)
    assert _native.ERROR_TYPES[downstream_api.Status.TIMEOUT] is downstream_api.DsapiTimeoutError


def test_malformed_json_is_a_config_error():
    with pytest.raises(downstream_api.ConfigError) as caught:
        downstream_api.Client("{not json")
    assert caught.value.code == 2
    assert caught.value.status_name == "DSAPI_CONFIG_INVALID"
    assert "JSON" in caught.value.message
    assert str(caught.value).startswith("DSAPI_CONFIG_INVALID: ")


def test_wrong_type_names_the_json_path():
    config = {"AzureAd": {"ClientCredentials": "not a list"}, "DownstreamApis": {}}
    with pytest.raises(downstream_api.ConfigError) as caught:
        downstream_api.Client.from_json(config)
    assert "AzureAd.ClientCredentials" in caught.value.message


def test_missing_config_file_is_an_io_error(tmp_path):
    missing = tmp_path / "missing" / "appsettings.json"
    with pytest.raises(downstream_api.DsapiIOError) as caught:
        downstream_api.Client.from_file(missing)
    assert caught.value.code == 3
    assert str(missing) in caught.value.message


def test_last_error_is_cleared_by_a_successful_call():
    with pytest.raises(downstream_api.ConfigError):
        downstream_api.Client("[")
    assert _native.last_error_message() != ""
    downstream_api.Client(NO_AUTHORITY).close()
    assert _native.last_error_message() == ""


def test_client_needs_exactly_one_source():
    with pytest.raises(TypeError):
        downstream_api.Client()
    with pytest.raises(TypeError):
        downstream_api.Client("{}", path="x.json")


def test_acquire_token_without_authority_is_a_config_error():
    with downstream_api.Client(json.dumps(NO_AUTHORITY)) as client:
        with pytest.raises(downstream_api.ConfigError) as caught:
            client.acquire_token(["api://orders/.default"])
    assert "Authority" in caught.value.message


def test_acquire_token_without_scopes_is_an_invalid_argument():
    with downstream_api.Client(NO_AUTHORITY) as client:
        with pytest.raises(downstream_api.InvalidArgumentError) as caught:
            client.acquire_token([])
    assert "scopes" in caught.value.message


def test_authorization_header_of_an_mtls_api_is_unsupported():
    with downstream_api.Client(NO_AUTHORITY) as client:
        with pytest.raises(downstream_api.UnsupportedError) as caught:
            client.authorization_header("Mtls")
    assert caught.value.code == 12
    assert "MTLS" in caught.value.message


def test_unknown_api_without_network():
    with downstream_api.Client(NO_AUTHORITY) as client:
        with pytest.raises(downstream_api.UnknownApiError) as caught:
            client.call("Nope")
    assert "Nope" in caught.value.message


def test_use_after_close_raises():
    client = downstream_api.Client(NO_AUTHORITY)
    client.close()
    client.close()  # idempotent
    assert client.closed
    for use in (
        lambda: client.call("Mtls"),
        lambda: client.authorization_header("Mtls"),
        lambda: client.acquire_token(["x/.default"]),
        lambda: client.add_observer(lambda event: None),
    ):
        with pytest.raises(downstream_api.ClientClosedError):
            use()


def test_context_manager_closes():
    with downstream_api.Client(NO_AUTHORITY) as client:
        assert not client.closed
    assert client.closed


def test_garbage_collected_client_is_freed():
    client = downstream_api.Client(NO_AUTHORITY)
    client.add_observer(lambda event: None)
    del client
    gc.collect()


def test_invalid_native_log_level_is_rejected():
    with pytest.raises(downstream_api.InvalidArgumentError) as caught:
        _native.lib.dsapi_set_log_callback(_native.LOG_CALLBACK(), None, 9)
    assert "max_level" in caught.value.message


@pytest.mark.parametrize(
    "level, expected",
    [
        (logging.ERROR, downstream_api.LogLevel.ERROR),
        (logging.CRITICAL, downstream_api.LogLevel.ERROR),
        (logging.WARNING, downstream_api.LogLevel.WARN),
        (logging.INFO, downstream_api.LogLevel.INFO),
        (logging.DEBUG, downstream_api.LogLevel.DEBUG),
        (logging.NOTSET, downstream_api.LogLevel.DEBUG),
        (downstream_api.LogLevel.WARN, downstream_api.LogLevel.WARN),
        (1, downstream_api.LogLevel.ERROR),
    ],
)
def test_log_level_mapping(level, expected):
    assert _log._native_level(level) is expected


def test_log_handler_can_be_set_and_removed():
    downstream_api.set_log_handler(logging.getLogger("test"), logging.DEBUG)
    downstream_api.set_log_handler(None)
