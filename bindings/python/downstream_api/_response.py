"""Responses as requests users know them: ``status_code``, ``ok``, case-insensitive ``headers``,
``content``, ``text``, ``json()`` and ``raise_for_status()``."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

from ._native import DownstreamApiError


class Headers(Dict[str, str]):
    """Response headers: a ``dict`` keyed by lower-case name, looked up ignoring case
    (``headers["Content-Type"]`` and ``headers["content-type"]`` are the same); a header received
    several times reads as its values joined with ``", "``, as requests does."""

    def __init__(self, items: Tuple[Tuple[str, str], ...] = ()) -> None:
        super().__init__()
        for name, value in items:
            key = name.lower()
            dict.__setitem__(self, key, f"{dict.__getitem__(self, key)}, {value}" if key in self else value)

    def __getitem__(self, name: str) -> str:
        return dict.__getitem__(self, name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and dict.__contains__(self, name.lower())

    def get(self, name: str, default: Any = None) -> Any:
        return dict.get(self, name.lower(), default)


@dataclass(frozen=True)
class Response:
    """An HTTP response, copied out of the native one (which is already freed).

    Any HTTP status, 4xx and 5xx included, is a response, not an exception; call
    :meth:`raise_for_status` to turn those into :class:`HTTPStatusError`.
    """

    status: int
    """The HTTP status code (also :attr:`status_code`)."""
    body: bytes
    """The body (also :attr:`content`)."""
    header_items: Tuple[Tuple[str, str], ...] = ()
    """Every header in received order as ``(lower-case name, value)``."""
    method: str = ""
    """The method of the request this answers."""
    url: str = ""
    """The URL of the request this answers, redacted as the library's messages show it (query
    values hidden as ``?…``)."""

    @property
    def status_code(self) -> int:
        return self.status

    @property
    def ok(self) -> bool:
        """True for a status below 400."""
        return self.status < 400

    @property
    def content(self) -> bytes:
        return self.body

    @functools.cached_property
    def headers(self) -> Headers:
        """The headers, case-insensitive (made once per response)."""
        return Headers(self.header_items)

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
        """The body parsed as JSON (raises :class:`json.JSONDecodeError` when it is not)."""
        return json.loads(self.body)

    def raise_for_status(self) -> "Response":
        """Raises :class:`HTTPStatusError` for a 4xx or 5xx status; returns the response
        otherwise, so that ``client.get(...).raise_for_status().json()`` reads in one line."""
        if not self.ok:
            raise HTTPStatusError(self)
        return self


class HTTPStatusError(DownstreamApiError):
    """:meth:`Response.raise_for_status` on a 4xx or 5xx answer. The call itself succeeded:
    :attr:`status` is the HTTP status and :attr:`response` the whole response."""

    def __init__(self, response: Response) -> None:
        kind = "client error" if response.status < 500 else "server error"
        super().__init__(response.status, f"HTTP {response.status}", f"the API answered with a {kind}")
        self.response = response

    def __reduce__(self) -> Any:
        return (HTTPStatusError, (self.response,))

