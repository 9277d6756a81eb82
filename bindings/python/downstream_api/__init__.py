"""Call downstream HTTPS APIs with the app's client certificate (mTLS) or an app token,
configured by the same ``appsettings.json`` as Microsoft.Identity.Web::

    import downstream_api as dsa

    with dsa.Client.from_file("appsettings.json") as client:
        r = client.call("Orders", method="POST", path="orders/42", json={"id": 42})
        r.raise_for_status()
        print(r.status_code, r.json())

    async with dsa.AsyncClient.from_file("appsettings.json") as client:
        r = await client.get("Orders", path="orders/42")

On behalf of a web API's caller, and as an Entra agent identity (or its user)::

    r = client.get("Graph", user_token=incoming_access_token)
    r = client.for_agent(agent_app_id, username="agent.user@contoso.com").get("Graph")

A web API validates the token its caller sent first (:class:`TokenInvalidError` when refused)::

    claims = client.validate_token(incoming_access_token)

A :class:`Client` may be shared by many threads. Failures to get a response raise subclasses of
:class:`Error` carrying the library's status and message; :meth:`Response.raise_for_status`
raises :class:`HTTPStatusError` for 4xx and 5xx answers. The wheel carries the native library;
the environment variable ``DSAPI_LIBRARY`` names another one.
"""

from __future__ import annotations

from . import _native
from ._async import AsyncAgentClient, AsyncClient
from ._client import AgentClient, Body, Client, ClientClosedError, JsonObject
from ._events import AccessToken, CredentialEvent, CredentialEventKind, LogLevel
from ._log import LogHandler, set_log_handler
from ._native import (
    BufferTooSmallError,
    CertificateRejectedError,
    ConfigError,
    CredentialUnavailableError,
    DownstreamApiError,
    DsapiIOError,
    DsapiTimeoutError,
    InsecureUrlError,
    InvalidArgumentError,
    NativePanicError,
    NetworkError,
    NotFoundError,
    ProtocolError,
    TlsError,
    TokenAcquisitionError,
    TokenInvalidError,
    UnknownApiError,
    UnsupportedError,
    UserInteractionRequiredError,
)
from ._response import Headers, HTTPStatusError, Response
from ._status import Status

Error = DownstreamApiError
"""The base of every exception this package raises about a call (``.status``, ``.message``)."""

__version__ = "0.1.0"

__all__ = [
    "AccessToken",
    "AgentClient",
    "AsyncAgentClient",
    "AsyncClient",
    "Body",
    "BufferTooSmallError",
    "CertificateRejectedError",
    "Client",
    "ClientClosedError",
    "ConfigError",
    "CredentialEvent",
    "CredentialEventKind",
    "CredentialUnavailableError",
    "DownstreamApiError",
    "DsapiIOError",
    "DsapiTimeoutError",
    "Error",
    "HTTPStatusError",
    "Headers",
    "InsecureUrlError",
    "InvalidArgumentError",
    "JsonObject",
    "LogHandler",
    "LogLevel",
    "NativePanicError",
    "NetworkError",
    "NotFoundError",
    "ProtocolError",
    "Response",
    "Status",
    "TlsError",
    "TokenAcquisitionError",
    "TokenInvalidError",
    "UnknownApiError",
    "UnsupportedError",
    "UserInteractionRequiredError",
    "library_path",
    "native_version",
    "set_log_handler",
    "status_name",
]

library_path: str = _native.library_path
"""The native library this package loaded."""


def native_version() -> str:
    """The native library's version, e.g. ``"0.1.0"``."""
    version: bytes = _native.lib.dsapi_version()
    return version.decode("utf-8")


def status_name(status: int) -> str:
    """The name of a status code, e.g. ``"DSAPI_TIMEOUT"``."""
    return _native.status_name(status)
