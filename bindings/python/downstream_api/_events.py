"""What the library reports besides responses: credential events, log levels and app tokens."""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Dict, Optional, Union

from . import _native


def text(value: Optional[bytes]) -> str:
    """A borrowed C string as text ("" for NULL)."""
    return value.decode("utf-8", "replace") if value else ""


class LogLevel(enum.IntEnum):
    """The library's log levels; a handler at a level also gets the more severe ones."""

    ERROR = _native.DSAPI_LOG_ERROR
    WARN = _native.DSAPI_LOG_WARN
    INFO = _native.DSAPI_LOG_INFO
    DEBUG = _native.DSAPI_LOG_DEBUG

    @property
    def logging_level(self) -> int:
        """The matching :mod:`logging` level."""
        return TO_LOGGING[self]


TO_LOGGING: Dict[int, int] = {
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
    EXPIRING_SOON = _native.DSAPI_EVENT_EXPIRING_SOON
    """The certificate in use expires within ``CertificateExpiryWarningDays`` (default 14)."""


@dataclass(frozen=True)
class CredentialEvent:
    """What an observer receives (Id.Web's ``ICredentialsObserver`` events)."""

    kind: Union[CredentialEventKind, int]
    """A :class:`CredentialEventKind`, or the number of a kind added by a newer library."""
    thumbprint: str
    """SHA-1 thumbprint of the certificate, upper-case hex."""
    subject: str
    source: str
    """Which ``ClientCredentials`` entry, e.g. ``"ClientCredentials[0] (Path)"``."""
    protocol: str
    api_url: str
    error: Optional[str]
    """Why the certificate was dropped; only set for ``DESELECTED``."""
    days_left: Optional[int] = None
    """Whole days until the certificate expires; only set for ``EXPIRING_SOON``."""


def event_from(native: Any) -> CredentialEvent:
    """Copies a ``struct dsapi_credential_event`` (borrowed for the callback only)."""
    kind: Union[CredentialEventKind, int]
    try:
        kind = CredentialEventKind(native.kind)
    except ValueError:  # a kind added by a newer library
        kind = int(native.kind)
    return CredentialEvent(
        kind=kind,
        thumbprint=text(native.thumbprint),
        subject=text(native.subject),
        source=text(native.source),
        protocol=text(native.protocol),
        api_url=text(native.api_url),
        error=None if native.error is None else text(native.error),
        days_left=None if native.days_left < 0 else int(native.days_left),
    )


@dataclass(frozen=True)
class AccessToken:
    """An app token from :meth:`Client.acquire_token`. The token is a secret: it is left out of
    ``repr`` so that it does not end up in logs by accident."""

    token: str = field(repr=False)
    expires_on_unix: int
    """Expiry in Unix seconds."""

    @property
    def expires_on(self) -> datetime:
        """The expiry as an aware UTC datetime."""
        return datetime.fromtimestamp(self.expires_on_unix, tz=timezone.utc)

    @property
    def expires_at(self) -> datetime:
        """The same as :attr:`expires_on` (the name of earlier versions)."""
        return self.expires_on
