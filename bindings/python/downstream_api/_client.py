"""The synchronous :class:`Client`: one native client, its calls shaped like requests'
(``method=``, ``params=``, ``headers=``, ``json=``, ``timeout=``), and Id.Web's override object."""

from __future__ import annotations

import ctypes
import json as _json
import os
import threading
from ctypes import byref, c_int64, c_size_t, c_void_p
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

from . import _native
from ._events import AccessToken, CredentialEvent, event_from, text
from ._native import ConfigError
from ._status import Status
from ._log import logger
from ._response import Response

JsonObject = Union[str, Mapping[str, Any]]
Body = Union[bytes, bytearray, memoryview, str]

# Headers that have an option of their own in DownstreamApiOptions: a `headers=` entry replaces
# the configured value instead of adding a second header.
_HEADER_OPTIONS = {"content-type": "ContentType", "accept": "AcceptHeader"}


class ClientClosedError(ValueError):
    """The :class:`Client` was used after :meth:`Client.close` (like I/O on a closed file)."""


# Every str the library reads as a C string goes through _c_string (or _c_path), and every body
# through _body_bytes: C would stop at a NUL, and bytes(5) is five NUL bytes.


def _utf8(value: str, argument: str) -> bytes:
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(f"{argument} cannot be encoded as UTF-8: {error.reason}") from None


def _c_string(value: Any, argument: str) -> bytes:
    """``value``, a ``str``, as the NUL-terminated UTF-8 string a C function reads. A NUL inside
    would end it there, so it is refused as ``open()`` refuses one: ``ValueError`` naming
    ``argument``; anything but a ``str`` is a ``TypeError``."""
    if not isinstance(value, str):
        raise TypeError(f"{argument} must be str, not {type(value).__name__}")
    if "\0" in value:
        raise ValueError(f"{argument} contains an embedded null character")
    return _utf8(value, argument)


def _c_path(path: Any, argument: str) -> bytes:
    """A path (``str``, ``bytes`` or ``os.PathLike``) as the library wants it: UTF-8 bytes, bytes
    paths as they are; a NUL inside is a ``ValueError``, as ``open()`` makes it."""
    try:
        path = os.fspath(path)
    except TypeError:
        raise TypeError(
            f"{argument} must be str, bytes or os.PathLike, not {type(path).__name__}"
        ) from None
    if isinstance(path, bytes):
        if b"\0" in path:
            raise ValueError(f"{argument} contains an embedded null byte")
        return path
    return _c_string(path, argument)


def _body_bytes(body: Any, argument: str) -> bytes:
    """A body as bytes (it travels with its length, so NULs are data): a ``str`` as UTF-8, or an
    object with the buffer protocol (``bytes``, ``bytearray``, ``memoryview``, ``array``...).
    Anything else is a ``TypeError`` naming ``argument``: ``bytes(5)`` would send five NUL
    bytes, ``bytes([1, 2])`` two bytes of a list."""
    if body is None:
        return b""
    if type(body) is bytes:
        return body
    if isinstance(body, str):
        return _utf8(body, argument)
    try:
        view = memoryview(body)
    except TypeError:
        raise TypeError(
            f"{argument} must be bytes, bytearray, memoryview or str, not {type(body).__name__}"
        ) from None
    with view:
        return view.tobytes()


def _json_arg(value: Optional[JsonObject], argument: str) -> Optional[bytes]:
    """JSON text, or a mapping serialised (its NULs escaped), as a C string."""
    if value is None:
        return None
    if not isinstance(value, str):
        value = _json.dumps(value)
    return _c_string(value, argument)


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
        items.append((text(name.value).lower(), text(value.value)))
    lib.dsapi_response_request(response, byref(name), byref(value))
    return Response(
        status=status,
        body=body,
        header_items=tuple(items),
        method=text(name.value),
        url=text(value.value),
    )


def _find_key(mapping: Mapping[str, Any], key: str) -> Optional[str]:
    """The key of ``mapping`` equal to ``key`` ignoring case, as the library reads keys."""
    wanted = key.lower()
    return next((k for k in mapping if k.lower() == wanted), None)


def _merge(into: Dict[str, Any], key: str, value: Any, fold_case: bool = True) -> None:
    """Sets ``into[key]``, replacing a key that differs only in case (when ``fold_case``)."""
    existing = _find_key(into, key) if fold_case else (key if key in into else None)
    if existing is not None:
        del into[existing]
    into[key] = value


