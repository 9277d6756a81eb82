"""Call downstream HTTPS APIs with the app's client certificate (mTLS) or an app token,
configured by the same ``appsettings.json`` as Microsoft.Identity.Web.

A thin ctypes wrapper over the ``downstream_api`` C library::

    import downstream_api

    with downstream_api.Client.from_file("appsettings.json") as client:
        response = client.call("Orders", overrides={"RelativePath": "orders/42"})
        print(response.status, response.text)

A :class:`Client` may be shared by many threads. Failures raise subclasses of
:class:`DownstreamApiError` carrying the library's status code and message.
"""

from __future__ import annotations

import atexit
import ctypes
import enum
import json
import logging
import os
import threading
from ctypes import byref, c_int64, c_size_t, c_void_p
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from . import _native
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
    UnknownApiError,
    UnsupportedError,
)
from ._status import Status

__all__ = [
    "AccessToken",
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
    "InsecureUrlError",
    "InvalidArgumentError",
    "LogLevel",
    "NativePanicError",
    "NetworkError",
    "NotFoundError",
    "ProtocolError",
    "Response",
    "Status",
    "TlsError",
    "TokenAcquisitionError",
    "UnknownApiError",
    "UnsupportedError",
    "native_version",
    "set_log_handler",
    "status_name",
]

JsonObject = Union[str, Mapping[str, Any]]
Body = Union[bytes, bytearray, memoryview, str]


class LogLevel(enum.IntEnum):
    """The library's log levels; a handler at a level also gets the more severe ones."""

    ERROR = _native.DSAPI_LOG_ERROR
    WARN = _native.DSAPI_LOG_WARN
    INFO = _native.DSAPI_LOG_INFO
    DEBUG = _native.DSAPI_LOG_DEBUG

    @property
    def logging_level(self) -> int:
        """The matching :mod:`logging` level."""
        return _TO_LOGGING[self]


_TO_LOGGING = {
    LogLevel.ERROR: logging.ERROR,
    LogLevel.WARN: logging.WARNING,
    LogLevel.INFO: logging.INFO,
    LogLevel.DEBUG: logging.DEBUG,
}


class CredentialEventKind(enum.IntEnum):
    """Kind of a :class:`CredentialEvent`."""

    SELECTED = _native.DSAPI_EVENT_SELECTED
    DESELECTED = _native.DSAPI_EVENT_DESELECTED
    SUCCESSFULLY_USED = _native.DSAPI_EVENT_SUCCESSFULLY_USED


class ClientClosedError(ValueError):
    """The :class:`Client` was used after :meth:`Client.close` (like I/O on a closed file)."""


def native_version() -> str:
    """The native library's version, e.g. ``"0.1.0"``."""
    return _native.lib.dsapi_version().decode("utf-8")


def status_name(status: int) -> str:
    """The name of a status code, e.g. ``"DSAPI_TIMEOUT"``."""
    return _native.status_name(status)


# ---------------------------------------------------------------------------------------------
# Responses, tokens, events
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Response:
    """An HTTP response, copied out of the native response (which is already freed).

    Any HTTP status, 4xx and 5xx included, is a response, not an exception.
    """

    status: int
    body: bytes
    header_items: Tuple[Tuple[str, str], ...] = ()
    """Every header in received order as ``(lower-case name, value)``."""

    @property
    def headers(self) -> Dict[str, str]:
        """Headers by lower-case name; repeated headers are joined with ``", "``."""
        merged: Dict[str, str] = {}
        for name, value in self.header_items:
            merged[name] = f"{merged[name]}, {value}" if name in merged else value
        return merged

    @property
    def text(self) -> str:
        """The body decoded as UTF-8 (invalid bytes replaced)."""
        return self.body.decode("utf-8", "replace")

    def header(self, name: str, default: Optional[str] = None) -> Optional[str]:
        """The first header called ``name`` (ignoring case), or ``default``."""
        wanted = name.lower()
        for header_name, value in self.header_items:
            if header_name == wanted:
                return value
        return default

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


