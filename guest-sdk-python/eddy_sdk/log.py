"""Logging into the host's tracing (``EDDY_LOG=debug`` shows debug lines).

``eddy_sdk.log.info("...")`` and friends. In a component they go to the
host's ``log`` import; natively (tests) to the ``eddy_sdk`` Python logger and
to :data:`captured`, which the test harness clears and reads.
"""

from __future__ import annotations

import logging as _logging
from typing import List, Tuple

TRACE, DEBUG, INFO, WARN, ERROR = range(5)
_NAMES = ["trace", "debug", "info", "warn", "error"]

#: Native runs: ``(level name, message)`` of every line logged.
captured: List[Tuple[str, str]] = []

_sink = None  # set by the component runtime: fn(level, message)
_logger = _logging.getLogger("eddy_sdk")
_PY_LEVELS = [5, _logging.DEBUG, _logging.INFO, _logging.WARNING, _logging.ERROR]


def set_sink(sink) -> None:
    global _sink
    _sink = sink


def write(level: int, message: str) -> None:
    message = str(message)
    if _sink is not None:
        _sink(level, message)
    else:
        captured.append((_NAMES[level], message))
        _logger.log(_PY_LEVELS[level], message)


def trace(message) -> None:
    write(TRACE, message)


def debug(message) -> None:
    write(DEBUG, message)


def info(message) -> None:
    write(INFO, message)


def warn(message) -> None:
    write(WARN, message)


warning = warn


def error(message) -> None:
    write(ERROR, message)
