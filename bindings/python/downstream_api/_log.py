"""The bridge from the library's log callback to :mod:`logging` (or any callable)."""

from __future__ import annotations

import atexit
import logging
import threading
from typing import Any, Callable, List, Optional, Union

from . import _native
from ._events import TO_LOGGING, LogLevel, text

logger = logging.getLogger("downstream_api")
_lock = threading.Lock()
# Every log callback ever installed: the library may still be running a replaced one on another
# thread, so none is ever released (each is one small object).
_callbacks: List[Any] = []

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


def set_log_handler(handler: Optional[LogHandler] = logger, level: int = logging.INFO) -> None:
    """Sends the library's log messages to ``handler``, replacing any previous handler.

    ``handler`` is a :class:`logging.Logger` (the default is the ``downstream_api`` logger) or a
    callable ``handler(logging_level, message)``; ``None`` stops logging. ``level`` is a
    :mod:`logging` level (``logging.INFO``) or a :class:`LogLevel` (1..4); messages up to that
    verbosity are delivered, with the library's levels 1..4 mapped to ERROR, WARNING, INFO and
    DEBUG. The handler may be called from any thread, several at once; exceptions it raises are
    swallowed (they cannot cross into C). Messages never contain secrets.
    """
    max_level = _native_level(level)
    with _lock:
        if handler is None:
            _native.lib.dsapi_set_log_callback(_native.LOG_CALLBACK(), None, max_level)
            return
        deliver: Callable[[int, str], None]
        if isinstance(handler, logging.Logger):
            target = handler

            def deliver(python_level: int, message: str) -> None:
                target.log(python_level, message)

        else:
            deliver = handler

        def trampoline(_user_data: Any, native_level: int, message: Optional[bytes]) -> None:
            try:
                deliver(TO_LOGGING.get(native_level, logging.DEBUG), text(message))
            except BaseException:  # never unwind into C
                pass

        callback = _native.LOG_CALLBACK(trampoline)
        _native.lib.dsapi_set_log_callback(callback, None, max_level)
        _callbacks.append(callback)


@atexit.register
def _remove_log_handler() -> None:
    # Native threads must not call into an interpreter that is shutting down.
    try:
        _native.lib.dsapi_set_log_callback(_native.LOG_CALLBACK(), None, LogLevel.ERROR)
    except Exception:
        pass