@dataclass(frozen=True)
class AccessToken:
    """An app token from :meth:`Client.acquire_token`. The token is a secret: it is left out of
    ``repr`` so that it does not end up in logs by accident."""

    token: str = field(repr=False)
    expires_on: int
    """Expiry in Unix seconds."""

    @property
    def expires_at(self) -> datetime:
        """The expiry as an aware UTC datetime."""
        return datetime.fromtimestamp(self.expires_on, tz=timezone.utc)


@dataclass(frozen=True)
class CredentialEvent:
    """What an observer receives (Id.Web's ``ICredentialsObserver`` events)."""

    kind: CredentialEventKind
    thumbprint: str
    """SHA-1 thumbprint of the certificate, upper-case hex."""
    subject: str
    source: str
    """Which ``ClientCredentials`` entry, e.g. ``"ClientCredentials[0] (Path)"``."""
    protocol: str
    api_url: str
    error: Optional[str]
    """Why the certificate was dropped; only set for ``DESELECTED``."""


def _text(value: Optional[bytes]) -> str:
    return value.decode("utf-8", "replace") if value else ""


def _event_from(native: "_native.dsapi_credential_event") -> CredentialEvent:
    try:
        kind: Any = CredentialEventKind(native.kind)
    except ValueError:  # a kind added by a newer library
        kind = native.kind
    return CredentialEvent(
        kind=kind,
        thumbprint=_text(native.thumbprint),
        subject=_text(native.subject),
        source=_text(native.source),
        protocol=_text(native.protocol),
        api_url=_text(native.api_url),
        error=None if native.error is None else _text(native.error),
    )


def _json_arg(value: Optional[JsonObject]) -> Optional[bytes]:
    if value is None:
        return None
    if not isinstance(value, str):
        value = json.dumps(value)
    return value.encode("utf-8")


def _body_arg(body: Optional[Body]) -> bytes:
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode("utf-8")
    return bytes(body)


def _copy_response(response: Any) -> Response:
    lib = _native.lib
    status = lib.dsapi_response_status(response)
    length = c_size_t(0)
    pointer = lib.dsapi_response_body(response, byref(length))
    body = ctypes.string_at(pointer, length.value) if pointer and length.value else b""
    items = []
    name = ctypes.c_char_p()
    value = ctypes.c_char_p()
    for index in range(lib.dsapi_response_header_count(response)):
        lib.dsapi_response_header_at(response, index, byref(name), byref(value))
        items.append((_text(name.value).lower(), _text(value.value)))
    return Response(status=status, body=body, header_items=tuple(items))


# ---------------------------------------------------------------------------------------------
# Client
# ---------------------------------------------------------------------------------------------


