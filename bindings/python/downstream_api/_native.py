"""Loads ``libdownstream_api`` and declares its C ABI for ctypes.

This is the only module that touches the shared library. It declares ``argtypes`` and
``restype`` for every function of ``include/downstream_api.h``, the opaque handle types, the
callback types, the status codes, and the exceptions that the ``errcheck`` of every
status-returning function raises.

Where the library is looked for, first match wins:

1. the file named by the ``DSAPI_LIBRARY`` environment variable;
2. a library shipped inside this package directory (package data of a wheel);
3. for development in a checkout, ``target/release`` then ``target/debug`` of the repository.
"""

from __future__ import annotations

import ctypes
import os
import sys
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_char,
    c_char_p,
    c_int64,
    c_size_t,
    c_uint16,
    c_uint32,
    c_void_p,
)
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Type

from ._status import Status

__all__ = [
    "lib",
    "library_path",
    "status_name",
    "last_error_message",
    "last_error_claims",
    "error_for",
]

# ---------------------------------------------------------------------------------------------
# Log levels and event kinds (the header's #defines; tests/test_native.py checks them against it).
# Status codes are generated into ``_status.py`` from the library's status table.
# ---------------------------------------------------------------------------------------------

DSAPI_LOG_ERROR = 1
DSAPI_LOG_WARN = 2
DSAPI_LOG_INFO = 3
DSAPI_LOG_DEBUG = 4

DSAPI_EVENT_SELECTED = 1
DSAPI_EVENT_DESELECTED = 2
DSAPI_EVENT_SUCCESSFULLY_USED = 3
DSAPI_EVENT_EXPIRING_SOON = 4

# ---------------------------------------------------------------------------------------------
# Exceptions
# ---------------------------------------------------------------------------------------------


class DownstreamApiError(Exception):
    """A call into the native library failed (also available as ``downstream_api.Error``).

    Attributes:
        status: the ``dsapi_status`` number (``DSAPI_CONFIG_INVALID`` is 2, ...), also ``code``;
            for :class:`~downstream_api.HTTPStatusError`, the HTTP status.
        status_name: its name, e.g. ``"DSAPI_CONFIG_INVALID"``.
        message: the library's message with the full cause chain (never contains secrets).
    """

    def __init__(self, code: int, status_name: str, message: str) -> None:
        super().__init__(code, status_name, message)
        self.code = code
        self.status_name = status_name
        self.message = message

    @property
    def status(self) -> int:
        return self.code

    def __str__(self) -> str:
        return f"{self.status_name}: {self.message}" if self.message else self.status_name


class InvalidArgumentError(DownstreamApiError):
    """``DSAPI_INVALID_ARGUMENT``: a NULL, non-UTF-8 or otherwise unusable argument."""


class ConfigError(DownstreamApiError):
    """``DSAPI_CONFIG_INVALID``: malformed JSON, a wrong type or a missing value (the message
    names the JSON path)."""


class DsapiIOError(DownstreamApiError):
    """``DSAPI_IO_ERROR``: a file named by the caller (the configuration file) could not be read.

    Named with a prefix so that it is not confused with the built-in ``IOError``."""


class UnknownApiError(DownstreamApiError):
    """``DSAPI_UNKNOWN_API``: the API name is not a key of ``DownstreamApis``."""


class CredentialUnavailableError(DownstreamApiError):
    """``DSAPI_CREDENTIAL_UNAVAILABLE``: no configured credential could be loaded."""


class CertificateRejectedError(DownstreamApiError):
    """``DSAPI_CERTIFICATE_REJECTED``: the server rejected the client certificate, also after a
    reload and one retry."""


class TlsError(DownstreamApiError):
    """``DSAPI_TLS_ERROR``: another TLS failure, e.g. an untrusted server certificate."""


class NetworkError(DownstreamApiError):
    """``DSAPI_NETWORK_ERROR``: connection refused or reset, or name resolution failed."""


class DsapiTimeoutError(DownstreamApiError):
    """``DSAPI_TIMEOUT``: the connect timeout or the call's overall timeout elapsed.

    Named with a prefix so that it is not confused with the built-in ``TimeoutError``."""


class InsecureUrlError(DownstreamApiError):
    """``DSAPI_INSECURE_URL``: a certificate or token would have gone over plain ``http://``."""


class ProtocolError(DownstreamApiError):
    """``DSAPI_PROTOCOL_ERROR``: the answer was not valid HTTP or was too large."""