def _parsed_overrides(overrides: Optional[JsonObject]) -> Dict[str, Any]:
    if overrides is None:
        return {}
    if not isinstance(overrides, str):
        return dict(overrides)
    _c_string(overrides, "overrides")  # refused as the library would be passed it
    try:
        parsed = _json.loads(overrides)
    except ValueError as error:
        raise ConfigError(Status.CONFIG_INVALID, "DSAPI_CONFIG_INVALID", f"overrides are not valid JSON: {error}") from None
    if not isinstance(parsed, dict):
        raise ConfigError(Status.CONFIG_INVALID, "DSAPI_CONFIG_INVALID", "overrides must be a JSON object")
    return parsed


def _call_overrides(
    overrides: Optional[JsonObject],
    method: Optional[str],
    path: Optional[str],
    params: Optional[Mapping[str, Any]],
    headers: Optional[Mapping[str, Optional[str]]],
    timeout: Optional[float],
    is_json: bool,
) -> Optional[bytes]:
    """The override object of one call: ``overrides`` with the keyword arguments on top. Keys
    compare ignoring case, as the library reads them; so do header names, while query parameter
    names are exact (as the library merges them)."""
    if (method, path, params, headers, timeout) == (None, None, None, None, None) and not is_json:
        return _json_arg(overrides, "overrides")
    merged = _parsed_overrides(overrides)
    if method is not None:
        _merge(merged, "HttpMethod", method)
    if path is not None:
        _merge(merged, "RelativePath", path)
    if params:
        query_key = _find_key(merged, "ExtraQueryParameters") or "ExtraQueryParameters"
        query = dict(merged.get(query_key) or {})
        for name, value in params.items():
            # As requests does, None leaves a parameter out, a configured one too (JSON null
            # removes it: overrides merge as a JSON merge patch).
            _merge(query, str(name), None if value is None else str(value), fold_case=False)
        _merge(merged, "ExtraQueryParameters", query)
    extra_headers: Dict[str, str] = {}
    for name, value in (headers or {}).items():
        option = _HEADER_OPTIONS.get(name.lower())
        if option:
            _merge(merged, option, value)
        else:
            _merge(extra_headers, name, value)
    if extra_headers:
        headers_key = _find_key(merged, "ExtraHeaderParameters") or "ExtraHeaderParameters"
        combined = dict(merged.get(headers_key) or {})
        for name, value in extra_headers.items():
            _merge(combined, name, value)
        _merge(merged, "ExtraHeaderParameters", combined)
    # json= sends JSON unless this call names another content type (headers= or overrides).
    if is_json and _find_key(merged, "ContentType") is None:
        merged["ContentType"] = "application/json"
    if timeout is not None:
        _merge(merged, "TimeoutSeconds", timeout)
    # json.dumps writes ASCII with any NUL escaped: a whole C string.
    return _json.dumps(merged).encode("utf-8")