class Client:
    """A client built from an ``appsettings.json``: its APIs, credentials, connection pools and
    token caches. Thread-safe: share one client between threads.

    Create it from JSON text (or a dict) or from a file::

        client = Client(config_json)          # or Client.from_json(...)
        client = Client(path="appsettings.json")  # or Client.from_file(...)

    Free it with :meth:`close` or a ``with`` block. After ``close`` every method raises
    :class:`ClientClosedError`; calls still running on other threads finish first, and the
    native client is freed when the last of them returns.
    """

    def __init__(
        self, config_json: Optional[JsonObject] = None, *, path: Optional[str] = None
    ) -> None:
        # Set first so that close()/__del__ work even when construction fails.
        self._handle: Any = None
        self._guard = threading.Lock()
        self._active = 0
        self._closed = False
        self._observers: List[Any] = []
        if (config_json is None) == (path is None):
            raise TypeError("pass either config_json or path=, not both or neither")
        handle = _native.ClientPtr()
        if path is not None:
            _native.lib.dsapi_client_new_from_file(_fspath(path), byref(handle))
        else:
            _native.lib.dsapi_client_new(_json_arg(config_json), byref(handle))
        self._handle = handle

    @classmethod
    def from_json(cls, config_json: JsonObject) -> "Client":
        """A client from the JSON text of an ``appsettings.json`` (or an equivalent dict)."""
        return cls(config_json)

    @classmethod
    def from_file(cls, path: Any) -> "Client":
        """A client from the ``appsettings.json`` file at ``path``."""
        return cls(path=path)

    # -- lifetime ------------------------------------------------------------------------------

    def close(self) -> None:
        """Frees the native client (idempotent). Observers stay alive until it is freed."""
        with self._guard:
            if self._closed:
                return
            self._closed = True
            free_now = self._active == 0
        if free_now:
            self._free()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __del__(self) -> None:
        # Fallback only: prefer close() or `with`. No call can be active here (each holds self).
        try:
            self.close()
        except Exception:
            pass

    def _free(self) -> None:
        handle, self._handle = self._handle, None
        if handle:
            _native.lib.dsapi_client_free(handle)
        # Only now can no native thread call the observers any more.
        self._observers = []

    def _enter(self) -> Any:
        with self._guard:
            if self._closed or not self._handle:
                raise ClientClosedError("the downstream_api Client is closed")
            self._active += 1
            return self._handle

    def _exit(self) -> None:
        with self._guard:
            self._active -= 1
            free_now = self._closed and self._active == 0
        if free_now:
            self._free()

    # -- calls ---------------------------------------------------------------------------------

    def call(
        self,
        api_name: str,
        body: Optional[Body] = b"",
        *,
        overrides: Optional[JsonObject] = None,
    ) -> Response:
        """Calls the API ``api_name`` (a key of ``DownstreamApis``, case-insensitive).

        ``overrides`` (a dict or JSON text) replaces keys of the API's configuration for this
        call: ``HttpMethod``, ``RelativePath``, ``ExtraQueryParameters``,
        ``ExtraHeaderParameters``, ``ContentType``, ``AcceptHeader``, ... ``body`` is sent as is
        (a ``str`` is encoded as UTF-8). Any HTTP status is returned as a :class:`Response`;
        failures to get one raise a :class:`DownstreamApiError` subclass.
        """
        name = api_name.encode("utf-8")
        overrides_json = _json_arg(overrides)
        data = _body_arg(body)
        response = _native.ResponsePtr()
        handle = self._enter()
        try:
            _native.lib.dsapi_client_call(
                handle, name, overrides_json, data or None, len(data), byref(response)
            )
        finally:
            self._exit()
        try:
            return _copy_response(response)
        finally:
            _native.lib.dsapi_response_free(response)

    def authorization_header(
        self, api_name: str, overrides: Optional[JsonObject] = None
    ) -> str:
        """The ``Authorization`` header value a call to ``api_name`` would carry, e.g.
        ``"Bearer eyJ..."`` (a secret: do not log it). An MTLS API has none:
        :class:`UnsupportedError`."""
        name = api_name.encode("utf-8")
        overrides_json = _json_arg(overrides)
        header = c_void_p()
        handle = self._enter()
        try:
            _native.lib.dsapi_client_authorization_header(
                handle, name, overrides_json, byref(header)
            )
        finally:
            self._exit()
        return _native.take_string(header)

    def acquire_token(
        self, scopes: Union[str, Sequence[str]], options: Optional[JsonObject] = None
    ) -> AccessToken:
        """An app token (client credentials) for ``scopes`` (a list, or one space-separated
        string). ``options`` is an ``AcquireTokenOptions`` object: ``Tenant``,
        ``ForceRefresh``, ``Claims``, ``CorrelationId``."""
        joined = scopes if isinstance(scopes, str) else " ".join(scopes)
        options_json = _json_arg(options)
        token = c_void_p()
        expires_on = c_int64(0)
        handle = self._enter()
        try:
            _native.lib.dsapi_client_acquire_token(
                handle, joined.encode("utf-8"), options_json, byref(token), byref(expires_on)
            )
        finally:
            self._exit()
        return AccessToken(token=_native.take_string(token), expires_on=expires_on.value)

    def describe_credentials(self) -> List[Dict[str, Any]]:
        """Every ``AzureAd.ClientCredentials`` entry, in order, as a dict for a health endpoint:
        ``index``, ``sourceType``, ``location``, ``skipped``, ``loaded``, ``kind``,
        ``selectedFor`` and, for a certificate, ``thumbprint``, ``thumbprintSha256``,
        ``subject``, ``issuer``, ``notBefore``, ``notAfter``, ``daysLeft``; ``error`` for an
        entry that failed to load. Entries not loaded yet are loaded now. Holds no secret."""
        described = c_void_p()
        handle = self._enter()
        try:
            _native.lib.dsapi_client_describe_credentials(handle, byref(described))
        finally:
            self._exit()
        entries: List[Dict[str, Any]] = json.loads(_native.take_string(described))
        return entries

    def add_observer(self, observer: Callable[[CredentialEvent], None]) -> None:
        """Registers ``observer(event)`` for credential events until the client is freed.

        It runs on the thread making the call, possibly on several at once. Exceptions it
        raises are logged to the ``downstream_api`` logger and otherwise ignored: they cannot
        cross into the native library.
        """

        def trampoline(_user_data: Any, event: Any) -> None:
            try:
                observer(_event_from(event.contents))
            except BaseException:  # never unwind into C
                _logger.exception("downstream_api credential observer raised")

        callback = _native.OBSERVER_CALLBACK(trampoline)
        handle = self._enter()
        try:
            _native.lib.dsapi_client_add_observer(handle, callback, None)
            # The native client keeps the function pointer until it is freed: so must we.
            self._observers.append(callback)
        finally:
            self._exit()

    def __repr__(self) -> str:
        return f"<downstream_api.Client {'closed' if self._closed else 'open'}>"