class UnsupportedError(DownstreamApiError):
    """``DSAPI_UNSUPPORTED``: the configuration asks for something this build does not do."""


class NotFoundError(DownstreamApiError):
    """``DSAPI_NOT_FOUND``: the looked-up item does not exist."""


class BufferTooSmallError(DownstreamApiError):
    """``DSAPI_BUFFER_TOO_SMALL`` (handled inside the wrapper; not expected by users)."""


class NativePanicError(DownstreamApiError):
    """``DSAPI_PANIC``: a bug inside the library was caught at the C boundary."""


class TokenAcquisitionError(DownstreamApiError):
    """``DSAPI_TOKEN_ACQUISITION_FAILED``: the token endpoint refused, or discovery failed."""


class UserInteractionRequiredError(DownstreamApiError):
    """``DSAPI_USER_INTERACTION_REQUIRED``: a token for the user needs the user to act
    (multi-factor authentication, consent, a Conditional Access policy, an expired long-running
    session). Never retried.

    Attributes:
        claims: Entra ID's claims challenge (JSON text, ``""`` when none came with the refusal),
            for the web API's own answer to its caller (``WWW-Authenticate`` or a 403 body), so
            that the user's client can ask the user and come back with a new token.
    """

    def __init__(self, code: int, status_name: str, message: str, claims: str = "") -> None:
        super().__init__(code, status_name, message)
        self.args = (code, status_name, message, claims)  # so that a copy or a pickle keeps it
        self.claims = claims


class TokenInvalidError(DownstreamApiError):
    """``DSAPI_TOKEN_INVALID``: :meth:`~downstream_api.Client.validate_token` refused the token
    (malformed, ``alg: none``, a signature that does not verify, expired, or an audience, issuer,
    scope or role not accepted). The message names the rule, never the token; a web API answers
    such a caller 401 with ``WWW-Authenticate: Bearer error="invalid_token"``."""


ERROR_TYPES: Dict[int, Type[DownstreamApiError]] = {
    Status.INVALID_ARGUMENT: InvalidArgumentError,
    Status.CONFIG_INVALID: ConfigError,
    Status.IO_ERROR: DsapiIOError,
    Status.UNKNOWN_API: UnknownApiError,
    Status.CREDENTIAL_UNAVAILABLE: CredentialUnavailableError,
    Status.CERTIFICATE_REJECTED: CertificateRejectedError,
    Status.TLS_ERROR: TlsError,
    Status.NETWORK_ERROR: NetworkError,
    Status.TIMEOUT: DsapiTimeoutError,
    Status.INSECURE_URL: InsecureUrlError,
    Status.PROTOCOL_ERROR: ProtocolError,
    Status.UNSUPPORTED: UnsupportedError,
    Status.NOT_FOUND: NotFoundError,
    Status.BUFFER_TOO_SMALL: BufferTooSmallError,
    Status.PANIC: NativePanicError,
    Status.TOKEN_ACQUISITION_FAILED: TokenAcquisitionError,
    Status.USER_INTERACTION_REQUIRED: UserInteractionRequiredError,
    Status.TOKEN_INVALID: TokenInvalidError,
}

# ---------------------------------------------------------------------------------------------
# Finding and loading the library
# ---------------------------------------------------------------------------------------------

# The file's name as cargo makes it (a checkout), and the patterns of the copy setuptools-rust puts
# into the package (libdownstream_api.abi3.so, libdownstream_api.cpython-311-x86_64-linux-gnu.so,
# libdownstream_api.pyd on Windows).
if sys.platform == "win32":
    _CARGO_NAME = "downstream_api.dll"
    _PACKAGED = ["libdownstream_api*.pyd", "libdownstream_api*.dll"]
elif sys.platform == "darwin":
    _CARGO_NAME = "libdownstream_api.dylib"
    _PACKAGED = ["libdownstream_api*.so", "libdownstream_api*.dylib"]
else:
    _CARGO_NAME = "libdownstream_api.so"
    _PACKAGED = ["libdownstream_api*.so"]

_PACKAGE_DIR = Path(__file__).resolve().parent
# bindings/python/downstream_api -> the repository root (only meaningful in a checkout; an install
# under a short path such as /deps/downstream_api has none).
_REPO_ROOT: Optional[Path] = _PACKAGE_DIR.parents[2] if len(_PACKAGE_DIR.parents) > 2 else None