class Client:
    """A client built from an ``appsettings.json``: its APIs, credentials, connection pools and
    token caches. Thread-safe: share one client between threads.

    Create it from JSON text (or a dict) or from a file::

        client = Client.from_json(config)         # or Client(config_json)
        client = Client.from_file("appsettings.json")

    Free it with :meth:`close` or a ``with`` block. After ``close`` every method raises
    :class:`ClientClosedError`; calls still running on other threads finish first, and the
    native client is freed when the last of them returns.
    """

    def __init__(
        self, config_json: Optional[JsonObject] = None, *, path: Optional[Any] = None
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
            _native.lib.dsapi_client_new_from_file(_c_path(path, "path"), byref(handle))
        else:
            _native.lib.dsapi_client_new(_json_arg(config_json, "config_json"), byref(handle))
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
        body: Optional[Body] = None,
        *,
        method: Optional[str] = None,
        path: Optional[str] = None,
        params: Optional[Mapping[str, Any]] = None,
        headers: Optional[Mapping[str, Optional[str]]] = None,
        json: Any = None,
        data: Optional[Body] = None,
        timeout: Optional[float] = None,
        overrides: Optional[JsonObject] = None,
        user_token: Optional[str] = None,
    ) -> Response:
        """Calls the API ``api_name`` (a key of ``DownstreamApis``, case-insensitive).

        - ``method``: the HTTP method instead of the configured ``HttpMethod``.
        - ``path``: replaces the configured ``RelativePath`` for this call (as the
          ``RelativePath`` override does); it is joined to ``BaseUrl`` with one ``/``.
        - ``params`` / ``headers``: merged with the configured ``ExtraQueryParameters`` /
          ``ExtraHeaderParameters`` (``Content-Type`` and ``Accept`` replace the configured
          ``ContentType`` / ``AcceptHeader``); a ``None`` value leaves that name out, a
          configured one too, as requests does.
        - ``json``: a body serialised as JSON, with ``Content-Type: application/json``;
          ``data`` (or the positional ``body``): bytes, or a ``str`` sent as UTF-8.
        - ``timeout``: seconds bounding this call, retries included (``TimeoutSeconds``).
        - ``overrides``: Id.Web's override object (a dict or JSON text), under the keywords.
        - ``user_token``: call **on behalf of a user** (Id.Web's ``CallApiForUserAsync``): the
          access token this web API received from its caller (a secret, never logged). The
          API's token is then that user's (on-behalf-of, Entra ID), cached for that user only,
          unless the API's ``RequestAppToken`` is true. When Entra ID needs the user to act
          (MFA, consent), :class:`~downstream_api.UserInteractionRequiredError` carries the
          claims challenge. ``overrides={"AcquireTokenOptions": {"LongRunningWebApiSessionKey":
          key}}`` starts a long-running session that later calls name without a user token.

        Any HTTP status is returned as a :class:`Response`; failures to get one raise a
        :class:`~downstream_api.Error` subclass. A NUL character in ``api_name`` or in
        ``overrides`` text raises ``ValueError`` (C would read the string only up to it); a body
        that is neither ``str`` nor bytes-like, ``TypeError``.
        """
        given = [(value, name) for name, value in (("body", body), ("data", data)) if value is not None]
        if len(given) + (json is not None) > 1:
            raise TypeError("pass one of body, data= and json=")
        if json is not None:
            payload = _json.dumps(json).encode("utf-8")
        else:
            payload = _body_bytes(*given[0]) if given else b""
        name = _c_string(api_name, "api_name")
        token = None if user_token is None else _c_string(user_token, "user_token")
        overrides_json = _call_overrides(
            overrides, method, path, params, headers, timeout, json is not None
        )
        response = _native.ResponsePtr()
        handle = self._enter()
        try:
            if token is None:
                _native.lib.dsapi_client_call(
                    handle, name, overrides_json, payload or None, len(payload), byref(response)
                )
            else:
                _native.lib.dsapi_client_call_for_user(
                    handle,
                    name,
                    token,
                    overrides_json,
                    payload or None,
                    len(payload),
                    byref(response),
                )
        finally:
            self._exit()
        try:
            return _copy_response(response)
        finally:
            _native.lib.dsapi_response_free(response)

    def get(self, api_name: str, **kwargs: Any) -> Response:
        """:meth:`call` with ``method="GET"``."""
        return self.call(api_name, method="GET", **kwargs)

    def post(self, api_name: str, **kwargs: Any) -> Response:
        """:meth:`call` with ``method="POST"``."""
        return self.call(api_name, method="POST", **kwargs)

    def put(self, api_name: str, **kwargs: Any) -> Response:
        """:meth:`call` with ``method="PUT"``."""
        return self.call(api_name, method="PUT", **kwargs)

    def patch(self, api_name: str, **kwargs: Any) -> Response:
        """:meth:`call` with ``method="PATCH"``."""
        return self.call(api_name, method="PATCH", **kwargs)

    def delete(self, api_name: str, **kwargs: Any) -> Response:
        """:meth:`call` with ``method="DELETE"``."""
        return self.call(api_name, method="DELETE", **kwargs)

    # -- tokens and credentials ----------------------------------------------------------------

    def authorization_header(
        self,
        api_name: str,
        overrides: Optional[JsonObject] = None,
        *,
        user_token: Optional[str] = None,
    ) -> str:
        """The ``Authorization`` header value a call to ``api_name`` would carry, e.g.
        ``"Bearer eyJ..."`` (a secret: do not log it). An MTLS API has none:
        :class:`~downstream_api.UnsupportedError`. With ``user_token``, the header of a call on
        behalf of that token's user (Id.Web's ``CreateAuthorizationHeaderForUserAsync``), as in
        :meth:`call`."""
        name = _c_string(api_name, "api_name")
        token = None if user_token is None else _c_string(user_token, "user_token")
        overrides_json = _json_arg(overrides, "overrides")
        header = c_void_p()
        handle = self._enter()
        try:
            if token is None:
                _native.lib.dsapi_client_authorization_header(
                    handle, name, overrides_json, byref(header)
                )
            else:
                _native.lib.dsapi_client_authorization_header_for_user(
                    handle, name, token, overrides_json, byref(header)
                )
        finally:
            self._exit()
        return _native.take_string(header)

    def for_agent(
        self, app_id: str, username: Optional[str] = None, user_id: Optional[str] = None
    ) -> "AgentClient":
        """A view of this client whose calls are made **as an Entra agent identity** (Id.Web's
        ``WithAgentIdentity``), or as that agent's user account with ``username`` (a UPN) or
        ``user_id`` (an object id), never both (Id.Web's ``WithAgentUserIdentity``). The
        configured app is the agent's blueprint. The view has :meth:`call`, the shorthands and
        :meth:`authorization_header`; each call's ``overrides`` get ``AcquireTokenOptions``'
        ``AgentIdentity`` and ``AgentUsername`` / ``AgentUserId``. It shares this client (its
        caches and connections): closing the client ends it too."""
        return AgentClient(self, agent_options(app_id, username, user_id))

    def acquire_token(
        self, scopes: Union[str, Sequence[str]], options: Optional[JsonObject] = None
    ) -> AccessToken:
        """An app token (client credentials) for ``scopes`` (a list, or one space-separated
        string). ``options`` is an ``AcquireTokenOptions`` object: ``Tenant``,
        ``ForceRefresh``, ``Claims``, ``CorrelationId``, and ``ManagedIdentity`` (``{}``, or
        ``{"UserAssignedClientId": "..."}``) for a token of the platform's managed identity."""
        joined = _c_string(scopes if isinstance(scopes, str) else " ".join(scopes), "scopes")
        options_json = _json_arg(options, "options")
        token = c_void_p()
        expires_on = c_int64(0)
        handle = self._enter()
        try:
            _native.lib.dsapi_client_acquire_token(
                handle, joined, options_json, byref(token), byref(expires_on)
            )
        finally:
            self._exit()
        return AccessToken(token=_native.take_string(token), expires_on_unix=expires_on.value)

    def validate_token(self, token: str) -> Dict[str, Any]:
        """Validates ``token``, the access token this web API received (``Authorization: Bearer
        <token>``, without the scheme), as Id.Web's ``AddMicrosoftIdentityWebApi`` does, and
        returns its claims. The signature must verify (RS256 or ES256) with the key its ``kid``
        names among those the configured authority publishes (read once through OpenID discovery,
        again for an unknown ``kid`` at most once a minute); ``exp``/``nbf`` allow 5 minutes of
        skew; ``aud`` must be ``AzureAd.ClientId``, ``api://{ClientId}``, ``AzureAd.Audience`` or
        one of ``AzureAd.Audiences``; ``iss`` the token's tenant's (Entra v2 or v1) or the
        provider's; with ``AzureAd.Scopes`` or ``AzureAd.Roles``, ``scp`` or ``roles`` must hold
        one. Raises :class:`~downstream_api.TokenInvalidError` naming the rule broken (never the
        token), or the transport's errors when the issuer's keys cannot be read."""
        raw = _c_string(token, "token")
        claims = c_void_p()
        handle = self._enter()
        try:
            _native.lib.dsapi_client_validate_token(handle, raw, byref(claims))
        finally:
            self._exit()
        parsed: Dict[str, Any] = _json.loads(_native.take_string(claims))
        return parsed

    def reload_credentials(self) -> None:
        """Reloads every ``AzureAd.ClientCredentials`` entry from its source now (when your
        secret store says a credential changed). Each is checked before it replaces the one in
        use; raises :class:`CredentialUnavailableError` naming the entries that did not load,
        which keep their credential."""
        handle = self._enter()
        try:
            _native.lib.dsapi_client_reload_credentials(handle)
        finally:
            self._exit()

    def set_credential(
        self, index: int, data: Union[bytes, str], password: Optional[str] = None
    ) -> None:
        """Replaces ``ClientCredentials[index]`` with a credential given in memory: a PFX or PEM
        (``bytes``, opened with ``password``) for a certificate entry, the secret for a
        ``ClientSecret`` entry. Checked first: on failure (:class:`CredentialUnavailableError`)
        the old credential stays in use."""
        raw = _body_bytes(data, "data")
        secret = None if password is None else _c_string(password, "password")
        if index < 0:
            raise ValueError("index must not be negative")
        handle = self._enter()
        try:
            _native.lib.dsapi_client_set_credential(
                handle,
                index,
                raw,
                len(raw),
                secret,
            )
        finally:
            self._exit()

    def describe_credentials(self) -> List[Dict[str, Any]]:
        """Every ``AzureAd.ClientCredentials`` entry, in order, as a dict for a health endpoint:
        ``index``, ``sourceType``, ``location``, ``version`` (Key Vault entries), ``skipped``,
        ``loaded``, ``kind``,
        ``selectedFor`` and, for a certificate, ``thumbprint``, ``thumbprintSha256``,
        ``subject``, ``issuer``, ``notBefore``, ``notAfter``, ``daysLeft``; ``error`` for an
        entry that failed to load. Entries not loaded yet are loaded now. Holds no secret."""
        described = c_void_p()
        handle = self._enter()
        try:
            _native.lib.dsapi_client_describe_credentials(handle, byref(described))
        finally:
            self._exit()
        entries: List[Dict[str, Any]] = _json.loads(_native.take_string(described))
        return entries

    def metrics(self) -> Dict[str, Any]:
        """The library's counters (the whole process's, every client's) and this client's
        certificates: ``calls`` (``api``, ``protocol``, ``outcome``, ``count``),
        ``tokenRequests`` (``grant``, ``count``), ``tokenCache`` (``layer``, ``result``,
        ``count``), ``tlsHandshakes`` (``full``, ``resumed``), ``retries`` (``remedy``,
        ``count``) and ``certificates`` (``subject``, ``thumbprint``, ``daysLeft``: those this
        client has selected). Loads nothing; cheap enough for every scrape."""
        json_out = c_void_p()
        handle = self._enter()
        try:
            _native.lib.dsapi_client_metrics(handle, byref(json_out))
        finally:
            self._exit()
        metrics: Dict[str, Any] = _json.loads(_native.take_string(json_out))
        return metrics

    def api_options(self, api_name: str, overrides: Optional[JsonObject] = None) -> Dict[str, Any]:
        """The options a call to ``api_name`` would use (its ``DownstreamApis`` entry with the
        defaults filled in and ``overrides`` applied) in Id.Web's key names: ``BaseUrl``,
        ``RelativePath``, ``HttpMethod``, ``Scopes``, ``ProtocolScheme``, ... Header and query
        parameter values may be keys, so each configured name maps to ``None``. Sends nothing."""
        name = _c_string(api_name, "api_name")
        overrides_json = _json_arg(overrides, "overrides")
        options = c_void_p()
        handle = self._enter()
        try:
            _native.lib.dsapi_client_api_options(handle, name, overrides_json, byref(options))
        finally:
            self._exit()
        parsed: Dict[str, Any] = _json.loads(_native.take_string(options))
        return parsed

    def on_credential_event(self, observer: Callable[[CredentialEvent], None]) -> None:
        """Registers ``observer(event)`` for credential events (``SELECTED``, ``DESELECTED``,
        ``SUCCESSFULLY_USED``) until the client is freed.

        It runs on the thread making the call, possibly on several at once. Exceptions it
        raises are logged to the ``downstream_api`` logger and otherwise ignored: they cannot
        cross into the native library.
        """

        def trampoline(_user_data: Any, event: Any) -> None:
            try:
                observer(event_from(event.contents))
            except BaseException:  # never unwind into C
                logger.exception("downstream_api credential observer raised")

        callback = _native.OBSERVER_CALLBACK(trampoline)
        handle = self._enter()
        try:
            _native.lib.dsapi_client_add_observer(handle, callback, None)
            # The native client keeps the function pointer until it is freed: so must we.
            self._observers.append(callback)
        finally:
            self._exit()

    add_observer = on_credential_event

    def __repr__(self) -> str:
        return f"<downstream_api.Client {'closed' if self._closed else 'open'}>"