def _fspath(path: Any) -> bytes:
    """A path argument as the library wants it: UTF-8 bytes (bytes paths are passed as is)."""
    path = os.fspath(path)
    return path if isinstance(path, bytes) else path.encode("utf-8")


# ---------------------------------------------------------------------------------------------
# Logging
# ---------------------------------------------------------------------------------------------

_logger = logging.getLogger("downstream_api")
_log_lock = threading.Lock()
# Every log callback ever installed: the library may still be running a replaced one on another
# thread, so none is ever released (each is one small object).
_log_callbacks: List[Any] = []

LogHandler = Union[logging.Logger, Callable[[int, str], None]]


def _native_level(level: int) -> LogLevel:
    if isinstance(level, LogLevel) or 1 <= level <= 4:
        return LogLevel(level)
    if level >= logging.ERROR:
        return LogLevel.ERROR
    if level >= logging.WARNING:
        return LogLevel.WARN
    if level >= logging.INFO:
        return LogLevel.INFO
    return LogLevel.DEBUG


def set_log_handler(handler: Optional[LogHandler] = _logger, level: int = logging.INFO) -> None:
    """Sends the library's log messages to ``handler``, replacing any previous handler.

    ``handler`` is a :class:`logging.Logger` (the default is the ``downstream_api`` logger) or a
    callable ``handler(logging_level, message)``; ``None`` stops logging. ``level`` is a
    :mod:`logging` level (``logging.INFO``) or a :class:`LogLevel` (1..4); messages up to that
    verbosity are delivered, with the library's levels 1..4 mapped to ERROR, WARNING, INFO and
    DEBUG. The handler may be called from any thread, several at once; exceptions it raises are
    swallowed (they cannot cross into C). Messages never contain secrets.
    """
    max_level = _native_level(level)
    with _log_lock:
        if handler is None:
            _native.lib.dsapi_set_log_callback(_native.LOG_CALLBACK(), None, max_level)
            return
        if isinstance(handler, logging.Logger):
            logger = handler

            def deliver(python_level: int, message: str) -> None:
                logger.log(python_level, message)

        else:
            deliver = handler

        def trampoline(_user_data: Any, native_level: int, message: Optional[bytes]) -> None:
            try:
                python_level = _TO_LOGGING.get(native_level, logging.DEBUG)  # type: ignore[call-overload]
                deliver(python_level, _text(message))
            except BaseException:  # never unwind into C
                pass

        callback = _native.LOG_CALLBACK(trampoline)
        _native.lib.dsapi_set_log_callback(callback, None, max_level)
        _log_callbacks.append(callback)


@atexit.register
def _remove_log_handler() -> None:
    # Native threads must not call into an interpreter that is shutting down.
    try:
        _native.lib.dsapi_set_log_callback(_native.LOG_CALLBACK(), None, LogLevel.ERROR)
    except Exception:
        pass