def _candidates() -> List[Path]:
    """The places searched after ``DSAPI_LIBRARY``, in order: the library installed inside the
    package, then a checkout's release and debug builds."""
    packaged = sorted(path for pattern in _PACKAGED for path in _PACKAGE_DIR.glob(pattern))
    built = [] if _REPO_ROOT is None else [
        _REPO_ROOT / "target" / profile / _CARGO_NAME for profile in ("release", "debug")
    ]
    return packaged + built


def _find_library() -> str:
    override = os.environ.get("DSAPI_LIBRARY")
    if override:
        if not Path(override).is_file():
            raise OSError(f"DSAPI_LIBRARY names '{override}', which is not a file")
        return override
    for candidate in _candidates():
        if candidate.is_file():
            return str(candidate)
    searched = ", ".join([str(_PACKAGE_DIR / p) for p in _PACKAGED] + [str(c) for c in _candidates()])
    raise OSError(
        "cannot find the downstream_api native library: reinstall the package (pip install "
        f"builds it), or set DSAPI_LIBRARY to its path (searched {searched})"
    )


library_path: str = _find_library()
lib = ctypes.CDLL(library_path)

# ---------------------------------------------------------------------------------------------
# Types
# ---------------------------------------------------------------------------------------------


class dsapi_client(Structure):
    """Opaque ``dsapi_client``; only ever used through ``POINTER(dsapi_client)``."""


class dsapi_response(Structure):
    """Opaque ``dsapi_response``; only ever used through ``POINTER(dsapi_response)``."""


ClientPtr = POINTER(dsapi_client)
ResponsePtr = POINTER(dsapi_response)


class dsapi_credential_event(Structure):
    """``struct dsapi_credential_event``; strings are borrowed for the callback only."""

    _fields_ = [
        ("kind", c_uint32),
        ("thumbprint", c_char_p),
        ("subject", c_char_p),
        ("source", c_char_p),
        ("protocol", c_char_p),
        ("api_url", c_char_p),
        ("error", c_char_p),
        ("days_left", c_int64),
    ]


LOG_CALLBACK = CFUNCTYPE(None, c_void_p, c_uint32, c_char_p)
OBSERVER_CALLBACK = CFUNCTYPE(None, c_void_p, POINTER(dsapi_credential_event))

# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


def status_name(status: int) -> str:
    """The static name of a status, e.g. ``"DSAPI_TIMEOUT"`` (``"DSAPI_UNKNOWN_STATUS"``)."""
    name: bytes = lib.dsapi_status_str(status)
    return name.decode("utf-8", "replace")


def _thread_string(function: Any) -> str:
    """A string of the calling thread's last error, read with the buffer protocol of
    ``dsapi_last_error_message`` (``function`` is it or ``dsapi_last_error_claims``)."""
    needed = c_size_t(0)
    status = function(None, 0, ctypes.byref(needed))
    # The error can only change on this thread, so a buffer of the announced size fits.
    while status == Status.BUFFER_TOO_SMALL:
        buffer = ctypes.create_string_buffer(max(needed.value, 1))
        status = function(buffer, len(buffer), ctypes.byref(needed))
        if status == Status.OK:
            return buffer.value.decode("utf-8", "replace")
    return ""


def last_error_message() -> str:
    """The calling thread's last error message ("" after a successful call)."""
    return _thread_string(lib.dsapi_last_error_message)


def last_error_claims() -> str:
    """The claims challenge of the calling thread's last error: Entra ID's ``claims`` JSON when
    it was ``DSAPI_USER_INTERACTION_REQUIRED``, "" otherwise."""
    return _thread_string(lib.dsapi_last_error_claims)


def error_for(status: int, message: Optional[str] = None) -> DownstreamApiError:
    """The exception for ``status``, carrying the calling thread's last error message."""
    if message is None:
        message = last_error_message()
    if status == Status.USER_INTERACTION_REQUIRED:
        # Read now, on the thread of the failed call, before another call replaces it.
        return UserInteractionRequiredError(
            status, status_name(status), message, last_error_claims()
        )
    error_type = ERROR_TYPES.get(status, DownstreamApiError)
    return error_type(status, status_name(status), message)


def _check_status(result: int, func: Any, arguments: Any) -> int:
    """``errcheck`` of every function returning ``dsapi_status``: raise unless ``DSAPI_OK``.

    ctypes runs it on the calling thread right after the call, so the thread-local last error
    still belongs to this call."""
    if result != Status.OK:
        raise error_for(result)
    return result