# The AcquireTokenOptions keys naming an agent and its user; a view of an agent sets them all.
_AGENT_KEYS = ("AgentIdentity", "AgentUsername", "AgentUserId")


def agent_options(
    app_id: str, username: Optional[str] = None, user_id: Optional[str] = None
) -> Dict[str, str]:
    """The ``AcquireTokenOptions`` entries of :meth:`Client.for_agent`'s arguments, checked as
    the library would check them (type, NUL, both user names)."""
    if username is not None and user_id is not None:
        raise ValueError("pass username or user_id, not both: an agent's user is named once")
    options: Dict[str, str] = {}
    for value, argument, key in (
        (app_id, "app_id", "AgentIdentity"),
        (username, "username", "AgentUsername"),
        (user_id, "user_id", "AgentUserId"),
    ):
        if value is not None or key == "AgentIdentity":
            _c_string(value, argument)
            if not value:
                raise ValueError(f"{argument} is empty")
            options[key] = value
    return options


def with_agent(overrides: Optional[JsonObject], agent: Mapping[str, str]) -> Dict[str, Any]:
    """``overrides`` with the agent's ``AcquireTokenOptions`` entries added. Overrides that name
    an agent or its user themselves are refused (``ValueError``): the view says who calls."""
    merged = _parsed_overrides(overrides)
    options_key = _find_key(merged, "AcquireTokenOptions") or "AcquireTokenOptions"
    given = merged.get(options_key)
    if given is not None and not isinstance(given, Mapping):
        raise ConfigError(
            Status.CONFIG_INVALID,
            "DSAPI_CONFIG_INVALID",
            "overrides.AcquireTokenOptions must be a JSON object",
        )
    options = dict(given or {})
    for key in _AGENT_KEYS:
        existing = _find_key(options, key)
        if existing is not None:
            raise ValueError(
                f"overrides name AcquireTokenOptions.{existing}, which the agent view sets: "
                "use Client.for_agent(app_id, username=..., user_id=...) instead"
            )
    options.update(agent)
    merged[options_key] = options
    return merged


def _no_user_token(user_token: Optional[str]) -> None:
    """An agent view calls as the agent or its user, never on behalf of an incoming user token
    (Id.Web's "interactive agent", which this library does not do): refused, not ignored."""
    if user_token is not None:
        raise ValueError(
            "user_token cannot be used with an agent view: an agent calling on behalf of a "
            "user's token (an interactive agent) is not supported"
        )


class AgentClient:
    """A :class:`Client` calling as an Entra agent identity, or as that agent's user (made by
    :meth:`Client.for_agent`). The same methods as the client's, each with the agent's
    ``AcquireTokenOptions`` merged into its ``overrides``."""

    def __init__(self, client: Client, agent: Mapping[str, str]) -> None:
        self._client = client
        self._agent = dict(agent)

    @property
    def client(self) -> Client:
        """The client this view calls through."""
        return self._client

    @property
    def agent_options(self) -> Dict[str, str]:
        """The ``AcquireTokenOptions`` entries each call carries (no secret)."""
        return dict(self._agent)

    def call(
        self,
        api_name: str,
        body: Optional[Body] = None,
        *,
        overrides: Optional[JsonObject] = None,
        **kwargs: Any,
    ) -> Response:
        """:meth:`Client.call` as the agent (or its user)."""
        _no_user_token(kwargs.get("user_token"))
        return self._client.call(
            api_name, body, overrides=with_agent(overrides, self._agent), **kwargs
        )

    def get(self, api_name: str, **kwargs: Any) -> Response:
        """:meth:`call` with ``method="GET"``."""
        return self.call(api_name, method="GET", **kwargs)

    def post(self, api_name: str, **kwargs: Any) -> Response:
        """:meth:`call` with ``method="POST"``."""
        return self.call(api_name, method="POST", **kwargs)

    def put(self, api_name: str, **kwargs: Any) -> Response:
        """:meth:`call` with ``method="PUT"``."""
        return self.call(api_name, method="PUT", **kwargs)

    def patch(self, api_name: str, **kwargs: Any) -> Response:
        """:meth:`call` with ``method="PATCH"``."""
        return self.call(api_name, method="PATCH", **kwargs)

    def delete(self, api_name: str, **kwargs: Any) -> Response:
        """:meth:`call` with ``method="DELETE"``."""
        return self.call(api_name, method="DELETE", **kwargs)

    def authorization_header(
        self,
        api_name: str,
        overrides: Optional[JsonObject] = None,
        *,
        user_token: Optional[str] = None,
    ) -> str:
        """:meth:`Client.authorization_header` as the agent (or its user)."""
        _no_user_token(user_token)
        return self._client.authorization_header(
            api_name, with_agent(overrides, self._agent), user_token=user_token
        )

    def api_options(self, api_name: str, overrides: Optional[JsonObject] = None) -> Dict[str, Any]:
        """:meth:`Client.api_options` with the agent's options applied."""
        return self._client.api_options(api_name, with_agent(overrides, self._agent))

    def __repr__(self) -> str:
        return f"<downstream_api.AgentClient {self._agent['AgentIdentity']}>"