# ---------------------------------------------------------------------------------------------
# Declarations (one per exported function of the header)
# ---------------------------------------------------------------------------------------------


def _declare(name: str, restype: Any, argtypes: List[Any]) -> Any:
    function = getattr(lib, name)
    function.restype = restype
    function.argtypes = argtypes
    return function


def _declare_status(name: str, argtypes: List[Any]) -> Any:
    function = _declare(name, c_uint32, argtypes)
    function.errcheck = _check_status
    return function


# Plain declarations first: error reporting itself uses them.
_declare("dsapi_status_str", c_char_p, [c_uint32])
_declare("dsapi_version", c_char_p, [])
# No errcheck: BUFFER_TOO_SMALL is part of its protocol, and it must not recurse.
_declare("dsapi_last_error_message", c_uint32, [POINTER(c_char), c_size_t, POINTER(c_size_t)])
_declare("dsapi_last_error_claims", c_uint32, [POINTER(c_char), c_size_t, POINTER(c_size_t)])

_declare_status("dsapi_set_log_callback", [LOG_CALLBACK, c_void_p, c_uint32])

_declare_status("dsapi_client_new", [c_char_p, POINTER(ClientPtr)])
_declare_status("dsapi_client_new_from_file", [c_char_p, POINTER(ClientPtr)])
_declare("dsapi_client_free", None, [ClientPtr])
# `body` is `const uint8_t *`; declared as c_char_p so that a bytes object is passed without a
# copy (the length travels separately, so embedded NULs are fine).
_declare_status(
    "dsapi_client_call",
    [ClientPtr, c_char_p, c_char_p, c_char_p, c_size_t, POINTER(ResponsePtr)],
)
# On behalf of the holder of `user_token` (the access token the caller received; a secret).
_declare_status(
    "dsapi_client_call_for_user",
    [ClientPtr, c_char_p, c_char_p, c_char_p, c_char_p, c_size_t, POINTER(ResponsePtr)],
)
_declare_status("dsapi_client_add_observer", [ClientPtr, OBSERVER_CALLBACK, c_void_p])

_declare("dsapi_response_status", c_uint16, [ResponsePtr])
_declare("dsapi_response_body", c_void_p, [ResponsePtr, POINTER(c_size_t)])
_declare_status("dsapi_response_header", [ResponsePtr, c_char_p, POINTER(c_char_p)])
_declare("dsapi_response_header_count", c_size_t, [ResponsePtr])
_declare_status(
    "dsapi_response_header_at", [ResponsePtr, c_size_t, POINTER(c_char_p), POINTER(c_char_p)]
)
_declare_status("dsapi_response_request", [ResponsePtr, POINTER(c_char_p), POINTER(c_char_p)])
_declare("dsapi_response_free", None, [ResponsePtr])

# Owned strings come back as c_void_p (not c_char_p, which ctypes would turn into bytes and
# lose the pointer that dsapi_string_free needs).
_declare_status(
    "dsapi_client_authorization_header", [ClientPtr, c_char_p, c_char_p, POINTER(c_void_p)]
)
_declare_status(
    "dsapi_client_authorization_header_for_user",
    [ClientPtr, c_char_p, c_char_p, c_char_p, POINTER(c_void_p)],
)
_declare_status(
    "dsapi_client_acquire_token",
    [ClientPtr, c_char_p, c_char_p, POINTER(c_void_p), POINTER(c_int64)],
)
# The access token a web API received (a secret), and the claims JSON on success.
_declare_status("dsapi_client_validate_token", [ClientPtr, c_char_p, POINTER(c_void_p)])
_declare_status("dsapi_client_describe_credentials", [ClientPtr, POINTER(c_void_p)])
_declare_status("dsapi_client_metrics", [ClientPtr, POINTER(c_void_p)])
_declare_status("dsapi_client_reload_credentials", [ClientPtr])
_declare_status("dsapi_client_set_credential", [ClientPtr, c_size_t, c_char_p, c_size_t, c_char_p])
_declare_status("dsapi_client_api_options", [ClientPtr, c_char_p, c_char_p, POINTER(c_void_p)])
_declare("dsapi_string_free", None, [c_void_p])


def take_string(pointer: c_void_p) -> str:
    """Copies an owned string returned by the library and frees it."""
    try:
        return ctypes.string_at(pointer.value).decode("utf-8") if pointer.value else ""
    finally:
        lib.dsapi_string_free(pointer)
